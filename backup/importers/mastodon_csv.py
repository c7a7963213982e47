"""Mastodon follows export: ``following_accounts.csv`` (Settings → Import and export → Data export).

https://docs.joinmastodon.org/user/moving/#export

Written by Mastodon's ``app/models/export.rb`` (reference/platform-formats.md §3)::

    Account address,Show boosts,Notify on new posts,Languages
    ada@social.example,true,false,
    bo@other.example,false,true,"en, de"

It is the list of accounts *you follow* (kind ``following``); Mastodon exports no list of
followers. The file does not say whose it is, so ``--account mastodon:you@your.server`` is
required. The profile key is the ``user@host`` address, lower-cased (Mastodon's API connector
keys on the account URI where it has one; the export gives only the address). The other
columns are kept in the profile's data; booleans are read the way Mastodon reads them back
(``ActiveModel::Type::Boolean``: ``false``, ``f``, ``0``, ``off`` and the like are false).

Only a file with the ``Show boosts`` column is taken for this export: a single ``Account
address`` column is also what the severed-relationships *followers* list looks like, so such a
file goes to the generic CSV reader (``--kind`` says which list it is), as does any CSV imported
with ``--platform mastodon`` that is not a follows export.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import PurePosixPath

from ..errors import InputError
from ..snapshot import MAX_HANDLE, ProfileRecord
from . import Importer, ImportOptions, Plan, RecordError, Stream, register
from .sources import Source
from .tabular import read_csv

KIND = "following"
ADDRESS_COLUMN = "account address"
SIGNATURE_COLUMN = "show boosts"
EXTENSIONS = (".csv", ".txt")
# `user@host`: Mastodon usernames are letters, digits and `_` (other fediverse servers add
# `.`, `-` and `~`); the host is a domain name, maybe with a port (a local test server).
ADDRESS = re.compile(r"^([\w.~+-]+)@((?:[\w-]+\.)*[\w-]+(?::\d{1,5})?)$")
FALSE = {"0", "f", "false", "off", "no", "n"}  # ActiveModel::Type::Boolean::FALSE_VALUES, case-insensitive
MAX_LANGUAGES = 50


def parse_address(value: str) -> str | None:
    """`@Ada@Social.Example ` -> `ada@social.example`; None if it is not an address."""
    address = value.strip().lstrip("@").lower()
    return address if len(address) <= MAX_HANDLE and ADDRESS.match(address) else None


def parse_bool(value: str | None) -> bool | None:
    if value is None or not value.strip():
        return None
    return value.strip().lower() not in FALSE


def _members(source: Source) -> list[str]:
    members = source.members()
    if len(members) == 1:
        return members
    return [m for m in members if PurePosixPath(m).suffix.lower() in EXTENSIONS]


def is_follows_csv(source: Source, member: str) -> bool:
    info, rows = read_csv(source, member)
    rows.close()
    return bool(info.keys) and info.keys[0] == ADDRESS_COLUMN and SIGNATURE_COLUMN in info.keys


@register
class MastodonFollows(Importer):
    name = "mastodon-follows"
    platform = "mastodon"
    description = "Mastodon follows export (following_accounts.csv: Account address,Show boosts,...)"
    priority = 10

    def detect(self, source: Source, options: ImportOptions) -> bool:
        if options.mapping:
            return False  # --map asks for the generic CSV reader
        members = _members(source)
        if len(members) != 1:
            return False
        try:
            return is_follows_csv(source, members[0])
        except InputError:  # not text, empty: not this format
            return False

    def plan(self, source: Source, options: ImportOptions) -> Plan:
        members = _members(source)
        if len(members) != 1 or options.mapping or not is_follows_csv(source, members[0]):
            # `--platform mastodon` on another CSV: read it as a generic CSV of Mastodon accounts.
            from .csv_generic import GenericCsv

            return GenericCsv().plan(source, options)
        member = members[0]
        return Plan(
            platform="mastodon",
            streams=[Stream(kind=KIND, files=[member], read=lambda: self._read(source, member))],
            as_of=dt.datetime.fromtimestamp(source.mtime(member), dt.timezone.utc),
        )

    def _read(self, source: Source, member: str) -> Iterator[ProfileRecord | RecordError]:
        label = source.label(member)
        _, rows = read_csv(source, member)
        for line, row in rows:
            raw = row.get(ADDRESS_COLUMN, "")
            address = parse_address(raw)
            if address is None:
                yield RecordError(f"{label} line {line}", f"{raw[:80]!r} is not an account address (user@server)")
                continue
            user, host = address.split("@", 1)
            data = {"show_boosts": parse_bool(row.get("show boosts")), "notify": parse_bool(row.get("notify on new posts"))}
            languages = [lang.strip()[:16] for lang in (row.get("languages") or "").split(",") if lang.strip()]
            if languages:
                data["languages"] = languages[:MAX_LANGUAGES]
            yield ProfileRecord(
                platform_id=address, handle=address, url=f"https://{host}/@{user}",
                data={k: v for k, v in data.items() if v is not None} or None,
            )
