"""Address books: vCard 2.1/3.0/4.0 files and Google Contacts CSV.

vCard 3.0 is RFC 2426 (https://www.rfc-editor.org/rfc/rfc2426), 4.0 is RFC 6350
(https://www.rfc-editor.org/rfc/rfc6350); phones, Apple Contacts, Outlook and Google export
them (https://support.google.com/contacts/answer/7199294). Google Contacts also exports
"Google CSV", in two layouts: the older one (``Name,Given Name,Additional Name,Family
Name,...,Group Membership,E-mail 1 - Type,E-mail 1 - Value,Phone 1 - Type,Phone 1 - Value,
...``) and the current one (``First Name,Middle Name,Last Name,...,Labels,E-mail 1 - Label,
E-mail 1 - Value,Phone 1 - Label,...``); a cell can hold several values joined by ``" ::: "``.

A contact is a person with contact points but no relationship to any of the user's
accounts: every record is ``member=False`` of a ``contact`` snapshot of the account the plan
names itself, ``contacts:address-book``. Emails are kept with consent ``unknown`` (an address
book is not a sign-up), phones and websites as written.

The profile key is the card's UID when it has one. Otherwise (Google CSV never has one) it is
``hash:`` and 32 hex digits of SHA-256 over the normalized name (NFKC, case-folded, single
spaces), the sorted lower-cased emails and the sorted phone numbers reduced to digits and
``+``: re-importing the same card, from a vCard or the CSV of the same address book, gives the
same key, so a contact is stored once; a card whose name, emails or phones change becomes a
new profile (the old one stays, as a backup should keep it).

vCard parsing is written here rather than taken from a library (no new dependency): vobject,
the one maintained candidate, targets 3.0 rather than 4.0 and decodes quoted-printable
leniently (``quopri``), which would hide the broken sequences this must report. It handles:

- folded lines (CRLF or LF, then one space or tab), unfolded on bytes, so a fold that splits a
  multi-byte UTF-8 character rejoins it before decoding;
- ``ENCODING=QUOTED-PRINTABLE`` (3.0 as Android and Outlook write it, and 2.1's bare
  ``QUOTED-PRINTABLE``) with ``=`` soft line breaks and ``CHARSET``; a broken ``=XY`` sequence is
  a bad record;
- several EMAIL/TEL/URL per card, Apple's ``item1.EMAIL`` groups, 4.0's ``tel:`` URIs and
  quoted multi-valued parameters, backslash escapes and structured ``N``;
- a card without END:VCARD, an END without BEGIN, or a BEGIN inside a card: bad records naming
  the file and line; the cards around them are read. ``KIND:group`` cards (contact groups, 4.0)
  are not persons and are skipped.

Values are UTF-8 (4.0 requires it) unless a CHARSET parameter names another charset. In a file
whose first MiB is not UTF-8 (older Outlook exports), values that are not UTF-8 are read as
cp1252; in a UTF-8 file, a value that does not decode makes its card a bad record.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import BinaryIO

from ..errors import InputError
from ..snapshot import MAX_HANDLE, MAX_TEXT, ProfileRecord
from . import AccountHint, Importer, ImportOptions, Plan, RecordError, Stream, register
from .newsletter import normalize_email
from .sources import Source
from .tabular import read_csv

PLATFORM = "contacts"
KIND = "contact"
ACCOUNT = AccountHint(platform=PLATFORM, handle="address-book", suggested=True)
VCARD_SUFFIXES = (".vcf", ".vcard")
CSV_SUFFIXES = (".csv",)
SCAN_ALL_UP_TO = 8  # CSVs whose header is read when the source holds more (a Takeout): only *contacts*.csv
BOM = codecs.BOM_UTF8
SNIFF_BYTES = 1 << 20
# One logical line longer than this (a huge inline PHOTO) is cut: no name or address needs it,
# and a file of one endless line must not be read into memory whole.
MAX_LINE_BYTES = 8 << 20
MAX_DATA_TEXT = 1024
MAX_LIST = 100  # categories, labels
GOOGLE_SEPARATOR = ":::"  # several values in one Google CSV cell, written " ::: "

# Properties that are read; all others (PHOTO, ADR, KEY, ...) are skipped without decoding.
USED = {
    "BEGIN", "END", "VERSION", "FN", "N", "EMAIL", "TEL", "URL", "UID", "ORG", "TITLE", "NOTE", "NICKNAME", "BDAY",
    "CATEGORIES", "KIND", "X-SOCIALPROFILE",
}
PROPERTY_NAME = re.compile(r"^[A-Z0-9_-]+$")
WEB_ADDRESS = re.compile(r"^(https?://)?[^\s/@]+\.[^\s/@]+(/\S*)?$", re.IGNORECASE)
_HEX2 = re.compile(rb"[0-9A-Fa-f]{2}")
GOOGLE_MULTI = re.compile(r"^(e-mail|phone|website) (\d+) - value$")


class _BadLine(Exception):
    """One line of a card that cannot be read; the card becomes a bad record."""


def identity_key(name: str | None, emails: list[str], phones: list[str]) -> str:
    """The profile key of a contact without a UID (see the module docstring)."""
    norm_name = " ".join(unicodedata.normalize("NFKC", name or "").casefold().split())
    digits = sorted({re.sub(r"[^\d+]", "", p) for p in phones} - {""})
    blob = json.dumps([norm_name, sorted(set(emails)), digits], ensure_ascii=False)
    return "hash:" + hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _text(value: str | None, limit: int = MAX_DATA_TEXT) -> str | None:
    value = (value or "").strip()
    return value[:limit] if value else None


def _compact(data: dict) -> dict:
    return {k: v for k, v in data.items() if v not in (None, "", [], {})}


def _phone(value: str) -> str | None:
    """A phone number as written, without a `tel:` prefix; None when it has no digit at all."""
    phone = value.strip()
    if phone[:4].lower() == "tel:":
        phone = phone[4:]
    phone = " ".join(phone.split())
    return phone[:64] if any(c.isdigit() for c in phone) else None


def _website(value: str) -> str | None:
    url = value.strip()
    return url[:MAX_TEXT] if url and WEB_ADDRESS.match(url) else None


@dataclass
class Person:
    """What one card or CSV row says about a contact, before it becomes a record."""

    name: str | None = None
    uid: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    websites: list[str] = field(default_factory=list)
    homepage: str | None = None  # the first URL (not a social profile): the profile's website
    data: dict = field(default_factory=dict)

    def add(self, values: list[str], value: str | None) -> None:
        if value and value not in values:
            values.append(value)

    def record(self) -> ProfileRecord | None:
        if not (self.name or self.emails or self.phones or self.websites or self.uid):
            return None
        uid = (self.uid or "").strip()
        key = uid if 0 < len(uid) <= MAX_HANDLE else identity_key(self.name, self.emails, self.phones)
        contacts = [("email", e, "unknown") for e in self.emails]
        contacts += [("phone", p, None) for p in self.phones]
        contacts += [("website", w, None) for w in self.websites]
        return ProfileRecord(
            platform_id=key, display_name=self.name, website=self.homepage,
            data=_compact(self.data) or None, contacts=contacts or None, member=False,
        )


# ---------------------------------------------------------------------------------------------
# vCard: lines


def _physical_lines(fh: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the line end); a line past MAX_LINE_BYTES is cut there."""
    n = 0
    while True:
        line = fh.readline(MAX_LINE_BYTES)
        if not line:
            return
        n += 1
        if not line.endswith(b"\n") and len(line) == MAX_LINE_BYTES:
            while (rest := fh.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
        yield n, line.rstrip(b"\r\n")


def _split_outside_quotes(text: bytes | str, sep):
    """Split at `sep` where it is not inside double quotes (4.0 parameter values may hold `:` or `;`)."""
    quote = b'"' if isinstance(text, bytes) else '"'
    parts, start, inside = [], 0, False
    for i in range(len(text)):
        ch = text[i:i + 1]
        if ch == quote:
            inside = not inside
        elif ch == sep and not inside:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _head(line: bytes) -> bytes:
    """The name and parameters of a content line: everything before the first `:` outside quotes."""
    inside = False
    for i, b in enumerate(line):
        if b == 0x22:
            inside = not inside
        elif b == 0x3A and not inside:
            return line[:i]
    return line


def _is_quoted_printable(line: bytes) -> bool:
    return b"QUOTED-PRINTABLE" in _head(line).upper()


def _logical_lines(fh: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """Unfold: a line starting with a space or tab continues the previous one (RFC 6350 §3.2).

    A quoted-printable value ending in `=` continues on the next line too (a soft line break,
    2.1 and 3.0 as phones write them), unless that line begins or ends a card.
    """
    pending: bytearray | None = None
    start = 0
    for n, line in _physical_lines(fh):
        if pending is not None:
            soft_break = pending.endswith(b"=") and _is_quoted_printable(pending)
            if line[:1] in (b" ", b"\t"):
                if soft_break and not _HEX2.match(line, 1):
                    # `=` then an indented line: a quoted-printable soft break whose next line
                    # starts with a blank, not a fold inside an `=XY` sequence
                    del pending[-1]
                    pending += line[:max(0, MAX_LINE_BYTES - len(pending))]
                elif len(pending) < MAX_LINE_BYTES:
                    pending += line[1:]
                continue
            if soft_break and line.strip().upper() not in (b"END:VCARD", b"BEGIN:VCARD"):
                del pending[-1]
                pending += line[:max(0, MAX_LINE_BYTES - len(pending))]
                continue
            yield start, bytes(pending)
        pending, start = bytearray(line), n
    if pending is not None:
        yield start, bytes(pending)


# ---------------------------------------------------------------------------------------------
# vCard: properties


@dataclass
class Property:
    name: str  # upper case, without its group
    params: dict[str, list[str]]
    value: str | None  # decoded; None for a property that is not read
    line: int


def _qp_decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i] == 0x3D:  # "="
            pair = data[i + 1:i + 3]
            if not pair:  # a soft line break at the very end
                break
            try:
                if not _HEX2.fullmatch(pair):
                    raise ValueError
                out.append(int(pair, 16))
            except ValueError:
                raise _BadLine(f"broken quoted-printable sequence {data[i:i + 3].decode('latin-1')!r}") from None
            i += 3
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


def _param_values(value: str) -> list[str]:
    return [v.strip().strip('"') for v in _split_outside_quotes(value, ",") if v.strip().strip('"')]


def parse_property(line: bytes, number: int, fallback: str | None = None) -> Property:
    """One content line `[group.]NAME[;PARAM=V,...]:value`; raises _BadLine.

    A value is UTF-8 unless a CHARSET parameter says otherwise; `fallback` (cp1252 for a file
    that is not UTF-8) decodes the values of a legacy file that are not UTF-8 and name no CHARSET.
    """
    head = _head(line)
    if len(head) == len(line):
        raise _BadLine("a line without ':' (not a vCard property)")
    parts = _split_outside_quotes(head.decode("utf-8", "replace"), ";")
    name = parts[0].strip().rpartition(".")[2].upper()
    if not PROPERTY_NAME.match(name):
        raise _BadLine(f"{parts[0][:40]!r} is not a vCard property name")
    params: dict[str, list[str]] = {}
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        key = key.strip().upper()
        if not eq:  # vCard 2.1: `TEL;CELL;QUOTED-PRINTABLE:...`
            target = "ENCODING" if key in ("QUOTED-PRINTABLE", "BASE64", "B", "8BIT", "7BIT") else "TYPE"
            params.setdefault(target, []).append(key)
        else:
            params.setdefault(key, []).extend(_param_values(value))
    if name not in USED:
        return Property(name, params, None, number)
    raw = line[len(head) + 1:]
    encodings = {e.upper() for e in params.get("ENCODING", [])}
    if encodings & {"B", "BASE64"}:
        return Property(name, params, None, number)  # binary in a text property: nothing to read
    if "QUOTED-PRINTABLE" in encodings:
        raw = _qp_decode(raw)
    stated = (params.get("CHARSET") or [None])[0]
    codec = stated or "utf-8"
    try:
        value = raw.decode(codec)
    except LookupError:
        raise _BadLine(f"unknown CHARSET {codec[:40]!r} on {name}") from None
    except UnicodeDecodeError:
        if stated or not fallback:
            raise _BadLine(f"{name} is not {codec} text (save the file as UTF-8)") from None
        value = raw.decode(fallback, errors="replace")
    return Property(name, params, value.replace("\x00", ""), number)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), text, flags=re.DOTALL)


