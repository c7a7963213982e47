"""Generic CSV: any list of people with a column mapping, for any platform.

    audience import people.csv --account mastodon:ana@mastodon.social --map handle=Username,email=E-mail

Fields that can be mapped: id, handle, name, email, phone, url, website, bio, followers.
Without `--map`, common header names are recognised (Username, Screen name, E-mail, ...).
The profile key is the id when there is one, else the handle (lower case, without `@`),
else the email address. Emails become contact points with consent `unknown` (a list of
followers is not a newsletter sign-up).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import PurePosixPath

from ..errors import InputError, UsageError
from ..snapshot import MAX_HANDLE, ProfileRecord
from . import Importer, ImportOptions, Plan, RecordError, Stream, register
from .sources import Source
from .tabular import normalize_header, read_csv

FIELDS = ("id", "handle", "name", "email", "phone", "url", "website", "bio", "followers")
ALIASES = {
    "id": ("id", "user id", "account id", "userid"),
    "handle": ("handle", "username", "user name", "screen name", "screenname", "login", "account", "account address"),
    "name": ("name", "display name", "full name", "displayname"),
    "email": ("email", "e-mail", "email address", "e-mail address", "mail"),
    "phone": ("phone", "phone number", "mobile", "telephone"),
    "url": ("url", "profile url", "profile", "link"),
    "website": ("website", "web site", "homepage", "site"),
    "bio": ("bio", "description", "about"),
    "followers": ("followers", "followers count", "follower count"),
}
KEY_FIELDS = ("id", "handle", "email")
EXTENSIONS = (".csv", ".tsv", ".txt")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_COUNT = 10**15  # a follower count beyond this is not one (and would overflow a 64-bit column)


def _count(value: str | None) -> int | None:
    """`1200` -> 1200; anything else (`1,2k`, `²`, 30 digits) -> None: an optional field is not worth a bad record."""
    if value and value.isascii() and value.isdigit() and int(value) <= MAX_COUNT:
        return int(value)
    return None


def parse_mapping(spec: str | None) -> dict[str, str]:
    """`handle=Username,email=E-mail` -> {"handle": "username", "email": "e-mail"} (normalized headers)."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        field, sep, column = part.partition("=")
        field = field.strip().lower()
        if not sep or not column.strip():
            raise UsageError(f"--map entry {part!r} is not FIELD=COLUMN", hint="e.g. --map handle=Username,email=E-mail")
        if field not in FIELDS:
            raise UsageError(f"--map: unknown field {field!r}", hint=f"fields: {', '.join(FIELDS)}")
        mapping[field] = normalize_header(column)
    return mapping


def _columns(keys: list[str], mapping: dict[str, str]) -> dict[str, str]:
    columns = {}
    for field in FIELDS:
        if field in mapping:
            columns[field] = mapping[field]
        else:
            columns.update({field: alias for alias in ALIASES[field][::-1] if alias in keys})
    return columns


def _shown(header: list[str], limit: int = 20) -> str:
    """Column names for a one-line message: control characters escaped, long names and lists cut."""
    names = [h[:60] if h.isprintable() else repr(h[:60])[1:-1] for h in header[:limit]]
    return ", ".join(names) + (f", ... ({len(header)} columns)" if len(header) > limit else "")


def _csv_members(source: Source) -> list[str]:
    return [m for m in source.members() if PurePosixPath(m).suffix.lower() in EXTENSIONS]


@register
class GenericCsv(Importer):
    name = "csv"
    description = "any CSV of people, with --map FIELD=Column (id, handle, name, email, ...)"
    priority = -100  # the catch-all: every specific format is tried first

    def detect(self, source: Source, options: ImportOptions) -> bool:
        members = _csv_members(source)
        if len(members) != 1:
            return False
        if PurePosixPath(members[0]).suffix.lower() in (".csv", ".tsv"):
            return True  # a CSV by name: the catch-all reads it, and `plan` names its columns if none fits
        info, rows = read_csv(source, members[0])
        rows.close()
        columns = _columns(info.keys, options.mapping)
        return any(f in columns for f in KEY_FIELDS)

    def plan(self, source: Source, options: ImportOptions) -> Plan:
        members = _csv_members(source) or source.members()
        if len(members) != 1:
            raise InputError(f"{source.name}: holds {len(members)} CSV files; import them one at a time")
        member = members[0]
        info, rows = read_csv(source, member)
        rows.close()
        columns = _columns(info.keys, options.mapping)
        missing = [f"{f}={c}" for f, c in columns.items() if c not in info.keys]
        if missing:
            raise UsageError(
                f"{source.label(member)}: no column for --map {', '.join(missing)}",
                hint=f"the columns are: {_shown(info.header)}",
            )
        if not any(f in columns for f in KEY_FIELDS):
            raise InputError(
                f"{source.label(member)}: no id, handle or email column",
                hint=f"say which column is which, e.g. --map handle={_shown(info.header[:1])}; the columns are: {_shown(info.header)}",
            )
        kind = options.kind or "follower"
        return Plan(
            platform=options.platform,
            streams=[Stream(kind=kind, files=[member], read=lambda: self._read(source, member, columns))],
        )

    def _read(self, source: Source, member: str, columns: dict[str, str]) -> Iterator[ProfileRecord | RecordError]:
        label = source.label(member)
        _, rows = read_csv(source, member)
        for line, row in rows:
            get = {f: row.get(c) or None for f, c in columns.items()}
            handle = (get.get("handle") or "").lstrip("@").strip() or None
            email = (get.get("email") or "").strip().lower() or None
            if email and not EMAIL.match(email):
                yield RecordError(f"{label} line {line}", f"{email[:80]!r} is not an email address")
                continue
            key = get.get("id") or (handle.lower() if handle else None) or email
            if not key:
                yield RecordError(f"{label} line {line}", "no id, handle or email on this line")
                continue
            if len(key) > MAX_HANDLE:  # the width of the id column: PostgreSQL refuses longer values
                yield RecordError(f"{label} line {line}", f"the id, handle or email is longer than {MAX_HANDLE} characters")
                continue
            contacts = []
            if email:
                contacts.append(("email", email, "unknown"))
            if get.get("phone"):
                contacts.append(("phone", get["phone"], None))
            yield ProfileRecord(
                platform_id=key, handle=handle, display_name=get.get("name"), url=get.get("url"),
                bio=get.get("bio"), website=get.get("website"),
                followers_count=_count(get.get("followers")),
                contacts=contacts or None,
            )
