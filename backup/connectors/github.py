"""GitHub REST: followers and following of a user.

API: https://docs.github.com/rest/users/followers (``GET /users/{username}/followers``,
``/following``), https://docs.github.com/rest/users/users (``GET /users/{username}``), rate
limits https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api.

- Pages: ``per_page`` up to 100, the ``Link`` header's ``rel="next"``; the cursor we store is
  the next URL's path and query.
- List items are simple users (login, id, html_url, type): no name, blog or email. With
  ``client_options={"full_profiles": True}`` each member is looked up with
  ``GET /users/{login}`` (name, blog, bio, public email, twitter_username, counts): one extra
  request per person, paced by the same rate limit (60/h without a token, 5,000/h with one).
- Keyed by the numeric id (as a string); the login can change.
- A token is optional (``Authorization: Bearer``).
- Rate limit: ``x-ratelimit-remaining`` / ``x-ratelimit-reset`` (epoch seconds); exceeding it
  gives 403 **or** 429 with remaining 0; secondary limits give 403/429 with a message and
  sometimes ``Retry-After``. Own account suspended: 403 "Sorry. Your account was suspended."
  (octokit matches /account was suspended/i). Another suspended user: most likely 404 (UNCONFIRMED).
"""

from __future__ import annotations

import re

import requests

from ..snapshot import Page, ProfileRecord
from . import Connector, OwnAccount, register
from .http import (
    RATE_LIMITED,
    SUSPENDED,
    BadResponse,
    NotFound,
    RateLimitHeaders,
    Verdict,
    error_text,
    next_link,
)

API_BASE = "https://api.github.com"
PAGE_SIZE = 100  # per_page: default 30, max 100
API_VERSION = "2022-11-28"
_PATHS = {"follower": "followers", "following": "following"}
_SUSPENDED = re.compile(r"(?i)account was suspended")
_SECONDARY = re.compile(r"(?i)secondary rate limit|abuse detection|rate limit exceeded")


@register
class GitHub(Connector):
    platform = "github"
    default_server = API_BASE
    rate_limit_headers = RateLimitHeaders("x-ratelimit-remaining", "x-ratelimit-reset")
    option_names = ("full_profiles",)

    def __init__(self, **kwargs) -> None:
        kwargs["handle"] = kwargs["handle"].lstrip("@")
        super().__init__(**kwargs)
        self.full_profiles = bool(self.options.get("full_profiles"))

    def headers(self) -> dict[str, str]:
        return {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}

    def classify(self, response: requests.Response) -> Verdict | None:
        if response.status_code not in (403, 429):
            return None
        words = error_text(response) or ""
        if _SUSPENDED.search(words):
            return Verdict(SUSPENDED, words, "suspended")
        if (
            response.headers.get("x-ratelimit-remaining") == "0"
            or "Retry-After" in response.headers
            or _SECONDARY.search(words)
        ):
            return Verdict(RATE_LIMITED, words or None)
        return None

    # -- own account -------------------------------------------------------------------------

    def own_account(self) -> OwnAccount:
        return self.health(self._fetch_own)

    def _fetch_own(self) -> OwnAccount:
        user = self.http.get_json(f"/users/{self.handle}")
        if not isinstance(user, dict) or user.get("id") is None:
            raise BadResponse("github: the user lookup did not return a user")
        record = parse_user(user)
        return OwnAccount(
            record.platform_id, record.handle, record.display_name, "active",
            followers_count=record.followers_count, following_count=record.following_count,
        )

    # -- pages -------------------------------------------------------------------------------

    def fetch_page(self, kind: str, cursor: str | None) -> Page:
        self.check_kind(kind)
        if cursor is None:
            response = self.http.request("GET", f"/users/{self.handle}/{_PATHS[kind]}", params={"per_page": PAGE_SIZE})
        else:
            response = self.http.request("GET", cursor)
        items = self.http.json(response)
        if not isinstance(items, list):
            raise BadResponse(f"github: the {_PATHS[kind]} page is not a list of users")
        users = [u for u in items if isinstance(u, dict) and u.get("id") is not None]
        if self.full_profiles:
            users = [self._fetch_full_user(u) for u in users]
        link = next_link(response)
        return Page([parse_user(u) for u in users], self.http.relative_ref(link) if link else None)

    def _fetch_full_user(self, simple: dict) -> dict:
        """The public profile of one listed user; the list item if it vanished meanwhile."""
        login = simple.get("login")
        if not isinstance(login, str) or not login:
            return simple
        try:
            full = self.http.get_json(f"/users/{login}")
        except NotFound:
            return simple
        return full if isinstance(full, dict) and full.get("id") == simple.get("id") else simple


def _count(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_user(user: dict) -> ProfileRecord:
    """A GitHub simple-user or public-user object -> ProfileRecord (pure).

    A public email goes into ``contacts`` with consent ``unknown`` (it was published, not
    given to us).
    """
    login = user.get("login") if isinstance(user.get("login"), str) else None
    data: dict = {}
    for key in ("twitter_username", "company", "location", "created_at"):
        if isinstance(user.get(key), str) and user[key]:
            data[key] = user[key]
    if user.get("type") not in (None, "User"):
        data["type"] = user["type"]
    for key in ("site_admin", "hireable"):
        if user.get(key) is True:
            data[key] = True
    if _count(user.get("public_repos")) is not None:
        data["public_repos"] = user["public_repos"]
    email = user.get("email") if isinstance(user.get("email"), str) and "@" in user.get("email", "") else None
    return ProfileRecord(
        platform_id=str(user["id"]),
        handle=login,
        display_name=user.get("name") or None,
        url=user.get("html_url") or (f"https://github.com/{login}" if login else None),
        bio=user.get("bio") or None,
        website=user.get("blog") or None,
        followers_count=_count(user.get("followers")),
        following_count=_count(user.get("following")),
        data=data or None,
        contacts=[("email", email, "unknown")] if email else None,
    )
