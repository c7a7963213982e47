"""Campaigns end to end at the library level, on SQLite and PostgreSQL, against local providers:
exact recipients, variants, pace on a fake clock, stop on 429 and on a bounce storm, opt-outs
mid-campaign, retry of `unknown`, the manual CSV, X only when enabled and confirmed."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools

import pytest
from sqlalchemy import Engine, delete, insert, select, update

from backup.db.engine import write
from backup.db.models import (
    Account,
    CampaignMessage,
    ContactPoint,
    Person,
    Profile,
    Suppression,
)
from backup.errors import ConfigError, InputError, LockBusy, UsageError
from exporters.campaigns import model, plan, sender
from exporters.campaigns.lock import campaign_lock
from exporters.campaigns.pacing import CHANNEL_PACE
from exporters.campaigns.templates import TemplateError
from tests.exports.world import T0

from .conftest import record_opt_in, set_account
from .fakes import XDM, BlueskyChat, MastodonDM, Reply

TWO_VARIANTS = "Hi {{ first_name }}! Come along: {{ link }}\n---\nHello {{ name }}, I moved here: {{ link }}\n"
EMAIL_TEMPLATE = "Subject: My newsletter\nHi {{ first_name }}, join me: {{ link }}\n---\nSubject: A letter from me\nHello {{ name }}: {{ link }}\n"
MASTO_TOKEN = "masto-secret-token-123"
BSKY_PASSWORD = "abcd-efgh-ijkl-mnop"


def options(**kw) -> plan.CreateOptions:
    base = {"name": "invite", "channel": "email", "template": EMAIL_TEMPLATE, "link": "https://letters.example/join"}
    return plan.CreateOptions(**{**base, **kw})


def email_options(smtp_url: str, **kw) -> plan.CreateOptions:
    return options(sender="ana@ana.example", smtp=smtp_url, postal_address="Ana Example, 1 Main St, Springfield",
                   unsubscribe_url="https://letters.example/unsubscribe?r={ref}", **kw)


def messages(engine: Engine, name: str) -> list:
    with engine.connect() as conn:
        campaign = model.get(conn, name)
        return conn.execute(select(CampaignMessage.__table__).where(CampaignMessage.campaign_id == campaign.id)
                            .order_by(CampaignMessage.seq)).all()


def add_people(engine: Engine, platform: str, n: int, *, start: int = 100) -> list[str]:
    """n persons with one profile each on `platform`, followers_count rising with the number."""
    keys = []
    with write(engine) as conn:
        for i in range(start, start + n):
            if platform == "bluesky":
                key, handle = f"did:plc:{i:024d}", f"p{i}.bsky.social"
            else:
                key = handle = f"p{i}@remote.example"
            conn.execute(insert(Person).values(id=i, name=f"Person {i}", created_at=T0))
            conn.execute(insert(Profile).values(platform=platform, platform_id=key, handle=handle, display_name=f"Person {i}",
                                                followers_count=i * 10, person_id=i, first_seen_at=T0, updated_at=T0))
            keys.append(key)
    return keys


@pytest.fixture
def masto(store: Engine, fake_clock, monkeypatch):
    fake = MastodonDM(token=MASTO_TOKEN, known={"bo@fosstodon.org", "fay@mastodon.social"}, clock=fake_clock)
    monkeypatch.setenv("MASTO_TOKEN", MASTO_TOKEN)
    set_account(store, 2, token_env="MASTO_TOKEN", server=fake.url)
    yield fake
    fake.close()


@pytest.fixture
def bsky(store: Engine, fake_clock, monkeypatch):
    fake = BlueskyChat(handle="ana.example.com", password=BSKY_PASSWORD, dids={"fay.example.com": "did:plc:fayfayfayfayfayfayfayfayf"},
                       clock=fake_clock)
    monkeypatch.setenv("BSKY_APP_PASSWORD", BSKY_PASSWORD)
    set_account(store, 4, server=fake.url)
    yield fake
    fake.close()


# ---------------------------------------------------------------------------------------------
# Who


def test_email_audience_is_exactly_the_opted_in_addresses(store: Engine, clock, smtp):
    created = plan.create_campaign(store, email_options(smtp.url), clock=clock)
    assert [(r.person_id, r.address) for r in created.audience.recipients] == [(1, "ada@example.org"), (6, "hostile@example.org")]
    # Cy (unsubscribed), Di (suppressed), Ed (unsubscribed on one list wins), Gus (handle suppressed)
    assert created.audience.excluded == {"opted_out": 4, "unconsented": 1, "no_address": 1}
    # Bo's address is from his bio: no email until he opts in, and no override (check 35)
    with pytest.raises(UsageError, match="recorded opt-in") as refused:
        plan.create_campaign(store, email_options(smtp.url, name="wider", include_unconsented=True), clock=clock)
    assert "--channel manual" in refused.value.hint
    record_opt_in(store, 2, "bo@bo.example")  # he signs up
    wider = plan.create_campaign(store, email_options(smtp.url, name="wider"), clock=clock)
    assert [r.address for r in wider.audience.recipients] == ["ada@example.org", "bo@bo.example", "hostile@example.org"]
    assert wider.audience.excluded == {"opted_out": 4, "no_address": 1}
    assert [m.address for m in messages(store, "wider")] == ["ada@example.org", "bo@bo.example", "hostile@example.org"]
    assert len({m.ref for m in messages(store, "wider")} | {m.ref for m in messages(store, "invite")}) == 5


def test_no_email_without_a_recorded_opt_in_and_no_override(engine: Engine, clock, smtp):
    """Check 35: people whose only addresses are `unknown` (a LinkedIn export, a bio) get no
    email; the override is refused; and the claim checks the opt-in again before each send."""
    with write(engine) as conn:
        for i, (address, consent, source) in enumerate([
            ("carmen@example.com", "unknown", "Connections.csv"), ("wei@example.org", "unknown", "Connections.csv"),
            ("bio@example.net", None, "profile:bio"),
        ], start=1):
            conn.execute(insert(Person).values(id=i, name=f"Connection {i}", created_at=T0))
            conn.execute(insert(Profile).values(platform="linkedin", platform_id=f"in-{i}", display_name=f"Connection {i}",
                                                person_id=i, first_seen_at=T0, updated_at=T0))
            conn.execute(insert(ContactPoint).values(platform="linkedin", platform_id=f"in-{i}", kind="email", value=address,
                                                     source=source, consent=consent, created_at=T0))
    created = plan.create_campaign(engine, email_options(smtp.url), clock=clock)
    assert created.audience.recipients == [] and created.audience.selected == 3
    assert created.audience.excluded == {"unconsented": 3}
    assert "3 only emails with no recorded opt-in" in created.audience.describe_excluded()
    assert messages(engine, "invite") == []
    assert sender.send(engine, "invite", clock=clock).outcomes == {} and smtp.messages == []
    for channel, kw in (("email", {}), ("mastodon", {"template": TWO_VARIANTS}), ("bluesky", {"template": TWO_VARIANTS})):
        with pytest.raises(UsageError, match=f"refused for --channel {channel}") as refused:
            plan.create_campaign(engine, email_options(smtp.url, name=f"override-{channel}", channel=channel,
                                                       include_unconsented=True, **kw), clock=clock)
        assert "--channel manual" in refused.value.hint and "by hand" in refused.value.hint
    with engine.connect() as conn:
        assert conn.execute(select(CampaignMessage.id)).first() is None
    # A manual campaign may list them, for personal invitations sent by hand.
    manual = plan.create_campaign(engine, options(name="by-hand", channel="manual", template="Hi {{ name }}",
                                                  include_unconsented=True), clock=clock)
    assert sorted(r.address for r in manual.audience.recipients) == ["bio@example.net", "carmen@example.com", "wei@example.org"]
    # An opt-in that was planned for and then withdrawn (recorded by mistake) stops the message at the claim.
    record_opt_in(engine, 1, "carmen@example.com", source="event-signup.csv")
    again = plan.create_campaign(engine, email_options(smtp.url, name="again", link="https://letters.example/again"), clock=clock)
    assert [r.address for r in again.audience.recipients] == ["carmen@example.com"]
    with write(engine) as conn:
        conn.execute(delete(ContactPoint).where(ContactPoint.source == "event-signup.csv"))
    report = sender.send(engine, "again", clock=clock)
    assert report.outcomes == {"skipped": 1} and smtp.messages == []
    assert "no recorded opt-in" in messages(engine, "again")[0].reason


def test_platform_audiences_are_exact_and_filters_apply(store: Engine, clock, masto, bsky):
    m = plan.create_campaign(store, options(name="m", channel="mastodon", template=TWO_VARIANTS), clock=clock)
    assert [(r.person_id, r.address) for r in m.audience.recipients] == [(2, "bo@fosstodon.org"), (7, "fay@mastodon.social")]
    b = plan.create_campaign(store, options(name="b", channel="bluesky", template=TWO_VARIANTS), clock=clock)
    assert [(r.person_id, r.address) for r in b.audience.recipients] == [(7, "fay.example.com")]
    tagged = plan.create_campaign(store, options(name="t", channel="mastodon", template=TWO_VARIANTS,
                                                 filters=plan.Filters(tags=("personal",), not_on=("mastodon",))), clock=clock)
    assert [r.person_id for r in tagged.audience.recipients] == [7]  # Bo already follows my Mastodon account


def test_ranked_by_their_own_reach(store: Engine, clock, masto):
    add_people(store, "mastodon", 3)
    created = plan.create_campaign(store, options(channel="mastodon", template=TWO_VARIANTS), clock=clock)
    assert [r.person_id for r in created.audience.recipients][:3] == [102, 101, 100]


def test_create_refuses_unsafe_setups(store: Engine, clock, smtp, masto):
    with pytest.raises(TemplateError, match="at least 2 variants"):
        plan.create_campaign(store, options(channel="mastodon", template="Hi {{ name }}"), clock=clock)
    with pytest.raises(UsageError, match="above the mastodon budget"):
        plan.create_campaign(store, options(channel="mastodon", template=TWO_VARIANTS, per_day=50), clock=clock)
    with pytest.raises(UsageError, match="automated X DMs are off"):
        plan.create_campaign(store, options(channel="x", template=TWO_VARIANTS), clock=clock)
    with pytest.raises(UsageError, match="postal address"):
        plan.create_campaign(store, options(sender="ana@ana.example", smtp=smtp.url), clock=clock)
    with pytest.raises(UsageError, match="password"):
        plan.create_campaign(store, email_options("smtp://ana:hunter2@127.0.0.1:25"), clock=clock)
    with pytest.raises(TemplateError, match="unsafe"):
        plan.create_campaign(store, email_options(smtp.url, template="Subject: x\n{{ name.__class__.__mro__ }}"), clock=clock)
    with pytest.raises(TemplateError, match="undefined"):
        plan.create_campaign(store, email_options(smtp.url, template="Subject: x\nHi {{ nmae }}"), clock=clock)
    with pytest.raises(TemplateError, match="mastodon allows 500"):
        plan.create_campaign(store, options(channel="mastodon", template="x" * 600 + "\n---\n" + "y" * 20), clock=clock)
    with store.connect() as conn:
        assert conn.execute(select(CampaignMessage.id)).first() is None  # nothing half-made


# ---------------------------------------------------------------------------------------------
# Email


def test_email_goes_out_once_with_the_unsubscribe_headers_and_footer(store: Engine, clock, smtp, fake_clock):
    with write(store) as conn:  # a hostile name that tries to inject a header
        conn.execute(update(Person).where(Person.id == 1).values(name="Ada\r\nBcc: evil@evil.example"))
    plan.create_campaign(store, email_options(smtp.url), clock=clock)
    report = sender.send(store, "invite", clock=clock)
    assert report.outcomes == {"sent": 2} and report.done
    assert smtp.per_recipient() == {"ada@example.org": 1, "hostile@example.org": 1}
    sent = {m.ref: m for m in messages(store, "invite")}
    first = smtp.to("ada@example.org")[0]
    ref = next(m.ref for m in sent.values() if m.address == "ada@example.org")
    assert first["Bcc"] is None and "evil@evil.example" not in str(first["To"]).split("<")[1]
    assert first["List-Unsubscribe"] == (f"<mailto:ana@ana.example?subject=unsubscribe%20{ref}>, "
                                         f"<https://letters.example/unsubscribe?r={ref}>")
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = first.get_content()
    assert f"https://letters.example/join?ref={ref}" in body
    assert "Ana Example, 1 Main St, Springfield" in body and "To unsubscribe" in body
    assert first["Subject"] in ("My newsletter", "A letter from me")
    subjects = [smtp.to(a)[0]["Subject"] for a in ("ada@example.org", "hostile@example.org")]
    assert subjects[0] != subjects[1]  # the variants rotate
    assert all(m.state == "sent" and m.provider_id and m.provider_id.startswith("<") for m in sent.values())
    # spacing: at least the email minimum between the two sends
    assert fake_clock.sleeps and fake_clock.sleeps[0] >= CHANNEL_PACE["email"].min_interval
    again = sender.send(store, "invite", clock=clock)
    assert again.outcomes == {} and again.done and len(smtp.messages) == 2


def test_an_opt_out_mid_campaign_is_honoured_at_the_next_claim(store: Engine, clock, smtp, fake_clock):
    record_opt_in(store, 2, "bo@bo.example")
    plan.create_campaign(store, email_options(smtp.url), clock=clock)
    real_sleep = clock.sleep

    def sleep_and_opt_out(seconds: float) -> None:  # someone unsubscribes while the sender waits
        with write(store) as conn:
            if conn.execute(select(Suppression.id).where(Suppression.value == "bo@bo.example")).first() is None:
                conn.execute(insert(Suppression).values(kind="email", value="bo@bo.example", reason="manual", created_at=T0))
        real_sleep(seconds)

    clock.sleep = sleep_and_opt_out
    report = sender.send(store, "invite", clock=clock)
    assert report.outcomes == {"sent": 2, "skipped": 1}
    assert set(smtp.per_recipient()) == {"ada@example.org", "hostile@example.org"}
    bo = next(m for m in messages(store, "invite") if m.address == "bo@bo.example")
    assert bo.state == "skipped" and "opted out" in bo.reason


def test_a_bounce_storm_pauses_the_campaign(store: Engine, clock, smtp):
    for address in ("ada@example.org", "bo@bo.example", "hostile@example.org"):
        smtp.refuse[address] = "550 5.1.1 no such user"
    record_opt_in(store, 2, "bo@bo.example")
    plan.create_campaign(store, email_options(smtp.url), clock=clock)
    report = sender.send(store, "invite", clock=clock)
    assert report.outcomes == {"failed": 3}
    assert report.paused and "bounce storm" in report.paused
    doc = sender.status(store, "invite", clock=clock)
    assert doc["status"] == "paused" and "bounce storm" in doc["pause_reason"]
    assert all("550" in m["reason"] for m in doc["messages"])


@pytest.mark.parametrize("reply, expected", [
    ("451 4.7.1 try again later", "deferral"),
    ("554 5.7.1 message rejected as spam", "spam"),
])
def test_a_server_refusal_of_the_message_pauses_and_sends_nothing_more(store: Engine, clock, smtp, reply, expected):
    if reply.startswith("4"):
        smtp.refuse["ada@example.org"] = reply
    else:
        smtp.data_reply = reply
    plan.create_campaign(store, email_options(smtp.url), clock=clock)
    report = sender.send(store, "invite", clock=clock)
    assert report.paused and expected in report.paused
    assert sum(report.outcomes.values()) == 1 and smtp.messages == []
    first = messages(store, "invite")[0]
    assert first.state == ("planned" if reply.startswith("4") else "failed")
    with pytest.raises(UsageError, match="paused"):
        sender.send(store, "invite", clock=clock)


def test_a_connection_lost_during_data_is_unknown_and_never_resent(store: Engine, clock, smtp):
    smtp.drop_during_data = True
    plan.create_campaign(store, email_options(smtp.url), clock=clock)
    report = sender.send(store, "invite", clock=clock)
    assert report.outcomes == {"unknown": 1} and report.paused
    assert len(smtp.messages) == 1
    model.resume(store, "invite")
    smtp.drop_during_data = False
    sender.send(store, "invite", clock=clock)
    assert smtp.per_recipient() == {"ada@example.org": 1, "hostile@example.org": 1}  # ada's unknown was not resent
    assert [m.state for m in messages(store, "invite")] == ["unknown", "sent"]


# ---------------------------------------------------------------------------------------------
# Mastodon and Bluesky


def test_mastodon_sends_direct_mentions_with_idempotency_keys(store: Engine, clock, masto, fake_clock):
    with write(store) as conn:  # a display name that tries to mention (and so message) someone else
        conn.execute(update(Person).where(Person.id == 2).values(name="Bo @victim@evil.example"))
    plan.create_campaign(store, options(channel="mastodon", template=TWO_VARIANTS, link="https://social.example/@ana"), clock=clock)
    report = sender.send(store, "invite", clock=clock)
    assert report.outcomes == {"sent": 2}
    assert {k: len(v) for k, v in masto.delivered.items()} == {"bo@fosstodon.org": 1, "fay@mastodon.social": 1}
    posts = [r for r in masto.server.requests if r.path == "/api/v1/statuses"]
    stored = {m.address: m for m in messages(store, "invite")}
    for post in posts:
        body = post.json()
        assert body["visibility"] == "direct"
        acct = body["status"].split()[0][1:]
        assert post.headers["idempotency-key"] == stored[acct].idempotency_key
    assert posts[0].json()["status"] != posts[1].json()["status"]
    assert "victim@evil.example" not in masto.delivered  # the ＠ in the name mentions no one
    assert fake_clock.sleeps and min(fake_clock.sleeps) >= CHANNEL_PACE["mastodon"].min_interval


def test_mastodon_refuses_an_account_without_the_bot_flag(store: Engine, clock, masto):
    masto.bot = False
    plan.create_campaign(store, options(channel="mastodon", template=TWO_VARIANTS), clock=clock)
    with pytest.raises(ConfigError, match="bot account"):
        sender.send(store, "invite", clock=clock)
    assert masto.send_requests == 0
    assert sender.status(store, "invite", clock=clock)["status"] == "paused"


@pytest.mark.parametrize("platform", ["mastodon", "bluesky"])
def test_the_first_429_pauses_the_campaign_without_waiting_or_retrying(store: Engine, clock, masto, bsky, fake_clock, platform):
    fake = masto if platform == "mastodon" else bsky
    if platform == "bluesky":
        keys = add_people(store, "bluesky", 3)
        fake.dids.update({f"p{i}.bsky.social": k for i, k in zip(range(100, 103), keys)})
    else:
        add_people(store, "mastodon", 3)
        fake.known.update({f"p{i}@remote.example" for i in range(100, 103)})
    limit = Reply(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                  {"Retry-After": "3600", "RateLimit-Remaining": "40", "X-RateLimit-Remaining": "40"})
    plan.create_campaign(store, options(channel=platform, template=TWO_VARIANTS), clock=clock)
    # one message goes, then the platform says 429
    first = sender.send(store, "invite", clock=clock, max_wait=0)
    assert first.outcomes == {"sent": 1}
    fake.fail_next(limit)
    before = fake.send_requests
    slept = list(fake_clock.sleeps)
    report = sender.send(store, "invite", clock=clock)
    assert report.paused and "429" in report.paused
    assert fake.send_requests == before + 1  # no retry
    assert all(s < 3600 for s in fake_clock.sleeps[len(slept):])  # Retry-After was not waited out
    states = [m.state for m in messages(store, "invite")]
    assert states.count("sent") == 1 and "sending" not in states and "unknown" not in states
    doc = sender.status(store, "invite", clock=clock)
    assert doc["status"] == "paused" and "429" in doc["pause_reason"]
    with pytest.raises(UsageError, match="paused"):
        sender.send(store, "invite", clock=clock)
    assert fake.send_requests == before + 1
    model.resume(store, "invite")
    sender.send(store, "invite", clock=clock)
    assert all(len(v) == 1 for v in fake.delivered.values())
    assert sum(len(v) for v in fake.delivered.values()) == len(messages(store, "invite"))


def test_bluesky_pace_and_daily_cap_on_the_fake_clock(store: Engine, clock, bsky, fake_clock):
    keys = add_people(store, "bluesky", 24)
    bsky.closed.add(keys[0])  # the lowest reach: last in line, and takes no DMs
    plan.create_campaign(store, options(channel="bluesky", template=TWO_VARIANTS), clock=clock)
    report = sender.send(store, "invite", clock=clock)
    rows = messages(store, "invite")
    sent = sorted(m.claimed_at for m in rows if m.state == "sent")
    assert report.outcomes == {"sent": 20} and len(sent) == 20
    assert "daily cap of 20" in report.stopped and report.next_at == sent[0] + dt.timedelta(days=1)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sent)]
    pace = CHANNEL_PACE["bluesky"]
    assert min(gaps) >= pace.min_interval >= 60  # <= 1 per minute
    for i in range(len(sent)):  # never more than the hourly cap in any hour
        assert sum(1 for t in sent[i:] if t < sent[i] + dt.timedelta(hours=1)) <= pace.per_hour
    assert len(set(gaps)) > 5  # jitter: not a metronome
    assert bsky.sessions == 1 and bsky.without_proxy == 0  # one login, reused; every chat call proxied
    texts = [m.text for m in rows if m.state == "sent"]
    variants = [m.variant for m in sorted((m for m in rows if m.state == "sent"), key=lambda m: m.claimed_at)]
    assert all(a != b for a, b in itertools.pairwise(variants))
    assert all(a != b for a, b in itertools.pairwise(texts))
    fake_clock.sleep(24 * 3600)
    rest = sender.send(store, "invite", clock=clock)
    assert rest.outcomes == {"sent": 4, "skipped": 1} and rest.done
    assert {len(v) for v in bsky.delivered.values()} == {1} and len(bsky.delivered) == 24
    closed = next(m for m in messages(store, "invite") if m.platform_id == keys[0])
    assert closed.state == "skipped" and "MessagesDisabled" in closed.reason


def test_the_daily_budget_is_shared_by_campaigns_on_one_account(store: Engine, clock, bsky):
    keys = add_people(store, "bluesky", 30)
    plan.create_campaign(store, options(name="one", channel="bluesky", template=TWO_VARIANTS, per_day=15,
                                        filters=plan.Filters(platforms=("bluesky",))), clock=clock)
    plan.create_campaign(store, options(name="two", channel="bluesky", template=TWO_VARIANTS, link="https://other.example",
                                        filters=plan.Filters(platforms=("bluesky",))), clock=clock)
    assert sender.send(store, "one", clock=clock).outcomes == {"sent": 15}
    two = sender.send(store, "two", clock=clock)
    assert two.outcomes == {"sent": 5} and "shared daily budget of 20" in two.stopped
    assert len(keys) == 30


def test_a_person_reached_for_the_same_target_is_left_out(store: Engine, clock, smtp, masto):
    plan.create_campaign(store, email_options(smtp.url, name="first"), clock=clock)
    plan.create_campaign(store, email_options(smtp.url, name="parallel", template=EMAIL_TEMPLATE.replace("join me", "come")), clock=clock)
    sender.send(store, "first", clock=clock)
    later = plan.create_campaign(store, email_options(smtp.url, name="later"), clock=clock)
    assert later.audience.recipients == [] and later.audience.excluded["recently_reached"] == 2
    # the campaign planned before the first one sent skips them at the claim
    report = sender.send(store, "parallel", clock=clock)
    assert report.outcomes == {"skipped": 2}
    assert smtp.per_recipient() == {"ada@example.org": 1, "hostile@example.org": 1}
    other_target = plan.create_campaign(store, email_options(smtp.url, name="other", link="https://elsewhere.example"), clock=clock)
    assert len(other_target.audience.recipients) == 2
    no_window = plan.create_campaign(store, email_options(smtp.url, name="zero", recent_days=0), clock=clock)
    assert len(no_window.audience.recipients) == 2


def test_a_crashed_send_becomes_unknown_and_only_retry_unknown_sends_it_again(store: Engine, clock, masto):
    plan.create_campaign(store, options(channel="mastodon", template=TWO_VARIANTS), clock=clock)
    first = messages(store, "invite")[0]
    # a sender died after claiming (and perhaps sending) the first message
    with write(store) as conn:
        model.claim(conn, first.id, text="@bo@fosstodon.org Hi", variant=0, now=clock.now())
    report = sender.send(store, "invite", clock=clock)
    assert report.recovered == 1 and report.outcomes == {"sent": 1}
    assert [m.state for m in messages(store, "invite")] == ["unknown", "sent"]
    assert "bo@fosstodon.org" not in masto.delivered
    assert model.retry_unknown(store, messages(store, "invite")[0].campaign_id) == 1
    sender.send(store, "invite", clock=clock)
    assert {k: len(v) for k, v in masto.delivered.items()} == {"bo@fosstodon.org": 1, "fay@mastodon.social": 1}


def test_one_sender_per_campaign(store: Engine, clock, masto):
    plan.create_campaign(store, options(channel="mastodon", template=TWO_VARIANTS), clock=clock)
    campaign_id = messages(store, "invite")[0].campaign_id
    with campaign_lock(store, campaign_id, "invite"), pytest.raises(LockBusy):
        sender.send(store, "invite", clock=clock)
    assert masto.send_requests == 0


# ---------------------------------------------------------------------------------------------
# X and manual


def test_x_dms_need_enabling_and_each_one_confirmed(store: Engine, clock, fake_clock, monkeypatch):
    fake = XDM(token="x-user-token", users={"hostile": "606"}, clock=fake_clock)
    try:
        monkeypatch.setenv("X_TOKEN", "x-user-token")
        set_account(store, 1, token_env="X_TOKEN", server=fake.url)
        created = plan.create_campaign(store, options(channel="x", template=TWO_VARIANTS, enable_x=True), clock=clock)
        assert [(r.person_id, r.address) for r in created.audience.recipients] == [(1, "ada"), (6, "hostile")]
        with pytest.raises(ConfigError, match="confirmation"):
            sender.send(store, "invite", clock=clock)
        asked = []
        report = sender.send(store, "invite", clock=clock, confirm=lambda m: asked.append(m.address) or True)
        assert asked == ["ada", "hostile"]
        assert report.outcomes == {"sent": 2}
        sent = messages(store, "invite")
        assert dict(fake.delivered) == {"101": [sent[0].text], "606": [sent[1].text]}
        assert min(fake_clock.sleeps) >= CHANNEL_PACE["x"].min_interval >= 120
        plan.create_campaign(store, options(name="declined", link="https://else.example", channel="x", template=TWO_VARIANTS,
                                            enable_x=True), clock=clock)
        declined = sender.send(store, "declined", clock=clock, confirm=lambda m: False)
        assert declined.outcomes == {"skipped": 2} and fake.send_requests == 2
        assert {m.reason for m in messages(store, "declined")} == {"you declined to send it"}
    finally:
        fake.close()


def test_manual_writes_a_formula_safe_csv_of_the_days_messages(store: Engine, clock, tmp_path):
    plan.create_campaign(store, options(channel="manual", template="Hi {{ name }}\n---\nHello {{ name }}", per_day=3,
                                        include_unconsented=True), clock=clock)
    out = tmp_path / "today.csv"
    report = sender.send(store, "invite", clock=clock, output=out)
    assert report.outcomes == {"sent": 3} and report.next_at is not None
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert rows[0] == ["recipient", "channel", "address", "consent", "text", "ref"]
    assert [r[2] for r in rows[1:]] == ["ada@example.org", "bo@bo.example", "hostile@example.org"]
    assert [r[3] for r in rows[1:]] == ["opted_in", "unknown", "opted_in"]  # Bo never opted in: the user sees it
    hostile = rows[3]
    assert hostile[0] == "'=cmd|' /C calc'!A0"  # neutralised, otherwise intact
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert (out.stat().st_mode & 0o777) == 0o600
    again = sender.send(store, "invite", clock=clock, output=tmp_path / "again.csv")
    assert again.outcomes == {} and "daily cap" in again.stopped and not (tmp_path / "again.csv").exists()
    clock.sleep(24 * 3600 + 1)
    last = sender.send(store, "invite", clock=clock, output=tmp_path / "tomorrow.csv")
    assert last.outcomes == {"sent": 1} and last.done  # Fay, by Mastodon


def test_status_says_who_got_what(store: Engine, clock, smtp):
    plan.create_campaign(store, email_options(smtp.url), clock=clock)
    sender.send(store, "invite", clock=clock)
    doc = sender.status(store, "invite", clock=clock)
    assert doc["counts"]["sent"] == 2 and doc["total"] == 2 and doc["status"] == "active"
    got = {m["address"]: (m["state"], m["variant"]) for m in doc["messages"]}
    assert got == {"ada@example.org": ("sent", 1), "hostile@example.org": ("sent", 2)}
    assert sender.lookup_ref(store, doc["messages"][0]["ref"])["campaign"] == "invite"


def test_unknown_accounts_and_missing_credentials(store: Engine, clock):
    with pytest.raises(UsageError, match="several|which"):
        with write(store) as conn:
            conn.execute(insert(Account).values(platform="mastodon", handle="other@social.example", tags=[], status="active", created_at=T0))
        plan.create_campaign(store, options(channel="mastodon", template=TWO_VARIANTS), clock=clock)
    with pytest.raises(ConfigError, match="credential"):
        plan.create_campaign(store, options(channel="mastodon", template=TWO_VARIANTS, sender="mastodon:ana@social.example"), clock=clock)


def test_a_refused_token_pauses_and_is_never_shown(store: Engine, clock, masto):
    masto.token = "the-server-wants-another-token"
    plan.create_campaign(store, options(channel="mastodon", template=TWO_VARIANTS), clock=clock)
    with pytest.raises(ConfigError) as err:
        sender.send(store, "invite", clock=clock)
    doc = sender.status(store, "invite", clock=clock)
    assert doc["status"] == "paused" and "refused the credential" in doc["pause_reason"]
    assert MASTO_TOKEN not in str(err.value) + (err.value.hint or "") + repr(doc)
    assert masto.send_requests == 0


def test_manual_gives_the_messages_back_when_the_file_cannot_be_written(store: Engine, clock, tmp_path):
    plan.create_campaign(store, options(channel="manual", template="Hi {{ name }}\n---\nHello {{ name }}"), clock=clock)
    (tmp_path / "blocked").write_text("a file, not a directory")
    with pytest.raises(InputError, match="cannot write"):
        sender.send(store, "invite", clock=clock, output=tmp_path / "blocked" / "today.csv")
    assert {m.state for m in messages(store, "invite")} == {"planned"}
    assert sender.send(store, "invite", clock=clock, output=tmp_path / "today.csv").outcomes == {"sent": 4}
