"""`campaign create`: check everything that can be checked before anyone gets a message,
choose the audience, and store one `planned` message per recipient.

Checked here, so that a mistake shows up now and not at the 37th send: the template (syntax,
at least two variants on the platforms, every variant rendered once for a real recipient
within the caps and the channel's length limit, an email subject), the link, the pace
(never above the channel's budget), the channel's settings (the sending account and its
credential variable; SMTP URL, sender, postal address and unsubscribe addresses for email;
X only when enabled), consent (email goes only to recorded opt-ins: ``--include-unconsented``
is refused for every channel but ``manual``, reliability check 35).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import Engine, select

from backup.accounts import resolve as resolve_account
from backup.db import orm
from backup.db.engine import write
from backup.db.models import Account
from backup.errors import ConfigError, UsageError
from exporters.selection import Filters

from . import model
from .audience import SOCIAL, Audience, Recipient, select_audience
from .channels.email import (
    DEFAULT_PASSWORD_ENV,
    parse_smtp_url,
    sender_domain,
)
from .pacing import CHANNELS, Clock, Pace, pace_for
from .templates import Renderer, TemplateError, split_subject, split_variants

MIN_SOCIAL_VARIANTS = 2  # identical DMs are the classic spam signal
SAMPLE = Recipient(0, "Ada Example", "email", "ada@example.org", None, 0)
# A platform's message length, for the create-time check (the channels check each message too).
LENGTH_LIMITS = {"mastodon": 500, "bluesky": 1000, "x": 10_000}


@dataclass
class CreateOptions:
    name: str
    channel: str
    template: str  # the template file's text
    link: str | None = None
    target: str | None = None
    filters: Filters = field(default_factory=Filters)
    per_day: int | None = None
    per_hour: int | None = None
    sender: str | None = None  # ACCOUNT for the platforms, the From address for email
    smtp: str | None = None
    smtp_password_env: str | None = None
    subject: str | None = None
    from_name: str | None = None
    postal_address: str | None = None
    unsubscribe_url: str | None = None
    unsubscribe_mailto: str | None = None
    include_unconsented: bool = False  # `manual` only: refused for every other channel (check 35)
    enable_x: bool = False
    recent_days: int = model.DEFAULT_RECENT_DAYS


@dataclass
class Created:
    id: int
    name: str
    channel: str
    target: str
    sender: str | None
    pace: Pace
    audience: Audience
    variants: int


def context_for(recipient_name: str | None, handle: str | None, channel: str, link: str | None, ref: str) -> dict:
    """The fields a template sees."""
    name = recipient_name or ""
    return {
        "name": name,
        "first_name": name.split()[0] if name.split() else "",
        "handle": handle or "",
        "platform": channel,
        "link": model.with_ref(link, ref) or "",
        "ref": ref,
    }


def _check_email_address(value: str, option: str) -> str:
    from backup.people.extract import normalize_email

    value = (value or "").strip()
    if not normalize_email(value) or any(ch in value for ch in "\r\n<>,;\" "):
        raise UsageError(f"{option} {value!r} is not an email address")
    return value


def _email_settings(opts: CreateOptions, variants: list[str]) -> tuple[str, dict]:
    if not opts.sender:
        raise UsageError("an email campaign needs --sender ADDRESS (the From address)")
    sender = _check_email_address(opts.sender, "--sender")
    if not opts.smtp:
        raise UsageError("an email campaign needs --smtp smtp://user@host:587", hint="the password comes from AUDIENCE_SMTP_PASSWORD")
    smtp = parse_smtp_url(opts.smtp)
    if not opts.postal_address or not opts.postal_address.strip():
        raise UsageError(
            "an email campaign needs your postal address for the footer (CAN-SPAM)",
            hint="give --postal-address '...' or set AUDIENCE_POSTAL_ADDRESS",
        )
    unsubscribe_url = opts.unsubscribe_url
    if unsubscribe_url:
        parts = urlsplit(unsubscribe_url)
        if parts.scheme != "https" or not parts.hostname or any(ch.isspace() for ch in unsubscribe_url):
            raise UsageError("--unsubscribe-url must be an https URL (RFC 8058 one-click)")
    mailto = _check_email_address(opts.unsubscribe_mailto, "--unsubscribe-mailto") if opts.unsubscribe_mailto else sender
    if not opts.subject and not all(split_subject(v)[0] for v in variants):
        raise UsageError("the email needs a subject", hint="start each variant with a line `Subject: ...`, or give --subject")
    settings = {
        "smtp": smtp, "smtp_password_env": opts.smtp_password_env or DEFAULT_PASSWORD_ENV, "subject": opts.subject,
        "from_name": opts.from_name, "postal_address": opts.postal_address.strip(), "unsubscribe_url": unsubscribe_url,
        "unsubscribe_mailto": mailto,
    }
    return sender, settings


def _account(engine: Engine, channel: str, ref: str | None) -> Account:
    with engine.connect() as conn:
        if ref:
            account = resolve_account(conn, ref)
            if account.platform != channel:
                raise UsageError(f"--sender {ref}: that is a {account.platform} account, not {channel}")
        else:
            accounts = list(orm(conn).execute(select(Account).where(Account.platform == channel).order_by(Account.id)).scalars())
            if len(accounts) != 1:
                listed = ", ".join(a.ref for a in accounts)
                raise UsageError(
                    f"which {channel} account sends? " + (f"there are several: {listed}" if accounts else f"no {channel} account is registered"),
                    hint=f"give --sender {channel}:HANDLE" if accounts else f"add it: audience accounts add {channel} HANDLE --token-env VAR",
                )
            account = accounts[0]
    if not account.token_env:
        raise ConfigError(
            f"{account.ref} has no credential variable to send with",
            hint="add it again with --token-env VAR (Bluesky: an app password allowed to send direct messages)",
        )
    return account


def _trial(variants: list[str], opts: CreateOptions, recipients: list[Recipient]) -> None:
    """Render every variant once, for the first recipient (or a sample), within the caps."""
    sample = recipients[0] if recipients else dataclasses.replace(SAMPLE, channel=opts.channel)
    handle = sample.address if sample.channel in SOCIAL else ""
    context = context_for(sample.name, handle, sample.channel, opts.link, "abcdefghjk")
    limit = LENGTH_LIMITS.get(opts.channel)
    with Renderer(variants) as renderer:
        for i in range(len(variants)):
            text = renderer.render(i, context)
            if not text.strip():
                raise TemplateError(f"template variant {i + 1} renders empty")
            if limit is not None:
                mention = len(sample.address) + 2 if opts.channel == "mastodon" else 0
                if len(text) + mention > limit:
                    raise TemplateError(
                        f"template variant {i + 1} renders {len(text) + mention} characters for {sample.name or 'the first recipient'}; "
                        f"{opts.channel} allows {limit}",
                    )


def create_campaign(engine: Engine, opts: CreateOptions, *, clock: Clock | None = None) -> Created:
    clock = clock or Clock()
    name = model.check_name(opts.name)
    channel = opts.channel.lower()
    if channel not in CHANNELS:
        raise UsageError(f"--channel {opts.channel!r}: one of {', '.join(CHANNELS)}")
    if channel == "x" and not opts.enable_x:
        raise UsageError(
            "automated X DMs are off: X forbids bulk or automated direct messages",
            hint="to send a few, each confirmed by you, add --enable-x-dms (at most 20 a day, 2 min apart)",
        )
    if opts.include_unconsented and channel != "manual":
        # Reliability check 35: automated email goes only to recorded opt-ins, with no override.
        raise UsageError(
            f"--include-unconsented is refused for --channel {channel}: "
            + ("a campaign emails only addresses with a recorded opt-in (a LinkedIn connection is not permission)"
               if channel == "email" else "it only lists email addresses without an opt-in in a manual campaign"),
            hint="use --channel manual --include-unconsented to write personal invitations that you send by hand from your own mailbox",
        )
    if opts.recent_days < 0:
        raise UsageError("--recent-days must be 0 or more")
    variants = split_variants(opts.template)
    if channel in SOCIAL and len(variants) < MIN_SOCIAL_VARIANTS:
        raise TemplateError(
            f"a {channel} campaign needs at least {MIN_SOCIAL_VARIANTS} variants of the message",
            hint="write the message two or more ways, separated by a line ---; identical messages are what gets accounts flagged",
        )
    Renderer(variants)  # syntax check of every variant (starts no worker)
    link = model.check_link(opts.link)
    pace = pace_for(channel, opts.per_day, opts.per_hour)
    settings: dict = {"recent_days": opts.recent_days, "include_unconsented": bool(opts.include_unconsented),
                      "filters_description": opts.filters.describe()}
    account_id = None
    if channel == "email":
        sender, email_settings = _email_settings(opts, variants)
        settings.update(email_settings)
        budget_key = f"email:{sender_domain(sender)}"
    elif channel in SOCIAL:
        account = _account(engine, channel, opts.sender)
        sender, account_id, budget_key = account.ref, account.id, f"{channel}:{account.ref}"
        settings["x_enabled"] = channel == "x"
    else:
        sender, budget_key = opts.sender, "manual"
    target = opts.target.strip() if opts.target and opts.target.strip() else model.target_of(link, name)
    now = clock.now()
    with engine.connect() as conn:
        audience = select_audience(
            conn, channel=channel, filters=opts.filters, target=target, recent_days=opts.recent_days, now=now,
            include_unconsented=opts.include_unconsented,
        )
    _trial(variants, dataclasses.replace(opts, link=link, channel=channel), audience.recipients)
    spec = model.NewCampaign(
        name=name, channel=channel, template=opts.template, link=link, target=target,
        filters=dataclasses.asdict(opts.filters), sender=sender, account_id=account_id, budget_key=budget_key,
        pace=pace, settings=settings,
    )
    with write(engine) as conn:
        campaign_id = model.insert_campaign(conn, spec, audience.recipients, now)
    return Created(campaign_id, name, channel, target, sender, pace, audience, len(variants))


def filters_of(stored: dict) -> Filters:
    return Filters(**{k: tuple(v) if isinstance(v, list) else v for k, v in (stored or {}).items() if k in Filters.__dataclass_fields__})


def recent_days_of(campaign) -> int:
    value = (campaign.settings or {}).get("recent_days")
    return int(value) if isinstance(value, int) else model.DEFAULT_RECENT_DAYS
