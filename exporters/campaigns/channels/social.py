"""Direct messages on Mastodon, Bluesky and X, through the connectors' HTTP client.

The connectors' ``HttpClient`` (``backup/connectors/http.py``) brings timeouts, redaction,
credentials bound to the API's origin and its error table; the connector classes bring each
platform's base URL, credential and session handling (Bluesky: one ``createSession`` per run,
refreshed on ``ExpiredToken``). One thing differs from a backup: a backup waits out a 429, a
campaign must not. ``_Watch`` wraps the connector's ``classify`` so that a 429, or an error
that talks of spam or limits, ends the request at once; the channel then pauses the campaign.

- Mastodon (https://docs.joinmastodon.org/methods/statuses/#create): ``POST /api/v1/statuses``
  with ``visibility: direct`` and the recipient's mention, and an ``Idempotency-Key`` (the
  server keeps it 1 h: a retried POST, or a re-send after ``retry-unknown`` within the hour,
  makes no second status). The recipient is first looked up (``GET /api/v2/search``,
  ``resolve=true``): a mention of an account the server cannot find reaches no one. The
  sending account must carry the bot flag (instances' rules for automated accounts).
- Bluesky chat (https://docs.bsky.app/docs/api/chat-bsky-convo-send-message): requests go to
  the PDS with the header ``atproto-proxy: did:web:api.bsky.chat#bsky_chat``;
  ``chat.bsky.convo.getConvoForMembers`` then ``chat.bsky.convo.sendMessage``. The app password
  must allow direct messages. ``MessagesDisabled``, ``NotFollowedBySender``, ``BlockedActor``,
  ``BlockedSubject``, ``RecipientNotFound``: that recipient is skipped.
- X (https://docs.x.com/x-api/direct-messages/manage/introduction):
  ``POST /2/dm_conversations/with/:participant_id/messages`` with a user-context token
  (``dm.write``); a handle is looked up with ``GET /2/users/by/username/:username``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import requests

from backup.config import secret
from backup.connectors import get as get_connector
from backup.connectors.http import TRANSIENT, Verdict, error_text, response_json
from backup.errors import AccountSuspended, AudienceError, ConfigError

from ..pacing import Clock
from . import TROUBLE_WORDS, Channel, Outcome, Outgoing

# A campaign retries a POST only when it carries an idempotency key (Mastodon), and not for long.
MAX_ATTEMPTS = 3
MAX_RETRY_WAIT = 120.0
CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
BLUESKY_UNREACHABLE = {"MessagesDisabled", "NotFollowedBySender", "BlockedActor", "BlockedSubject", "RecipientNotFound"}


class _Watch:
    """The connector's classify, plus: remember the last response; a 429 or a spam/limit
    answer raises at once instead of being waited out."""

    def __init__(self, inner: Callable[[requests.Response], Verdict | None] | None):
        self.inner = inner
        self.last: requests.Response | None = None

    def __call__(self, response: requests.Response) -> Verdict | None:
        self.last = response
        status = response.status_code
        if status == 429:
            return Verdict(TRANSIENT, error_text(response) or "rate limited")
        if 400 <= status < 500 and TROUBLE_WORDS.search(_error_words(response)):
            return Verdict(TRANSIENT, _error_words(response) or None)
        return self.inner(response) if self.inner else None


def _error_words(response: requests.Response) -> str:
    body = response_json(response)
    words = [error_text(response) or ""]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        words.append(body["error"])
    return ": ".join(w for w in words if w)


def _error_name(response: requests.Response | None) -> str | None:
    body = response_json(response) if response is not None else None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return None


class HttpChannel(Channel):
    platform = ""

    def _sent(self, body, missing: str, what: str) -> Outcome:
        """The outcome of a message the server accepted: `sent` with its id, else `unknown`
        (it went out whatever the body says, so it is never sent again) and the campaign pauses.
        `body` is `response_json(response)`, which never raises."""
        if not isinstance(body, dict) or not body.get("id"):
            return Outcome("unknown", reason=missing, pause=f"{self.platform} answered without {what}")
        return Outcome("sent", provider_id=str(body["id"]))

    def __init__(self, *, account, clock: Clock):
        if not account.token_env:
            raise ConfigError(
                f"{account.ref} has no credential to send with",
                hint=f"add one: audience accounts add {account.platform} {account.handle} --token-env VAR",
            )
        self.account = account
        cls = get_connector(self.platform)
        self.connector = cls(
            handle=account.handle, platform_id=account.platform_id, server=account.server,
            secret=secret(account.token_env),
            client_options={
                "time": clock.time, "monotonic": clock.monotonic, "sleep": clock.sleep, "random": clock.random,
                "max_attempts": MAX_ATTEMPTS, "max_retry_wait": MAX_RETRY_WAIT,
            },
        )
        self.http = self.connector.http
        self.watch = _Watch(self.http.classify)
        self.http.classify = self.watch

    def _said(self, exc: AudienceError) -> str:
        return self.http.scrub(exc.message)[:300]

    def trouble(self, exc: AudienceError, *, posted: bool) -> Outcome | None:
        """A campaign-wide problem in `exc` (None: a problem with this recipient alone).

        `posted`: the failed request was the one that sends; without an answer we cannot know
        whether it went out.
        """
        said = self._said(exc)
        response = self.watch.last
        if isinstance(exc, AccountSuspended):
            return Outcome("planned", reason=said, pause=f"{self.account.ref} is suspended or deactivated: {said}")
        if response is None:
            state = "unknown" if posted else "planned"
            return Outcome(state, reason=said, pause=f"no answer from {self.platform} ({said})" + (
                "; the message may or may not have gone out" if posted else ""))
        status = response.status_code
        if status == 429 or TROUBLE_WORDS.search(_error_words(response)):
            return Outcome("planned", reason=said, pause=f"{self.platform} said stop ({status}): {said}")
        if status >= 500:
            state = "unknown" if posted else "planned"
            return Outcome(state, reason=said, pause=f"{self.platform} failed ({status}): {said}")
        if status == 401:
            return Outcome("planned", reason=said, pause=f"{self.platform} refused the credential of {self.account.ref}: {said}")
        return None

    def close(self) -> None:
        self.http.session.close()


class MastodonChannel(HttpChannel):
    platform = name = "mastodon"
    max_chars = 500  # Mastodon's default status length

    def check(self) -> None:
        me = self.http.get_json("/api/v1/accounts/verify_credentials")
        if not isinstance(me, dict):
            raise ConfigError("mastodon: verify_credentials did not return an account")
        if me.get("suspended") or me.get("limited"):
            raise ConfigError(f"{self.account.ref} is {'suspended' if me.get('suspended') else 'limited'} by its server; not sending")
        if not me.get("bot"):
            raise ConfigError(
                f"{self.account.ref} is not marked as a bot account",
                hint="instances ask automated accounts to say so: set 'This is a bot account' in Preferences > Profile, then run again",
            )

    def _acct(self, address: str) -> str:
        return address.lstrip("@").lower()

    def _find(self, acct: str) -> dict | None:
        body = self.http.get_json("/api/v2/search", params={"q": f"@{acct}", "type": "accounts", "resolve": "true", "limit": 5})
        for found in (body or {}).get("accounts") or [] if isinstance(body, dict) else []:
            if not isinstance(found, dict) or not isinstance(found.get("acct"), str):
                continue
            candidate = found["acct"].lower()
            if "@" not in candidate:
                candidate = f"{candidate}@{self.connector.domain}"
            if candidate == acct:
                return found
        return None

    def send(self, message: Outgoing) -> Outcome:
        acct = self._acct(message.address)
        mention = f"@{acct}"
        text = message.text if mention in message.text.lower() else f"{mention} {message.text}"
        too_long = self.too_long(dataclasses.replace(message, text=text))
        if too_long:
            return too_long
        self.watch.last = None
        try:
            if self._find(acct) is None:
                return Outcome("skipped", reason=f"no Mastodon account @{acct} found")
        except AudienceError as exc:
            return self.trouble(exc, posted=False) or Outcome("skipped", reason=f"lookup of @{acct} failed: {self._said(exc)}")
        self.watch.last = None
        self.http.headers["Idempotency-Key"] = message.idempotency_key
        try:
            response = self.http.request(
                "POST", "/api/v1/statuses", json={"status": text, "visibility": "direct"}, idempotent=True,
            )
        except AudienceError as exc:
            trouble = self.trouble(exc, posted=True)
            if trouble:
                return trouble
            if self.watch.last is not None and self.watch.last.status_code == 403:  # the account may not post
                return Outcome("planned", reason=self._said(exc), pause=f"mastodon refused to post for {self.account.ref}: {self._said(exc)}")
            return Outcome("failed", reason=self._said(exc))
        finally:
            self.http.headers.pop("Idempotency-Key", None)
        return self._sent(response_json(response), "the server accepted the status but returned no id", "a status id")


class BlueskyChannel(HttpChannel):
    platform = name = "bluesky"
    max_chars = 1000  # chat.bsky.convo.defs#messageInput: 1,000 graphemes

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        refresh = self.http.on_auth_expired

        def refresh_without_proxy() -> None:  # the session calls go to the PDS itself
            proxy = self.http.headers.pop("atproto-proxy", None)
            try:
                refresh()
            finally:
                if proxy:
                    self.http.headers["atproto-proxy"] = proxy

        self.http.on_auth_expired = refresh_without_proxy

    @property
    def logins(self) -> int:
        return self.connector.logins

    def check(self) -> None:
        self.connector._ensure_session()
        session = self.connector._session or {}
        if session.get("active") is False or session.get("status") in ("takendown", "suspended", "deactivated"):
            raise ConfigError(f"{self.account.ref} is {session.get('status') or 'not active'}; not sending")

    def _chat(self, method: str, path: str, **kwargs) -> requests.Response:
        self.http.headers["atproto-proxy"] = CHAT_PROXY
        try:
            return self.http.request(method, path, **kwargs)
        finally:
            self.http.headers.pop("atproto-proxy", None)

    def _did(self, message: Outgoing) -> str | None:
        for value in (message.platform_id, message.address):
            if value and value.startswith("did:"):
                return value
        handle = message.address.lstrip("@")
        body = self.http.get_json("/xrpc/com.atproto.identity.resolveHandle", params={"handle": handle})
        did = body.get("did") if isinstance(body, dict) else None
        return did if isinstance(did, str) and did.startswith("did:") else None

    def send(self, message: Outgoing) -> Outcome:
        too_long = self.too_long(message)
        if too_long:
            return too_long
        self.watch.last = None
        try:
            did = self._did(message)
            if did is None:
                return Outcome("skipped", reason=f"no Bluesky account {message.address}")
            convo = self.http.json(self._chat("GET", "/xrpc/chat.bsky.convo.getConvoForMembers", params={"members": did}))
        except AudienceError as exc:
            name = _error_name(self.watch.last)
            if name in BLUESKY_UNREACHABLE:
                return Outcome("skipped", reason=f"{name}: this person does not take messages from you")
            if name == "AccountSuspended":
                return Outcome("planned", reason=self._said(exc), pause=f"{self.account.ref}: AccountSuspended")
            return self.trouble(exc, posted=False) or Outcome("skipped", reason=self._said(exc))
        convo_id = (convo or {}).get("convo", {}).get("id") if isinstance(convo, dict) else None
        if not isinstance(convo_id, str) or not convo_id:
            return Outcome("planned", pause="bluesky: getConvoForMembers returned no conversation")
        self.watch.last = None
        try:
            response = self._chat(
                "POST", "/xrpc/chat.bsky.convo.sendMessage",
                json={"convoId": convo_id, "message": {"text": message.text}}, idempotent=False,
            )
        except AudienceError as exc:
            return self.trouble(exc, posted=True) or Outcome("failed", reason=self._said(exc))
        return self._sent(response_json(response), "sendMessage returned no message id", "a message id")


class XChannel(HttpChannel):
    """X DMs: off unless the campaign enabled them, and each one confirmed by the user."""

    platform = name = "x"
    max_chars = 10_000

    def __init__(self, *, confirm: Callable[[Outgoing], bool] | None = None, **kwargs):
        super().__init__(**kwargs)
        if confirm is None:
            raise ConfigError(
                "X DMs are sent only with your confirmation, one by one",
                hint="run `audience campaign send NAME --send` in a terminal",
            )
        self.confirm = confirm

    def approve(self, message: Outgoing) -> bool:
        return bool(self.confirm(message))

    def _user_id(self, message: Outgoing) -> str | None:
        if message.platform_id and message.platform_id.isdigit():
            return message.platform_id
        handle = message.address.lstrip("@")
        body = self.http.get_json(f"/2/users/by/username/{requests.utils.quote(handle, safe='')}", bucket="users")
        user = body.get("data") if isinstance(body, dict) else None
        return str(user["id"]) if isinstance(user, dict) and user.get("id") else None

    def send(self, message: Outgoing) -> Outcome:
        too_long = self.too_long(message)
        if too_long:
            return too_long
        self.watch.last = None
        try:
            user_id = self._user_id(message)
        except AudienceError as exc:
            return self.trouble(exc, posted=False) or Outcome("skipped", reason=f"no X account {message.address}: {self._said(exc)}")
        if user_id is None:
            return Outcome("skipped", reason=f"no X account {message.address}")
        self.watch.last = None
        try:
            response = self.http.request(
                "POST", f"/2/dm_conversations/with/{user_id}/messages", json={"text": message.text}, idempotent=False, bucket="dm",
            )
        except AudienceError as exc:
            trouble = self.trouble(exc, posted=True)
            if trouble:
                return trouble
            if self.watch.last is not None and self.watch.last.status_code == 403:
                return Outcome("skipped", reason=f"X does not let you message this person: {self._said(exc)}")
            return Outcome("failed", reason=self._said(exc))
        body = response_json(response)  # never raises: the message went out whatever the body
        data = body.get("data") if isinstance(body, dict) else None
        event = data.get("dm_event_id") if isinstance(data, dict) else None
        if not event:
            return Outcome("unknown", reason="X returned no dm_event_id", pause="x answered without a message id")
        return Outcome("sent", provider_id=str(event))
