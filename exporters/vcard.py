"""`audience export vcard`: vCard 4.0 (RFC 6350), one card per person.

Each card: ``VERSION:4.0`` first (§6.7.9), ``FN`` (required, §6.2.1; the person's name, else a
display name or handle), ``N`` (family;given, the last word of the name as family name),
``UID`` (a UUID derived from the person id, so a re-export updates the same card),
``EMAIL`` and ``TEL`` (``VALUE=uri`` with a ``tel:`` URI, as §6.4.1 recommends), best first
with ``PREF=1``, ``URL`` for websites, ``X-SOCIALPROFILE;TYPE=<platform>`` with the profile's
address for every handle (the extension Apple Contacts and others read; ``X-USER`` carries
the handle), ``CATEGORIES`` and a ``NOTE`` with the tags.

Text values escape backslash, comma, semicolon and line breaks (§3.4); control characters
are dropped. Lines are folded at 75 octets (§3.2) with CRLF and one space, never inside a
UTF-8 sequence. Unsubscribed and suppressed addresses and numbers are left out.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from backup.files import atomic_write

from .handles import HANDLE_PLATFORMS, handles_on
from .mailing_list import person_name, split_name
from .selection import EVERYONE, Filters, PersonView, iter_people

MAX_OCTETS = 75  # RFC 6350 §3.2: lines SHOULD NOT be longer than 75 octets, line break excluded
PRODID = "-//audience//audience export vcard//EN"
UID_NAMESPACE = uuid.UUID("6f1c3d2e-2b7a-5a8e-9d0f-1b2c3d4e5f60")
_DROP = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_PARAM_UNSAFE = re.compile(r'["\x00-\x1f\x7f]')


@dataclass
class VcardResult:
    path: Path
    rows: int  # cards


def escape_text(value: str) -> str:
    """A TEXT value (§3.4): ``\\`` ``,`` ``;`` and line breaks escaped, controls dropped."""
    value = _DROP.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


def _uri(value: str) -> str:
    """A URI value: no escaping in 4.0, but nothing that could end the line or hide text."""
    return _DROP.sub("", value).replace("\r", "").replace("\n", "")


def _param(value: str) -> str | None:
    """A parameter value, quoted when it holds ``:``, ``;`` or ``,`` (§3.3); None if unusable."""
    if _PARAM_UNSAFE.search(value):
        return None
    return f'"{value}"' if any(ch in value for ch in ":;,") else value


def fold(line: str) -> str:
    """One content line with its CRLF, folded at 75 octets without splitting a character."""
    data = line.encode("utf-8")
    if len(data) <= MAX_OCTETS:
        return line + "\r\n"
    parts: list[str] = []
    current: list[str] = []
    size, limit = 0, MAX_OCTETS
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > limit:
            parts.append("".join(current))
            current, size, limit = [], 0, MAX_OCTETS - 1  # continuation lines start with a space
        current.append(ch)
        size += n
    parts.append("".join(current))
    return "\r\n ".join(parts) + "\r\n"


def person_uid(person_id: int) -> str:
    return f"urn:uuid:{uuid.uuid5(UID_NAMESPACE, f'audience-person-{person_id}')}"


def card(person: PersonView) -> str:
    """The vCard of one person."""
    name = person_name(person)
    first, last = split_name(name) if name else ("", "")
    lines = ["BEGIN:VCARD", "VERSION:4.0", f"PRODID:{PRODID}", f"UID:{person_uid(person.id)}",
             f"FN:{escape_text(name or person.label)}", f"N:{escape_text(last)};{escape_text(first)};;;"]
    emails = [c for c in person.contacts_of("email") if c.usable]
    for i, c in enumerate(emails):
        lines.append(f"EMAIL{';PREF=1' if i == 0 else ''}:{escape_text(c.value)}")
    phones = [c for c in person.contacts_of("phone") if c.usable]
    for i, c in enumerate(phones):
        number = _uri(c.value).replace(" ", "")
        lines.append(f"TEL;VALUE=uri{';PREF=1' if i == 0 else ''}:tel:{number}")
    for c in person.contacts_of("website"):
        if c.usable:
            lines.append(f"URL:{_uri(c.value)}")
    for platform in HANDLE_PLATFORMS:
        for h in handles_on(person, platform):
            if h.suppressed or not h.url:
                continue
            params = f";TYPE={platform}"
            user = _param(h.handle) if h.handle else None
            if user:
                params += f";X-USER={user}"
            lines.append(f"X-SOCIALPROFILE{params}:{_uri(h.url)}")
    if person.tags:
        lines.append("CATEGORIES:" + ",".join(escape_text(t) for t in person.tags))
        lines.append("NOTE:" + escape_text("tags: " + ", ".join(person.tags)))
    lines.append("END:VCARD")
    return "".join(fold(line) for line in lines)


def write_vcard(conn: Connection, path: Path, filters: Filters = EVERYONE) -> VcardResult:
    """Write one vCard 4.0 per selected person to ``path`` (0600, atomically)."""
    cards = 0
    # newline="" keeps our CRLF as written
    with atomic_write(Path(path), "w", encoding="utf-8", newline="") as fh:
        for person in iter_people(conn, filters):
            fh.write(card(person))
            cards += 1
    return VcardResult(Path(path), cards)
