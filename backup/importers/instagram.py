"""Instagram "Download your information" export (JSON): followers and following.

https://help.instagram.com/181231772500920 (how to download a copy of your information)

Both lists are in ``connections/followers_and_following/`` of the zip (reference/
platform-formats.md §6); exports unpacked one folder deeper, and the files handed over alone,
are read too:

- ``followers_1.json`` is a top-level array; large accounts get ``followers_2.json``, ...
  (read in numeric order). An older layout wrapped it as ``{"relationships_followers": [...]}``.
- ``following.json`` is ``{"relationships_following": [...]}``.

Each entry::

    {"title": "", "media_list_data": [],
     "string_list_data": [{"href": "https://www.instagram.com/ada.example", "value": "ada.example",
                           "timestamp": 1732046966}]}

Newer exports (2025 on) drop ``value`` and put the username in ``title``, with links of the
form ``https://www.instagram.com/_u/ada.example``. The username is read from ``value``, then
``title``, then the link's last path segment. ``timestamp`` (Unix seconds: when the follow
happened) is kept in the profile's data.

The export holds no numeric user id, display name or email: the profile key is the username
(lower case). A follower who renames themselves therefore shows up as one lost and one gained.
Meta's UTF-8 mojibake (see ``facebook.py``) is repaired in every string read, in case it shows
up here too (usernames are ASCII, so it has not been seen in these two files).

A list that is present but empty (an account that follows nobody) is left out, so that the
other list still imports; an export where both are empty is refused.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from ..errors import InputError
from ..snapshot import ProfileRecord
from . import Importer, ImportOptions, Plan, RecordError, Stream, register
from .jsonstream import (
    find_list,
    html_export_error,
    iso,
    iter_list,
    read_head,
    unix_time,
    unmojibake,
)
from .sources import Source

FOLDER = "followers_and_following"
FILE = re.compile(r"^(followers|following)(?:_(\d+))?\.(json|html)$", re.IGNORECASE)
# Where each kind's array is, by layout: a bare array, or wrapped under a key.
PREFIXES = {
    "follower": ("item", "relationships_followers.item"),
    "following": ("relationships_following.item", "item"),
}
HEAD_SIGNATURE = re.compile(rb'"relationships_follow(?:ers|ing)"\s*:\s*\[|^\s*\[\s*\{\s*"(?:title|string_list_data|media_list_data)"')
# Instagram usernames are letters, digits, `.` and `_`, at most 30 characters; a little
# headroom in case the rule ever widens. Anything else is not a username.
USERNAME = re.compile(r"^[\w.]{1,64}$")
PROFILE_URL = "https://www.instagram.com/{}"
DATA_KEY = {"follower": "followed_you_at", "following": "you_followed_at"}


def _file_order(member: str) -> tuple:
    m = FILE.match(PurePosixPath(member).name)
    return (int(m.group(2) or 0) if m else 0, member)


def _candidates(source: Source, extension: str = "json") -> list[str]:
    """The followers/following files, those under followers_and_following/ when there are such."""
    members = source.members()
    if len(members) == 1 and extension == "json":
        return members  # a file handed over alone: its content decides
    found = [m for m in members if (f := FILE.match(PurePosixPath(m).name)) and f.group(3).lower() == extension]
    inside = [m for m in found if FOLDER in PurePosixPath(m).parts]
    return sorted(inside or found, key=_file_order)


def _kind_by_name(member: str) -> str | None:
    m = FILE.match(PurePosixPath(member).name)
    return ("follower" if m.group(1).lower() == "followers" else "following") if m else None


def _from_href(href) -> str | None:
    """`https://www.instagram.com/_u/ada.example/?hl=en` -> `ada.example`."""
    if not isinstance(href, str):
        return None
    try:
        path = urlsplit(href.strip()).path
    except ValueError:
        return None
    parts = [p for p in path.split("/") if p and p != "_u"]
    return unquote(parts[-1]) if parts else None


def parse_entry(item) -> tuple[str, dt.datetime | None] | str:
    """(username, follow time) of one entry, or the reason it has none."""
    if not isinstance(item, dict):
        return "not an entry (an object with string_list_data)"
    data = item.get("string_list_data")
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    for candidate in (first.get("value"), item.get("title"), _from_href(first.get("href"))):
        if isinstance(candidate, str):
            username = unmojibake(candidate).strip().lstrip("@").lower()
            if USERNAME.match(username):
                return username, unix_time(first.get("timestamp"))
    return "no Instagram username in value, title or href"


@register
class InstagramConnections(Importer):
    name = "instagram"
    platform = "instagram"
    description = "Instagram followers_N.json / following.json (JSON format, value and title layouts)"
    priority = 10

    def detect(self, source: Source, options: ImportOptions) -> bool:
        if len(source.members()) > 1:
            named = _candidates(source) + _candidates(source, "html")
            if any(FOLDER in PurePosixPath(m).parts for m in named):
                return True  # Instagram's own folder: `plan` reads it, or says what is wrong (an HTML export, say)
        return any(HEAD_SIGNATURE.search(read_head(source, m)) for m in _candidates(source))

    def plan(self, source: Source, options: ImportOptions) -> Plan:
        candidates = _candidates(source)
        if not candidates and _candidates(source, "html"):
            raise html_export_error(source, _candidates(source, "html")[0], "Instagram")
        files: dict[str, list[tuple[str, str]]] = {"follower": [], "following": []}
        present = set()
        alone = len(source.members()) == 1
        for member in candidates:
            kind, found = self._locate(source, member, by_name=not alone)
            if found is None:
                raise InputError(
                    f"{source.label(member)}: not an Instagram followers or following file "
                    "(no followers array and no `relationships_following` list in it)",
                    hint="import the zip of Instagram's 'Download your information' in JSON format, "
                    "or its connections/followers_and_following/ files",
                )
            prefix, has_items = found
            files[kind].append((member, prefix))
            if has_items:
                present.add(kind)
        if not candidates:
            raise InputError(
                f"{source.name}: no followers_1.json or following.json in it",
                hint="Instagram puts them in connections/followers_and_following/; import the whole zip (JSON format)",
            )
        if not present:
            raise InputError(
                f"{', '.join(source.label(m) for m in candidates)}: no followers and no following in it",
                hint="this export is empty; nothing was imported",
            )
        streams = [
            Stream(kind=kind, files=[m for m, _ in files[kind]], read=lambda k=kind: self._read(source, k, files[k]))
            for kind in ("follower", "following") if kind in present
        ]
        newest = max(source.mtime(m) for m in candidates)
        return Plan(platform="instagram", streams=streams, as_of=dt.datetime.fromtimestamp(newest, dt.timezone.utc))

    def _locate(self, source: Source, member: str, by_name: bool) -> tuple[str, tuple[str, bool] | None]:
        """(kind, (prefix, has items)) of one file: by its name in an export, by its content when alone."""
        kind = _kind_by_name(member) if by_name else None
        if kind:
            return kind, find_list(source, member, PREFIXES[kind])
        found = find_list(source, member, ("item", "relationships_followers.item", "relationships_following.item"))
        if found and found[0] == "relationships_following.item":
            return "following", found
        return "follower", found

    def _read(self, source: Source, kind: str, files: list[tuple[str, str]]) -> Iterator[ProfileRecord | RecordError]:
        for member, prefix in files:
            label = source.label(member)
            for n, item in iter_list(source, member, prefix):
                parsed = parse_entry(item)
                if isinstance(parsed, str):
                    yield RecordError(f"{label} record {n}", parsed)
                    continue
                username, when = parsed
                yield ProfileRecord(
                    platform_id=username, handle=username, url=PROFILE_URL.format(username),
                    data={DATA_KEY[kind]: iso(when)} if when else None,
                )
