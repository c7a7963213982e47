"""Mastodon (any server): followers and following through the REST API.

API: https://docs.joinmastodon.org/methods/accounts/ (followers, following, lookup,
verify_credentials), the Account entity https://docs.joinmastodon.org/entities/Account/, and
rate limits https://docs.joinmastodon.org/api/rate-limits/.

- Pages follow the ``Link`` header's ``rel="next"`` (its ``max_id`` is a Follow id, not an
  account id: never build it yourself); ``limit`` is at most 80. The cursor we store is the
  next URL's path and query.
- ``acct`` is ``user`` for accounts of the queried server and ``user@domain`` for remote ones:
  the domain is added here. The stable key is the account's ActivityPub ``uri`` (Mastodon 4.2+),
  else ``user@domain``.
- ``note`` and field values are HTML; they are stored as plain text. A field with
  ``verified_at`` is a verified rel=me link (kept in ``data`` and used as the website).
- A hidden or blocked network answers ``[]`` with 200: indistinguishable from an empty one
  except by ``followers_count`` (``OwnAccount`` carries it). ``followers_count`` is -1 when
  the server or the user hides the count.
- Own account: ``verify_credentials`` with a token (401 invalid or revoked token, 403 "Your
  login is currently disabled" when suspended or disabled), else ``accounts/lookup``
  (``"suspended": true``, 404 when deleted; 410 before 3.3). ``moved`` means the account
  migrated away (Mastodon calls it disabled): status ``deactivated`` with the new address.
- Rate limit: 300 requests / 5 min per account and IP; ``X-RateLimit-Reset`` is ISO 8601.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import requests

from ..errors import ConfigError
from ..snapshot import Page, ProfileRecord
from . import Connector, OwnAccount, register
from .http import (
    AUTH_FAILED,
    SUSPENDED,
    BadResponse,
    RateLimitHeaders,
    Verdict,
    error_text,
    next_link,
)

# Mastodon's maximum page size for followers/following (default 40).
PAGE_LIMIT = 80
_PATHS = {"follower": "followers", "following": "following"}


@register
class Mastodon(Connector):
    platform = "mastodon"
    rate_limit_headers = RateLimitHeaders("X-RateLimit-Remaining", "X-RateLimit-Reset")

    def __init__(self, **kwargs) -> None:
        handle = kwargs["handle"].lstrip("@")
        kwargs["handle"] = handle
        self.username, _, domain = handle.partition("@")
        super().__init__(**kwargs)
        # The domain that completes a local `acct`: the handle's (the server's LOCAL_DOMAIN,
        # which may differ from the host serving the API), else the API host.
        self.domain = domain.lower() or urlsplit(self.http.base_url).hostname or ""
        self._local_id: str | None = None

    def base_for(self, handle: str, secret: str | None) -> str | None:
        _, _, domain = handle.lstrip("@").partition("@")
        if not domain:
            raise ConfigError(
                f"mastodon:{handle}: which server? give the handle as user@server or pass --server",
                hint="e.g. audience accounts add mastodon ana@mastodon.social",
            )
        return f"https://{domain.lower()}"

    def classify(self, response: requests.Response) -> Verdict | None:
        status = response.status_code
        if status == 403:
            words = error_text(response) or ""
            if "disabled" in words.lower() or "suspended" in words.lower():
                return Verdict(SUSPENDED, words, "suspended")
            # "...missing a confirmed e-mail address", "...pending approval": the login cannot be used yet.
            return Verdict(AUTH_FAILED, words or None)
        if status == 410:  # Mastodon 2.4 - 3.2 answered a suspended account with 410 Gone
            return Verdict(SUSPENDED, "gone (410)", "suspended")
        if status == 422:  # "This method requires an authenticated user": an app-only token
            return Verdict(AUTH_FAILED, error_text(response) or "the token is not a user token")
        return None

    # -- own account -------------------------------------------------------------------------

    def own_account(self) -> OwnAccount:
        return self.health(self._fetch_own)

    def _fetch_own(self) -> OwnAccount:
        if self.http.authenticated:
            account = self.http.get_json("/api/v1/accounts/verify_credentials")
        else:
            account = self.http.get_json("/api/v1/accounts/lookup", params={"acct": f"{self.username}@{self.domain}"})
        if not isinstance(account, dict) or "id" not in account:
            raise BadResponse("mastodon: the account lookup did not return an account")
        username = str(account.get("username") or "")
        if self.http.authenticated and username.lower() != self.username.lower():
            # Usernames never change on Mastodon (a move makes a new account): a wrong token.
            raise ConfigError(
                f"mastodon:{self.handle}: the token belongs to @{username}, not to @{self.username}",
                hint="export the token of this account in the variable named by --token-env",
            )
        self._local_id = str(account["id"])
        record = parse_account(account, self.domain)
        status, detail = "active", None
        if account.get("suspended"):
            status = "suspended"
        elif isinstance(account.get("moved"), dict):
            moved = account["moved"].get("acct") or account["moved"].get("url") or "another account"
            status, detail = "deactivated", f"moved to @{_full_acct(moved, self.domain)}"
        elif account.get("limited"):
            detail = "limited"
        return OwnAccount(
            record.platform_id, record.handle, record.display_name, status, detail,
            followers_count=record.followers_count, following_count=record.following_count,
        )

    def _account_id(self) -> str:
        """The account's id on this server, which the followers URL needs (not the URI)."""
        if self._local_id is None:
            self._fetch_own()  # sets it, or raises (a suspension, a refused token)
        return str(self._local_id)

    # -- pages -------------------------------------------------------------------------------

    def fetch_page(self, kind: str, cursor: str | None) -> Page:
        self.check_kind(kind)
        if cursor is None:
            response = self.http.request(
                "GET", f"/api/v1/accounts/{self._account_id()}/{_PATHS[kind]}", params={"limit": PAGE_LIMIT}
            )
        else:
            response = self.http.request("GET", cursor)
        items = self.http.json(response)
        if not isinstance(items, list):
            raise BadResponse(f"mastodon: the {_PATHS[kind]} page is not a list of accounts")
        profiles = [parse_account(item, self.domain) for item in items if _is_account(item)]
        link = next_link(response)
        return Page(profiles, self.http.relative_ref(link) if link else None)


