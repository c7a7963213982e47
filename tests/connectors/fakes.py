"""Local fake platform servers on 127.0.0.1 that speak each platform's documented format.

`FakeServer` is a small threaded `http.server` (HTTP/1.1, keep-alive) that hands every request
to an app `(Request) -> Reply | RESET` and records it; `RESET` drops the connection with a TCP
reset, the way a flaky network does. `FakeClock` is the fake time shared by the servers (for
their rate-limit windows and reset headers) and by the client under test (its `time`,
`monotonic` and `sleep`): nothing waits for real.

The platform fakes (`MastodonFake`, `BlueskyFake`, `XFake`, `GitHubFake`) serve two lists of
invented people (followers 1..N, following 100..) in pages, in the platform's own shapes:
Link headers or opaque cursors, rate-limit headers in the platform's style, error bodies as
documented in reference/platform-formats.md. They share the knobs the conformance suite turns:

- `fail(kind, page, *replies)`: serve these replies (or RESET) first, once each;
- `break_from(kind, page)`: every request for that page or later resets, until `heal()`;
- `own_state`: "active" | "suspended" | "deactivated" | "missing"; `revoked`: the token is refused;
- `short_pages`: page sizes vary (3, 1, 0, 2, ...) while the cursor continues;
- `repeat[kind] = i`: page i's next cursor points at page i itself (a platform bug);
- `rate = (limit, window)`: a fixed-window rate limit on the fake clock, 429 beyond it.

`served[kind]` lists the page indexes that got a real page, in order: a test can say exactly
which pages a run fetched.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import socket
import struct
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from backup.connectors import Connector
from backup.connectors.bluesky import Bluesky
from backup.connectors.github import GitHub
from backup.connectors.mastodon import Mastodon
from backup.connectors.x import X

KINDS = ("follower", "following")


class FakeClock:
    """Wall time and monotonic time that move only when someone sleeps."""

    def __init__(self, start: float = 1_750_000_000.0):
        self.now = start
        self.mono = 10_000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds
            self.mono += seconds

    def options(self, **extra) -> dict:
        """client_options for a connector that lives on this clock (and never waits)."""
        return {"monotonic": self.monotonic, "time": self.time, "sleep": self.sleep, **extra}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # fake time of arrival
    host: str

    @property
    def auth(self) -> str | None:
        return self.headers.get("authorization")

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or bytes/str sent as is
    headers: dict[str, str] = field(default_factory=dict)


RESET = object()


class _Reset(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stalls
    server: _Server

    def log_message(self, *args) -> None:  # quiet
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (_Reset, ConnectionError, OSError):
            pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            self.command, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)),
            {k.lower(): v for k, v in self.headers.items()}, body, self.server.clock.time(),
            self.server.server_address[0],
        )
        self.server.requests.append(request)
        try:
            reply = self.server.app(request)
        except Exception:  # noqa: BLE001 - a bug in a fake: make the test fail loudly, not retry quietly
            self.server.errors.append(traceback.format_exc())
            reply = Reply(500, {"fake_error": "see server.errors"})
        if reply is RESET:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            for f in (self.wfile, self.rfile):
                f.close()
            self.connection.close()
            raise _Reset()
        if isinstance(reply.body, bytes):
            payload = reply.body
        elif isinstance(reply.body, str):
            payload = reply.body.encode()
        elif reply.body is None:
            payload = b""
        else:
            payload = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        headers = {"Content-Type": "application/json; charset=utf-8", **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: Callable
    clock: FakeClock
    requests: list[Request]
    errors: list[str]


class FakeServer:
    """A threaded HTTP server on a free port of `host`, serving `app`."""

    def __init__(self, app: Callable[[Request], Any], clock: FakeClock | None = None, host: str = "127.0.0.1"):
        self._server = _Server((host, 0), _Handler)
        self._server.app = app
        self._server.clock = clock or FakeClock()
        self._server.requests = []
        self._server.errors = []
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"

    @property
    def requests(self) -> list[Request]:
        return self._server.requests

    @property
    def errors(self) -> list[str]:
        return self._server.errors

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeServer:  # noqa: PYI034
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# Platform fakes


def http_date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


class PlatformFake:
    """The part every platform fake shares: members, pages, faults, rate limit, bookkeeping."""

    platform = ""
    connector_class: type[Connector]
    handle = ""
    secret: str | None = None  # what the connector gets by default (None: unauthenticated)
    reset_header = ""  # the platform's own reset header (for the 429 tests)
    # What fetch_page raises when the own account is suspended (the platform's own signal).
    suspended_list_error: type[Exception]
    names_in_lists = True  # list items carry display names

    def __init__(self, clock: FakeClock, *, followers: int = 10, following: int = 5, page_size: int = 3):
        self.clock = clock
        self.lists = {"follower": list(range(1, followers + 1)), "following": list(range(100, 100 + following))}
        self.page_size = page_size
        self.short_pages = False
        self.faults: dict[tuple[str, int], list] = {}
        self.own_faults: list = []
        self.broken: dict[str, int] = {}
        self.repeat: dict[str, int] = {}
        self.own_state = "active"
        self.revoked = False
        self.rate: tuple[int, float] | None = None
        self.too_many = 0
        self.served: dict[str, list[int]] = {kind: [] for kind in KINDS}
        self._used: dict[tuple[str, float], int] = {}
        self._lock = threading.Lock()
        self.server = FakeServer(self.app, clock)
        self.url = self.server.url

    # -- knobs ---------------------------------------------------------------------------------

    def fail(self, kind: str, page: int, *replies) -> None:
        self.faults.setdefault((kind, page), []).extend(replies)

    def break_from(self, kind: str, page: int) -> None:
        self.broken[kind] = page

    def heal(self) -> None:
        self.broken.clear()

    def connector(self, *, secret: Any = "default", platform_id: str | None = None, **options) -> Connector:
        return self.connector_class(
            handle=self.handle, platform_id=platform_id, server=self.url,
            secret=self.secret if secret == "default" else secret,
            client_options=self.clock.options(**options),
        )

    def close(self) -> None:
        self.server.close()

    # -- members and pages ---------------------------------------------------------------------

    def pages(self, kind: str, limit: int | None = None) -> list[list[int]]:
        members = self.lists[kind]
        size = min(self.page_size, limit or self.page_size)
        if not self.short_pages:
            return [members[i:i + size] for i in range(0, len(members), size)] or [[]]
        pattern = [size, 1, 0, 2]
        pages, i, k = [], 0, 0
        while i < len(members):
            n = pattern[k % len(pattern)]
            pages.append(members[i:i + n])
            i, k = i + n, k + 1
        return pages or [[]]

    def expected_ids(self, kind: str) -> set[str]:
        return {self.member_id(n) for n in self.lists[kind]}

    def member_id(self, n: int) -> str:
        raise NotImplementedError

    def page_reply(self, kind: str, index: int, request: Request, limit: int | None = None):
        """A page's members and the index of the next page (None on the last), or a fault."""
        if kind in self.broken and index >= self.broken[kind]:
            return RESET
        queue = self.faults.get((kind, index))
        if queue:
            return queue.pop(0)
        pages = self.pages(kind, limit)
        if index >= len(pages):
            return Reply(400, {"error": f"no page {index}"})
        self.served[kind].append(index)
        nxt = index + 1 if index + 1 < len(pages) else None
        if self.repeat.get(kind) == index:
            nxt = index
        return pages[index], nxt

    def own_fault(self):
        return self.own_faults.pop(0) if self.own_faults else None

    # -- rate limit ----------------------------------------------------------------------------

    def bucket(self, request: Request) -> str:
        return "all"

    def rate_headers(self, limit: int, remaining: int, reset: float) -> dict[str, str]:
        raise NotImplementedError

    def too_many_reply(self, reset: float) -> Reply:
        raise NotImplementedError

    def app(self, request: Request):
        limit, window = self.rate or (300, 300.0)
        now = self.clock.time()
        start = math.floor(now / window) * window
        reset = start + window
        key = (self.bucket(request), start)
        with self._lock:
            used = self._used.get(key, 0)
            if self.rate is not None and used >= limit:
                self.too_many += 1
                return self.too_many_reply(reset)
            self._used[key] = used + 1
        reply = self.route(request)
        if isinstance(reply, Reply):
            reply.headers = {**self.rate_headers(limit, max(0, limit - used - 1), reset), **reply.headers}
        return reply

    def route(self, request: Request):
        raise NotImplementedError


