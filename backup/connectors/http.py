"""The one HTTP client every connector talks through (SPEC §10, reliability checks C and F).

What it promises, whatever the platform:

- a timeout on every request (``DEFAULT_TIMEOUT``);
- one error policy, ``STATUS_POLICY`` and ``EXCEPTION_POLICY`` below, which a connector refines
  only by looking at bodies and headers in its ``classify`` hook (X's 200-with-``errors[]``,
  Bluesky's error names, GitHub's 403 that is a rate limit);
- retries of 5xx and connection errors with exponential backoff and full jitter (each wait at
  most ``MAX_BACKOFF``), at most ``MAX_ATTEMPTS`` tries and ``MAX_RETRY_WAIT`` seconds of waiting
  per request; a POST is retried only when the caller says it is idempotent;
- 429 (and whatever ``classify`` calls rate-limited) waits for ``Retry-After`` (seconds or an
  HTTP date), else for the platform's reset header (epoch seconds, delta seconds or ISO 8601:
  one tolerant parser, ``parse_reset``), else backs off from a one-minute floor;
- proactive pacing: when a response says no requests are left in the window, the next request
  of that bucket waits for the reset instead of collecting a 429;
- a per-run ``deadline`` (a ``monotonic()`` time): a wait that would pass it raises
  ``TransientError`` (exit 5) at once, so a rate-limited night ends ``partial``, not hung;
- credentials only in the ``Authorization`` header, only to the origin (scheme, host, port) of
  the API base; redirects are followed here (``allow_redirects=False``) and never carry the
  header to another origin; a credential in a URL is refused;
- no secret in a log line, an exception message or a repr: every text this module produces goes
  through ``scrub`` (the secrets it knows, then ``backup.logs.redact``), and exceptions are
  raised ``from None`` (a requests exception holds the prepared request and its headers).

Clock (``monotonic``, ``time``), ``sleep`` and ``random`` are injectable: tests never wait.
This module is the one place in ``connectors/`` with a loop and a sleep (STYLE §1 keeps them
out of the connectors themselves).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json as jsonlib
import logging
import math
import random as _random
import re
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from ..errors import AccountSuspended, AudienceError, ConfigError, TransientError
from ..logs import redact

log = logging.getLogger(__name__)

# (connect, read) seconds. A page of 1,000 X users is ~300 KB; a minute to read it is generous.
DEFAULT_TIMEOUT = (10.0, 60.0)
# Reliability check C.15: at most 8 attempts per request.
MAX_ATTEMPTS = 8
# Backoff for 5xx and connection errors: full jitter, random(0, min(MAX_BACKOFF, BASE * 2**n)).
BACKOFF_BASE = 1.0
MAX_BACKOFF = 120.0  # reliability check C.17: capped at 120 s
# A rate-limit wait is capped at one X window (15 min, reliability check C.15's 900 s cap); a
# reset further ahead is clock skew or a daily/monthly cap, and the deadline decides.
MAX_RATE_LIMIT_WAIT = 900.0
# A 429 that names no time: GitHub says "wait at least one minute", then back off exponentially.
RATE_LIMIT_FALLBACK = 60.0
# Total waiting for one request's retries (pacing waits are normal and do not count).
MAX_RETRY_WAIT = 1800.0
# Added to every wait for a reset, for the clocks of the server and ours to disagree a little
# (NTP keeps them within milliseconds). A clock further off costs one 429, which is then waited
# out from that response's own reset header.
PACE_MARGIN = 0.1
MAX_REDIRECTS = 5
USER_AGENT = "audience-backup/0.1 (+https://github.com/audience-backup; follower backup)"

# ---------------------------------------------------------------------------------------------
# The error policy: one table (STYLE §3)

OK = "ok"
RETRY = "retry"  # transient: back off and try again
RATE_LIMITED = "rate_limited"  # wait for Retry-After / the reset header, then try again
AUTH_EXPIRED = "auth_expired"  # a session token expired: refresh it once, then try again
AUTH_FAILED = "auth_failed"  # the credential is refused (401, revoked): ConfigError, exit 4
SUSPENDED = "suspended"  # the user's own account is suspended/deactivated: AccountSuspended, exit 8
NOT_FOUND = "not_found"  # the account asked for does not exist (any more): NotFound, exit 4
TRANSIENT = "transient"  # stop now, try next run (X's monthly cap): TransientError, exit 5
FATAL = "fatal"  # anything else the platform refuses: RequestRefused, exit 4

STATUS_POLICY: dict[int, str] = {
    401: AUTH_FAILED,
    403: FATAL,  # connectors tell suspensions and rate limits apart by the body
    404: NOT_FOUND,
    408: RETRY,
    410: NOT_FOUND,
    425: RETRY,
    429: RATE_LIMITED,
    500: RETRY,
    502: RETRY,
    503: RETRY,
    504: RETRY,
}
# Other 2xx: OK; other 5xx: RETRY; other 4xx: FATAL. Exceptions: the first matching class wins.
EXCEPTION_POLICY: tuple[tuple[type[BaseException], str], ...] = (
    (requests.exceptions.SSLError, FATAL),  # a certificate problem does not fix itself in a minute
    (requests.exceptions.InvalidURL, FATAL),
    (requests.exceptions.MissingSchema, FATAL),
    (requests.exceptions.InvalidSchema, FATAL),
    (requests.exceptions.Timeout, RETRY),
    (requests.exceptions.ConnectionError, RETRY),
    (requests.exceptions.ChunkedEncodingError, RETRY),
    (requests.exceptions.ContentDecodingError, RETRY),
)


@dataclass(frozen=True)
class Verdict:
    """What a response or exception means: an action from the table, and the platform's words."""

    action: str
    reason: str | None = None  # e.g. the platform's error message; shown to the user (scrubbed)
    status: str | None = None  # SUSPENDED only: "suspended" | "deactivated"


