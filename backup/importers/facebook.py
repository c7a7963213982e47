"""Facebook "Download your information" export (JSON): the friends list.

https://www.facebook.com/help/212802592074644 (how to download a copy of your information)

Three generations put the list in three places (reference/platform-formats.md §7):

=============  ========================================  ==============
era            path in the zip                            key
=============  ========================================  ==============
2024 to now    ``connections/friends/your_friends.json``  ``friends_v2``
~2021 to 2023  ``friends_and_followers/friends.json``     ``friends_v2``
~2018 to 2020  ``friends/friends.json``                   ``friends``
=============  ========================================  ==============

Each record is only ``{"name": "...", "timestamp": <Unix seconds>}``, plus, in the oldest
generation, an optional ``contact_info`` (an email address or a phone number). There is no
profile id, URL or username, so the profile key is a hash of the name and the time the
friendship began: both are the same in every later export, and two friends who share a name
almost never became friends in the same second. (A friend who changes their name shows up as
one friend lost and one gained: nothing in the export can tell that apart.)

Facebook writes every non-ASCII character as ``\\u00XX`` escapes of its UTF-8 *bytes*, so a
plain JSON reader turns "Zoë" into "ZoÃ«" and an emoji into four odd characters. Every string
is repaired with a latin-1 → UTF-8 round trip, which only succeeds on text that really is
mangled that way: correct text (any character above U+00FF, or Latin-1 letters that are not
valid UTF-8 bytes) is left exactly as it is.

The JSON helpers (BOM-tolerant reading with a nesting-depth guard, finding which of several
known places holds a list, streaming its items with ijson) are in ``jsonstream``, shared with
the Instagram and TikTok importers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from pathlib import PurePosixPath


from ..errors import InputError
from ..snapshot import ProfileRecord
from . import Importer, ImportOptions, Plan, RecordError, Stream, register
from .jsonstream import (
    clean_text, find_list, html_export_error, iso, iter_list, read_head, repaired, unix_time,
)
from .sources import Source

KIND = "connection"
# (file name, key) by generation, newest first; the folder is not checked (exports get unpacked
# one level deeper, or the file is handed over alone), the key is.
GENERATIONS = (("your_friends.json", "friends_v2"), ("friends.json", "friends_v2"), ("friends.json", "friends"))
LIST_KEYS = ("friends_v2", "friends")
# The key opening a friends list near the top of the file; `"deleted_friends_v2"` (removed
# friends) does not match, thanks to the quote before the name.
HEAD_SIGNATURE = re.compile(rb'"(friends_v2|friends)"\s*:\s*\[')
HTML_NAMES = {"your_friends.html", "friends.html"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9 ()./-]{5,30}$")


def _name_key(name: str) -> str:
    """A name as the key sees it: NFC-normalized, runs of whitespace as one space."""
    return " ".join(unicodedata.normalize("NFC", name).split())


def profile_key(name: str, timestamp: int | None) -> str:
    """The stable key of a friend: a hash of the repaired name and the friendship's start."""
    digest = hashlib.sha256(f"{_name_key(name)}\n{'' if timestamp is None else timestamp}".encode("utf-8", "replace"))
    return f"name+time:{digest.hexdigest()[:32]}"


def _candidates(source: Source) -> list[str]:
    """Members that may hold the friends list, the newest generation's name first."""
    members = source.members()
    if len(members) == 1:
        return members  # a file handed over alone: whatever its name, its content decides
    names = ("your_friends.json", "friends.json")
    found = [m for m in members if PurePosixPath(m).name.lower() in names]
    return sorted(found, key=lambda m: (names.index(PurePosixPath(m).name.lower()), m.count("/"), m))


def _contacts(info) -> list[tuple[str, str, str | None]] | None:
    """The oldest generation's `contact_info`: an email or a phone number (a string, or strings in a list)."""
    values = info if isinstance(info, list) else [info]
    contacts = []
    for value in values:
        if not isinstance(value, str):
            continue
        value = clean_text(value.strip(), 320)
        if EMAIL.match(value):
            contacts.append(("email", value.lower(), "unknown"))
        elif PHONE.match(value):
            contacts.append(("phone", value, None))
    return contacts or None


@register
class FacebookFriends(Importer):
    name = "facebook"
    platform = "facebook"
    description = "Facebook friends (your_friends.json / friends.json, JSON format, every generation)"
    priority = 10

    def detect(self, source: Source, options: ImportOptions) -> bool:
        members = source.members()
        if len(members) > 1 and any(PurePosixPath(m).name.lower() in ("your_friends.json", *HTML_NAMES) for m in members):
            return True  # a name only Facebook uses (or its HTML export): `plan` reads it or says what is wrong
        return any(HEAD_SIGNATURE.search(read_head(source, m)) for m in _candidates(source))

    def plan(self, source: Source, options: ImportOptions) -> Plan:
        candidates = _candidates(source)
        for member in candidates:
            found = find_list(source, member, [f"{key}.item" for key in LIST_KEYS])
            if found:
                prefix, _ = found
                stream = Stream(kind=KIND, files=[member], read=lambda m=member, p=prefix: self._read(source, m, p))
                return Plan(
                    platform="facebook", streams=[stream],
                    as_of=dt.datetime.fromtimestamp(source.mtime(member), dt.timezone.utc),
                )
        html = [m for m in source.members() if PurePosixPath(m).name.lower() in HTML_NAMES]
        if html:
            raise html_export_error(source, html[0], "Facebook")
        hint = (
            "import the zip of Facebook's 'Download your information' in JSON format, "
            "or its connections/friends/your_friends.json"
        )
        if candidates:
            raise InputError(
                f"{source.label(candidates[0])}: not a Facebook friends file (no `friends_v2` or `friends` list in it)", hint=hint
            )
        raise InputError(f"{source.name}: no Facebook friends list (your_friends.json or friends.json) in it", hint=hint)

    def _read(self, source: Source, member: str, prefix: str) -> Iterator[ProfileRecord | RecordError]:
        label = source.label(member)
        for n, item in iter_list(source, member, prefix):
            where = f"{label} record {n}"
            if not isinstance(item, dict):
                yield RecordError(where, "not a friend entry (an object with name and timestamp)")
                continue
            item = repaired(item)
            name = item.get("name")
            if not isinstance(name, str) or not name.strip():
                yield RecordError(where, "no name")
                continue
            name = clean_text(name.strip())
            raw_time = item.get("timestamp")
            when = unix_time(raw_time)
            timestamp = int(raw_time) if when else None
            yield ProfileRecord(
                platform_id=profile_key(name, timestamp),
                display_name=name,
                data={"friends_since": iso(when)} if when else None,
                contacts=_contacts(item.get("contact_info")),
            )
