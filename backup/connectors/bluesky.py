"""Bluesky (AT Protocol): followers and follows through XRPC.

API: ``app.bsky.graph.getFollowers`` / ``getFollows`` (https://docs.bsky.app/docs/api/app-bsky-graph-get-followers),
``app.bsky.actor.getProfile``, ``com.atproto.server.createSession`` / ``refreshSession``;
lexicons in bluesky-social/atproto ``lexicons/``; rate limits
https://docs.bsky.app/docs/advanced-guides/rate-limits.

- Without a secret, everything goes to the public AppView (``https://public.api.bsky.app``),
  unauthenticated. With an app password, one ``createSession`` per run at the PDS
  (``https://bsky.social`` or ``--server``), its access token reused for every request and
  refreshed with ``refreshSession`` when the server says ``ExpiredToken``; never a login per
  page (``createSession`` is limited to 30 per 5 min and 300 a day per account).
- Pages: ``limit`` 100, an opaque ``cursor``; pages can be short (taken-down followers are
  filtered after the fetch), so only a missing cursor ends the list.
- Keyed by DID; the handle changes and can be the placeholder ``handle.invalid``.
- Errors are ``{"error": "<Name>", "message": "..."}``: ``AccountTakedown`` and
  ``AccountDeactivated`` (getProfile: 400; createSession: 401) are the user's own account's
  standing; ``InvalidRequest`` "Profile not found" / "Actor not found" is not found.
- Rate-limit headers: ``RateLimit-Remaining`` and ``RateLimit-Reset`` (epoch seconds).
"""

from __future__ import annotations

import requests

from ..snapshot import Page, ProfileRecord
from . import Connector, OwnAccount, register
from .http import (
    AUTH_EXPIRED,
    AUTH_FAILED,
    NOT_FOUND,
    RATE_LIMITED,
    SUSPENDED,
    AuthFailed,
    BadResponse,
    RateLimitHeaders,
    Secret,
    Verdict,
    response_json,
)

PUBLIC_APPVIEW = "https://public.api.bsky.app"
DEFAULT_PDS = "https://bsky.social"  # the entryway for accounts hosted by Bluesky
# getFollowers/getFollows: limit 1-100 (default 50).
PAGE_LIMIT = 100
INVALID_HANDLE = "handle.invalid"  # @atproto/syntax INVALID_HANDLE
_METHODS = {"follower": ("app.bsky.graph.getFollowers", "followers"), "following": ("app.bsky.graph.getFollows", "follows")}
# createSession's `status` for an account that is not active.
_SESSION_STATUS = {"takendown": "suspended", "suspended": "suspended", "deactivated": "deactivated"}
_AUTH_ERRORS = {"InvalidToken", "AuthRequired", "AuthenticationRequired", "AuthMissing", "AuthFactorTokenRequired"}


