"""Campaigns and their messages in the database (Core; rows come back as ``Row`` objects
with the tables' column names as attributes): creation, the message state machine, pause.

A message's life, each step its own committed transaction (SPEC §8 "never twice"):

    planned --claim--> sending --provider answered--> sent | failed | skipped
                          |                      \\--> planned (certainly not sent: a 429, a deferral)
                          \\--(the sender died)--> unknown --(campaign retry-unknown)--> planned

A ``planned`` message can also become ``skipped`` at its claim (opted out meanwhile, reached by
another campaign). ``sending`` is committed *before* the message goes out, so a crash between
the send and its record leaves ``sending`` behind; the next ``send`` (or ``retry-unknown``) of
that campaign, holding the campaign's lock, turns it into ``unknown``: it may or may not have
gone out, and it is not sent again unless the user asks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import Connection, Engine, Row, func, insert, select, update

from backup.db.engine import write
from backup.db.models import Campaign, CampaignMessage
from backup.errors import UsageError

from .pacing import CHANNEL_PACE, Budget, Pace

MESSAGE_STATES = ("planned", "sending", "sent", "failed", "skipped", "unknown")
# Attempts that reached (or may have reached) the provider: they count against the budgets.
ATTEMPTED = ("sending", "sent", "unknown", "failed")
DEFAULT_RECENT_DAYS = 90
MAX_NAME = 100
REF_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: codes get read aloud and retyped
REF_LENGTH = 10  # 31**10: about 2**49


def new_ref(taken: set[str]) -> str:
    while True:
        ref = "".join(secrets.choice(REF_ALPHABET) for _ in range(REF_LENGTH))
        if ref not in taken:
            taken.add(ref)
            return ref


def with_ref(link: str | None, ref: str) -> str | None:
    """The campaign's link with ``ref=CODE`` in its query (an existing ``ref`` is replaced)."""
    if not link:
        return None
    parts = urlsplit(link)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "ref"]
    query.append(("ref", ref))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def check_link(link: str | None) -> str | None:
    if link is None:
        return None
    link = link.strip()
    parts = urlsplit(link)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(ch.isspace() for ch in link):
        raise UsageError(f"--link {link!r} is not an http(s) URL", hint="e.g. --link https://newsletter.example/subscribe")
    return link


def target_of(link: str | None, name: str) -> str:
    """What a campaign invites to: its link's host and path (no query), else its own name."""
    if not link:
        return f"campaign:{name}"
    parts = urlsplit(link)
    return f"{(parts.hostname or '').lower()}{parts.path.rstrip('/')}"


def idempotency_key(campaign_id: int, created_at: dt.datetime, person_id: int, address: str) -> str:
    """hash(campaign, recipient) (reliability-checks §1): the same on every attempt for them."""
    seed = f"audience-campaign:{campaign_id}:{created_at.isoformat()}:{person_id}:{address}"
    return hashlib.sha256(seed.encode()).hexdigest()[:40]


_NAME = re.compile(rf"^[^\x00-\x1f\x7f]{{1,{MAX_NAME}}}$")


def check_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise UsageError(f"a campaign name is 1 to {MAX_NAME} printable characters")
    return name


# ---------------------------------------------------------------------------------------------
# Reading


def get(conn: Connection, name: str) -> Row:
    row = conn.execute(select(Campaign.__table__).where(Campaign.name == name)).first()
    if row is None:
        known = conn.execute(select(Campaign.name).order_by(Campaign.id.desc()).limit(5)).scalars().all()
        raise UsageError(
            f"no campaign named {name!r}",
            hint=("campaigns: " + ", ".join(known)) if known else "create one with `audience campaign create NAME ...`",
        )
    return row


def counts(conn: Connection, campaign_id: int) -> Counter:
    rows = conn.execute(
        select(CampaignMessage.state, func.count()).where(CampaignMessage.campaign_id == campaign_id).group_by(CampaignMessage.state)
    )
    return Counter({state: n for state, n in rows})


