"""The send loop: pace, render, claim, send, record; stop on the first sign of trouble.

For each message, in the order of the plan:

1. wait for the pace (``pacing.next_send_at``: spacing with jitter, the campaign's hourly and
   daily caps, the budget shared with other campaigns on the same account or domain); a wait
   longer than ``max_wait`` ends the run and says when the next send may go;
2. render it (the next variant after the last one sent: consecutive messages differ);
3. claim it in one transaction that re-checks everything that may have changed since the plan
   (the campaign paused? the person opted out? reached by another campaign?) and commits
   ``sending`` with the text (fault point ``campaign.claimed`` after it);
4. send (fault point ``campaign.sent`` after the provider answered, before the record);
5. record the outcome in one transaction (fault point ``campaign.recorded`` after it); an
   outcome that means trouble pauses the campaign in that same transaction, and three
   refusals among the last ten attempts (a bounce storm) do too.

`manual` campaigns claim a day's messages (within the daily cap), write them to a CSV
through ``atomic_write`` (each email row with its address's consent: ``opted_in`` or
``unknown``), then mark them sent (handed to you).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, Row, select

from backup import faults
from backup.db import orm
from backup.db.engine import write
from backup.db.models import Account, CampaignMessage
from backup.errors import AudienceError, InputError, UsageError
from backup.files import atomic_write
from exporters.safety import SafeCsvWriter

from . import model
from .audience import SOCIAL, email_consents, still_allowed
from .channels import Channel, Outcome, Outgoing
from .pacing import Clock, gap, next_send_at, schedule
from .plan import context_for, recent_days_of
from .templates import Renderer, TemplateError, split_subject, split_variants

log = logging.getLogger(__name__)

# A run waits at most this long for its next slot (an hourly cap, spacing); past it, it ends
# and says when the next message may go (run it again then, or from cron).
MAX_WAIT = 3600.0
# A bounce storm: this many refusals among the last BOUNCE_WINDOW attempts pauses the campaign.
BOUNCE_LIMIT = 3
BOUNCE_WINDOW = 10
# `consent`: for an email address, `opted_in` or `unknown` (never opted in: a personal message
# from your own mailbox, if at all); empty for the other channels.
MANUAL_COLUMNS = ("recipient", "channel", "address", "consent", "text", "ref")


def default_clock() -> Clock:
    """The clock commands use (tests replace this function)."""
    return Clock()


@dataclass
class SendReport:
    campaign: str
    outcomes: Counter = field(default_factory=Counter)
    recovered: int = 0  # `sending` leftovers of a dead sender, now `unknown`
    paused: str | None = None  # why the campaign paused during this run
    stopped: str = ""  # why the run ended
    next_at: dt.datetime | None = None
    output: str | None = None  # manual: the CSV written

    @property
    def done(self) -> bool:
        return self.stopped == "done"


# ---------------------------------------------------------------------------------------------
# Rendering


class MessageRenderer:
    """Renders a campaign's messages, rotating variants: never the same variant (or the same
    text) twice in a row."""

    def __init__(self, campaign: Row):
        self.campaign = campaign
        self.variants = split_variants(campaign.template)
        self.renderer = Renderer(self.variants)
        self.last_variant: int | None = None
        self.last_text: str | None = None
        self._previous: tuple[int | None, str | None] = (None, None)

    def start_after(self, last: Row | None) -> None:
        if last is not None:
            self.last_variant, self.last_text = last.variant, last.text

    def render(self, message: Row) -> tuple[int, str]:
        n = len(self.variants)
        first = 0 if self.last_variant is None else (self.last_variant + 1) % n
        handle = message.address if message.channel in SOCIAL else ""
        context = context_for(message.recipient, handle, message.channel, self.campaign.link, message.ref)
        for step in range(n):
            variant = (first + step) % n
            if n > 1 and variant == self.last_variant:
                continue
            text = self.renderer.render(variant, context)
            if text != self.last_text or n == 1:
                break
        self._previous = (self.last_variant, self.last_text)
        self.last_variant, self.last_text = variant, text
        return variant, text

    def forget(self, variant: int | None = None) -> None:
        """The last rendered message did not go out: rotate from the one before it."""
        self.last_variant, self.last_text = self._previous

    def close(self) -> None:
        self.renderer.close()


def outgoing(message: Row, text: str) -> Outgoing:
    subject, body = split_subject(text) if message.channel == "email" else (None, text)
    return Outgoing(
        message_id=message.id, person_id=message.person_id, recipient=message.recipient, address=message.address,
        platform_id=message.platform_id, text=body, subject=subject, ref=message.ref, idempotency_key=message.idempotency_key,
    )


# ---------------------------------------------------------------------------------------------
# Channels


def open_channel(engine: Engine, campaign: Row, clock: Clock, confirm: Callable[[Outgoing], bool] | None) -> Channel:
    settings = campaign.settings or {}
    if campaign.channel == "email":
        from .channels.email import EmailChannel

        return EmailChannel(settings=settings, sender=campaign.sender, campaign=campaign.name)
    from .channels.social import BlueskyChannel, MastodonChannel, XChannel

    if campaign.account_id is None:
        raise UsageError(f"campaign {campaign.name!r}: its sending account was removed", hint="create the campaign again")
    with engine.connect() as conn:
        session = orm(conn)
        account = session.get(Account, campaign.account_id)
        if account is None:
            raise UsageError(f"campaign {campaign.name!r}: its sending account was removed", hint="create the campaign again")
        session.expunge_all()
    if campaign.channel == "mastodon":
        return MastodonChannel(account=account, clock=clock)
    if campaign.channel == "bluesky":
        return BlueskyChannel(account=account, clock=clock)
    if campaign.channel == "x":
        if not settings.get("x_enabled"):
            raise UsageError("X DMs were not enabled for this campaign")
        return XChannel(account=account, clock=clock, confirm=confirm)
    raise UsageError(f"unknown channel {campaign.channel!r}")


# ---------------------------------------------------------------------------------------------
# Sending


def send(
    engine: Engine, name: str, *, clock: Clock | None = None, confirm: Callable[[Outgoing], bool] | None = None,
    output: Path | None = None, max_wait: float = MAX_WAIT,
    channel_factory: Callable[[Engine, Row, Clock], Channel] | None = None,
) -> SendReport:
    """Send what the pace allows now (waiting up to `max_wait` between sends)."""
    from .lock import campaign_lock

    clock = clock or default_clock()
    with engine.connect() as conn:
        campaign = model.get(conn, name)
    report = SendReport(campaign.name)
    with campaign_lock(engine, campaign.id, campaign.name):
        report.recovered = model.recover_sending(engine, campaign.id, clock.now())
        with engine.connect() as conn:
            campaign = model.get(conn, name)
        if campaign.status != "active":
            raise UsageError(
                f"campaign {campaign.name!r} is paused: {campaign.pause_reason or 'by you'}",
                hint=f"see `audience campaign status {campaign.name}`; when it is safe, `audience campaign resume {campaign.name}`",
            )
        if campaign.channel == "manual":
            return _send_manual(engine, campaign, clock, output, report)
        if output is not None:
            raise UsageError("-o/--output is for manual campaigns")
        channel = (channel_factory or (lambda e, c, k: open_channel(e, c, k, confirm)))(engine, campaign, clock)
        try:
            try:
                channel.check()
            except AudienceError as exc:
                with write(engine) as conn:
                    model.set_paused(conn, campaign.id, f"{campaign.channel}: {exc.message}", clock.now())
                report.paused = exc.message
                raise
            _loop(engine, campaign, channel, clock, max_wait, report)
        finally:
            channel.close()
    return report


def _loop(engine: Engine, campaign: Row, channel: Channel, clock: Clock, max_wait: float, report: SendReport) -> None:
    pace, ceiling = model.pace_of(campaign)
    recent_days = recent_days_of(campaign)
    renderer = MessageRenderer(campaign)
    try:
        with engine.connect() as conn:
            renderer.start_after(model.last_attempt(conn, campaign.id))
        wait_for = gap(pace, clock)
        while True:
            now = clock.now()
            with engine.connect() as conn:
                current = model.get(conn, campaign.name)
                if current.status != "active":
                    report.stopped = f"paused: {current.pause_reason or 'by you'}"
                    return
                planned = model.next_planned(conn, campaign.id)
                if not planned:
                    report.stopped = "done"
                    return
                budget = model.budget(conn, campaign, now)
            at, why = next_send_at(pace, ceiling, budget, now, wait_for)
            wait = (at - now).total_seconds()
            if wait > max_wait:
                report.stopped, report.next_at = f"{why} reached", at
                return
            if wait > 0:
                clock.sleep(wait)
                continue
            message = planned[0]
            try:
                variant, text = renderer.render(message)
            except TemplateError as exc:
                with write(engine) as conn:
                    model.set_paused(conn, campaign.id, f"the template failed for message {message.seq}: {exc.message}", now)
                report.paused = exc.message
                report.stopped = f"paused: {exc.message}"
                return
            if not channel.approve(outgoing(message, text)):  # before the claim: an interrupted prompt leaves it planned
                with write(engine) as conn:
                    model.skip(conn, message.id, "you declined to send it", clock.now())
                report.outcomes["skipped"] += 1
                renderer.forget(variant)
                continue
            now = clock.now()
            claimed = False
            with write(engine) as conn:
                current = model.get(conn, campaign.name)
                why_not = still_allowed(conn, message, current, now, recent_days) if current.status == "active" else None
                if why_not:
                    model.skip(conn, message.id, why_not, now)
                    report.outcomes["skipped"] += 1
                elif current.status == "active":
                    claimed = model.claim(conn, message.id, text=text, variant=variant, now=now)
            if not claimed:  # skipped, paused meanwhile, or taken: the next message rotates from the last one sent
                renderer.forget(variant)
                continue
            faults.hit("campaign.claimed")
            try:
                outcome = channel.send(outgoing(message, text))
            except AudienceError as exc:  # raised before anything went out (e.g. the server cannot be reached)
                outcome = Outcome("planned", reason=exc.message, pause=exc.message)
            faults.hit("campaign.sent")
            _record(engine, campaign, message, outcome, clock.now(), report)
            faults.hit("campaign.recorded")
            if outcome.state == "skipped":  # not delivered: the next one rotates from the last delivered
                renderer.forget()
            if report.paused:
                report.stopped = f"paused: {report.paused}"
                return
            wait_for = gap(pace, clock)
    finally:
        renderer.close()


def _record(engine: Engine, campaign: Row, message: Row, outcome: Outcome, now: dt.datetime, report: SendReport) -> None:
    with write(engine) as conn:
        model.finish(conn, message.id, state=outcome.state, now=now, provider_id=outcome.provider_id, reason=outcome.reason)
        pause = outcome.pause
        if pause is None and outcome.state == "failed" and outcome.bounce:
            failures = model.recent_failures(conn, campaign.id, BOUNCE_WINDOW)
            if failures >= BOUNCE_LIMIT:
                pause = f"bounce storm: {failures} of the last {BOUNCE_WINDOW} messages were refused (last: {outcome.reason})"
        if pause:
            model.set_paused(conn, campaign.id, pause, now)
            report.paused = pause
    report.outcomes["sent" if outcome.state == "sent" else outcome.state] += 1
    log.info("campaign %s: message %d to %s: %s%s", campaign.name, message.seq, message.address, outcome.state,
             f" ({outcome.reason})" if outcome.reason else "")


def _send_manual(engine: Engine, campaign: Row, clock: Clock, output: Path | None, report: SendReport) -> SendReport:
    if output is None:
        raise UsageError("a manual campaign writes the day's messages to a CSV file", hint="give -o FILE")
    pace, ceiling = model.pace_of(campaign)
    recent_days = recent_days_of(campaign)
    now = clock.now()
    with engine.connect() as conn:
        budget = model.budget(conn, campaign, now)
        renderer_last = model.last_attempt(conn, campaign.id)
    room = min(pace.per_day - len(budget.campaign), ceiling.per_day - len(budget.shared))
    if room <= 0:
        at, why = next_send_at(pace, ceiling, budget, now, 0.0)
        report.stopped, report.next_at = f"{why} reached", at
        return report
    renderer = MessageRenderer(campaign)
    claimed: list[tuple[Row, str]] = []

    def release(why: str, *, pause: bool) -> None:
        """Nothing was handed over: the claimed messages go back to `planned`."""
        with write(engine) as conn:
            for message, _ in claimed:
                model.finish(conn, message.id, state="planned", now=now)
            if pause:
                model.set_paused(conn, campaign.id, why, now)

    try:
        renderer.start_after(renderer_last)
        after = None
        while len(claimed) < room:
            with engine.connect() as conn:
                planned = model.next_planned(conn, campaign.id, after_seq=after)
            if not planned:
                break
            message = planned[0]
            after = message.seq
            try:
                variant, text = renderer.render(message)
            except TemplateError as exc:
                release(f"the template failed for message {message.seq}: {exc.message}", pause=True)
                report.paused = report.stopped = exc.message
                return report
            with write(engine) as conn:
                why_not = still_allowed(conn, message, campaign, now, recent_days)
                if why_not:
                    model.skip(conn, message.id, why_not, now)
                    report.outcomes["skipped"] += 1
                elif model.claim(conn, message.id, text=text, variant=variant, now=now):
                    claimed.append((message, text))
                    continue
            renderer.forget(variant)
    finally:
        renderer.close()
    if not claimed:
        report.stopped = "done"
        return report
    try:  # the consent each email row shows (read now: an opt-in recorded since the plan counts)
        with engine.connect() as conn:
            consents = email_consents(conn, [m.address for m, _ in claimed if m.channel == "email"])
    except Exception:
        release("", pause=False)
        raise
    faults.hit("campaign.claimed")
    try:
        with atomic_write(output, newline="") as fh:
            writer = SafeCsvWriter(fh)
            writer.writeheader(MANUAL_COLUMNS)
            for message, text in claimed:
                consent = consents.get(message.address, "unknown") if message.channel == "email" else ""
                writer.writerow([message.recipient or "", message.channel, message.address, consent, text, message.ref])
    except OSError as exc:  # atomic_write left no file behind
        release("", pause=False)
        raise InputError(f"cannot write {output}: {exc.strerror or exc}", hint="choose another -o FILE") from None
    faults.hit("campaign.sent")
    with write(engine) as conn:
        for message, _ in claimed:
            model.finish(conn, message.id, state="sent", now=now, provider_id="manual", reason=f"written to {output.name} to send by hand")
    faults.hit("campaign.recorded")
    report.outcomes["sent"] += len(claimed)
    report.output = str(output)
    with engine.connect() as conn:
        left = model.next_planned(conn, campaign.id)
    report.stopped = "done" if not left else "the day's list is written"
    if left:
        report.next_at = next_send_at(pace, ceiling, model.Budget(
            sorted([*budget.campaign, *[now] * len(claimed)]), sorted([*budget.shared, *[now] * len(claimed)])), now, 0.0)[0]
    return report


# ---------------------------------------------------------------------------------------------
# Preview and dry run (read only)


@dataclass
class Planned:
    seq: int
    recipient: str | None
    channel: str
    address: str
    reach: int | None
    variant: int
    text: str
    at: dt.datetime | None = None


def preview(engine: Engine, name: str, *, limit: int = 5, clock: Clock | None = None, with_times: bool = False) -> tuple[Row, list[Planned]]:
    """The next `limit` planned messages as they would go out (and, with times, when)."""
    clock = clock or default_clock()
    with engine.connect() as conn:
        campaign = model.get(conn, name)
        planned = model.next_planned(conn, campaign.id, limit=max(0, limit))
        last = model.last_attempt(conn, campaign.id)
        budget = model.budget(conn, campaign, clock.now())
    renderer = MessageRenderer(campaign)
    out: list[Planned] = []
    try:
        renderer.start_after(last)
        for message in planned:
            variant, text = renderer.render(message)
            out.append(Planned(message.seq, message.recipient, message.channel, message.address, message.reach, variant, text))
    finally:
        renderer.close()
    if with_times and out:
        pace, ceiling = model.pace_of(campaign)
        if campaign.channel == "manual":
            pace = ceiling = model.Pace(pace.per_day, pace.per_day, 0.0)
        for p, at in zip(out, schedule(pace, ceiling, budget, clock.now(), len(out))):
            p.at = at
    return campaign, out


def status(engine: Engine, name: str, *, clock: Clock | None = None) -> dict:
    """The campaign and every message's state: who got what."""
    clock = clock or default_clock()
    now = clock.now()
    with engine.connect() as conn:
        campaign = model.get(conn, name)
        counts = model.counts(conn, campaign.id)
        budget = model.budget(conn, campaign, now)
        rows = conn.execute(
            select(CampaignMessage.__table__).where(CampaignMessage.campaign_id == campaign.id).order_by(CampaignMessage.seq)
        ).all()
    pace, ceiling = model.pace_of(campaign)
    next_at = None
    if campaign.status == "active" and counts.get("planned"):
        next_at = next_send_at(pace, ceiling, budget, now, pace.min_interval)[0]
    settings = campaign.settings or {}
    return {
        "name": campaign.name,
        "channel": campaign.channel,
        "sender": campaign.sender,
        "target": campaign.target,
        "link": campaign.link,
        "filters": settings.get("filters_description"),
        "status": campaign.status,
        "pause_reason": campaign.pause_reason,
        "paused_at": _iso(campaign.paused_at),
        "created_at": _iso(campaign.created_at),
        "pace": {"per_day": campaign.per_day, "per_hour": campaign.per_hour, "min_interval_seconds": campaign.min_interval},
        "sent_last_24h": len(budget.campaign),
        "counts": {state: counts.get(state, 0) for state in model.MESSAGE_STATES},
        "total": sum(counts.values()),
        "next_send_at": _iso(next_at),
        "messages": [
            {
                "seq": r.seq, "person_id": r.person_id, "recipient": r.recipient, "channel": r.channel, "address": r.address,
                "state": r.state, "variant": None if r.variant is None else r.variant + 1, "ref": r.ref,
                "reach": r.reach, "sent_at": _iso(r.finished_at if r.state == "sent" else None),
                "claimed_at": _iso(r.claimed_at), "finished_at": _iso(r.finished_at), "provider_id": r.provider_id,
                "reason": r.reason, "attempts": r.attempts,
            }
            for r in rows
        ],
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z") if value else None


def lookup_ref(engine: Engine, ref: str) -> dict | None:
    """Which campaign and person a `ref` code belongs to (to credit a sign-up)."""
    from backup.db.models import Campaign

    with engine.connect() as conn:
        row = conn.execute(
            select(Campaign.name, CampaignMessage.person_id, CampaignMessage.address, CampaignMessage.state)
            .join(Campaign, Campaign.id == CampaignMessage.campaign_id)
            .where(CampaignMessage.ref == ref.strip().lower())
        ).first()
    return None if row is None else {"campaign": row.name, "person_id": row.person_id, "address": row.address, "state": row.state}
