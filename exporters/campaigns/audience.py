"""Who a campaign reaches (SPEC §8), on top of ``exporters.selection``.

The filters select persons (SPEC §4); then, in this order, a person is left out when:

1. they opted out: any of their addresses or handles is on the suppression list, or any of
   their emails is ``unsubscribed`` (someone who left the newsletter is not invited anywhere);
2. they have no address on the channel: email needs an address with a recorded opt-in, always
   (reliability check 35: an address from a LinkedIn export, a bio or an address book is
   ``unknown`` and never gets an automated email), Mastodon a ``user@host``, Bluesky a handle
   or DID, X a handle or id; ``manual`` takes the first of those (an ``unknown`` email too with
   ``--include-unconsented``: a personal invitation the user sends by hand), then any profile
   address;
3. another campaign for the same target reached them (sent, or perhaps sent: ``unknown``) in
   the last ``recent_days`` days;
4. the address is one of my own accounts, or a person ranked higher already has it.

The rest are ranked by their own reach (their largest ``followers_count``), so that a day's
capped sends go to the people who matter most; ties by person id, so the order is stable.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Connection, Row, and_, or_, select

from backup.db.models import (
    Account,
    Campaign,
    CampaignMessage,
    ContactPoint,
    Profile,
    Suppression,
)
from exporters.handles import HANDLE_PLATFORMS, handles_on
from exporters.selection import Filters, PersonView, iter_people, normalize_value

from .templates import clean_field

# Message states that count as "reached" (an `unknown` one may have gone out).
REACHED_STATES = ("sending", "sent", "unknown")
SOCIAL = ("mastodon", "bluesky", "x")
# `manual`: the first address a person has, in this order of channels.
MANUAL_ORDER = ("email", "mastodon", "bluesky", "x") + tuple(p for p in HANDLE_PLATFORMS if p not in ("x", "mastodon", "bluesky"))
REASONS = {
    "opted_out": "opted out (suppressed or unsubscribed)",
    "no_address": "no address on the channel",
    "unconsented": "only emails with no recorded opt-in (email goes to opt-ins only)",
    "recently_reached": "reached by a campaign for the same target recently",
    "own_account": "one of my own accounts",
    "duplicate_address": "an address another person already has",
}


@dataclass(frozen=True)
class Recipient:
    person_id: int
    name: str  # cleaned, for the template and for status
    channel: str  # the campaign's; for `manual`, the platform of this address
    address: str
    platform_id: str | None
    reach: int


@dataclass
class Audience:
    recipients: list[Recipient]
    excluded: Counter = field(default_factory=Counter)
    selected: int = 0  # persons the filters matched

    def describe_excluded(self) -> str:
        return ", ".join(f"{n:,} {REASONS.get(k, k)}" for k, n in self.excluded.most_common() if n) or "none"


def opted_out(person: PersonView) -> bool:
    if any(p.suppressed for p in person.profiles):
        return True
    return any(c.suppressed or (c.kind == "email" and c.consent == "unsubscribed") for c in person.contacts)


def address_on(person: PersonView, channel: str, *, include_unconsented: bool = False) -> tuple[str, str | None, str] | str:
    """(address, platform_id, channel) of the person on the channel, or the reason there is none."""
    if channel == "email":
        best = person.best_email(include_unconsented=include_unconsented)
        if best is not None:
            return best.value, None, "email"
        if any(c.kind == "email" and c.usable for c in person.contacts):
            return "unconsented"
        return "no_address"
    if channel == "manual":
        reason = "no_address"
        for platform in MANUAL_ORDER:
            found = address_on(person, platform, include_unconsented=include_unconsented) if platform in ("email", *SOCIAL) else _profile_address(person, platform)
            if isinstance(found, tuple):
                return found
            if found == "unconsented":
                reason = found
        return reason
    for handle in handles_on(person, channel):
        if handle.suppressed:
            continue
        if channel == "mastodon":
            if handle.handle and "@" in handle.handle:
                return handle.handle.lower(), handle.platform_id, channel
            continue
        if channel == "bluesky":
            did = handle.platform_id if handle.platform_id and handle.platform_id.startswith("did:") else None
            if handle.handle:
                return handle.handle.lower(), did, channel
            if did:
                return did, did, channel
            continue
        if channel == "x":
            xid = handle.platform_id if handle.platform_id and handle.platform_id.isdigit() else None
            if handle.handle or xid:
                return (handle.handle or xid).lower(), xid, channel
    return "no_address"


def _profile_address(person: PersonView, platform: str) -> tuple[str, str | None, str] | str:
    for handle in handles_on(person, platform):
        if not handle.suppressed and (handle.url or handle.handle):
            return (handle.url or handle.handle), handle.platform_id, platform
    return "no_address"


def reach_of(person: PersonView) -> int:
    return max((p.followers_count or 0 for p in person.profiles), default=0)


def recently_reached(conn: Connection, target: str, since: dt.datetime, exclude_campaign: int | None = None) -> tuple[set[int], set[str]]:
    """Person ids and addresses that campaigns for `target` reached since `since`."""
    m, c = CampaignMessage, Campaign
    query = (
        select(m.person_id, m.address)
        .join(c, c.id == m.campaign_id)
        .where(c.target == target, m.state.in_(REACHED_STATES), m.claimed_at >= since)
    )
    if exclude_campaign is not None:
        query = query.where(c.id != exclude_campaign)
    people, addresses = set(), set()
    for person_id, address in conn.execute(query):
        people.add(person_id)
        addresses.add(address.lower())
    return people, addresses


def own_addresses(conn: Connection) -> set[str]:
    out = set()
    for platform, handle in conn.execute(select(Account.platform, Account.handle)):
        out.add(handle.lower().lstrip("@"))
        out.add(f"{platform}:{handle.lower().lstrip('@')}")
    return out


def select_audience(
    conn: Connection, *, channel: str, filters: Filters, target: str, recent_days: int, now: dt.datetime,
    include_unconsented: bool = False, campaign_id: int | None = None,
) -> Audience:
    """The campaign's recipients in send order, and how many were left out and why."""
    if channel != "manual":
        include_unconsented = False  # check 35: no override for automated sends (plan refuses it too)
    people, addresses = recently_reached(conn, target, now - dt.timedelta(days=recent_days), campaign_id)
    mine = own_addresses(conn)
    audience = Audience([])
    found: list[Recipient] = []
    for person in iter_people(conn, filters):
        audience.selected += 1
        if opted_out(person):
            audience.excluded["opted_out"] += 1
            continue
        where = address_on(person, channel, include_unconsented=include_unconsented)
        if isinstance(where, str):
            audience.excluded[where] += 1
            continue
        address, platform_id, row_channel = where
        if person.id in people or address.lower() in addresses:
            audience.excluded["recently_reached"] += 1
            continue
        if address.lower() in mine or f"{row_channel}:{address.lower()}" in mine:
            audience.excluded["own_account"] += 1
            continue
        social = row_channel in SOCIAL
        found.append(Recipient(person.id, clean_field(person.label, social=social), row_channel, address, platform_id, reach_of(person)))
    found.sort(key=lambda r: (-r.reach, r.person_id))
    seen: set[str] = set()
    for r in found:
        if r.address.lower() in seen:
            audience.excluded["duplicate_address"] += 1
            continue
        seen.add(r.address.lower())
        audience.recipients.append(r)
    return audience


