"""The conformance suite: every connector in the registry, against its platform's fake server.

Parametrized over `backup.connectors.REGISTRY` (the `platform` fixture): a new connector gets
these tests as soon as it registers, and fails until tests/connectors/fakes.py has a fake
server for it. Walks go through the real page loop, `backup.snapshot.run_api_snapshot`, so
what is checked is what lands in the database. Time is the fake clock: nothing waits.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select

from backup.connectors import OwnAccount
from backup.db.models import Profile, Snapshot
from backup.errors import AccountSuspended, ConfigError, RepeatedCursor, TransientError
from backup.snapshot import run_api_snapshot

from .conftest import add_account, current_ids
from .fakes import KINDS, RESET, Reply, http_date


def walk(engine, fake, connector=None, kinds=KINDS):
    account = add_account(engine, fake)
    connector = connector or fake.connector()
    outcomes = {kind: run_api_snapshot(engine, account, kind, connector.fetch_page) for kind in kinds}
    return account, outcomes


def test_a_multi_page_walk_stores_exactly_the_served_members(engine, fake):
    """Both kinds, several pages each, every page fetched once; the stored set is the served set."""
    fake.lists["follower"] = list(range(1, 15))  # 5 pages of 3
    account, outcomes = walk(engine, fake)
    for kind in KINDS:
        assert outcomes[kind].status == "complete"
        assert current_ids(engine, account, kind) == fake.expected_ids(kind)
        assert fake.served[kind] == list(range(len(fake.pages(kind))))  # each page once, in order
    with engine.connect() as conn:
        stored = {r.platform_id: r for r in conn.execute(select(Profile).where(Profile.platform == fake.platform))}
    assert len(stored) == 14 + 5
    assert all(r.handle or fake.platform == "bluesky" for r in stored.values())  # a Bluesky handle may be handle.invalid
    if fake.names_in_lists:  # GitHub's lists carry logins only (names come with full_profiles)
        assert all(r.display_name and r.display_name.startswith("Member ") for r in stored.values())


def test_a_run_killed_mid_walk_resumes_without_refetching_stored_pages(engine, fake):
    """Pages 0 and 1 are stored, page 2 dies; the next run starts at page 2 and ends with the full set."""
    fake.lists["follower"] = list(range(1, 17))  # 6 pages
    fake.break_from("follower", 2)
    account = add_account(engine, fake)
    with pytest.raises(TransientError):
        run_api_snapshot(engine, account, "follower", fake.connector(max_attempts=2).fetch_page)
    with engine.connect() as conn:
        snap = conn.execute(select(Snapshot.__table__).where(Snapshot.account_id == account.id)).one()
    assert snap.status == "partial" and snap.pages == 2 and snap.received == 6
    assert fake.served["follower"] == [0, 1]

    fake.heal()
    outcome = run_api_snapshot(engine, account, "follower", fake.connector().fetch_page)  # a new run: a new connector
    assert outcome.status == "complete" and outcome.count == 16
    assert fake.served["follower"] == [0, 1, 2, 3, 4, 5]  # 0 and 1 were not fetched again
    assert current_ids(engine, account, "follower") == fake.expected_ids("follower")


def test_a_repeated_cursor_stops_the_walk(sqlite_engine, fake):
    fake.lists["follower"] = list(range(1, 13))
    fake.repeat["follower"] = 2  # page 2 says the next page is page 2
    account = add_account(sqlite_engine, fake)
    with pytest.raises(RepeatedCursor):
        run_api_snapshot(sqlite_engine, account, "follower", fake.connector().fetch_page)
    assert fake.served["follower"] == [0, 1, 2]
    assert current_ids(sqlite_engine, account, "follower") == set()  # nothing applied


def test_short_and_empty_pages_do_not_end_the_walk(sqlite_engine, fake):
    fake.short_pages = True  # sizes 3, 1, 0, 2, 3, 1, ...
    fake.lists["follower"] = list(range(1, 14))
    account, outcomes = walk(sqlite_engine, fake, kinds=("follower",))
    assert [len(p) for p in fake.pages("follower")][:4] == [3, 1, 0, 2]
    assert outcomes["follower"].count == 13
    assert current_ids(sqlite_engine, account, "follower") == fake.expected_ids("follower")


@pytest.mark.parametrize("style", ["platform-reset", "retry-after-seconds", "retry-after-date"])
def test_a_429_waits_exactly_as_long_as_the_platform_says(sqlite_engine, fake, clock, style):
    """No request is sent before the allowed time (on the fake clock), and one wait suffices."""
    start = clock.time()
    if style == "platform-reset":
        reply = fake.too_many_reply(start + 30)
        wait = 30
    elif style == "retry-after-seconds":
        reply = fake.too_many_reply(start + 600)  # Retry-After comes first
        reply.headers["Retry-After"] = "7"
        wait = 7
    else:
        reply = fake.too_many_reply(start + 600)
        reply.headers["Retry-After"] = http_date(start + 20)
        wait = 20
    fake.fail("follower", 1, reply)
    account, _ = walk(sqlite_engine, fake, kinds=("follower",))
    assert current_ids(sqlite_engine, account, "follower") == fake.expected_ids("follower")
    page1 = [r for r in fake.server.requests if r.at > start]
    assert page1 and min(r.at for r in page1) >= start + wait
    assert len(clock.sleeps) == 1 and wait <= clock.sleeps[0] <= wait + 1


def test_a_503_once_then_success(sqlite_engine, fake, clock):
    fake.fail("follower", 1, Reply(503, {"error": "Service Unavailable"}))
    account, _ = walk(sqlite_engine, fake, kinds=("follower",))
    assert current_ids(sqlite_engine, account, "follower") == fake.expected_ids("follower")
    assert len(clock.sleeps) == 1 and clock.sleeps[0] <= 1.0  # first backoff: full jitter below 1 s


def test_a_connection_reset_is_retried(sqlite_engine, fake, clock):
    fake.fail("follower", 1, RESET, RESET)
    account, _ = walk(sqlite_engine, fake, kinds=("follower",))
    assert current_ids(sqlite_engine, account, "follower") == fake.expected_ids("follower")
    assert len(clock.sleeps) == 2 and clock.sleeps[1] <= 2.0


def test_retries_are_capped_and_end_as_a_transient_error(fake, clock):
    fake.fail("follower", 0, *[Reply(503, {"error": "down"})] * 20)
    connector = fake.connector()
    with pytest.raises(TransientError) as failed:
        connector.fetch_page("follower", None)
    assert failed.value.exit_code == 5
    assert len(clock.sleeps) == 7  # 8 attempts, 7 waits
    assert all(s <= 120 for s in clock.sleeps)


def test_pacing_keeps_a_long_walk_out_of_429s(sqlite_engine, fake, clock):
    """A window of 2 requests a minute: the client waits for each reset instead of collecting 429s."""
    fake.rate = (2, 60.0)
    fake.lists["follower"] = list(range(1, 17))  # 6 pages
    start = clock.time()
    account, _ = walk(sqlite_engine, fake, kinds=("follower",))
    assert current_ids(sqlite_engine, account, "follower") == fake.expected_ids("follower")
    assert fake.too_many == 0
    requests = len(fake.server.requests)
    windows = -(-requests // 2)  # the ideal: ceil(requests / limit) windows, the last one not waited out
    assert clock.time() - start <= (windows - 1) * 60 + windows * 1.0
    assert all(s <= 60 + 1 for s in clock.sleeps)


def test_the_run_deadline_ends_a_rate_limited_walk_as_transient(sqlite_engine, fake, clock):
    fake.rate = (2, 900.0)
    fake.lists["follower"] = list(range(1, 17))
    account = add_account(sqlite_engine, fake)
    connector = fake.connector(deadline=clock.monotonic() + 60)
    with pytest.raises(TransientError) as stopped:
        run_api_snapshot(sqlite_engine, account, "follower", connector.fetch_page)
    assert "time limit" in stopped.value.message
    assert clock.sleeps == []  # it did not start a wait it could not finish
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(Snapshot.status)).scalar_one() == "partial"


def test_own_account_when_active(fake):
    own = fake.connector().own_account()
    assert isinstance(own, OwnAccount)
    assert own.status == "active" and own.platform_id and own.handle
    assert own.followers_count == len(fake.lists["follower"])


def test_a_suspended_own_account_is_reported_not_raised(fake):
    fake.own_state = "suspended"
    connector = fake.connector()
    own = connector.own_account()
    assert own.status == "suspended", own
    with pytest.raises(fake.suspended_list_error):
        connector.fetch_page("follower", None)


def test_a_revoked_token_is_a_configuration_error(fake):
    fake.revoked = True
    secret = getattr(fake, "app_password", None) or fake.secret
    connector = fake.connector(secret=secret)
    assert connector.own_account().status == "auth_failed"
    with pytest.raises(ConfigError) as refused:
        connector.fetch_page("follower", None)
    assert refused.value.exit_code == 4
    assert not isinstance(refused.value, AccountSuspended)


def test_a_canary_secret_never_shows(fake, clock, caplog, tmp_path, sqlite_engine):
    """Through 401, 429, 503, resets and a whole walk: not in logs, errors, reprs or the database."""
    canary = "CANARY-7f3a9c1e5b2d4f60-secret"
    if fake.platform == "bluesky":
        fake.app_password = canary
        fake.token_prefix = "CANARYJWT"
    else:
        fake.token = canary
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "requests", "backup"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    fake.fail("follower", 1, fake.too_many_reply(clock.time() + 5), Reply(503, {"error": "down"}), RESET)
    connector = fake.connector(secret=canary)
    texts = [repr(connector), repr(connector.http), str(vars(connector))]
    walk(sqlite_engine, fake, connector, kinds=("follower",))
    texts.append(repr(connector.own_account()))
    fake.revoked = True
    for call in (lambda: fake.connector(secret=canary).fetch_page("follower", None),):
        with pytest.raises(ConfigError) as refused:
            call()
        texts += [str(refused.value), repr(refused.value), refused.value.hint or ""]
    texts.append(caplog.text)
    texts += [r.getMessage() for r in caplog.records]
    sqlite_engine.dispose()
    for path in tmp_path.glob("audience.db*"):
        texts.append(path.read_bytes().decode("latin-1"))
    for text in texts:
        assert canary not in text
        assert "CANARYJWT" not in text
    assert any(r.auth and canary in r.auth or r.body and canary.encode() in r.body for r in fake.server.requests)  # it was used
