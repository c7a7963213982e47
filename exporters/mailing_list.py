"""`audience export mailing-list`: addresses an email tool can import, with consent (SPEC §4).

Consent rules, in this order:

1. An address that is on the suppression list, or that any source lists as unsubscribed, is
   never written (``skipped_suppressed``).
2. ``opted_in`` addresses (a newsletter's subscribers, an explicit sign-up) are written.
3. ``unknown`` addresses (a bio, a LinkedIn export, an address book) only with
   ``include_unconsented``, marked with the status the target uses for contacts who have not
   opted in; otherwise counted in ``skipped_unconsented``.
4. One row per normalized address (the first person by id keeps it); a person with several
   usable addresses gets the best one (opted in first, then verified, then from an import
   rather than a bio) unless ``all_addresses``.

Formats (the column layout each tool's importer reads):

- ``mailchimp``: ``Email Address, First Name, Last Name, Tags, Status``. Mailchimp's importer
  maps columns by name, needs only ``Email Address`` (one address per row), reads ``Tags`` as
  a comma-separated list in one cell (a tag with a comma in double quotes), and applies one
  subscription status to a whole import: ``Status`` says ``subscribed`` or
  ``non-subscribed`` per row, so a file with both is imported in two passes (filter on it).
- ``listmonk``: ``email, name, attributes``: the three headers listmonk's importer knows
  (others are ignored), ``attributes`` a JSON object (tags, platforms, consent and its
  source, and ``subscription_status`` ``confirmed``/``unconfirmed``).
- ``generic``: ``email, name, consent, status, source, tags``; ``status`` is
  ``subscribed``/``unconfirmed``, which audience's own newsletter importer reads back with
  the same consent.

No BOM: Go's and Ruby's CSV readers would take it into the first header name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, text

from backup.errors import UsageError
from backup.files import atomic_write

from .safety import SafeCsvWriter, one_line
from .selection import (
    EVERYONE,
    ContactView,
    Filters,
    PersonView,
    contact_rank,
    iter_people,
)

FORMATS = ("mailchimp", "listmonk", "generic")
HEADERS = {
    "mailchimp": ("Email Address", "First Name", "Last Name", "Tags", "Status"),
    "listmonk": ("email", "name", "attributes"),
    "generic": ("email", "name", "consent", "status", "source", "tags"),
}
# The status each target gives a contact who has not opted in (SPEC §4 --include-unconsented).
STATUS = {
    "mailchimp": {"opted_in": "subscribed", "unknown": "non-subscribed"},
    "listmonk": {"opted_in": "confirmed", "unknown": "unconfirmed"},
    "generic": {"opted_in": "subscribed", "unknown": "unconfirmed"},
}
MAILCHIMP_TAG_MAX = 100  # characters of one tag (Mailchimp's import guidelines)
MAILCHIMP_TEXT_BYTES = 255  # text fields are clipped at 255 bytes


@dataclass
class MailingListResult:
    path: Path
    rows: int
    skipped_unconsented: int = 0  # addresses without recorded consent, left out
    skipped_suppressed: int = 0  # addresses unsubscribed or on the suppression list, left out
    included_unconsented: int = 0  # rows written with the non-subscribed status
    persons: int = 0  # persons with at least one row
    by_status: dict[str, int] = field(default_factory=dict)


def _clip_bytes(value: str, limit: int) -> str:
    data = value.encode("utf-8")
    if len(data) <= limit:
        return value
    return data[:limit].decode("utf-8", "ignore")


def person_name(person: PersonView) -> str:
    """A name for a mailing list: the person's, else a profile's display name (never a handle)."""
    if person.name and person.name.strip():
        return one_line(person.name)
    for p in person.profiles:
        if p.display_name and p.display_name.strip():
            return one_line(p.display_name)
    return ""


def split_name(name: str) -> tuple[str, str]:
    """First and last name for Mailchimp: the last word is the last name (``Ada Lovelace``)."""
    parts = name.split()
    if len(parts) < 2:
        return name, ""
    return " ".join(parts[:-1]), parts[-1]


def mailchimp_tags(tags: list[str]) -> str:
    out = []
    for t in tags:
        t = one_line(t).replace('"', "'")[:MAILCHIMP_TAG_MAX]
        if t:
            out.append(f'"{t}"' if "," in t else t)
    return ",".join(out)


def _platforms(person: PersonView) -> list[str]:
    return sorted({p.platform for p in person.profiles})


def _row(fmt: str, person: PersonView, c: ContactView) -> list[str]:
    consent = "opted_in" if c.consent == "opted_in" else "unknown"
    status = STATUS[fmt][consent]
    name = person_name(person)
    if fmt == "mailchimp":
        first, last = split_name(name)
        return [c.value, _clip_bytes(first, MAILCHIMP_TEXT_BYTES), _clip_bytes(last, MAILCHIMP_TEXT_BYTES),
                mailchimp_tags(person.tags), status]
    if fmt == "listmonk":
        attributes = {
            "tags": person.tags, "platforms": _platforms(person), "consent": consent, "consent_source": c.source,
            "subscription_status": status, "audience_person_id": person.id,
        }
        return [c.value, name, json.dumps(attributes, ensure_ascii=False, separators=(",", ":"))]
    return [c.value, name, consent, status, c.source, ",".join(one_line(t) for t in person.tags)]


def unsubscribed_anywhere(conn: Connection) -> set[str]:
    """Addresses some source lists as unsubscribed (on any profile, of any person)."""
    return {v for (v,) in conn.execute(text("SELECT DISTINCT value FROM contact_points WHERE kind = 'email' AND consent = 'unsubscribed'"))}


def write_mailing_list(
    conn: Connection, path: Path, fmt: str = "mailchimp", filters: Filters = EVERYONE, *,
    include_unconsented: bool = False, all_addresses: bool = False,
) -> MailingListResult:
    """Write the mailing list (0600, atomically) and say what was left out and why."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown mailing-list format {fmt!r}", hint=f"formats: {', '.join(FORMATS)}")
    result = MailingListResult(Path(path), 0)
    blocked = unsubscribed_anywhere(conn)
    written: set[str] = set()
    suppressed: set[str] = set()
    unconsented: set[str] = set()
    with atomic_write(Path(path), "w", encoding="utf-8", newline="") as fh:
        writer = SafeCsvWriter(fh)
        writer.writeheader(HEADERS[fmt])
        for person in iter_people(conn, filters):
            emails = [c for c in person.contacts if c.kind == "email"]
            if not emails:
                continue
            eligible, unknown = [], []
            for c in sorted(emails, key=contact_rank):
                if c.suppressed or c.consent == "unsubscribed" or c.value in blocked:
                    suppressed.add(c.value)
                elif c.consent == "opted_in" or include_unconsented:
                    eligible.append(c)
                else:
                    unknown.append(c)
            wrote = False
            for c in eligible:
                if c.value in written:
                    continue  # another person already has this address
                written.add(c.value)
                writer.writerow(_row(fmt, person, c))
                result.rows += 1
                wrote = True
                status = STATUS[fmt]["opted_in" if c.consent == "opted_in" else "unknown"]
                result.by_status[status] = result.by_status.get(status, 0) + 1
                if c.consent != "opted_in":
                    result.included_unconsented += 1
                if not all_addresses:
                    break
            result.persons += wrote
            # What --include-unconsented would have added: every such address with
            # --all-addresses, else the best one of a person who got no row.
            if all_addresses:
                unconsented.update(c.value for c in unknown)
            elif unknown and not wrote:
                unconsented.add(unknown[0].value)
    result.skipped_suppressed = len(suppressed - written)
    result.skipped_unconsented = len(unconsented - written - suppressed)
    return result