def still_allowed(conn: Connection, message: Row, campaign: Row, now: dt.datetime, recent_days: int) -> str | None:
    """Checked inside the claim transaction, so an opt-out that arrived mid-campaign is seen by
    the very next claim: None if the message may go, else why it is skipped."""
    keys: set[tuple[str, str]] = set()
    email = normalize_value("email", message.address) if message.channel == "email" else None
    if email:
        keys.add(("email", email))
    elif message.channel in SOCIAL:
        keys.add(("handle", normalize_value("handle", f"{message.channel}:{message.address}")))
        if message.platform_id:
            keys.add(("handle", f"{message.channel}:{message.platform_id.lower()}"))
    # The person's emails and handles: on their profiles, on the person alone, and every
    # record of the message's own address (an unsubscribe anywhere wins).
    cp, pr = ContactPoint, Profile
    on_profiles = select(cp.kind, cp.value, cp.consent).join(
        pr, and_(pr.platform == cp.platform, pr.platform_id == cp.platform_id)
    ).where(pr.person_id == message.person_id, cp.kind.in_(("email", "phone", "handle")))
    on_person = select(cp.kind, cp.value, cp.consent).where(cp.person_id == message.person_id, cp.kind.in_(("email", "phone", "handle")))
    same = select(cp.kind, cp.value, cp.consent).where(or_(*(and_(cp.kind == k, cp.value == v) for k, v in keys))) if keys else None
    opted_in = False
    for query in (on_profiles, on_person, same):
        if query is None:
            continue
        for kind, value, consent in conn.execute(query):
            if kind == "email" and consent == "unsubscribed":
                return "opted out (unsubscribed)"
            opted_in = opted_in or (kind == "email" and value == email and consent == "opted_in")
            keys.add((kind, value))
    if campaign.channel == "email" and not opted_in:
        # Check 35, again at the claim: whatever planned this message (an older campaign, a
        # hand-edited row), an automated email goes only to an address with a recorded opt-in.
        return "no recorded opt-in for this address (email goes to opt-ins only)"
    if keys:
        hit = conn.execute(
            select(Suppression.kind).where(or_(*(and_(Suppression.kind == k, Suppression.value == v) for k, v in keys))).limit(1)
        ).first()
        if hit:
            return f"opted out ({hit.kind} on the suppression list)"
    m, c = CampaignMessage, Campaign
    other = conn.execute(
        select(c.name).join(m, m.campaign_id == c.id).where(
            c.target == campaign.target, c.id != campaign.id, m.state.in_(REACHED_STATES),
            m.claimed_at >= now - dt.timedelta(days=recent_days),
            or_(m.person_id == message.person_id, m.address == message.address),
        ).limit(1)
    ).first()
    if other:
        return f"reached by campaign {other.name!r} for the same target in the last {recent_days} days"
    return None


def email_consents(conn: Connection, addresses: list[str]) -> dict[str, str]:
    """Each address's consent over every record of it: ``unsubscribed`` anywhere wins, then a
    recorded ``opted_in``, else ``unknown`` (an address found in a bio has no consent at all)."""
    wanted = {normalize_value("email", a): a for a in addresses}
    rank = {"unsubscribed": 0, "opted_in": 1}
    found: dict[str, str] = {}
    keys = [k for k in wanted if k]
    for start in range(0, len(keys), 500):
        query = select(ContactPoint.value, ContactPoint.consent).where(
            ContactPoint.kind == "email", ContactPoint.value.in_(keys[start:start + 500]))
        for value, consent in conn.execute(query):
            consent = consent if consent in rank else "unknown"
            if rank.get(consent, 2) < rank.get(found.get(value, "unknown"), 2):
                found[value] = consent
    return {original: found.get(key, "unknown") for key, original in wanted.items()}
