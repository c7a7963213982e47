"""`audience campaign create | list | preview | send | status | pause | resume | retry-unknown` (SPEC §8)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.table import Table

from exporters.campaigns.pacing import CHANNELS
from exporters.selection import (
    AccountOpt,
    KindOpt,
    NotOnOpt,
    PlatformOpt,
    ReachableOnlyOpt,
    TagOpt,
    filters_from,
)

from ..errors import InputError, TransientError, UsageError
from .common import emit_json, state, stderr, stdout

app = typer.Typer(help="Invite campaigns: bring your audience to a channel you control, at a safe pace.", no_args_is_help=True)

MAX_TEMPLATE_BYTES = 64 * 1024
TemplateOpt = typer.Option(..., "--template", metavar="FILE",
                           help="The message: Jinja2 with name, first_name, handle, platform, link, ref; variants separated by a line ---.")
OutputOpt = typer.Option(None, "-o", "--output", metavar="FILE", help="Manual campaigns: the CSV of the day's messages.")
# The campaign modules (SMTP, Jinja2 worker, connectors) load only when a campaign command runs:
# every other command starts without them.


def _engine(ctx: typer.Context, *, linked: bool = False):
    engine = state(ctx).engine()
    if linked:
        from ..people.link import ensure_linked

        ensure_linked(engine)
    return engine


def _read_template(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_TEMPLATE_BYTES:
            raise InputError(f"{path}: a template of {path.stat().st_size:,} bytes is too large (limit {MAX_TEMPLATE_BYTES:,})")
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", hint="write the message in a text file; separate variants with a line ---") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror}") from None


def _env(value: str | None, variable: str) -> str | None:
    return value if value is not None else (os.environ.get(variable) or None)


@app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="A name for the campaign."),
    channel: str = typer.Option(..., "--channel", help=f"How to reach people: {' | '.join(CHANNELS)}."),
    template: Path = TemplateOpt,
    link: str | None = typer.Option(None, "--link", metavar="URL", help="Where to invite people; each gets it with a unique ?ref= code."),
    tag: TagOpt = None,
    platform: PlatformOpt = None,
    account: AccountOpt = None,
    kind: KindOpt = None,
    not_on: NotOnOpt = None,
    reachable_only: ReachableOnlyOpt = False,
    per_day: int | None = typer.Option(None, "--per-day", metavar="N", help="At most N messages a day (only lower than the channel's budget)."),
    per_hour: int | None = typer.Option(None, "--per-hour", metavar="N", help="At most N messages an hour (only lower than the channel's budget)."),
    sender_: str | None = typer.Option(None, "--sender", metavar="ACCOUNT|ADDRESS",
                                          help="The account that sends (platform:handle), or for email the From address."),
    smtp: str | None = typer.Option(None, "--smtp", metavar="URL", help="Email: smtp://user@host:587 (STARTTLS) or smtps://user@host:465."),
    smtp_password_env: str | None = typer.Option(None, "--smtp-password-env", metavar="VAR",
                                                    help="Email: NAME of the variable with the SMTP password (default AUDIENCE_SMTP_PASSWORD)."),
    subject: str | None = typer.Option(None, "--subject", help="Email: the subject, unless each variant starts with `Subject: ...`."),
    from_name: str | None = typer.Option(None, "--from-name", help="Email: the name shown as sender."),
    postal_address: str | None = typer.Option(None, "--postal-address", help="Email: your postal address for the footer (default AUDIENCE_POSTAL_ADDRESS)."),
    unsubscribe_url: str | None = typer.Option(None, "--unsubscribe-url", metavar="URL",
                                                  help="Email: https one-click unsubscribe address ({ref} is replaced; default AUDIENCE_UNSUBSCRIBE_URL)."),
    unsubscribe_mailto: str | None = typer.Option(None, "--unsubscribe-mailto", metavar="ADDRESS",
                                                     help="Email: where unsubscribe mails go (default AUDIENCE_UNSUBSCRIBE_MAILTO, else the sender)."),
    include_unconsented: bool = typer.Option(False, "--include-unconsented",
                                             help="Manual only: also list email addresses with no recorded opt-in (a LinkedIn export, a bio), "
                                                  "for personal invitations you send by hand. Refused for every other channel: "
                                                  "email goes to recorded opt-ins only. Read the README first."),
    enable_x_dms: bool = typer.Option(False, "--enable-x-dms", help="X: allow DMs at all (each one confirmed by you, at most 20 a day)."),
    target: str | None = typer.Option(None, "--target", help="What the campaign invites to (default: the link's host and path)."),
    recent_days: int | None = typer.Option(None, "--recent-days", metavar="N",
                                              help="Leave out people another campaign for the same target reached in the last N days "
                                                   "(default AUDIENCE_CAMPAIGN_RECENT_DAYS, else 90)."),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Create a campaign: choose who, check the template, and plan one message per person (nothing is sent)."""
    from exporters.campaigns import model, plan, sender

    days = recent_days if recent_days is not None else _env(None, "AUDIENCE_CAMPAIGN_RECENT_DAYS")
    try:
        days = int(days) if days is not None else model.DEFAULT_RECENT_DAYS
    except ValueError:
        raise UsageError("AUDIENCE_CAMPAIGN_RECENT_DAYS is not a number") from None
    opts = plan.CreateOptions(
        name=name, channel=channel, template=_read_template(template), link=link, target=target,
        filters=filters_from(tag, platform, account, kind, not_on, reachable_only),
        per_day=per_day, per_hour=per_hour, sender=sender_, smtp=smtp, smtp_password_env=smtp_password_env,
        subject=subject, from_name=from_name,
        postal_address=_env(postal_address, "AUDIENCE_POSTAL_ADDRESS"),
        unsubscribe_url=_env(unsubscribe_url, "AUDIENCE_UNSUBSCRIBE_URL"),
        unsubscribe_mailto=_env(unsubscribe_mailto, "AUDIENCE_UNSUBSCRIBE_MAILTO"),
        include_unconsented=include_unconsented, enable_x=enable_x_dms, recent_days=days,
    )
    created = plan.create_campaign(_engine(ctx, linked=True), opts, clock=sender.default_clock())
    a = created.audience
    if json_:
        emit_json({
            "name": created.name, "channel": created.channel, "sender": created.sender, "target": created.target,
            "planned": len(a.recipients), "selected": a.selected, "excluded": dict(a.excluded), "variants": created.variants,
            "pace": {"per_day": created.pace.per_day, "per_hour": created.pace.per_hour, "min_interval_seconds": created.pace.min_interval},
        })
    else:
        out = stdout()
        out.print(
            f"campaign {created.name}: {len(a.recipients):,} messages planned by {created.channel}"
            f"{' from ' + created.sender if created.sender else ''} ({created.variants} variants); "
            f"{a.selected:,} persons matched {opts.filters.describe()}",
            markup=False,
        )
        out.print(f"left out: {a.describe_excluded()}", markup=False)
        out.print(
            f"pace: at most {created.pace.per_day}/day and {created.pace.per_hour}/hour, "
            f"{created.pace.min_interval:g} s or more apart; nothing is sent yet",
            markup=False,
        )
        out.print(f"next: audience campaign preview {created.name}", markup=False)
    if opts.include_unconsented and not state(ctx).quiet:
        stderr().print(
            "warning: --include-unconsented: these addresses never opted in to your mail (a LinkedIn export or a bio is not "
            "consent). Send only a personal, one-time invitation, honour every opt-out, and check the law where they live.",
            markup=False,
        )