def classify_status(status: int) -> Verdict:
    if 200 <= status < 300:
        return Verdict(OK)
    action = STATUS_POLICY.get(status)
    if action is None:
        action = RETRY if status >= 500 else FATAL
    return Verdict(action)


def classify_exception(exc: BaseException) -> Verdict:
    for cls, action in EXCEPTION_POLICY:
        if isinstance(exc, cls):
            return Verdict(action, type(exc).__name__)
    return Verdict(FATAL, type(exc).__name__)


# ---------------------------------------------------------------------------------------------
# Errors (all subclasses of the tool's own hierarchy, so the CLI maps them to exit codes)


class AuthFailed(ConfigError):
    """The platform refused the credential (401, a revoked or expired token)."""


class NotFound(ConfigError):
    """The account asked for does not exist on the platform (renamed, deleted, or a typo)."""


class RequestRefused(ConfigError):
    """The platform refused the request for another reason (e.g. the API plan lacks the endpoint)."""


class Suspended(AccountSuspended):
    """The user's own account is suspended, deactivated or taken down."""

    def __init__(self, message: str, *, status: str = "suspended", detail: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.status = status
        self.detail = detail


class BadResponse(TransientError):
    """The platform answered with a body that is not what its API documents."""


class Secret:
    """A credential that does not show itself: its repr and str are masked."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


# ---------------------------------------------------------------------------------------------
# Pure parsers


def parse_retry_after(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds to wait: delta seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - now)


# Below this a numeric reset is a delta (seconds from now), above it epoch seconds: the IETF
# draft's RateLimit-Reset is a delta, Bluesky's implementation sends epoch seconds.
_EPOCH_THRESHOLD = 1_000_000_000


def parse_reset(value: str | None, now: float) -> float | None:
    """A rate-limit reset header as an epoch time, whatever the platform's format.

    X `x-rate-limit-reset`, GitHub `x-ratelimit-reset`, Bluesky `ratelimit-reset`: epoch seconds;
    Mastodon `X-RateLimit-Reset`: ISO 8601 with microseconds (other Mastodon-API servers send
    epoch values); the IETF draft: delta seconds. An HTTP date is accepted too.
    """
    if not value:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            return None
        return number if number >= _EPOCH_THRESHOLD else now + max(0.0, number)
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,<]*)*)")
_REL = re.compile(r"""(?i)\brel\s*=\s*(?:"([^"]*)"|([^\s;,"]+))""")


def parse_link_header(value: str | None) -> dict[str, str]:
    """RFC 8288 `Link` header -> {rel: url}; the first link of each relation wins.

    ``<https://h/api?page=2>; rel="next", <https://h/api?page=9>; rel="last"`` ->
    ``{"next": "https://h/api?page=2", "last": "https://h/api?page=9"}``
    """
    links: dict[str, str] = {}
    if not value:
        return links
    for match in _LINK.finditer(value):
        url, params = match.group(1).strip(), match.group(2)
        rel = _REL.search(params)
        if not rel:
            continue
        for name in (rel.group(1) if rel.group(1) is not None else rel.group(2)).split():
            links.setdefault(name.lower(), url)
    return links


def next_link(response: requests.Response) -> str | None:
    return parse_link_header(response.headers.get("Link")).get("next")


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port made explicit: what a credential is bound to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def response_json(response: requests.Response) -> Any:
    """The parsed body, parsed once per response (classify hooks and connectors share it)."""
    cached = response.__dict__.get("_audience_json", _MISSING)
    if cached is _MISSING:
        try:
            cached = jsonlib.loads(response.content) if response.content else None
        except (ValueError, UnicodeDecodeError):
            cached = _INVALID
        response.__dict__["_audience_json"] = cached
    return None if cached is _INVALID else cached


_MISSING = object()
_INVALID = object()


def error_text(response: requests.Response | None, limit: int = 200) -> str | None:
    """The platform's own words for an error, from the usual JSON keys; None if there are none."""
    if response is None:
        return None
    body = response_json(response)
    words: list[str] = []
    if isinstance(body, dict):
        for key in ("error", "title", "message", "detail", "error_description"):
            value = body.get(key)
            if isinstance(value, str) and value and value not in words:
                words.append(value)
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            for key in ("title", "detail", "message"):
                value = errors[0].get(key)
                if isinstance(value, str) and value and value not in words:
                    words.append(value)
    text = ": ".join(words)
    return text[:limit] if text else None