# Mastodon ----------------------------------------------------------------------------------


class MastodonFake(PlatformFake):
    """A Mastodon server whose web domain is social.example (its Link headers name that host)."""

    platform = "mastodon"
    connector_class = Mastodon
    handle = "ana@social.example"
    secret = "masto-token-0123456789"
    reset_header = "X-RateLimit-Reset"
    own_id = "109000000000000001"
    web = "https://social.example"

    def __init__(self, clock: FakeClock, **kwargs):
        from backup.errors import AccountSuspended

        self.suspended_list_error = AccountSuspended
        super().__init__(clock, **kwargs)
        self.hidden = False
        self.token = self.secret
        self.lookups = 0

    def member_id(self, n: int) -> str:
        account = self.account(n)
        return account.get("uri") or (account["acct"] if "@" in account["acct"] else f"{account['acct']}@social.example")

    def account(self, n: int) -> dict:
        remote = n % 2 == 1
        acct = f"m{n}@remote.example" if remote else f"m{n}"
        host = "remote.example" if remote else "social.example"
        account = {
            "id": str(200000 + n), "username": f"m{n}", "acct": acct, "display_name": f"Member {n}",
            "note": f"<p>bio of {n} &amp; more</p>", "url": f"https://{host}/@m{n}",
            "uri": f"https://{host}/users/m{n}", "locked": False, "bot": n % 4 == 0,
            "fields": [{"name": "Site", "value": f'<a href="https://m{n}.example" rel="me">m{n}.example</a>',
                        "verified_at": "2024-02-01T09:00:00.000+00:00" if n % 3 == 0 else None}],
            "followers_count": 10 * n, "following_count": n, "statuses_count": 5, "created_at": "2022-11-05T00:00:00.000Z",
            "avatar": "https://social.example/avatar.png", "emojis": [],
        }
        if n % 5 == 0:
            del account["uri"]  # a server older than 4.2
        return account

    def own(self) -> dict:
        account = {
            "id": self.own_id, "username": "ana", "acct": "ana", "display_name": "Ana", "note": "<p>hi</p>",
            "url": f"{self.web}/@ana", "uri": f"{self.web}/users/ana", "fields": [], "bot": False,
            "followers_count": len(self.lists["follower"]), "following_count": len(self.lists["following"]),
        }
        if self.own_state == "suspended":
            account.update({"suspended": True, "display_name": "", "note": ""})
        return account

    def rate_headers(self, limit, remaining, reset):
        iso = dt.datetime.fromtimestamp(reset, dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": iso}

    def too_many_reply(self, reset):
        return Reply(429, {"error": "Too many requests"}, self.rate_headers(300, 0, reset))

    def _auth_problem(self, request: Request, required: bool) -> Reply | None:
        if request.auth is None:
            return Reply(401, {"error": "The access token is invalid"}) if required else None
        if self.revoked or request.auth != f"Bearer {self.token}":
            return Reply(401, {"error": "The access token is invalid"})
        if self.own_state == "suspended":
            return Reply(403, {"error": "Your login is currently disabled"})
        return None

    def route(self, request: Request):
        path = request.path
        if path == "/api/v1/accounts/verify_credentials":
            if (fault := self.own_fault()) is not None:
                return fault
            self.lookups += 1
            return self._auth_problem(request, required=True) or Reply(200, self.own())
        if path == "/api/v1/accounts/lookup":
            if (fault := self.own_fault()) is not None:
                return fault
            self.lookups += 1
            if request.query.get("acct") not in ("ana", "ana@social.example") or self.own_state == "missing":
                return Reply(404, {"error": "Record not found"})
            return self._auth_problem(request, required=False) or Reply(200, self.own())
        for kind, word in (("follower", "followers"), ("following", "following")):
            if path == f"/api/v1/accounts/{self.own_id}/{word}":
                problem = self._auth_problem(request, required=False)
                if problem:
                    return problem
                if self.hidden:
                    return Reply(200, [])
                limit = int(request.query.get("limit", 40))
                index = 0 if "max_id" not in request.query else (9_000_000 - int(request.query["max_id"])) // 7
                got = self.page_reply(kind, index, request, min(limit, 80))
                if not isinstance(got, tuple):
                    return got
                members, nxt = got
                headers = {}
                if nxt is not None:
                    base = f"{self.web}/api/v1/accounts/{self.own_id}/{word}"
                    headers["Link"] = (
                        f'<{base}?{urlencode({"limit": limit, "max_id": 9_000_000 - 7 * nxt})}>; rel="next", '
                        f'<{base}?{urlencode({"limit": limit, "since_id": 9_500_000 + index})}>; rel="prev"'
                    )
                return Reply(200, [self.account(n) for n in members], headers)
        return Reply(404, {"error": "Record not found"})


# Bluesky -----------------------------------------------------------------------------------


class BlueskyFake(PlatformFake):
    """The public AppView, or (with an app password) a PDS with sessions."""

    platform = "bluesky"
    connector_class = Bluesky
    handle = "ana.example.com"
    secret = None  # the public AppView, no login
    app_password = "abcd-efgh-ijkl-mnop"
    reset_header = "RateLimit-Reset"
    did = "did:plc:ana0000000000000000000"

    def __init__(self, clock: FakeClock, **kwargs):
        from backup.connectors.http import NotFound

        self.suspended_list_error = NotFound  # getFollowers answers "Actor not found" for a taken-down subject
        super().__init__(clock, **kwargs)
        self.logins = 0
        self.refreshes = 0
        self.access: str | None = None
        self.refresh: str | None = None
        self.expire_access = False  # the next authenticated request finds the access token expired
        self.token_prefix = "jwt"

    def member_id(self, n: int) -> str:
        return f"did:plc:{n:024d}"

    def profile(self, n: int) -> dict:
        profile = {
            "did": self.member_id(n), "handle": f"m{n}.bsky.social" if n % 7 else "handle.invalid",
            "displayName": f"Member {n}", "description": f"bio {n}", "createdAt": "2023-08-01T12:00:00.000Z",
            "indexedAt": "2023-08-01T12:00:00.000Z", "labels": [], "avatar": "https://cdn.example/a.jpg",
        }
        return profile

    def rate_headers(self, limit, remaining, reset):
        return {
            "RateLimit-Limit": str(limit), "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(math.ceil(reset)), "RateLimit-Policy": f"{limit};w=300",
        }

    def too_many_reply(self, reset):
        return Reply(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, self.rate_headers(3000, 0, reset))

    def _session_reply(self) -> Reply:
        n = self.logins + self.refreshes
        self.access, self.refresh = f"{self.token_prefix}-access-{n}", f"{self.token_prefix}-refresh-{n}"
        return Reply(200, {"accessJwt": self.access, "refreshJwt": self.refresh, "handle": self.handle, "did": self.did, "active": True})

    def _auth_problem(self, request: Request) -> Reply | None:
        if request.auth is None:
            return None  # the AppView is public
        if request.auth != f"Bearer {self.access}" or self.revoked:
            return Reply(401, {"error": "InvalidToken", "message": "Token could not be verified"})
        if self.expire_access:
            self.expire_access = False
            self.access = None
            return Reply(400, {"error": "ExpiredToken", "message": "Token has expired"})
        return None

    def _standing(self) -> Reply | None:
        if self.own_state == "suspended":
            return Reply(400, {"error": "AccountTakedown", "message": "Account has been suspended"})
        if self.own_state == "deactivated":
            return Reply(400, {"error": "AccountDeactivated", "message": "Account is deactivated"})
        return None

    def route(self, request: Request):
        path = request.path
        if path == "/xrpc/com.atproto.server.createSession":
            body = request.json()
            if (fault := self.own_fault()) is not None:
                return fault
            self.logins += 1
            if body.get("identifier") != self.handle or body.get("password") != self.app_password or self.revoked:
                return Reply(401, {"error": "AuthenticationRequired", "message": "Invalid identifier or password"})
            if self.own_state == "suspended":
                return Reply(401, {"error": "AccountTakedown", "message": "Account has been taken down"})
            if self.own_state == "deactivated":
                return Reply(401, {"error": "AccountDeactivated", "message": "Account is deactivated"})
            return self._session_reply()
        if path == "/xrpc/com.atproto.server.refreshSession":
            if request.auth != f"Bearer {self.refresh}":
                return Reply(400, {"error": "ExpiredToken", "message": "Token has expired"})
            self.refreshes += 1
            return self._session_reply()
        if path == "/xrpc/app.bsky.actor.getProfile":
            if (fault := self.own_fault()) is not None:
                return fault
            problem = self._auth_problem(request)
            if problem:
                return problem
            if request.query.get("actor") not in (self.did, self.handle) or self.own_state == "missing":
                return Reply(400, {"error": "InvalidRequest", "message": "Profile not found"})
            return self._standing() or Reply(200, {
                "did": self.did, "handle": self.handle, "displayName": "Ana",
                "followersCount": len(self.lists["follower"]), "followsCount": len(self.lists["following"]),
            })
        for kind, method, key in (("follower", "getFollowers", "followers"), ("following", "getFollows", "follows")):
            if path == f"/xrpc/app.bsky.graph.{method}":
                problem = self._auth_problem(request)
                if problem:
                    return problem
                actor = request.query.get("actor")
                if actor not in (self.did, self.handle) or self.own_state != "active":
                    return Reply(400, {"error": "InvalidRequest", "message": f"Actor not found: {actor}"})
                cursor = request.query.get("cursor")
                index = 0 if cursor is None else int(cursor.removeprefix("3l").removesuffix("zz"), 16)
                got = self.page_reply(kind, index, request, int(request.query.get("limit", 50)))
                if not isinstance(got, tuple):
                    return got
                members, nxt = got
                body = {"subject": {"did": self.did, "handle": self.handle}, key: [self.profile(n) for n in members]}
                if nxt is not None:
                    body["cursor"] = f"3l{nxt:04x}zz"
                return Reply(200, body)
        return Reply(404, {"error": "MethodNotImplemented", "message": "Method Not Implemented"})


# X -----------------------------------------------------------------------------------------


class XFake(PlatformFake):
    platform = "x"
    connector_class = X
    handle = "ana_pro"
    secret = "x-bearer-0123456789"
    reset_header = "x-rate-limit-reset"
    own_id = "1480000000000000000"  # above 2**53

    def __init__(self, clock: FakeClock, **kwargs):
        from backup.errors import AccountSuspended

        self.suspended_list_error = AccountSuspended
        super().__init__(clock, **kwargs)
        self.token = self.secret
        self.own_in_errors = False  # a suspended own account seen by an app-only token: 200 + errors[]

    def member_id(self, n: int) -> str:
        return str(1480000000000000000 + n * 1_000_003)

    def user(self, n: int) -> dict:
        return {
            "id": self.member_id(n), "username": f"m{n}", "name": f"Member {n}", "description": f"bio {n}",
            "url": "https://t.co/abc", "protected": False, "created_at": "2019-03-02T10:11:12.000Z",
            "entities": {"url": {"urls": [{"url": "https://t.co/abc", "expanded_url": f"https://m{n}.example"}]}},
            "public_metrics": {"followers_count": n, "following_count": 2 * n, "tweet_count": 9, "listed_count": 0},
        }

    def bucket(self, request: Request) -> str:
        for word in ("followers", "following"):
            if request.path.endswith("/" + word):
                return word
        return "users"

    def rate_headers(self, limit, remaining, reset):
        return {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": str(remaining), "x-rate-limit-reset": str(math.ceil(reset))}

    def too_many_reply(self, reset):
        return Reply(429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
                     self.rate_headers(15, 0, reset))

    def route(self, request: Request):
        if request.auth != f"Bearer {self.token}" or self.revoked:
            return Reply(401, {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"})
        if self.own_state == "suspended" and not self.own_in_errors:
            return Reply(403, {"detail": "The user used for authentication is suspended", "title": "Forbidden", "status": 403,
                               "type": "https://api.twitter.com/2/problems/user-suspended"})
        path = request.path
        if path in (f"/2/users/by/username/{self.handle}", f"/2/users/{self.own_id}"):
            if (fault := self.own_fault()) is not None:
                return fault
            if self.own_state == "suspended":
                return Reply(200, {"errors": [{"value": self.own_id, "detail": f"User has been suspended: [{self.own_id}].",
                                               "title": "Forbidden", "resource_type": "user", "parameter": "id",
                                               "resource_id": self.own_id, "type": "https://api.twitter.com/2/problems/resource-not-found"}]})
            if self.own_state == "missing":
                return Reply(200, {"errors": [{"value": self.handle, "detail": f"Could not find user with username: [{self.handle}].",
                                               "title": "Not Found Error", "resource_type": "user", "parameter": "username",
                                               "type": "https://api.twitter.com/2/problems/resource-not-found"}]})
            return Reply(200, {"data": {"id": self.own_id, "username": self.handle, "name": "Ana Pro",
                                        "public_metrics": {"followers_count": len(self.lists["follower"]),
                                                           "following_count": len(self.lists["following"])}}})
        for kind, word in (("follower", "followers"), ("following", "following")):
            if path == f"/2/users/{self.own_id}/{word}":
                token = request.query.get("pagination_token")
                index = 0 if token is None else int(token.removeprefix("7140dibdnow9c7b"))
                got = self.page_reply(kind, index, request, int(request.query.get("max_results", 100)))
                if not isinstance(got, tuple):
                    return got
                members, nxt = got
                body: dict = {"meta": {"result_count": len(members)}}
                if members:
                    body["data"] = [self.user(n) for n in members]
                if nxt is not None:
                    body["meta"]["next_token"] = f"7140dibdnow9c7b{nxt:04d}"
                return Reply(200, body)
        return Reply(404, {"title": "Not Found Error", "detail": "no such route", "type": "about:blank", "status": 404})


# GitHub ------------------------------------------------------------------------------------


class GitHubFake(PlatformFake):
    platform = "github"
    connector_class = GitHub
    handle = "ana-dev"
    secret = "ghp_fake0123456789"
    reset_header = "x-ratelimit-reset"
    own_id = 5000001
    names_in_lists = False

    def __init__(self, clock: FakeClock, **kwargs):
        from backup.errors import AccountSuspended

        self.suspended_list_error = AccountSuspended
        super().__init__(clock, **kwargs)
        self.token = self.secret
        self.profile_requests: list[str] = []

    def member_id(self, n: int) -> str:
        return str(10000000 + n)

    def simple(self, n: int) -> dict:
        return {"login": f"m{n}", "id": 10000000 + n, "node_id": f"MDQ6VXNlcj{n}", "avatar_url": "https://avatars.example/u",
                "html_url": f"https://github.com/m{n}", "type": "User", "site_admin": False}

    def full(self, n: int) -> dict:
        return {**self.simple(n), "name": f"Member {n}", "company": None, "blog": f"https://m{n}.example",
                "location": "Lisbon", "email": f"m{n}@mail.example" if n % 2 == 0 else None, "bio": f"bio {n}",
                "twitter_username": f"m{n}_x" if n % 3 == 0 else None, "public_repos": n, "followers": n, "following": 1,
                "created_at": "2015-01-01T00:00:00Z"}

    def rate_headers(self, limit, remaining, reset):
        return {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(remaining), "x-ratelimit-used": str(limit - remaining),
                "x-ratelimit-reset": str(math.ceil(reset)), "x-ratelimit-resource": "core"}

    def too_many_reply(self, reset):
        # GitHub answers an exhausted primary limit with 403 (or 429) and remaining 0.
        return Reply(403, {"message": "API rate limit exceeded for 127.0.0.1.",
                           "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"},
                     self.rate_headers(60, 0, reset))

    def route(self, request: Request):
        if request.auth is not None:
            if request.auth != f"Bearer {self.token}" or self.revoked:
                return Reply(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
            if self.own_state == "suspended":
                return Reply(403, {"message": "Sorry. Your account was suspended.", "documentation_url": "https://docs.github.com/rest"})
        path = request.path
        if path == f"/users/{self.handle}":
            if (fault := self.own_fault()) is not None:
                return fault
            if self.own_state != "active":
                return Reply(404, {"message": "Not Found"})
            return Reply(200, {"login": self.handle, "id": self.own_id, "name": "Ana Dev", "followers": len(self.lists["follower"]),
                               "following": len(self.lists["following"]), "html_url": f"https://github.com/{self.handle}"})
        for kind, word in (("follower", "followers"), ("following", "following")):
            if path in (f"/users/{self.handle}/{word}", f"/user/{self.own_id}/{word}"):
                per_page = int(request.query.get("per_page", 30))
                index = int(request.query.get("page", 1)) - 1
                got = self.page_reply(kind, index, request, min(per_page, 100))
                if not isinstance(got, tuple):
                    return got
                members, nxt = got
                headers = {}
                if nxt is not None:
                    base = f"https://api.github.com/user/{self.own_id}/{word}"
                    last = len(self.pages(kind, per_page))
                    headers["Link"] = f'<{base}?per_page={per_page}&page={nxt + 1}>; rel="next", <{base}?per_page={per_page}&page={last}>; rel="last"'
                return Reply(200, [self.simple(n) for n in members], headers)
        if path.startswith("/users/m"):
            login = path.removeprefix("/users/")
            self.profile_requests.append(login)
            n = int(login[1:])
            if n % 11 == 0:
                return Reply(404, {"message": "Not Found"})  # vanished between the list and the lookup
            return Reply(200, self.full(n))
        return Reply(404, {"message": "Not Found"})


FAKES: dict[str, type[PlatformFake]] = {f.platform: f for f in (MastodonFake, BlueskyFake, XFake, GitHubFake)}


# Many accounts on one server (the worker tests) ---------------------------------------------

import time  # (this section was appended after the others)


class Crowd:
    """One server with many own accounts, for the scale-out tests (tests/test_workers.py).

    Mastodon accounts `u0@social.example`, `u1@...` (unauthenticated: `accounts/lookup`) and
    GitHub users `g0`, `g1`, ... (all behind one shared token, as an agency's one GitHub token
    serves many client accounts), on one `FakeServer` in real time: workers in other processes
    call it. Account i's followers are members i*7 .. i*7+followers-1 (neighbours share some:
    concurrent jobs upsert the same profiles), its following 100000+i*3 onwards.

    Knobs: `page_size[handle]` (default 80 on Mastodon, 100 on GitHub: one page);
    `delay[platform]` seconds slept by every request of that platform (real time);
    `hold(handle, kind, page)` blocks that page's requests until `release()`, and sets `held`
    when one arrives: a job caught in the middle of its walk.
    Bookkeeping: `lookups[handle]` (own-account requests), `served[(handle, kind)]` (page
    indexes, in order), `spans[handle]` ([first request start, last request end], monotonic).
    """

    web = "https://social.example"

    def __init__(self, mastodon: int, github: int = 0, *, followers: int = 12, following: int = 4, gh_token: str = "ghp_crowd0123456789"):
        self.mastodon = [f"u{i}" for i in range(mastodon)]
        self.github = [f"g{i}" for i in range(github)]
        self.followers, self.following = followers, following
        self.gh_token = gh_token
        self.page_size: dict[str, int] = {}
        self.delay: dict[str, float] = {}
        self.lookups: dict[str, int] = {}
        self.served: dict[tuple[str, str], list[int]] = {}
        self.spans: dict[str, list[float]] = {}
        self.held = threading.Event()
        self._hold: tuple[str, str, int] | None = None
        self._release = threading.Event()
        self._lock = threading.Lock()
        self.server = FakeServer(self.app)
        self.url = self.server.url

    def close(self) -> None:
        self._release.set()
        self.server.close()

    # -- knobs ---------------------------------------------------------------------------------

    def hold(self, handle: str, kind: str, page: int) -> None:
        self._hold = (handle, kind, page)
        self._release.clear()
        self.held.clear()

    def release(self) -> None:
        self._hold = None
        self._release.set()

    # -- members -------------------------------------------------------------------------------

    def members(self, handle: str, kind: str) -> list[int]:
        i = int(handle[1:])
        return list(range(i * 7, i * 7 + self.followers)) if kind == "follower" else list(range(100000 + i * 3, 100000 + i * 3 + self.following))

    def expected_ids(self, handle: str, kind: str) -> set[str]:
        if handle.startswith("g"):
            return {str(8000000 + n) for n in self.members(handle, kind)}
        return {f"https://remote.example/users/m{n}" for n in self.members(handle, kind)}

    def pages(self, handle: str, kind: str, default: int) -> list[list[int]]:
        members, size = self.members(handle, kind), self.page_size.get(handle, default)
        return [members[i:i + size] for i in range(0, len(members), size)] or [[]]

    # -- serving -------------------------------------------------------------------------------

    def app(self, request: Request):
        start = time.monotonic()
        parts = request.path.strip("/").split("/")
        platform = "github" if parts[0] == "users" else "mastodon"
        if self.delay.get(platform):
            time.sleep(self.delay[platform])
        handle, reply = self.route(request, parts)
        if handle is not None:
            with self._lock:
                span = self.spans.setdefault(handle, [start, start])
                span[1] = time.monotonic()
        return reply

    def _page(self, handle: str, kind: str, index: int, default: int):
        if self._hold == (handle, kind, index):
            self.held.set()
            self._release.wait(60)
        pages = self.pages(handle, kind, default)
        if index >= len(pages):
            return None, None
        with self._lock:
            self.served.setdefault((handle, kind), []).append(index)
        return pages[index], (index + 1 if index + 1 < len(pages) else None)

    def _own(self, handle: str) -> None:
        with self._lock:
            self.lookups[handle] = self.lookups.get(handle, 0) + 1

    def route(self, request: Request, parts: list[str]):
        if parts[:3] == ["api", "v1", "accounts"]:
            return self._mastodon(request, parts[3:])
        if parts[0] == "users":
            return self._github(request, parts[1:])
        return None, Reply(404, {"error": "Record not found"})

    def _mastodon(self, request: Request, rest: list[str]):
        if rest == ["lookup"]:
            user, _, domain = request.query.get("acct", "").partition("@")
            if user not in self.mastodon or domain != "social.example":
                return None, Reply(404, {"error": "Record not found"})
            self._own(user)
            i = int(user[1:])
            return user, Reply(200, {
                "id": str(300000 + i), "username": user, "acct": user, "display_name": f"Client {i}", "note": "",
                "url": f"{self.web}/@{user}", "uri": f"{self.web}/users/{user}", "fields": [], "bot": False,
                "followers_count": self.followers, "following_count": self.following,
            })
        if len(rest) == 2 and rest[1] in ("followers", "following") and rest[0].isdigit():
            user = f"u{int(rest[0]) - 300000}"
            if user not in self.mastodon:
                return None, Reply(404, {"error": "Record not found"})
            kind = "follower" if rest[1] == "followers" else "following"
            members, nxt = self._page(user, kind, int(request.query.get("max_id", 0)), 80)
            if members is None:
                return user, Reply(400, {"error": "no such page"})
            headers = {}
            if nxt is not None:
                headers["Link"] = f'<{self.web}/api/v1/accounts/{rest[0]}/{rest[1]}?limit=80&max_id={nxt}>; rel="next"'
            return user, Reply(200, [{
                "id": str(n), "username": f"m{n}", "acct": f"m{n}@remote.example", "display_name": f"Member {n}",
                "note": "", "url": f"https://remote.example/@m{n}", "uri": f"https://remote.example/users/m{n}", "fields": [],
            } for n in members], headers)
        return None, Reply(404, {"error": "Record not found"})

    def _github(self, request: Request, rest: list[str]):
        if not rest or rest[0] not in self.github:
            return None, Reply(404, {"message": "Not Found"})
        if request.auth != f"Bearer {self.gh_token}":
            return None, Reply(401, {"message": "Bad credentials"})
        user = rest[0]
        i = int(user[1:])
        if len(rest) == 1:
            self._own(user)
            return user, Reply(200, {"login": user, "id": 7000000 + i, "name": f"Client {i}", "followers": self.followers,
                                     "following": self.following, "html_url": f"https://github.com/{user}"})
        if len(rest) == 2 and rest[1] in ("followers", "following"):
            kind = "follower" if rest[1] == "followers" else "following"
            members, nxt = self._page(user, kind, int(request.query.get("page", 1)) - 1, 100)
            if members is None:
                return user, Reply(400, {"message": "no such page"})
            headers = {}
            if nxt is not None:
                headers["Link"] = f'<https://api.github.com/users/{user}/{rest[1]}?per_page=100&page={nxt + 1}>; rel="next"'
            return user, Reply(200, [{"login": f"h{n}", "id": 8000000 + n, "type": "User"} for n in members], headers)
        return None, Reply(404, {"message": "Not Found"})


# Bluesky repository writes (the export tests: lists and starter packs) ----------------------


class BlueskyRepoFake(BlueskyFake):
    """A Bluesky PDS that also takes record writes: ``com.atproto.repo.createRecord`` and
    ``listRecords`` for the user's own repository, and ``com.atproto.identity.resolveHandle``.

    Records are checked against the lexicons (``app/bsky/graph/{list,listitem,starterpack}``):
    required fields, the list name's length, a DID subject, an at:// list reference.
    ``records[collection]`` holds ``(rkey, value)`` in creation order; ``resolvable`` maps a
    handle to its DID; ``fail_create_after`` makes the n-th createRecord (1-based) and later
    ones fail with a 500, to cut a run short.
    """

    RECORD_RULES: ClassVar[dict[str, tuple[str, ...]]] = {
        "app.bsky.graph.list": ("purpose", "name", "createdAt"),
        "app.bsky.graph.listitem": ("subject", "list", "createdAt"),
        "app.bsky.graph.starterpack": ("name", "list", "createdAt"),
    }

    def __init__(self, clock: FakeClock, **kwargs):
        super().__init__(clock, **kwargs)
        self.records: dict[str, list[tuple[str, dict]]] = {}
        self.resolvable: dict[str, str] = {}
        self.creates = 0
        self.fail_create_after: int | None = None

    def _invalid(self, message: str) -> Reply:
        return Reply(400, {"error": "InvalidRequest", "message": message})

    def _check_record(self, collection: str, record: Any) -> str | None:
        rules = self.RECORD_RULES.get(collection)
        if rules is None:
            return f"Lexicon not found: {collection}"
        if not isinstance(record, dict) or record.get("$type") != collection:
            return "Invalid $type"
        for name in rules:
            if not isinstance(record.get(name), str) or not record[name]:
                return f'Record must have the property "{name}"'
        if collection == "app.bsky.graph.list":
            if len(record["name"]) > 64:
                return "Record/name must not be longer than 64 characters"
            if record["purpose"] not in ("app.bsky.graph.defs#curatelist", "app.bsky.graph.defs#modlist",
                                         "app.bsky.graph.defs#referencelist"):
                return "Record/purpose must be a known list purpose"
        if collection == "app.bsky.graph.starterpack" and len(record["name"]) > 50:
            return "Record/name must not be longer than 50 graphemes"
        if collection == "app.bsky.graph.listitem" and not record["subject"].startswith("did:"):
            return "Record/subject must be a valid did"
        if "list" in rules and not record["list"].startswith(f"at://{self.did}/app.bsky.graph.list/"):
            return "Record/list must be an at-uri of a list"
        return None

    def route(self, request: Request):
        path = request.path
        if path == "/xrpc/com.atproto.repo.createRecord":
            if request.method != "POST":
                return Reply(405, {"error": "InvalidRequest", "message": "Method not allowed"})
            if request.auth is None:
                return Reply(401, {"error": "AuthMissing", "message": "Authentication Required"})
            problem = self._auth_problem(request)
            if problem:
                return problem
            body = request.json() or {}
            if body.get("repo") not in (self.did, self.handle):
                return self._invalid("Can only write to your own repo")
            self.creates += 1
            if self.fail_create_after is not None and self.creates >= self.fail_create_after:
                return Reply(500, {"error": "InternalServerError", "message": "Internal Server Error"})
            collection = body.get("collection")
            bad = self._check_record(collection, body.get("record"))
            if bad:
                return self._invalid(bad)
            rkey = f"3l{len(self.records.get(collection, [])) + 1:011d}"
            self.records.setdefault(collection, []).append((rkey, body["record"]))
            return Reply(200, {"uri": f"at://{self.did}/{collection}/{rkey}", "cid": f"bafyrei{rkey}"})
        if path == "/xrpc/com.atproto.repo.listRecords":
            if request.query.get("repo") not in (self.did, self.handle):
                return self._invalid("Could not find repo")
            collection = request.query.get("collection", "")
            limit = min(int(request.query.get("limit", 50)), 100)
            start = int(request.query.get("cursor") or 0)
            items = self.records.get(collection, [])
            page = items[start:start + limit]
            body: dict[str, Any] = {"records": [
                {"uri": f"at://{self.did}/{collection}/{rkey}", "cid": f"bafyrei{rkey}", "value": value} for rkey, value in page]}
            if start + limit < len(items):
                body["cursor"] = str(start + limit)
            return Reply(200, body)
        if path == "/xrpc/com.atproto.identity.resolveHandle":
            did = self.resolvable.get((request.query.get("handle") or "").lower())
            return Reply(200, {"did": did}) if did else self._invalid("Unable to resolve handle")
        return super().route(request)