def split_value(text: str, sep: str) -> list[str]:
    """Split a structured value at unescaped `sep`, then unescape each part (`\\;` stays a `;`)."""
    parts, current, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i:i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return [_unescape(p) for p in parts]


def _name_from_n(value: str) -> str | None:
    # N: family; given; additional; prefix; suffix (each may be a comma list)
    parts = [" ".join(split_value(p, ",")).strip() for p in split_value(value, ";")] + [""] * 5
    family, given, additional, prefix, suffix = parts[:5]
    return " ".join(p for p in (prefix, given, additional, family, suffix) if p) or None


def person_from_card(props: list[Property], version: str | None) -> tuple[Person | None, tuple[int, str] | None]:
    """(person, None), or (None, (line, reason)) for a bad card; (None, None) for a group card."""
    person = Person()
    names: dict[str, str] = {}
    for prop in props:
        if prop.value is None:
            continue
        value = prop.value.strip()
        if prop.name == "EMAIL" and value:
            email = normalize_email(_unescape(value))
            if email is None:
                return None, (prop.line, f"EMAIL {value[:80]!r} is not an email address")
            person.add(person.emails, email)
        elif prop.name == "TEL" and value:
            phone = _phone(_unescape(value))
            if phone is None:
                return None, (prop.line, f"TEL {value[:80]!r} has no digits")
            person.add(person.phones, phone)
        elif prop.name in ("URL", "X-SOCIALPROFILE") and value:
            website = _website(_unescape(value))
            person.add(person.websites, website)
            if prop.name == "URL" and person.homepage is None:
                person.homepage = website
        elif prop.name == "UID" and value and person.uid is None:
            person.uid = _unescape(value)
        elif prop.name == "KIND" and value.lower() == "group":
            return None, None
        elif prop.name == "CATEGORIES" and value:
            person.data.setdefault("categories", []).extend(
                c.strip()[:MAX_DATA_TEXT] for c in split_value(value, ",") if c.strip()
            )
        elif prop.name in ("FN", "N", "ORG", "TITLE", "NOTE", "NICKNAME", "BDAY") and prop.name not in names:
            names[prop.name] = value
    fn = _text(_unescape(names.get("FN", "")), MAX_TEXT)
    org = " ".join(p.strip() for p in split_value(names.get("ORG", ""), ";") if p.strip())
    person.name = fn or (_name_from_n(names["N"]) if "N" in names else None) or _text(org, MAX_TEXT)
    if person.name:
        person.name = person.name[:MAX_TEXT]
    person.data.update({
        "format": "vcard", "version": _text(version, 8), "organization": _text(org),
        "title": _text(_unescape(names.get("TITLE", ""))), "nickname": _text(_unescape(names.get("NICKNAME", ""))),
        "birthday": _text(names.get("BDAY"), 64), "note": _text(_unescape(names.get("NOTE", "")), MAX_TEXT),
    })
    if "categories" in person.data:
        person.data["categories"] = person.data["categories"][:MAX_LIST]
    return person, None


