"""Local stand-ins for the providers a campaign sends through, on 127.0.0.1.

- ``SmtpSink``: a real SMTP server (aiosmtpd) that records each delivered message, with knobs
  to refuse a recipient, answer DATA with a code, drop the connection during DATA, require
  STARTTLS and a login.
- ``MastodonDM``, ``BlueskyChat``, ``XDM``: the endpoints a campaign uses, in the platforms'
  documented shapes (reference in ``exporters/campaigns/channels/social.py``), on the shared
  ``FakeServer`` of ``tests/connectors/fakes.py``. Each records what was *delivered* per
  recipient (``delivered[recipient] -> [text, ...]``): the "never twice" tests count those.
  Mastodon keeps ``Idempotency-Key`` for an hour like the real server: a repeat answers the
  first status and delivers nothing new.
- ``fail_next(*replies)``: the next send requests get these replies (e.g. a 429) first.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import defaultdict
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.connectors.fakes import RESET, FakeClock, FakeServer, Reply, Request

IDEMPOTENCY_SECONDS = 3600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# SMTP


class SmtpSink:
    """aiosmtpd handler + controller. `messages` holds (mail_from, rcpt_tos, EmailMessage)."""

    def __init__(self, *, tls_context=None, require_starttls: bool = False, login: tuple[str, str] | None = None):
        self.messages: list[tuple[str, list[str], object]] = []
        self.refuse: dict[str, str] = {}  # recipient -> reply, e.g. "550 5.1.1 no such user"
        self.data_reply: str | None = None  # e.g. "554 5.7.1 rejected as spam"
        self.drop_during_data = False  # record the message, then hang up without an answer
        self.logins: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self.port = free_port()
        kwargs = {}
        if login is not None:
            kwargs.update(authenticator=self._authenticator(login), auth_require_tls=tls_context is not None)
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=require_starttls)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.port}"

    def _authenticator(self, login: tuple[str, str]):
        def authenticate(server, session, envelope, mechanism, auth_data):
            if isinstance(auth_data, LoginPassword):
                user, password = auth_data.login.decode(), auth_data.password.decode()
                self.logins.append((user, password))
                if (user, password) == login:
                    return AuthResult(success=True)
            return AuthResult(success=False, handled=False)

        return authenticate

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content, policy=policy.default)
        if self.data_reply and not self.data_reply.startswith("2"):
            return self.data_reply
        with self._lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        if self.drop_during_data:
            server.transport.close()
            await asyncio.sleep(0)
        return "250 2.0.0 queued"

    def to(self, address: str) -> list:
        return [m for _, rcpts, m in self.messages if address in rcpts]

    def per_recipient(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for _, rcpts, _ in self.messages:
            for r in rcpts:
                counts[r] += 1
        return dict(counts)

    def close(self) -> None:
        self.controller.stop()


# ---------------------------------------------------------------------------------------------
# HTTP platforms


class _Platform:
    def __init__(self, clock: FakeClock | None = None):
        self.clock = clock or FakeClock()
        self.delivered: dict[str, list[str]] = defaultdict(list)
        self.failures: list = []  # replies served first to send requests
        self.send_requests = 0
        self._lock = threading.Lock()
        self.server = FakeServer(self.app, self.clock)
        self.url = self.server.url

    def fail_next(self, *replies) -> None:
        self.failures.extend(replies)

    def _fault(self):
        with self._lock:
            return self.failures.pop(0) if self.failures else None

    def app(self, request: Request):
        raise NotImplementedError

    def close(self) -> None:
        self.server.close()


class MastodonDM(_Platform):
    """verify_credentials, v2 search (resolve), and POST /api/v1/statuses (direct)."""

    def __init__(self, *, token: str, known: set[str], bot: bool = True, domain: str = "social.example", **kw):
        self.token, self.known, self.bot, self.domain = token, {k.lower() for k in known}, bot, domain
        self.keys: dict[str, tuple[float, dict]] = {}
        self.statuses: list[dict] = []
        super().__init__(**kw)

    def app(self, request: Request):
        if request.auth != f"Bearer {self.token}":
            return Reply(401, {"error": "The access token is invalid"})
        if request.path == "/api/v1/accounts/verify_credentials":
            return Reply(200, {"id": "1", "username": "ana", "acct": "ana", "bot": self.bot, "locked": False})
        if request.path == "/api/v2/search":
            acct = request.query.get("q", "").lstrip("@").lower()
            if acct in self.known:
                user, _, host = acct.partition("@")
                shown = user if host == self.domain else acct
                return Reply(200, {"accounts": [{"id": str(abs(hash(acct)) % 10**9), "acct": shown, "username": user}],
                                   "statuses": [], "hashtags": []})
            return Reply(200, {"accounts": [], "statuses": [], "hashtags": []})
        if request.path == "/api/v1/statuses" and request.method == "POST":
            with self._lock:
                self.send_requests += 1
            fault = self._fault()
            if fault is not None:
                return fault
            key = request.headers.get("idempotency-key")
            now = self.clock.time()
            with self._lock:
                if key and key in self.keys and now - self.keys[key][0] < IDEMPOTENCY_SECONDS:
                    return Reply(200, self.keys[key][1])  # the same status again; nothing new delivered
                body = request.json()
                if body.get("visibility") != "direct":
                    return Reply(422, {"error": "Validation failed: only direct messages in this fake"})
                text = body.get("status") or ""
                status = {"id": str(1000 + len(self.statuses)), "visibility": "direct", "content": text,
                          "mentions": [{"acct": w[1:]} for w in text.split() if w.startswith("@") and w.count("@") == 2]}
                self.statuses.append(status)
                for mention in status["mentions"]:
                    self.delivered[mention["acct"].lower()].append(text)
                if key:
                    self.keys[key] = (now, status)
            return Reply(200, status)
        return Reply(404, {"error": "Record not found"})


class BlueskyChat(_Platform):
    """createSession/refreshSession at the PDS; resolveHandle; chat through the atproto-proxy."""

    def __init__(self, *, handle: str, password: str, dids: dict[str, str], closed: set[str] = frozenset(), **kw):
        self.handle, self.password, self.dids, self.closed = handle, password, dids, set(closed)
        self.sessions = 0
        self.without_proxy = 0  # chat calls that forgot the header
        super().__init__(**kw)

    def app(self, request: Request):
        path = request.path
        if path == "/xrpc/com.atproto.server.createSession":
            body = request.json()
            if body.get("identifier") != self.handle or body.get("password") != self.password:
                return Reply(401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"})
            self.sessions += 1
            return Reply(200, {"did": "did:plc:senderaaaaaaaaaaaaaaaaaa", "handle": self.handle, "active": True,
                               "accessJwt": f"access-{self.sessions}", "refreshJwt": f"refresh-{self.sessions}"})
        if not (request.auth or "").startswith("Bearer access-"):
            return Reply(401, {"error": "AuthenticationRequired", "message": "Authentication Required"})
        if path == "/xrpc/com.atproto.identity.resolveHandle":
            did = self.dids.get(request.query.get("handle", "").lower())
            if did is None:
                return Reply(400, {"error": "InvalidRequest", "message": "Unable to resolve handle"})
            return Reply(200, {"did": did})
        if path.startswith("/xrpc/chat.bsky."):
            if request.headers.get("atproto-proxy") != "did:web:api.bsky.chat#bsky_chat":
                self.without_proxy += 1
                return Reply(400, {"error": "InvalidRequest", "message": "missing atproto-proxy"})
            if path == "/xrpc/chat.bsky.convo.getConvoForMembers":
                did = request.query.get("members", "")
                if did in self.closed:
                    return Reply(400, {"error": "MessagesDisabled", "message": "recipient has disabled incoming messages"})
                return Reply(200, {"convo": {"id": f"convo-{did}", "rev": "1", "members": [], "muted": False, "unreadCount": 0}})
            if path == "/xrpc/chat.bsky.convo.sendMessage" and request.method == "POST":
                with self._lock:
                    self.send_requests += 1
                fault = self._fault()
                if fault is not None:
                    return fault
                body = request.json()
                did = body["convoId"].removeprefix("convo-")
                with self._lock:
                    self.delivered[did].append(body["message"]["text"])
                    n = sum(len(v) for v in self.delivered.values())
                return Reply(200, {"id": f"msg-{n}", "rev": str(n), "text": body["message"]["text"],
                                   "sender": {"did": "did:plc:senderaaaaaaaaaaaaaaaaaa"}, "sentAt": "2026-01-01T00:00:00Z"})
        return Reply(404, {"error": "MethodNotImplemented"})


class XDM(_Platform):
    """User lookup and POST /2/dm_conversations/with/:id/messages."""

    def __init__(self, *, token: str, users: dict[str, str], **kw):
        self.token, self.users = token, users
        super().__init__(**kw)

    def app(self, request: Request):
        if request.auth != f"Bearer {self.token}":
            return Reply(401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"})
        if request.path.startswith("/2/users/by/username/"):
            name = request.path.rsplit("/", 1)[1].lower()
            if name in self.users:
                return Reply(200, {"data": {"id": self.users[name], "username": name, "name": name}})
            return Reply(200, {"errors": [{"title": "Not Found Error", "detail": f"Could not find user with username: [{name}]."}]})
        if request.path.startswith("/2/dm_conversations/with/") and request.method == "POST":
            with self._lock:
                self.send_requests += 1
            fault = self._fault()
            if fault is not None:
                return fault
            user_id = request.path.split("/")[4]
            text = request.json()["text"]
            with self._lock:
                self.delivered[user_id].append(text)
            return Reply(201, {"data": {"dm_conversation_id": f"1-{user_id}", "dm_event_id": str(5000 + len(self.delivered[user_id]))}})
        return Reply(404, {"title": "Not Found Error"})


__all__ = ["RESET", "XDM", "BlueskyChat", "FakeClock", "MastodonDM", "Reply", "SmtpSink", "free_port"]
