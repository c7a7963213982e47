"""`audience optout ADDRESS_OR_HANDLE`: the suppression list, by hand (SPEC §4).

An entry is never exported to a mailing list or any other export, and never messaged. A
manual entry outranks one an import made: a newsletter export that lists the address as
subscribed again lifts only its own ``unsubscribed`` entries (``backup.snapshot``), so an
opt-out by hand turns an existing import entry into a manual one.

What can be opted out, normalized the way contact points are stored:

- an email address (``Ada@Example.org``, ``mailto:...``): lower-cased, IDN domains in one form;
- a phone number in international form (``+44 20 7946 0958``): E.164;
- a handle: ``platform:handle`` (``x:ana_pro``, ``mastodon:ana@social.example``,
  ``bluesky:ana.bsky.social``) or a fediverse address ``@user@host``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, text

from backup.db.models import Suppression, utcnow
from backup.errors import UsageError
from backup.people.extract import normalize_email, normalize_handle, normalize_phone

MAX_REASON = 64  # suppressions.reason is VARCHAR(64)
SOURCE = "optout"


@dataclass
class Optout:
    kind: str  # email | phone | handle
    value: str  # normalized
    added: bool  # False when it was already on the list by hand
    persons: int  # persons holding this address or handle


def parse_target(target: str) -> tuple[str, str]:
    """(kind, normalized value) of an ADDRESS_OR_HANDLE argument; UsageError if it is none."""
    raw = (target or "").strip()
    if not raw:
        raise UsageError("give an email address, a phone number or a handle to opt out")
    head, colon, rest = raw.partition(":")
    if raw.startswith("@") and raw.count("@") == 2:
        value = normalize_handle("mastodon:" + raw)
        if value:
            return "handle", value
    elif colon and head.isalpha() and head.lower() != "mailto" and rest:
        value = normalize_handle(raw)
        if value:
            return "handle", value
        raise UsageError(f"{raw[:80]!r} is not a handle audience knows",
                         hint="e.g. x:ana_pro, mastodon:ana@social.example, bluesky:ana.bsky.social")
    elif "@" in raw:
        value = normalize_email(raw)
        if value:
            return "email", value
    elif raw.startswith("+") or raw[:4].lower() == "tel:":
        value = normalize_phone(raw)
        if value:
            return "phone", value
    raise UsageError(
        f"{raw[:80]!r} is not an email address, an international phone number or a handle",
        hint="e.g. ana@example.org, +44 20 7946 0958, x:ana_pro or @ana@social.example",
    )


def add_optout(conn: Connection, target: str, reason: str | None = None) -> Optout:
    """Put the address or handle on the suppression list (inside the caller's write transaction)."""
    kind, value = parse_target(target)
    reason = " ".join((reason or "manual").split())[:MAX_REASON] or "manual"
    existing = conn.execute(select(Suppression.id, Suppression.account_id).where(
        Suppression.kind == kind, Suppression.value == value)).first()
    if existing is None:
        conn.execute(Suppression.__table__.insert().values(
            kind=kind, value=value, reason=reason, source=SOURCE, account_id=None, created_at=utcnow()))
        added = True
    else:  # by hand from now on: no re-import lifts it
        conn.execute(Suppression.__table__.update().where(Suppression.id == existing.id).values(
            reason=reason, source=SOURCE, account_id=None))
        added = existing.account_id is not None
    persons = conn.execute(text(
        "SELECT COUNT(DISTINCT pid) FROM ("
        " SELECT p.person_id AS pid FROM contact_points c JOIN profiles p"
        " ON p.platform = c.platform AND p.platform_id = c.platform_id"
        " WHERE c.kind = :k AND c.value = :v AND p.person_id IS NOT NULL"
        " UNION SELECT person_id AS pid FROM contact_points WHERE kind = :k AND value = :v AND person_id IS NOT NULL) x"
    ), {"k": kind, "v": value}).scalar_one()
    return Optout(kind, value, added, persons)