# ---------------------------------------------------------------------------------------------
# The client


@dataclass
class _Window:
    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds


@dataclass(frozen=True)
class RateLimitHeaders:
    """Where a platform says how much of its rate limit is left (names are case-insensitive)."""

    remaining: str
    reset: str


class HttpClient:
    """Requests to one API base, for one platform and at most one credential at a time.

    ``classify(response) -> Verdict | None`` is the connector's hook; it sees every response
    before the status table and returns None to leave the decision to the table.
    ``on_auth_expired()`` is called once per request when ``classify`` says AUTH_EXPIRED (a
    session token to refresh); the request is then sent again with the new token.
    """

    def __init__(
        self,
        platform: str,
        base_url: str,
        *,
        token: str | Secret | None = None,
        auth_scheme: str = "Bearer",
        headers: dict[str, str] | None = None,
        classify: Callable[[requests.Response], Verdict | None] | None = None,
        rate_limit_headers: RateLimitHeaders | None = None,
        on_auth_expired: Callable[[], None] | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        max_attempts: int = MAX_ATTEMPTS,
        max_backoff: float = MAX_BACKOFF,
        max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT,
        max_retry_wait: float = MAX_RETRY_WAIT,
        pace_margin: float = PACE_MARGIN,
        deadline: float | None = None,
        monotonic: Callable[[], float] = _time.monotonic,
        time: Callable[[], float] = _time.time,
        sleep: Callable[[float], None] = _time.sleep,
        random: Callable[[], float] = _random.random,
        session: requests.Session | None = None,
    ) -> None:
        if origin(base_url)[0] not in ("http", "https") or not origin(base_url)[1]:
            raise ConfigError(f"{platform}: the API base {redact(base_url)!r} is not an http(s) URL", hint="e.g. --server https://social.example")
        self.platform = platform
        self.base_url = base_url.rstrip("/")
        self._base_path = urlsplit(self.base_url).path
        self._origin = origin(self.base_url)
        self._token: Secret | None = None
        self._secrets: list[Secret] = []  # Secret objects: even vars(client) shows none of them
        self.set_token(token)
        self.auth_scheme = auth_scheme
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        self.classify = classify
        self.rate_limit_headers = rate_limit_headers
        self.on_auth_expired = on_auth_expired
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.max_backoff = max_backoff
        self.max_rate_limit_wait = max_rate_limit_wait
        self.max_retry_wait = max_retry_wait
        self.pace_margin = pace_margin
        self.deadline = deadline
        self.monotonic, self.time, self.sleep, self.random = monotonic, time, sleep, random
        self.session = session or requests.Session()
        self._windows: dict[str, _Window] = {}
        self.requests_sent = 0
        self.waited = 0.0  # seconds slept, pacing and retries together (for progress and tests)

    def __repr__(self) -> str:
        return f"<HttpClient {self.platform} {self.base_url}>"

    # -- credentials -------------------------------------------------------------------------

    def set_token(self, token: str | Secret | None) -> None:
        """The credential for the Authorization header from now on (None: unauthenticated)."""
        if isinstance(token, str):
            token = Secret(token) if token else None
        self._token = token
        if token:
            self.add_secret(token)

    def add_secret(self, secret: str | Secret | None) -> None:
        """Another string never to show (an app password, a refresh token)."""
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value and len(value) >= 4 and all(value != known.reveal() for known in self._secrets):
            self._secrets.append(Secret(value))

    @property
    def authenticated(self) -> bool:
        return bool(self._token)

    def scrub(self, text: str) -> str:
        """A text safe to log or show: known secrets masked, then the generic redactions."""
        for secret in sorted(self._secrets, key=lambda s: -len(s.reveal())):
            text = text.replace(secret.reveal(), "[redacted]")
        return redact(text)

    # -- URLs --------------------------------------------------------------------------------

    def url_for(self, ref: str) -> str:
        """An absolute URL for a path (relative to the base, query allowed) or a full URL."""
        if urlsplit(ref).scheme:
            return ref
        return self.base_url + "/" + ref.lstrip("/")

    def relative_ref(self, url: str) -> str:
        """The path and query of `url` relative to the base: what a Link-header cursor stores.

        Only the path and query are kept (never a host, never a credential): the next request
        goes to our own base, whatever host the platform wrote into its Link header.
        """
        parts = urlsplit(urljoin(self.base_url + "/", url))
        path = parts.path
        if self._base_path and path.startswith(self._base_path + "/"):
            path = path[len(self._base_path):]
        return path + (f"?{parts.query}" if parts.query else "")

    def _display(self, url: str) -> str:
        parts = urlsplit(url)
        shown = parts.path + (f"?{parts.query}" if parts.query else "")
        if origin(url) != self._origin:
            shown = f"{parts.scheme}://{parts.netloc}{shown}"
        return self.scrub(shown[:300])

    def _refuse_secret_in_url(self, url: str, params: dict | None) -> None:
        text = url + " " + " ".join(f"{k}={v}" for k, v in (params or {}).items())
        if any(secret.reveal() in text for secret in self._secrets):
            raise ConfigError(f"{self.platform}: refused to put a credential into a URL (credentials go only in headers)")

    # -- requests ----------------------------------------------------------------------------

    def get_json(self, ref: str, *, params: dict | None = None, bucket: str = "default") -> Any:
        return self.json(self.request("GET", ref, params=params, bucket=bucket))

    def json(self, response: requests.Response) -> Any:
        body = response_json(response)
        if body is None and response.content.strip():
            raise BadResponse(
                f"{self.platform}: the answer to {response.request.method if response.request else 'GET'} "
                f"{self._display(response.url or '')} is not valid JSON ({len(response.content)} bytes)",
                hint="the platform may be having trouble; run again later",
            )
        return body

    def request(
        self,
        method: str,
        ref: str,
        *,
        params: dict | None = None,
        json: Any = None,
        bucket: str = "default",
        auth: bool = True,
        token: Secret | None = None,
        idempotent: bool | None = None,
        secret_body: bool = False,
    ) -> requests.Response:
        """Send one request through the whole policy; returns a response classified OK.

        `bucket` names the rate limit the request counts against (X limits each endpoint
        separately). `token` overrides the client's credential for this request (Bluesky's
        refresh token). `secret_body`: the JSON body holds a credential (a login), so a
        redirect to another origin is refused instead of followed.
        """
        method = method.upper()
        url = self.url_for(ref)
        self._refuse_secret_in_url(url, params)
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "OPTIONS")
        attempt = 0
        retry_waited = 0.0
        refreshed = False
        hops = 0
        while True:
            self._pace(bucket)
            response: requests.Response | None = None
            try:
                response = self._send(method, url, params, json, auth, token)
            except requests.RequestException as exc:
                verdict = classify_exception(exc)
                detail = self.scrub(f"{type(exc).__name__}: {exc}")[:300]
                verdict = Verdict(verdict.action, detail)
            else:
                self._note_window(bucket, response)
                if response.is_redirect:
                    url, method, json, params = self._redirect(method, url, response, json, params, hops, secret_body)
                    hops += 1
                    continue
                verdict = self._classify(response)
            if verdict.action == OK and response is not None:
                log.debug("%s %s %s -> %s", self.platform, method, self._display(url), response.status_code)
                return response
            if verdict.action == AUTH_EXPIRED and self.on_auth_expired is not None and not refreshed and token is None:
                refreshed = True
                log.info("%s: session expired; refreshing it", self.platform)
                self.on_auth_expired()
                continue
            # A 429 was not processed, so repeating it is safe; anything else only if idempotent.
            if verdict.action == RATE_LIMITED or (verdict.action == RETRY and idempotent):
                attempt += 1
                what = self._describe(verdict, response)
                if attempt >= self.max_attempts:
                    raise TransientError(
                        f"{self.platform}: {method} {self._display(url)} failed {attempt} times ({what}); gave up",
                        hint="progress is saved; run again later",
                    ) from None
                wait = self._retry_wait(verdict, response, attempt)
                if retry_waited + wait > self.max_retry_wait:
                    raise TransientError(
                        f"{self.platform}: {method} {self._display(url)} still failing after {retry_waited:.0f} s of retries ({what}); gave up",
                        hint="progress is saved; run again later",
                    ) from None
                log.warning(
                    "%s: %s %s: %s; attempt %d of %d in %.1f s",
                    self.platform, method, self._display(url), what, attempt + 1, self.max_attempts, wait,
                )
                self._wait(wait, what)
                retry_waited += wait
                if verdict.action == RATE_LIMITED and bucket in self._windows:
                    self._windows[bucket].remaining = None  # the wait just done was the one asked for
                continue
            raise self._error(verdict, method, url, response) from None

    def _send(self, method, url, params, json, auth, token) -> requests.Response:
        headers = dict(self.headers)
        credential = token or self._token
        if auth and credential and origin(url) == self._origin:
            headers["Authorization"] = f"{self.auth_scheme} {credential.reveal()}"
        self.requests_sent += 1
        return self.session.request(
            method, url, params=params, json=json, headers=headers, timeout=self.timeout, allow_redirects=False,
        )

    def _redirect(self, method, url, response, json, params, hops, secret_body):
        location = response.headers.get("Location")
        if not location or hops >= MAX_REDIRECTS:
            raise RequestRefused(f"{self.platform}: too many or empty redirects from {self._display(url)}")
        target = urljoin(response.url or url, location)
        if origin(target) != self._origin:
            if secret_body:
                raise RequestRefused(
                    f"{self.platform}: the login was redirected to another host ({self._display(target)}); not sending the password there",
                    hint="check --server: it should be the API host itself",
                )
            log.info("%s: redirected to another host %s; the credential stays behind", self.platform, self._display(target))
        if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
            method, json = "GET", None
        return target, method, json, None  # the Location carries its own query

    def _classify(self, response: requests.Response) -> Verdict:
        if self.classify is not None:
            verdict = self.classify(response)
            if verdict is not None:
                return verdict
        return classify_status(response.status_code)

    def _describe(self, verdict: Verdict, response: requests.Response | None) -> str:
        if response is None:
            return verdict.reason or "connection failed"
        words = verdict.reason or error_text(response)
        return self.scrub(f"{response.status_code}" + (f" {words}" if words else ""))

    def _error(self, verdict: Verdict, method: str, url: str, response: requests.Response | None) -> AudienceError:
        where = f"{method} {self._display(url)}"
        status = response.status_code if response is not None else None
        words = self.scrub(verdict.reason or error_text(response) or "")
        said = f" ({status}{': ' + words if words else ''})" if status else (f" ({words})" if words else "")
        if verdict.action == AUTH_FAILED or verdict.action == AUTH_EXPIRED:
            return AuthFailed(
                f"{self.platform}: the platform refused the credential{said}",
                hint="the token may be revoked or expired: create a new one and export it again",
            )
        if verdict.action == SUSPENDED:
            state = verdict.status or "suspended"
            return Suspended(f"{self.platform}: the account is {state}{said}", status=state, detail=words or None)
        if verdict.action == NOT_FOUND:
            return NotFound(f"{self.platform}: not found: {where}{said}", hint="check the handle (was the account renamed?)")
        if verdict.action == TRANSIENT:
            return TransientError(f"{self.platform}: {where} refused for now{said}", hint="progress is saved; run again later")
        if verdict.action in (RETRY, RATE_LIMITED):  # a POST that is not safe to repeat
            return TransientError(f"{self.platform}: {where} failed{said}; not retried (not idempotent)", hint="run again later")
        return RequestRefused(f"{self.platform}: {where} refused{said}")

    # -- waiting -----------------------------------------------------------------------------

    def _note_window(self, bucket: str, response: requests.Response) -> None:
        if self.rate_limit_headers is None:
            return
        remaining = response.headers.get(self.rate_limit_headers.remaining)
        reset = parse_reset(response.headers.get(self.rate_limit_headers.reset), self.time())
        if remaining is None and reset is None:
            return
        window = self._windows.setdefault(bucket, _Window())
        try:
            window.remaining = int(float(remaining)) if remaining is not None else None
        except ValueError:
            window.remaining = None
        window.reset_at = reset
        if response.status_code == 429 and window.remaining is None:
            window.remaining = 0

    def _until_reset(self, reset_at: float | None) -> float | None:
        if reset_at is None:
            return None
        return reset_at - self.time() + self.pace_margin

    def _pace(self, bucket: str) -> None:
        """Before a request: if the window has no requests left, wait for its reset."""
        window = self._windows.get(bucket)
        if window is None or window.remaining is None or window.remaining > 0:
            return
        wait = self._until_reset(window.reset_at)
        window.remaining = None  # unknown until the next response says
        if wait is None or wait <= 0:
            return
        if wait > self.max_rate_limit_wait:
            log.warning(
                "%s: the rate limit resets in %.0f s, more than %.0f s away (clock skew or a long window); waiting %.0f s",
                self.platform, wait, self.max_rate_limit_wait, self.max_rate_limit_wait,
            )
            wait = self.max_rate_limit_wait
        log.info("%s: rate limit reached; waiting %.1f s for the window to reset", self.platform, wait)
        self._wait(wait, "the rate limit's reset")

    def _retry_wait(self, verdict: Verdict, response: requests.Response | None, attempt: int) -> float:
        now = self.time()
        headers = response.headers if response is not None else {}
        after = parse_retry_after(headers.get("Retry-After"), now)
        if verdict.action == RATE_LIMITED:
            if after is None and self.rate_limit_headers is not None:
                until = self._until_reset(parse_reset(headers.get(self.rate_limit_headers.reset), now))
                if until is not None and until > 0:
                    after = until
                elif until is not None:
                    log.warning("%s: the rate limit's reset time is in the past (clock skew?); backing off", self.platform)
            elif after is not None:
                after += self.pace_margin
            if after is None:
                after = RATE_LIMIT_FALLBACK * 2 ** (attempt - 1)
            return min(after, self.max_rate_limit_wait)
        if after is not None:
            return min(after, self.max_backoff)
        return self.random() * min(self.max_backoff, BACKOFF_BASE * 2 ** (attempt - 1))

    def _wait(self, seconds: float, why: str) -> None:
        if seconds <= 0:
            return
        if self.deadline is not None and self.monotonic() + seconds > self.deadline:
            raise TransientError(
                f"{self.platform}: waiting {seconds:.0f} s for {why} would pass the run's time limit; stopped",
                hint="progress is saved; the next run continues from here",
            )
        self.sleep(seconds)
        self.waited += seconds