def _file_charset(source: Source, member: str) -> tuple[str | None, int]:
    """(the fallback for values that are not UTF-8: cp1252 if the first MiB is not UTF-8, else None; BOM bytes)."""
    with source.open(member) as fh:
        head = fh.read(SNIFF_BYTES)
    skip = len(BOM) if head.startswith(BOM) else 0
    unfolded = re.sub(rb"\r?\n[ \t]", b"", head[skip:])  # a fold may split a UTF-8 character in two
    try:
        unfolded.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not (len(head) == SNIFF_BYTES and exc.reason == "unexpected end of data"):
            return "cp1252", skip
    return None, skip


@dataclass
class _Card:
    line: int  # of its BEGIN:VCARD
    props: list[Property] = field(default_factory=list)
    error: tuple[int, str] | None = None  # the first line that could not be read
    version: str | None = None


def read_vcards(source: Source, member: str) -> Iterator[ProfileRecord | RecordError]:
    """The cards of one vCard file, each a record or a RecordError naming the line it began on."""
    label = source.label(member)
    fallback, skip = _file_charset(source, member)
    cards = 0
    card: _Card | None = None
    stray = False  # inside a run of lines outside any card (reported once per run)
    with source.open(member) as fh:
        fh.read(skip)
        for number, line in _logical_lines(fh):
            if not line.strip(b" \t\x00\x1a"):  # blank, or the ^Z some DOS tools append
                continue
            try:
                prop = parse_property(line, number, fallback)
            except _BadLine as exc:
                if card is not None:
                    card.error = card.error or (number, str(exc))
                elif not stray:
                    stray = True
                    yield RecordError(f"{label} line {number}", f"outside BEGIN:VCARD ... END:VCARD: {exc}")
                continue
            what = (prop.value or "").strip().upper() if prop.name in ("BEGIN", "END") else ""
            if prop.name == "BEGIN" and what == "VCARD":
                if card is not None:
                    yield RecordError(f"{label} line {card.line}", f"this card has no END:VCARD before the next BEGIN:VCARD (line {number})")
                card, stray = _Card(number), False
                cards += 1
                continue
            if prop.name == "END" and what == "VCARD":
                if card is None:
                    yield RecordError(f"{label} line {number}", "END:VCARD without a BEGIN:VCARD before it")
                    continue
                if card.error:
                    yield RecordError(f"{label} line {card.error[0]}", card.error[1])
                else:
                    person, bad = person_from_card(card.props, card.version)
                    if bad:
                        yield RecordError(f"{label} line {bad[0]}", bad[1])
                    elif person is not None:
                        record = person.record()
                        if record is None:
                            yield RecordError(f"{label} line {card.line}", "an empty card: no name, email, phone, link or UID")
                        else:
                            yield record
                card = None
                continue
            if card is None:
                if not stray:
                    stray = True
                    yield RecordError(f"{label} line {number}", f"{prop.name} outside BEGIN:VCARD ... END:VCARD")
                continue
            if prop.name in ("BEGIN", "END"):  # another component inside a card (not one vCard 3 or 4 has)
                card.error = card.error or (number, f"{prop.name}:{(prop.value or '')[:20]} inside a card")
            elif prop.name == "VERSION":
                card.version = (prop.value or "").strip()
            else:
                card.props.append(prop)
    if card is not None:
        yield RecordError(f"{label} line {card.line}", "this card has no END:VCARD (the file may be cut short)")
    if cards == 0:
        raise InputError(f"{label}: no BEGIN:VCARD in it; this is not a vCard file", hint="export the address book as vCard (.vcf) again")


