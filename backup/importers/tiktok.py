"""TikTok "Download your data" export (JSON): followers and following.

https://support.tiktok.com/en/account-and-privacy/personalized-ads-and-data/requesting-your-data

One JSON file holds the whole export (reference/platform-formats.md §8), in two generations:

- ``user_data.json`` (older)::

    {"Activity": {"Follower List":  {"FansList":  [{"Date": "2024-01-05 18:22:10", "UserName": "ada.example"}]},
                  "Following List": {"Following": [{"Date": "2023-11-30 09:01:44", "UserName": "bo_sample"}]}}}

- ``user_data_tiktok.json`` (2024 on): ``"Your Activity"`` → ``"Follower"`` → ``"FansList"`` and
  ``"Your Activity"`` → ``"Following"`` → ``"Following"``.

Every combination of the old and new names is accepted (``Your Activity``/``Activity``,
``Follower``/``Follower List``, ``Following``/``Following List``); the inner list names did not
change. The file also holds watch history, comments and messages, often tens of megabytes,
so it is streamed: only the two lists are ever built in memory, one record at a time.

Records hold a username and a date only: no display name, id or email, so the profile key is
the username (lower case). ``Date`` has no time zone and which one TikTok means is not
documented (UTC is a guess nobody has confirmed); it is kept as written, in the profile's data.

A list that is present but empty (an account that follows nobody) is left out, so that the
other list still imports; an export where both are empty or missing is refused.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import PurePosixPath

from ..errors import InputError
from ..snapshot import ProfileRecord
from . import Importer, ImportOptions, Plan, RecordError, Stream, register
from .jsonstream import find_list, find_lists, iter_list, read_head, unmojibake
from .sources import FileSource, Source

ACTIVITY = ("Your Activity", "Activity")  # 2024 on, then older
PREFIXES = {
    "follower": tuple(f"{a}.{f}.FansList.item" for a in ACTIVITY for f in ("Follower", "Follower List")),
    "following": tuple(f"{a}.{f}.Following.item" for a in ACTIVITY for f in ("Following", "Following List")),
}
FILE_NAMES = ("user_data_tiktok.json", "user_data.json")
# TikTok usernames are letters, digits, `_` and `.`, at most 24 characters; some headroom.
USERNAME = re.compile(r"^[\w.]{1,64}$")
DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$")
PROFILE_URL = "https://www.tiktok.com/@{}"
DATA_KEY = {"follower": "followed_you_at", "following": "you_followed_at"}


def _candidates(source: Source) -> list[str]:
    members = source.members()
    if len(members) == 1:
        return members  # a file handed over alone: its content decides
    found = [m for m in members if PurePosixPath(m).name.lower() in FILE_NAMES]
    return sorted(found, key=lambda m: (FILE_NAMES.index(PurePosixPath(m).name.lower()), m.count("/"), m))


def _field(item: dict, name: str):
    """`item[name]`, matching the key case-insensitively (`UserName`, `Username`, `userName`)."""
    if name in item:
        return item[name]
    lowered = name.lower()
    return next((v for k, v in item.items() if isinstance(k, str) and k.lower() == lowered), None)


def parse_date(value) -> str | None:
    """`2024-01-05 18:22:10` -> `2024-01-05T18:22:10` (no zone: TikTok does not say which); None if not a date."""
    if not isinstance(value, str) or not (m := DATE.match(value.strip())):
        return None
    try:
        return dt.datetime(*map(int, m.groups())).isoformat()
    except ValueError:
        return None


def parse_entry(item) -> tuple[str, str | None] | str:
    """(username, date as written) of one record, or the reason it has none."""
    if not isinstance(item, dict):
        return "not a record (an object with UserName and Date)"
    name = _field(item, "UserName")
    if not isinstance(name, str):
        return "no UserName"
    username = unmojibake(name).strip().lstrip("@").lower()
    if not USERNAME.match(username):
        return "UserName is not a TikTok username (letters, digits, `_` and `.`)"
    return username, parse_date(_field(item, "Date"))


@register
class TikTokData(Importer):
    name = "tiktok"
    platform = "tiktok"
    description = "TikTok user_data.json / user_data_tiktok.json (followers and following, both generations)"
    priority = 5  # below the other JSON formats: finding its lists may mean reading the whole file

    def detect(self, source: Source, options: ImportOptions) -> bool:
        if not isinstance(source, FileSource) and any(PurePosixPath(m).name.lower() == FILE_NAMES[0] for m in source.members()):
            return True  # a name only TikTok uses, in a zip or folder: `plan` reads it or says what is wrong
        for member in _candidates(source):
            if not read_head(source, member, 64).lstrip().startswith(b"{"):
                continue
            try:
                if find_list(source, member, PREFIXES["follower"] + PREFIXES["following"]):
                    return True
            except InputError:
                continue  # not JSON: not this format
        return False

    def plan(self, source: Source, options: ImportOptions) -> Plan:
        candidates = _candidates(source)
        for member in candidates:
            found = find_lists(source, member, PREFIXES)
            if not found:
                continue
            streams = [
                Stream(kind=kind, files=[member], read=lambda m=member, k=kind, p=hit[0]: self._read(source, m, k, p))
                for kind in PREFIXES if (hit := found.get(kind)) and hit[1]
            ]
            if not streams:
                raise InputError(
                    f"{source.label(member)}: the follower and following lists are empty",
                    hint="this export is empty; nothing was imported",
                )
            return Plan(
                platform="tiktok", streams=streams,
                as_of=dt.datetime.fromtimestamp(source.mtime(member), dt.timezone.utc),
            )
        where = source.label(candidates[0]) if candidates else source.name
        raise InputError(
            f"{where}: no TikTok follower or following list in it "
            "(Your Activity → Follower → FansList, or Activity → Follower List → FansList, and the same for Following)",
            hint="import user_data_tiktok.json (or user_data.json) from TikTok's 'Download your data' in JSON format",
        )

    def _read(self, source: Source, member: str, kind: str, prefix: str) -> Iterator[ProfileRecord | RecordError]:
        label = source.label(member)
        for n, item in iter_list(source, member, prefix):
            parsed = parse_entry(item)
            if isinstance(parsed, str):
                yield RecordError(f"{label} record {n}", parsed)
                continue
            username, date = parsed
            yield ProfileRecord(
                platform_id=username, handle=username, url=PROFILE_URL.format(username),
                data={DATA_KEY[kind]: date} if date else None,
            )