def next_planned(conn: Connection, campaign_id: int, after_seq: int | None = None, limit: int = 1) -> list[CampaignMessage]:
    q = select(CampaignMessage.__table__).where(CampaignMessage.campaign_id == campaign_id, CampaignMessage.state == "planned")
    if after_seq is not None:
        q = q.where(CampaignMessage.seq > after_seq)
    return list(conn.execute(q.order_by(CampaignMessage.seq).limit(limit)))


def last_attempt(conn: Connection, campaign_id: int) -> Row | None:
    """The campaign's most recent message that went (or went towards) the provider."""
    return conn.execute(
        select(CampaignMessage.__table__)
        .where(CampaignMessage.campaign_id == campaign_id, CampaignMessage.state.in_(ATTEMPTED), CampaignMessage.variant.is_not(None))
        .order_by(CampaignMessage.claimed_at.desc(), CampaignMessage.id.desc())
        .limit(1)
    ).first()


def budget(conn: Connection, campaign: Row, now: dt.datetime) -> Budget:
    """The campaign's and its shared budget's attempts in the last day, sorted."""
    since = now - dt.timedelta(days=1)
    m = CampaignMessage
    base = select(m.claimed_at).where(m.state.in_(ATTEMPTED), m.claimed_at > since)
    mine = sorted(conn.execute(base.where(m.campaign_id == campaign.id)).scalars())
    others = select(Campaign.id).where(Campaign.budget_key == campaign.budget_key)
    shared = sorted(conn.execute(base.where(m.campaign_id.in_(others))).scalars())
    return Budget(mine, shared)


def pace_of(campaign: Row) -> tuple[Pace, Pace]:
    """(the campaign's pace, the channel's ceiling for the shared budget)."""
    return Pace(campaign.per_day, campaign.per_hour, campaign.min_interval), CHANNEL_PACE[campaign.channel]


# ---------------------------------------------------------------------------------------------
# Creating


@dataclass
class NewCampaign:
    name: str
    channel: str
    template: str
    link: str | None
    target: str
    filters: dict[str, Any]
    sender: str | None
    account_id: int | None
    budget_key: str
    pace: Pace
    settings: dict[str, Any] = field(default_factory=dict)


def insert_campaign(conn: Connection, spec: NewCampaign, recipients: list, now: dt.datetime) -> int:
    """The campaign and one `planned` message per recipient, in one transaction (`conn`'s)."""
    if conn.execute(select(Campaign.id).where(Campaign.name == spec.name)).first():
        raise UsageError(f"a campaign named {spec.name!r} exists already", hint="pick another name, or see `audience campaign status NAME`")
    result = conn.execute(insert(Campaign).values(
        name=spec.name, channel=spec.channel, template=spec.template, link=spec.link, target=spec.target,
        filters=spec.filters, sender=spec.sender, account_id=spec.account_id, budget_key=spec.budget_key,
        per_day=spec.pace.per_day, per_hour=spec.pace.per_hour, min_interval=spec.pace.min_interval,
        settings=spec.settings, status="active", created_at=now,
    ))
    campaign_id = result.inserted_primary_key[0]
    taken = set(conn.execute(select(CampaignMessage.ref)).scalars())
    rows = []
    for seq, r in enumerate(recipients, start=1):
        rows.append({
            "campaign_id": campaign_id, "person_id": r.person_id, "seq": seq, "recipient": r.name or None,
            "channel": r.channel, "address": r.address, "platform_id": r.platform_id, "reach": r.reach,
            "ref": new_ref(taken), "idempotency_key": idempotency_key(campaign_id, now, r.person_id, r.address),
            "state": "planned", "attempts": 0, "planned_at": now,
        })
    for start in range(0, len(rows), 1000):
        conn.execute(insert(CampaignMessage), rows[start:start + 1000])
    return campaign_id


# ---------------------------------------------------------------------------------------------
# The state machine