# ---------------------------------------------------------------------------------------------
# Google Contacts CSV


def is_google_csv(keys: list[str]) -> bool:
    k = set(keys)
    has_values = any(GOOGLE_MULTI.match(key) for key in k)
    named = {"given name", "family name"} <= k or {"first name", "last name"} <= k
    return has_values and (named or "group membership" in k or "labels" in k)


def _cells(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(GOOGLE_SEPARATOR) if v.strip()]


def read_google_csv(source: Source, member: str) -> Iterator[ProfileRecord | RecordError]:
    label = source.label(member)
    info, rows = read_csv(source, member)
    columns = sorted(
        ((m.group(1), int(m.group(2)), key) for key in info.keys if (m := GOOGLE_MULTI.match(key))),
        key=lambda c: (c[0], c[1]),
    )
    for line, row in rows:
        where = f"{label} line {line}"
        person = Person()
        bad = None
        for what, _, key in columns:
            for value in _cells(row.get(key)):
                if what == "e-mail":
                    email = normalize_email(value)
                    if email is None:
                        bad = bad or f"{value[:80]!r} is not an email address"
                    person.add(person.emails, email)
                elif what == "phone":
                    phone = _phone(value)
                    if phone is None:
                        bad = bad or f"phone {value[:80]!r} has no digits"
                    person.add(person.phones, phone)
                else:
                    website = _website(value)
                    person.add(person.websites, website)
                    person.homepage = person.homepage or website
        if bad:
            yield RecordError(where, bad)
            continue
        parts = ("name prefix", "first name", "given name", "middle name", "additional name", "last name", "family name", "name suffix")
        joined = " ".join(row[p] for p in parts if row.get(p))
        org = row.get("organization name") or row.get("organization 1 - name")
        person.name = _text(row.get("name") or joined or row.get("file as") or row.get("nickname") or org, MAX_TEXT)
        labels = _cells(row.get("labels") or row.get("group membership"))
        person.data = {
            "format": "google-csv", "organization": _text(org),
            "title": _text(row.get("organization title") or row.get("organization 1 - title")),
            "nickname": _text(row.get("nickname")), "birthday": _text(row.get("birthday"), 64),
            "note": _text(row.get("notes"), MAX_TEXT), "labels": [x[:MAX_DATA_TEXT] for x in labels[:MAX_LIST]],
        }
        record = person.record()
        if record is None:
            yield RecordError(where, "no name, email, phone or website on this line")
            continue
        yield record


