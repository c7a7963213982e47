"""X (Twitter) API v2: followers and following with a bearer token.

API: https://docs.x.com/x-api/users/follows (``GET /2/users/:id/followers``, ``/following``),
user lookup https://docs.x.com/x-api/users/lookup, rate limits
https://docs.x.com/fundamentals/rate-limits.

- Pages: ``max_results`` up to 1,000, ``pagination_token`` = the previous page's
  ``meta.next_token`` (our cursor); the last page has no ``next_token``; ``result_count`` can
  be below ``max_results`` while more pages follow.
- ``user.fields`` asks for the profile data we keep (no profile image: no avatars stored).
- Ids are strings above 2**53: never numbers.
- Rate limit: 15 requests / 15 min per endpoint for follows lookup (some sources say 300);
  the headers ``x-rate-limit-remaining`` / ``x-rate-limit-reset`` (epoch seconds) are the
  authority, each endpoint its own bucket. No ``Retry-After`` is sent.
- Errors in a 200: a lookup of a suspended or missing user answers ``{"errors": [...]}``
  without ``data``; classified by ``title``/``detail`` (both kinds share one ``type``).
  The token's own account suspended: 403 ``.../problems/user-suspended``. The monthly cap:
  429 ``UsageCapExceeded``, which no wait within a night fixes.
- Access to follows lookup depends on the API plan (UNCONFIRMED under pay-per-use): a 403
  ``client-not-enrolled`` is reported as is; the X archive import is the free fallback.
"""

from __future__ import annotations

import requests

from ..errors import ConfigError
from ..snapshot import Page, ProfileRecord
from . import Connector, OwnAccount, register
from .http import (
    FATAL,
    NOT_FOUND,
    SUSPENDED,
    TRANSIENT,
    BadResponse,
    RateLimitHeaders,
    Verdict,
    error_text,
    response_json,
)

API_BASE = "https://api.x.com"
# Follows lookup: max_results 1-1000 (default 100).
PAGE_SIZE = 1000
USER_FIELDS = "created_at,description,entities,location,protected,public_metrics,url,verified,verified_type"
_PATHS = {"follower": "followers", "following": "following"}


@register
class X(Connector):
    platform = "x"
    default_server = API_BASE
    rate_limit_headers = RateLimitHeaders("x-rate-limit-remaining", "x-rate-limit-reset")

    def __init__(self, **kwargs) -> None:
        if not kwargs.get("secret"):
            raise ConfigError(
                f"x:{kwargs.get('handle')}: the X API needs a bearer token",
                hint="add the account with --token-env VAR and export VAR=<bearer token>; or import your X archive",
            )
        kwargs["handle"] = kwargs["handle"].lstrip("@")
        super().__init__(**kwargs)
        self._user_id: str | None = kwargs.get("platform_id") or None

    def classify(self, response: requests.Response) -> Verdict | None:
        status = response.status_code
        if status == 200:
            body = response_json(response)
            if isinstance(body, dict) and "data" not in body and isinstance(body.get("errors"), list) and body["errors"]:
                return classify_errors(body["errors"])
            return None
        if status in (401, 403, 429):
            body = response_json(response)
            if not isinstance(body, dict):
                return None
            kind = str(body.get("type") or "")
            words = error_text(response)
            if status == 403 and (kind.endswith("/user-suspended") or "is suspended" in (words or "").lower()):
                return Verdict(SUSPENDED, words, "suspended")
            if status == 429 and (body.get("title") == "UsageCapExceeded" or kind.endswith("/usage-capped")):
                return Verdict(TRANSIENT, words or "the API's usage cap is reached")
        return None

    # -- own account -------------------------------------------------------------------------

    def own_account(self) -> OwnAccount:
        return self.health(self._fetch_own)

    def _fetch_own(self) -> OwnAccount:
        path = f"/2/users/{self._user_id}" if self._user_id else f"/2/users/by/username/{self.handle}"
        body = self.http.get_json(path, params={"user.fields": USER_FIELDS}, bucket="users")
        user = body.get("data") if isinstance(body, dict) else None
        if not isinstance(user, dict) or not user.get("id"):
            raise BadResponse("x: the user lookup did not return a user")
        record = parse_user(user)
        self._user_id = record.platform_id
        return OwnAccount(
            record.platform_id, record.handle, record.display_name, "active", "protected" if user.get("protected") else None,
            followers_count=record.followers_count, following_count=record.following_count,
        )

    def _id(self) -> str:
        """The numeric id the follows endpoints need (one lookup per run when not stored)."""
        return self._user_id or str(self._fetch_own().platform_id)

    # -- pages -------------------------------------------------------------------------------

    def fetch_page(self, kind: str, cursor: str | None) -> Page:
        self.check_kind(kind)
        params = {"max_results": PAGE_SIZE, "user.fields": USER_FIELDS}
        if cursor is not None:
            params["pagination_token"] = cursor
        body = self.http.get_json(f"/2/users/{self._id()}/{_PATHS[kind]}", params=params, bucket=kind)
        if not isinstance(body, dict) or not isinstance(body.get("data", []), list):
            raise BadResponse(f"x: the {_PATHS[kind]} page is not a list of users")
        profiles = [parse_user(u) for u in body.get("data") or [] if isinstance(u, dict) and u.get("id")]
        meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
        token = meta.get("next_token")
        return Page(profiles, str(token) if token else None)


