"""LinkedIn "Get a copy of your data" export: ``Connections.csv``.

https://www.linkedin.com/help/linkedin/answer/a1339364 (downloading your account data)

The file sits at the root of ``Basic_LinkedInDataExport_MM-DD-YYYY.zip`` (or ``Complete_...``),
sometimes one folder deeper; it is also read alone. Two layouts are known
(reference/platform-formats.md §5):

- current (seen from 2021-2023 on; when it started is not known)::

    Notes:
    "When exporting your connection data, you may notice that some of the email addresses are missing. ..."

    First Name,Last Name,URL,Email Address,Company,Position,Connected On
    Ada,Example,https://www.linkedin.com/in/ada-example-1a2b3c,,"Maps, Inc.",Cartographer,05 Mar 2024

- legacy (2018): no preamble, no ``URL`` column, and dates like ``"1/8/18, 6:14 PM"``.

The header is found by its content (the row starting with ``First Name``), never by skipping a
fixed number of lines, and columns are taken by name. Both date formats are accepted in both
layouts. Rows blank except for the date are hidden or closed members: they are not people and
are passed over without a warning.

There is no member id. The profile key is the profile URL, normalized (https, www.linkedin.com,
no trailing slash or query, the ``/in/`` slug decoded, lower-cased and encoded again, so that
``/in/Bo-O%E2%80%99Sample/`` and ``/in/bo-o’sample`` are one key); where a row has no URL (the
legacy layout), a hash of the name and the connection date. The same person therefore gets a
new key when their export changes layout: nothing in the legacy file can tell who it was.

``Email Address`` is filled only when the connection allows it; a valid one becomes a contact
point with consent ``unknown`` (a connection is not a newsletter sign-up). Some legacy rows hold
``urn:li:member:<digits>`` there instead, kept in the profile's data. ``Company``,
``Position`` and the connection date are kept in the profile's data too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from pathlib import PurePosixPath
from urllib.parse import quote, unquote, urlsplit

from ..errors import InputError
from ..snapshot import MAX_HANDLE, MAX_TEXT, ProfileRecord
from . import Importer, ImportOptions, Plan, RecordError, Stream, register
from .sources import Source
from .tabular import read_csv

KIND = "connection"
FILE_NAME = "connections.csv"
REQUIRED = ("first name", "last name", "connected on")
# The preamble is `Notes:`, one quoted paragraph and a blank line; allow for a few more
# lines should LinkedIn add to it, but not for a whole file of something else.
MAX_PREAMBLE_RECORDS = 10
MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
CURRENT_DATE = re.compile(r"^(\d{1,2}) ([A-Za-z]{3})[a-z]* (\d{4})$")  # 05 Mar 2024 (English month names)
LEGACY_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4}),? +(\d{1,2}):(\d{2}) *([AaPp][Mm])$")  # 1/8/18, 6:14 PM
ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")  # re-saved by a spreadsheet
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MEMBER_URN = re.compile(r"^urn:li:member:\d+$")
LINKEDIN_HOST = re.compile(r"^(?:[a-z0-9-]+\.)?linkedin\.com$")


# -- values ------------------------------------------------------------------------------------


def parse_connected_on(value: str) -> tuple[dt.date, dt.datetime | None] | None:
    """(date, time if the layout gives one) from `05 Mar 2024`, `1/8/18, 6:14 PM` or `2024-03-05`."""
    value = " ".join(value.split())
    try:
        if m := CURRENT_DATE.match(value):
            month = MONTHS.get(m.group(2).lower())
            return (dt.date(int(m.group(3)), month, int(m.group(1))), None) if month else None
        if m := LEGACY_DATE.match(value):
            month, day, year, hour, minute, half = m.groups()
            year = int(year) + (2000 if len(year) == 2 else 0)
            hour = int(hour) % 12 + (12 if half.lower() == "pm" else 0)
            if int(m.group(4)) > 12:
                return None
            when = dt.datetime(year, int(month), int(day), hour, int(minute))
            return when.date(), when
        if m := ISO_DATE.match(value):
            return dt.date(*map(int, m.groups())), None
    except ValueError:  # 31 Feb, month 13
        return None
    return None


def normalize_profile_url(url: str) -> tuple[str, str | None] | None:
    """(key URL, handle) of a LinkedIn profile link; None if it is not one.

    `http://uk.linkedin.com/in/Bo-O%E2%80%99Sample/?trk=x` -> (`https://www.linkedin.com/in/bo-o%e2%80%99sample`, `bo-o’sample`).
    Other LinkedIn paths (`/pub/...` of old) keep their path and query as written.
    """
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not LINKEDIN_HOST.match(host):
        return None
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) >= 2 and segments[0].lower() == "in":
        slug = unquote(segments[1]).lower()
        return f"https://www.linkedin.com/in/{quote(slug, safe='-._~').lower()}", slug
    if not segments:
        return None
    path = "/".join(segments)
    return f"https://www.linkedin.com/{path}" + (f"?{parts.query}" if parts.query else ""), None


def name_date_key(name: str, date: dt.date) -> str:
    """The key of a connection without a URL: a hash of the name (NFC, single spaces) and the date."""
    text = f"{' '.join(unicodedata.normalize('NFC', name).split())}\n{date.isoformat()}"
    return f"name+date:{hashlib.sha256(text.encode('utf-8', 'replace')).hexdigest()[:32]}"


def _clean(value: str | None, limit: int = MAX_TEXT) -> str | None:
    return value.replace("\x00", "")[:limit] if value else None


# -- finding the file and its header -------------------------------------------------------------


def _candidates(source: Source) -> list[str]:
    members = source.members()
    if len(members) == 1:
        return members  # a file handed over alone: its header decides
    return sorted((m for m in members if PurePosixPath(m).name.lower() == FILE_NAME), key=lambda m: (m.count("/"), m))


def find_header(source: Source, member: str) -> tuple[int, list[str]] | None:
    """(records before the header, normalized header) when the member is a Connections.csv; else None."""
    info, rows = read_csv(source, member)
    try:
        if all(k in info.keys for k in REQUIRED):
            return 0, info.keys
        for skipped, (_, row) in enumerate(rows, start=1):
            if skipped > MAX_PREAMBLE_RECORDS:
                return None
            first = next(iter(row.values()), "")
            if " ".join(first.replace("\ufeff", "").lower().split()) == "first name":
                break
        else:
            return None
    finally:
        rows.close()
    # `read_csv(header_at=N)` counts an empty line (the one after the Notes paragraph) as a
    # record where its rows do not, so the header is `skipped` records down, or a few more.
    for at in range(skipped, skipped + MAX_PREAMBLE_RECORDS):
        try:
            header, more = read_csv(source, member, header_at=at)
        except InputError:
            continue
        more.close()
        if all(k in header.keys for k in REQUIRED):
            return at, header.keys
    return None


@register
class LinkedInConnections(Importer):
    name = "linkedin"
    platform = "linkedin"
    description = "LinkedIn Connections.csv (the export zip or the file; both layouts)"
    priority = 10

    def detect(self, source: Source, options: ImportOptions) -> bool:
        if options.mapping:
            return False  # --map asks for the generic CSV reader
        for member in _candidates(source):
            try:
                if find_header(source, member):
                    return True
            except InputError:  # not text, empty: not this format
                continue
        return False

    def plan(self, source: Source, options: ImportOptions) -> Plan:
        candidates = _candidates(source)
        found = [(m, h) for m in candidates if not options.mapping and (h := find_header(source, m))]
        if not found:
            if options.platform == "linkedin" and (options.mapping or len(source.members()) == 1):
                # `--platform linkedin` on another CSV: read it as a generic CSV of LinkedIn people.
                from .csv_generic import GenericCsv

                return GenericCsv().plan(source, options)
            where = source.label(candidates[0]) if candidates else source.name
            raise InputError(
                f"{where}: no LinkedIn Connections.csv header (First Name, Last Name, ..., Connected On) in it",
                hint="import Connections.csv from LinkedIn's 'Get a copy of your data', or the whole zip",
            )
        if len(found) > 1:
            raise InputError(
                f"{source.name}: holds {len(found)} Connections.csv files ({', '.join(m for m, _ in found[:3])})",
                hint="import them one at a time, oldest export first",
            )
        member, (skip, _) = found[0]
        stream = Stream(kind=KIND, files=[member], read=lambda: self._read(source, member, skip))
        return Plan(
            platform="linkedin", streams=[stream],
            as_of=dt.datetime.fromtimestamp(source.mtime(member), dt.timezone.utc),
        )

    def _read(self, source: Source, member: str, skip: int) -> Iterator[ProfileRecord | RecordError]:
        label = source.label(member)
        _, rows = read_csv(source, member, header_at=skip)
        for line, row in rows:
            record = parse_row(row)
            if isinstance(record, str):
                yield RecordError(f"{label} line {line}", record)
            elif record is not None:
                yield record


def parse_row(row: dict[str, str]) -> ProfileRecord | str | None:
    """One row as a profile; a reason when it is bad; None for a hidden member (blank but the date)."""
    first, last = row.get("first name", ""), row.get("last name", "")
    url, email = row.get("url", ""), row.get("email address", "")
    company, position = row.get("company", ""), row.get("position", "")
    raw_date = row.get("connected on", "")
    if not any((first, last, url, email, company, position)):
        return None
    name = " ".join(p for p in (first, last) if p) or None
    connected = parse_connected_on(raw_date) if raw_date else None
    data: dict = {}
    if connected:
        data["connected_on"] = connected[0].isoformat()
        if connected[1]:
            data["connected_at"] = connected[1].isoformat(timespec="minutes")  # local time of the exporter
    elif raw_date:
        data["connected_on_text"] = _clean(raw_date, 100)
    handle = profile_url = None
    if url:
        normalized = normalize_profile_url(url)
        if normalized is None:
            return f"URL {url[:80]!r} is not a LinkedIn profile link"
        key, handle = normalized
        profile_url = key
        if len(key) > MAX_HANDLE:
            return f"the profile URL is longer than {MAX_HANDLE} characters"
    elif name:
        if not connected:
            return f"no URL, and Connected On {raw_date[:40]!r} is not a date: nothing to tell this connection by"
        key = name_date_key(_clean(name), connected[0])
    else:
        return "no name and no URL"
    contacts = None
    email = email.strip()
    if EMAIL.match(email) and email.isprintable():
        contacts = [("email", _clean(email.lower(), 320), "unknown")]
    elif MEMBER_URN.match(email):
        data["member_urn"] = email
    if company:
        data["company"] = _clean(company)
    if position:
        data["position"] = _clean(position)
    return ProfileRecord(
        platform_id=key, handle=handle and _clean(handle, MAX_HANDLE), display_name=_clean(name), url=profile_url,
        data=data or None, contacts=contacts,
    )
