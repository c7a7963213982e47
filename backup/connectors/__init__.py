"""API connectors, one module per platform, in one registry (STYLE §1, §5).

A connector says only how to talk to its platform:

- ``own_account() -> OwnAccount``: who the user's account is on the platform and whether it
  is in good standing. A suspension, a deactivation or a refused token is *returned* as a
  status (the caller records it with its time, SPEC §5.7); only what makes the answer unknown
  (the network, the rate limit: ``TransientError``) is raised.
- ``fetch_page(kind, cursor) -> Page``: one page of followers or following. ``cursor`` is
  None for the first page, else a ``next_cursor`` this connector returned before, possibly in
  an earlier run: it is stored in the database with the page, so it is a plain string that
  identifies the next page on its own (Link-header APIs: the next URL's path and query, never
  a host, never a token). ``next_cursor`` is None only on the last page. Here a suspension is
  raised (``AccountSuspended``, exit 8), as are a refused token (``ConfigError``, exit 4) and
  a failure that outlived the retries (``TransientError``, exit 5).

No loops over pages, no sleeps, no commits, no printing here: ``backup.snapshot.run_api_snapshot``
drives the pages, and ``backup.connectors.http.HttpClient`` owns timeouts, retries, rate-limit
pacing and redaction. Build one connector per account per run and use it for ``own_account``
and every kind: it keeps what it learned (the account's local id, a Bluesky session, the rate
limit's state) for the whole run.

``client_options`` carries the connector's own options (``full_profiles`` for GitHub) and,
beside them, keyword arguments for ``HttpClient``: ``deadline`` (a ``time.monotonic()`` value
after which no wait starts), ``timeout``, ``max_attempts``, and ``monotonic``/``time``/``sleep``
for tests.

Example, the shape a platform module takes::

    @register
    class Example(Connector):
        platform = "example"
        default_server = "https://api.example"

        def own_account(self) -> OwnAccount:
            user = self.http.get_json(f"/users/{self.handle}")
            return OwnAccount(str(user["id"]), user["login"], user.get("name"), "active")

        def fetch_page(self, kind, cursor):
            response = self.http.request("GET", cursor or f"/users/{self.handle}/{kind}s", params=None if cursor else {"per_page": 100})
            link = next_link(response)
            return Page([parse_user(u) for u in self.http.json(response)], link and self.http.relative_ref(link))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import requests

from ..errors import ConfigError, UsageError
from ..snapshot import Page
from .http import (
    AuthFailed,
    HttpClient,
    NotFound,
    RateLimitHeaders,
    Secret,
    Suspended,
    Verdict,
)

__all__ = [
    "REGISTRY", "Connector", "OwnAccount", "available", "get", "register",
]

# SPEC §2 account health.
ACCOUNT_STATUSES = ("active", "suspended", "deactivated", "auth_failed", "unknown")


@dataclass
class OwnAccount:
    """The user's own account as the platform reports it.

    Example (a Mastodon account that moved)::

        OwnAccount(platform_id="https://old.example/users/ana", handle="ana@old.example",
                   display_name="Ana", status="deactivated", detail="moved to @ana@new.example",
                   followers_count=310, following_count=120)
    """

    platform_id: str | None
    handle: str | None
    display_name: str | None
    status: str  # active | suspended | deactivated | auth_failed | unknown (SPEC §2)
    detail: str | None = None  # e.g. "moved to @ana@new.example", "limited", the platform's words
    # The counts the platform shows: a list that comes back empty while followers_count > 0
    # is hidden or cut short, not "everyone left" (Mastodon hides networks with `[]`).
    followers_count: int | None = None
    following_count: int | None = None


class Connector:
    """How to talk to one platform's API about one of the user's accounts."""

    platform: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = ("follower", "following")
    default_server: ClassVar[str | None] = None
    rate_limit_headers: ClassVar[RateLimitHeaders | None] = None
    # client_options keys that belong to the connector, not to HttpClient.
    option_names: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        handle: str,
        platform_id: str | None = None,
        server: str | None = None,
        secret: str | None = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        options = dict(client_options or {})
        self.options = {name: options.pop(name) for name in self.option_names if name in options}
        unknown = {name for name in options if name not in _CLIENT_OPTIONS}
        if unknown:
            raise UsageError(f"{self.platform}: unknown connector options: {', '.join(sorted(unknown))}")
        self.handle = handle
        self.platform_id = platform_id
        base = server or self.base_for(handle, secret)
        if not base:
            raise ConfigError(f"{self.platform}:{handle}: no API server known", hint="give one with --server https://...")
        self.http = HttpClient(
            self.platform, base, token=self.token_for(secret), headers=self.headers(),
            classify=self.classify, rate_limit_headers=self.rate_limit_headers,
            on_auth_expired=self.refresh_auth, **options,
        )
        if secret:
            self.http.add_secret(secret)

    # -- what a platform module overrides ----------------------------------------------------

    def base_for(self, handle: str, secret: str | None) -> str | None:
        """The API base when no --server is given."""
        return self.default_server

    def token_for(self, secret: str | None) -> Secret | None:
        """The bearer credential, if the secret is one (Bluesky's app password is not)."""
        return Secret(secret) if secret else None

    def headers(self) -> dict[str, str]:
        return {}

    def classify(self, response: requests.Response) -> Verdict | None:
        """Refine the status table by the body: None leaves the decision to the table."""
        return None

    def refresh_auth(self) -> None:
        """Called by the client when a session token expired (only Bluesky has sessions)."""
        raise AuthFailed(f"{self.platform}: the session expired")

    def own_account(self) -> OwnAccount:
        raise NotImplementedError

    def fetch_page(self, kind: str, cursor: str | None) -> Page:
        raise NotImplementedError

    # -- helpers -----------------------------------------------------------------------------

    def check_kind(self, kind: str) -> None:
        if kind not in self.kinds:
            raise UsageError(f"{self.platform} has no {kind!r} list; it has {', '.join(self.kinds)}")

    def health(self, probe) -> OwnAccount:
        """Run `probe()`; a suspension, a refused token or a missing account becomes a status."""
        try:
            return probe()
        except Suspended as exc:
            return OwnAccount(self.platform_id, self.handle, None, exc.status, exc.detail or exc.message)
        except AuthFailed as exc:
            return OwnAccount(self.platform_id, self.handle, None, "auth_failed", exc.message)
        except NotFound as exc:
            return OwnAccount(self.platform_id, self.handle, None, "unknown", f"not found on {self.platform} ({exc.message})")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.platform}:{self.handle} via {self.http.base_url}>"


# HttpClient keyword arguments a caller may pass in client_options.
_CLIENT_OPTIONS = {
    "deadline", "timeout", "max_attempts", "max_backoff", "max_rate_limit_wait", "max_retry_wait", "pace_margin",
    "monotonic", "time", "sleep", "random", "session",
}

REGISTRY: dict[str, type[Connector]] = {}


def register(cls: type[Connector]) -> type[Connector]:
    """Class decorator: every connector, built-in or not, comes in through this door."""
    if not cls.platform:
        raise TypeError(f"{cls.__name__} has no platform name")
    REGISTRY[cls.platform] = cls
    return cls


def get(platform: str) -> type[Connector]:
    try:
        return REGISTRY[platform]
    except KeyError:
        raise UsageError(
            f"there is no API connector for {platform!r} (connectors: {', '.join(sorted(REGISTRY))})",
            hint="for other platforms, download your data export and use `audience import`",
        ) from None


def available(platform: str) -> bool:
    return platform in REGISTRY


# The built-in platforms register themselves on import.
from . import bluesky, github, mastodon, x  # noqa: F401