def classify_errors(errors: list) -> Verdict:
    """A 200 without `data` but with `errors[]`: by title and detail, not by type."""
    first = errors[0] if isinstance(errors[0], dict) else {}
    title, detail = str(first.get("title") or ""), str(first.get("detail") or "")
    words = ": ".join(w for w in (title, detail) if w) or None
    if "suspended" in detail.lower():
        return Verdict(SUSPENDED, words, "suspended")
    if title == "Not Found Error" or detail.lower().startswith("could not find"):
        return Verdict(NOT_FOUND, words)
    return Verdict(FATAL, words)  # e.g. "Authorization Error": a protected account's lists


def _count(metrics: dict, key: str) -> int | None:
    value = metrics.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_user(user: dict) -> ProfileRecord:
    """An X API v2 User object -> ProfileRecord (pure). The website is the expanded `url`."""
    username = user.get("username") if isinstance(user.get("username"), str) else None
    metrics = user.get("public_metrics") if isinstance(user.get("public_metrics"), dict) else {}
    entities = user.get("entities") if isinstance(user.get("entities"), dict) else {}
    website = _expanded(entities.get("url")) or []
    data: dict = {}
    for key in ("created_at", "location", "verified_type"):
        if isinstance(user.get(key), str) and user[key]:
            data[key] = user[key]
    for key in ("protected", "verified"):
        if user.get(key) is True:
            data[key] = True
    for key in ("tweet_count", "listed_count"):
        if _count(metrics, key) is not None:
            data[key] = metrics[key]
    bio_links = _expanded(entities.get("description"))
    if bio_links:
        data["bio_links"] = bio_links
    return ProfileRecord(
        platform_id=str(user["id"]),
        handle=username,
        display_name=user.get("name") or None,
        url=f"https://x.com/{username}" if username else None,
        bio=user.get("description") or None,
        website=website[0] if website else (user.get("url") or None),
        followers_count=_count(metrics, "followers_count"),
        following_count=_count(metrics, "following_count"),
        data=data or None,
    )


def _expanded(entity) -> list[str]:
    """The expanded URLs of an entities block (`url` or `description`): t.co links resolved."""
    if not isinstance(entity, dict):
        return []
    urls = entity.get("urls")
    return [u.get("expanded_url") or u.get("url") for u in urls or [] if isinstance(u, dict) and (u.get("expanded_url") or u.get("url"))]