# ---------------------------------------------------------------------------------------------
# The importer


def _starts_like_vcard(source: Source, member: str) -> bool:
    with source.open(member) as fh:
        head = fh.read(256)
    return head.removeprefix(BOM).lstrip()[:11].upper() == b"BEGIN:VCARD"


@register
class Contacts(Importer):
    name = "contacts"
    platform = PLATFORM
    description = "address books: vCard 3.0/4.0 (.vcf) and Google Contacts CSV, as contacts:address-book"
    priority = 10  # above the generic CSV, which would take a Google CSV for a list of followers

    def _files(self, source: Source, *, strict: bool) -> tuple[list[str], list[str]]:
        members = source.members()
        single = len(members) == 1
        vcards = [
            m for m in members
            if (PurePosixPath(m).suffix.lower() in VCARD_SUFFIXES or single) and _starts_like_vcard(source, m)
        ]
        # Google CSV is always saved as .csv; with --platform contacts a single file of any name is tried.
        csvs = [m for m in members if PurePosixPath(m).suffix.lower() in CSV_SUFFIXES or (strict and single and not vcards)]
        if len(csvs) > SCAN_ALL_UP_TO:
            csvs = [m for m in csvs if "contacts" in PurePosixPath(m).name.lower()]
        google = []
        for member in csvs:
            try:
                info, rows = read_csv(source, member)
                rows.close()
            except InputError:
                if strict and single:  # the file the user named: say what is wrong with it
                    raise
                continue
            if is_google_csv(info.keys):
                google.append(member)
        return vcards, google

    def detect(self, source: Source, options: ImportOptions) -> bool:
        vcards, google = self._files(source, strict=False)
        return bool(vcards or google)

    def plan(self, source: Source, options: ImportOptions) -> Plan:
        vcards, google = self._files(source, strict=True)
        if not vcards and not google:
            members = source.members()
            raise InputError(
                f"{source.label(members[0]) if len(members) == 1 else source.name}: no vCard (BEGIN:VCARD) or Google Contacts CSV in it",
                hint="export the address book as vCard (.vcf) or as Google CSV and import that file",
            )
        files = vcards + google

        def read() -> Iterator[ProfileRecord | RecordError]:
            for member in vcards:
                yield from read_vcards(source, member)
            for member in google:
                yield from read_google_csv(source, member)

        newest = max(source.mtime(m) for m in files)
        return Plan(
            platform=PLATFORM, streams=[Stream(kind=KIND, files=files, read=read)], account=ACCOUNT,
            as_of=dt.datetime.fromtimestamp(newest, dt.timezone.utc),
        )