def recover_sending(engine: Engine, campaign_id: int, now: dt.datetime) -> int:
    """Messages left in `sending` by a sender that died become `unknown`. Call only while
    holding the campaign's send lock (a live sender's `sending` message is not a leftover)."""
    with write(engine) as conn:
        result = conn.execute(
            update(CampaignMessage)
            .where(CampaignMessage.campaign_id == campaign_id, CampaignMessage.state == "sending")
            .values(state="unknown", finished_at=now,
                    reason="the sender stopped while sending it: it may or may not have gone out")
        )
        return result.rowcount or 0


def retry_unknown(engine: Engine, campaign_id: int) -> int:
    """`unknown` messages back to `planned`: the next send sends them again (the user asked)."""
    with write(engine) as conn:
        result = conn.execute(
            update(CampaignMessage)
            .where(CampaignMessage.campaign_id == campaign_id, CampaignMessage.state == "unknown")
            .values(state="planned", claimed_at=None, finished_at=None, reason="to be sent again (campaign retry-unknown)")
        )
        return result.rowcount or 0


def set_paused(conn: Connection, campaign_id: int, reason: str, now: dt.datetime) -> None:
    conn.execute(update(Campaign).where(Campaign.id == campaign_id).values(status="paused", pause_reason=reason[:2000], paused_at=now))


def pause(engine: Engine, name: str, reason: str, now: dt.datetime) -> Row:
    with write(engine) as conn:
        campaign = get(conn, name)
        set_paused(conn, campaign.id, reason, now)
        return get(conn, name)


def resume(engine: Engine, name: str) -> Row:
    with write(engine) as conn:
        campaign = get(conn, name)
        conn.execute(update(Campaign).where(Campaign.id == campaign.id).values(status="active", pause_reason=None, paused_at=None))
        return get(conn, name)


def skip(conn: Connection, message_id: int, reason: str, now: dt.datetime) -> None:
    conn.execute(
        update(CampaignMessage).where(CampaignMessage.id == message_id, CampaignMessage.state == "planned")
        .values(state="skipped", reason=reason, finished_at=now)
    )


def claim(conn: Connection, message_id: int, *, text: str, variant: int, now: dt.datetime) -> bool:
    """planned -> sending, with the text about to go. False if someone else changed it."""
    result = conn.execute(
        update(CampaignMessage).where(CampaignMessage.id == message_id, CampaignMessage.state == "planned")
        .values(state="sending", text=text, variant=variant, claimed_at=now, reason=None,
                attempts=CampaignMessage.attempts + 1)
    )
    return result.rowcount == 1


def finish(conn: Connection, message_id: int, *, state: str, now: dt.datetime, provider_id: str | None = None,
           reason: str | None = None) -> None:
    """sending -> the outcome's state. `planned` (certainly not sent) clears the claim."""
    if state not in ("sent", "failed", "skipped", "unknown", "planned"):
        raise ValueError(f"not a final state: {state}")
    values: dict[str, Any] = {"state": state, "reason": reason[:2000] if reason else None}
    if state == "planned":
        values.update(claimed_at=None, finished_at=None)
    else:
        values.update(finished_at=now, provider_id=provider_id)
    result = conn.execute(
        update(CampaignMessage).where(CampaignMessage.id == message_id, CampaignMessage.state == "sending").values(**values)
    )
    if result.rowcount != 1:
        raise RuntimeError(f"campaign message {message_id} was not in `sending` when its outcome came")


def recent_failures(conn: Connection, campaign_id: int, window: int) -> int:
    """How many of the campaign's last `window` finished attempts failed (a bounce storm)."""
    states = conn.execute(
        select(CampaignMessage.state)
        .where(CampaignMessage.campaign_id == campaign_id, CampaignMessage.state.in_(("sent", "failed")))
        .order_by(CampaignMessage.finished_at.desc(), CampaignMessage.id.desc())
        .limit(window)
    ).scalars().all()
    return sum(1 for s in states if s == "failed")