def _is_account(item) -> bool:
    return isinstance(item, dict) and bool(item.get("acct") or item.get("uri"))


def _full_acct(acct: str, domain: str) -> str:
    acct = acct.lstrip("@")
    return acct if "@" in acct or not domain else f"{acct}@{domain}"


def _count(value) -> int | None:
    """A count as shown; -1 (hidden by the server or the user) and junk become None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_account(account: dict, domain: str) -> ProfileRecord:
    """A Mastodon Account entity -> ProfileRecord (pure).

    ``{"acct": "bo", "uri": "https://my.instance/users/bo", "note": "<p>tea &amp; maps</p>", ...}``
    on my.instance -> handle ``bo@my.instance``, bio ``tea & maps``.
    """
    acct = _full_acct(str(account.get("acct") or account.get("username") or ""), domain)
    uri = account.get("uri")
    platform_id = uri if isinstance(uri, str) and uri else acct
    fields = []
    verified_links: list[str] = []
    links: list[str] = []
    for field in account.get("fields") or []:
        if not isinstance(field, dict):
            continue
        value_html = str(field.get("value") or "")
        hrefs = parse_links(value_html)
        item = {"name": parse_html(str(field.get("name") or "")), "value": parse_html(value_html)}
        if field.get("verified_at"):
            item["verified_at"] = field["verified_at"]
            verified_links.extend(hrefs)
        fields.append(item)
        links.extend(hrefs)
    data: dict = {}
    if fields:
        data["fields"] = fields
    if verified_links:
        data["verified_links"] = verified_links
    for key in ("bot", "group", "locked", "suspended", "limited"):
        if account.get(key) is True:
            data[key] = True
    moved = account.get("moved")
    if isinstance(moved, dict) and (moved.get("acct") or moved.get("url")):
        data["moved"] = _full_acct(str(moved.get("acct")), domain) if moved.get("acct") else moved.get("url")
    for key in ("created_at", "last_status_at"):
        if isinstance(account.get(key), str):
            data[key] = account[key]
    if _count(account.get("statuses_count")) is not None:
        data["statuses_count"] = account["statuses_count"]
    if account.get("followers_count") == -1:
        data["followers_count_hidden"] = True
    if account.get("id") is not None:
        data["id"] = str(account["id"])  # local to the server that answered
    return ProfileRecord(
        platform_id=platform_id,
        handle=acct or None,
        display_name=account.get("display_name") or None,
        url=account.get("url") or None,
        bio=parse_html(str(account.get("note") or "")) or None,
        website=(verified_links or links or [None])[0],
        followers_count=_count(account.get("followers_count")),
        following_count=_count(account.get("following_count")),
        data=data or None,
    )


class _TextParser(HTMLParser):
    """Mastodon's HTML (p, br, a, span) to plain text: paragraphs become blank lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.parts.append("\n")
        elif tag == "p" and self.parts:
            self.parts.append("\n\n")
        elif tag == "a":
            href = dict(attrs).get("href")
            if href and href.startswith(("http://", "https://")):
                self.hrefs.append(href)

    def handle_data(self, data):
        self.parts.append(data)


def _parse(html: str) -> _TextParser:
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return parser


def parse_html(html: str) -> str:
    """Mastodon HTML -> plain text (``<p>a &amp; b</p><p>c<br>d</p>`` -> ``a & b\\n\\nc\\nd``).

    Link texts keep their invisible parts, so a shortened link reads as the full URL.
    """
    if "<" not in html and "&" not in html:
        return html.strip()
    return "".join(_parse(html).parts).strip()


def parse_links(html: str) -> list[str]:
    """The http(s) targets of the links in an HTML fragment, in order."""
    if "href" not in html:
        return []
    return _parse(html).hrefs