@app.command("list")
def list_(ctx: typer.Context, json_: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """List campaigns with their state counts."""
    from sqlalchemy import select

    from exporters.campaigns import sender

    from ..db.models import Campaign

    engine = _engine(ctx)
    with engine.connect() as conn:
        names = list(conn.execute(select(Campaign.name).order_by(Campaign.id)).scalars())
    docs = [sender.status(engine, n) for n in names]
    if json_:
        emit_json([{k: d[k] for k in ("name", "channel", "sender", "status", "pause_reason", "counts", "total")} for d in docs])
        return
    if not docs:
        stdout().print("no campaigns yet: `audience campaign create NAME --channel ... --template FILE`", markup=False)
        return
    table = Table("name", "channel", "status", "planned", "sent", "failed", "skipped", "unknown")
    for d in docs:
        c = d["counts"]
        table.add_row(d["name"], d["channel"], d["status"], *(str(c[s]) for s in ("planned", "sent", "failed", "skipped", "unknown")))
    stdout().print(table)


@app.command("preview")
def preview(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The campaign."),
    limit: int = typer.Option(5, "--limit", metavar="N", help="How many of the next messages to show."),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Show the next messages exactly as they would go out (nothing is sent)."""
    from exporters.campaigns import sender

    campaign, planned = sender.preview(_engine(ctx), name, limit=limit)
    if json_:
        emit_json([
            {"seq": p.seq, "recipient": p.recipient, "channel": p.channel, "address": p.address, "variant": p.variant + 1, "text": p.text}
            for p in planned
        ])
        return
    out = stdout()
    if not planned:
        out.print(f"campaign {campaign.name}: no planned messages left", markup=False)
        return
    for p in planned:
        out.print(f"--- #{p.seq} to {p.recipient or '?'} <{p.address}> by {p.channel}, variant {p.variant + 1}", markup=False)
        out.print(p.text, markup=False)
    out.print("---", markup=False)


def _confirm_x(message) -> bool:
    sys.stderr.write(f"\nto {message.recipient or message.address} (@{message.address}) on X:\n{message.text}\n")
    return typer.confirm("send this DM?", default=False, err=True)


@app.command("send")
def send(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The campaign."),
    send_: bool = typer.Option(False, "--send", help="Really send. Without it: a dry run that shows what would go out and when."),
    output: Path | None = OutputOpt,
    limit: int = typer.Option(20, "--limit", metavar="N", help="Dry run: how many of the next messages to list."),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Send what the pace allows now; stops on the first sign of trouble and pauses the campaign."""
    from exporters.campaigns import sender

    engine = _engine(ctx)
    if not send_:
        campaign, planned = sender.preview(engine, name, limit=limit, with_times=True)
        if json_:
            emit_json({"campaign": campaign.name, "dry_run": True, "status": campaign.status, "messages": [
                {"seq": p.seq, "recipient": p.recipient, "address": p.address, "channel": p.channel,
                 "variant": p.variant + 1, "at": sender._iso(p.at)} for p in planned]})
            return
        out = stdout()
        if campaign.status != "active":
            out.print(f"campaign {campaign.name} is paused: {campaign.pause_reason or 'by you'}", markup=False)
        table = Table("#", "to", "address", "variant", "at (UTC)")
        for p in planned:
            table.add_row(str(p.seq), p.recipient or "", p.address, str(p.variant + 1), p.at.strftime("%Y-%m-%d %H:%M") if p.at else "")
        out.print(table if planned else f"campaign {campaign.name}: nothing left to send")
        out.print("dry run: nothing was sent; add --send to send (times are the earliest the pace allows)", markup=False)
        return
    confirm = _confirm_x if sys.stdin.isatty() else None
    report = sender.send(engine, name, confirm=confirm, output=output)
    c = report.outcomes
    if json_:
        emit_json({"campaign": report.campaign, "sent": c["sent"], "failed": c["failed"], "skipped": c["skipped"],
                   "unknown": c["unknown"] + report.recovered, "deferred": c["planned"], "recovered_unknown": report.recovered,
                   "paused": report.paused, "stopped": report.stopped, "next_at": sender._iso(report.next_at), "output": report.output})
    else:
        out = stdout()
        if report.recovered:
            out.print(f"{report.recovered} message(s) were being sent when a previous run stopped: marked unknown "
                      f"(see `audience campaign status {report.campaign}`; `campaign retry-unknown` sends them again)", markup=False)
        line = f"campaign {report.campaign}: {c['sent']} sent, {c['failed']} failed, {c['skipped']} skipped"
        if c["unknown"]:
            line += f", {c['unknown']} unknown"
        out.print(line + (f"; written to {report.output}" if report.output else ""), markup=False)
        if report.done:
            out.print("every planned message is done", markup=False)
        elif report.next_at and not report.paused:
            out.print(f"{report.stopped}: the next message may go at {sender._iso(report.next_at)}; run this again then", markup=False)
    if report.paused:
        raise TransientError(
            f"campaign {report.campaign} paused: {report.paused}",
            hint=f"nothing more is sent until you run `audience campaign resume {report.campaign}`",
        )


@app.command("status")
def status(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The campaign."),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Where a campaign stands: counts by state, why it paused, and who got what."""
    from exporters.campaigns import model, sender

    doc = sender.status(_engine(ctx), name)
    if json_:
        emit_json(doc)
        return
    out = stdout()
    c = doc["counts"]
    out.print(f"campaign {doc['name']} ({doc['channel']}{' from ' + doc['sender'] if doc['sender'] else ''}, to {doc['target']}): "
              f"{doc['status']}" + (f" since {doc['paused_at']}: {doc['pause_reason']}" if doc["status"] == "paused" else ""), markup=False)
    out.print(", ".join(f"{c[s]} {s}" for s in model.MESSAGE_STATES) + f" of {doc['total']}; "
              f"{doc['sent_last_24h']} in the last 24 h (at most {doc['pace']['per_day']}/day, {doc['pace']['per_hour']}/hour)", markup=False)
    if doc["next_send_at"]:
        out.print(f"next message may go at {doc['next_send_at']}", markup=False)
    if c["sending"]:
        out.print(f"{c['sending']} in `sending`: a sender is running, or one stopped mid-send (the next send marks them unknown)", markup=False)
    if c["unknown"]:
        out.print(f"{c['unknown']} unknown: may or may not have gone out; `audience campaign retry-unknown {doc['name']}` sends them again",
                  markup=False)
    table = Table("#", "to", "address", "state", "variant", "when", "ref", "note")
    for m in doc["messages"]:
        if m["state"] == "planned":
            continue
        table.add_row(str(m["seq"]), m["recipient"] or "", m["address"], m["state"], str(m["variant"] or ""),
                      (m["finished_at"] or m["claimed_at"] or "")[:16], m["ref"], (m["reason"] or "")[:80])
    if table.rows:
        out.print(table)


@app.command("pause")
def pause(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The campaign."),
    reason: str = typer.Option("paused by you", "--reason", help="Why (shown by status)."),
) -> None:
    """Stop sending until `campaign resume` (a running send stops before its next message)."""
    from exporters.campaigns import model, sender

    campaign = model.pause(_engine(ctx), name, reason, sender.default_clock().now())
    stdout().print(f"campaign {campaign.name} paused", markup=False)


@app.command("resume")
def resume(ctx: typer.Context, name: str = typer.Argument(..., help="The campaign.")) -> None:
    """Allow sending again after a pause (check `campaign status` for why it paused first)."""
    from exporters.campaigns import model

    engine = _engine(ctx)
    with engine.connect() as conn:
        before = model.get(conn, name)
    campaign = model.resume(engine, name)
    said = f" (it was paused: {before.pause_reason})" if before.status == "paused" and before.pause_reason else ""
    stdout().print(f"campaign {campaign.name} resumed{said}; `audience campaign send {campaign.name} --send` continues", markup=False)


@app.command("retry-unknown")
def retry_unknown(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The campaign."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Plan the `unknown` messages (a crash hid whether they went out) to be sent again."""
    from exporters.campaigns import model, sender
    from exporters.campaigns.lock import campaign_lock

    engine = _engine(ctx)
    with engine.connect() as conn:
        campaign = model.get(conn, name)
    with campaign_lock(engine, campaign.id, campaign.name):
        model.recover_sending(engine, campaign.id, sender.default_clock().now())
        with engine.connect() as conn:
            unknown = model.counts(conn, campaign.id).get("unknown", 0)
        if not unknown:
            stdout().print(f"campaign {campaign.name}: no unknown messages", markup=False)
            return
        if not yes:
            same_key = " (Mastodon drops a repeat within an hour: same Idempotency-Key)" if campaign.channel == "mastodon" else ""
            typer.confirm(f"{unknown} message(s) may already have reached their recipient{same_key}. Send them again?",
                          abort=True, err=True)
        count = model.retry_unknown(engine, campaign.id)
    stdout().print(f"campaign {campaign.name}: {count} message(s) planned again; `audience campaign send {campaign.name} --send` sends them",
                   markup=False)