@register
class Bluesky(Connector):
    platform = "bluesky"
    rate_limit_headers = RateLimitHeaders("RateLimit-Remaining", "RateLimit-Reset")

    def __init__(self, **kwargs) -> None:
        secret = kwargs.get("secret")
        kwargs["handle"] = kwargs["handle"].lstrip("@")
        super().__init__(**kwargs)
        self._password = Secret(secret) if secret else None
        self._refresh: Secret | None = None
        self._session: dict | None = None
        self.logins = 0  # createSession calls this run (tests and the budget check)

    def base_for(self, handle: str, secret: str | None) -> str:
        return DEFAULT_PDS if secret else PUBLIC_APPVIEW

    def token_for(self, secret: str | None) -> None:
        return None  # the app password is not a bearer token; the session's access token is

    def classify(self, response: requests.Response) -> Verdict | None:
        if response.status_code < 400:
            return None
        body = response_json(response)
        name = body.get("error") if isinstance(body, dict) else None
        message = body.get("message") if isinstance(body, dict) and isinstance(body.get("message"), str) else None
        words = ": ".join(w for w in (name, message) if isinstance(w, str) and w) or None
        if name == "AccountTakedown":
            return Verdict(SUSPENDED, words, "suspended")
        if name == "AccountDeactivated":
            return Verdict(SUSPENDED, words, "deactivated")
        if name == "ExpiredToken":
            return Verdict(AUTH_EXPIRED if self._session else AUTH_FAILED, words)
        if name in _AUTH_ERRORS:
            return Verdict(AUTH_FAILED, words)
        if name == "RateLimitExceeded":
            return Verdict(RATE_LIMITED, words)
        if response.status_code == 400 and message and "not found" in message.lower():
            return Verdict(NOT_FOUND, words)
        return None

    # -- session -----------------------------------------------------------------------------

    def _ensure_session(self) -> None:
        if self._password is None or self._session is not None:
            return
        self.logins += 1
        session = self.http.json(self.http.request(
            "POST", "/xrpc/com.atproto.server.createSession",
            json={"identifier": self.handle, "password": self._password.reveal()},
            auth=False, idempotent=True, secret_body=True,
        ))
        self._take_session(session)

    def _take_session(self, session) -> None:
        if not isinstance(session, dict) or not session.get("accessJwt"):
            raise BadResponse("bluesky: the session answer has no access token")
        access, refresh = Secret(str(session["accessJwt"])), Secret(str(session.get("refreshJwt") or ""))
        self.http.add_secret(refresh)
        self.http.set_token(access)
        self._refresh = refresh if refresh else None
        self._session = {k: session.get(k) for k in ("did", "handle", "active", "status")}

    def refresh_auth(self) -> None:
        """The access token expired: refresh the session, or log in again if that fails."""
        if self._refresh is not None:
            try:
                self._take_session(self.http.json(self.http.request(
                    "POST", "/xrpc/com.atproto.server.refreshSession", token=self._refresh,
                )))
                return
            except AuthFailed:
                pass  # the refresh token expired too: one new login
        self._session = None
        self.http.set_token(None)
        if self._password is None:
            raise AuthFailed("bluesky: the session expired and there is no app password to log in again")
        self._ensure_session()

    # -- own account -------------------------------------------------------------------------

    def _actor(self) -> str:
        if self._session and self._session.get("did"):
            return str(self._session["did"])
        return self.platform_id or self.handle

    def own_account(self) -> OwnAccount:
        return self.health(self._fetch_own)

    def _fetch_own(self) -> OwnAccount:
        self._ensure_session()
        session = self._session or {}
        state = _SESSION_STATUS.get(str(session.get("status") or ""))
        if state is None and session.get("active") is False:
            state = "deactivated"
        if state is not None:
            return OwnAccount(session.get("did"), session.get("handle"), None, state, f"the session says {session.get('status') or 'inactive'}")
        profile = self.http.get_json("/xrpc/app.bsky.actor.getProfile", params={"actor": self._actor()})
        if not isinstance(profile, dict) or not profile.get("did"):
            raise BadResponse("bluesky: getProfile did not return a profile")
        self.platform_id = self.platform_id or str(profile["did"])
        handle = profile.get("handle")
        return OwnAccount(
            str(profile["did"]), handle if handle != INVALID_HANDLE else None, profile.get("displayName") or None, "active",
            followers_count=_count(profile.get("followersCount")), following_count=_count(profile.get("followsCount")),
        )

    # -- pages -------------------------------------------------------------------------------

    def fetch_page(self, kind: str, cursor: str | None) -> Page:
        self.check_kind(kind)
        self._ensure_session()
        method, key = _METHODS[kind]
        params = {"actor": self._actor(), "limit": PAGE_LIMIT}
        if cursor is not None:
            params["cursor"] = cursor
        body = self.http.get_json(f"/xrpc/{method}", params=params)
        if not isinstance(body, dict) or not isinstance(body.get(key, []), list):
            raise BadResponse(f"bluesky: {method} did not return a list of {key}")
        profiles = [parse_profile(p) for p in body.get(key) or [] if isinstance(p, dict) and p.get("did")]
        next_cursor = body.get("cursor")
        return Page(profiles, str(next_cursor) if next_cursor else None)


def _count(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_profile(profile: dict) -> ProfileRecord:
    """An ``app.bsky.actor.defs#profileView`` -> ProfileRecord (pure), keyed by DID."""
    did = str(profile["did"])
    handle = profile.get("handle") if isinstance(profile.get("handle"), str) else None
    valid = handle if handle and handle != INVALID_HANDLE else None
    data: dict = {}
    if handle == INVALID_HANDLE:
        data["handle_invalid"] = True
    for key, name in (("createdAt", "created_at"), ("pronouns", "pronouns"), ("website", "website")):
        if isinstance(profile.get(key), str) and profile[key]:
            data[name] = profile[key]
    labels = [label.get("val") for label in profile.get("labels") or [] if isinstance(label, dict) and label.get("val")]
    if labels:
        data["labels"] = labels
    return ProfileRecord(
        platform_id=did,
        handle=valid,
        display_name=profile.get("displayName") or None,
        url=f"https://bsky.app/profile/{valid or did}",
        bio=profile.get("description") or None,
        website=profile.get("website") or None,
        followers_count=_count(profile.get("followersCount")),
        following_count=_count(profile.get("followsCount")),
        data=data or None,
    )
