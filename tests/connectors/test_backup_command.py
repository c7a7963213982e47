"""`audience backup`, the nightly job, end to end against the fake platform servers (SPEC §4, §5.7).

The command runs in-process through `backup.cli.main` with the real clock (these fakes set no
rate limit, so nothing waits); the deadline and rate-limit cases use `run_backup` with the
fake clock. Every scenario ends with `db verify` clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from backup.db.engine import make_engine
from backup.db.maintenance import verify
from backup.db.models import Account, Snapshot
from backup.nightly import run_backup

from .fakes import BlueskyFake, FakeClock, MastodonFake

TOKEN_ENV = "AUDIENCE_TEST_MASTODON_TOKEN"


@pytest.fixture
def servers():
    clock = FakeClock()
    masto = MastodonFake(clock, followers=12, following=4, page_size=5)
    sky = BlueskyFake(clock, followers=7, following=3, page_size=3)
    yield masto, sky
    for s in (masto, sky):
        s.close()
        assert not s.server.errors, s.server.errors[0]


@pytest.fixture
def registered(run_cli, servers, db_url, monkeypatch):
    """Both accounts registered the way the README says, on the test's database."""
    masto, sky = servers
    monkeypatch.setenv(TOKEN_ENV, masto.secret)
    db = ("--db", db_url)
    r = run_cli(*db, "accounts", "add", "mastodon", masto.handle, "--server", masto.url, "--token-env", TOKEN_ENV)
    assert r.exit_code == 0, r.output
    r = run_cli(*db, "accounts", "add", "bluesky", sky.handle, "--server", sky.url)
    assert r.exit_code == 0, r.output
    return db


def backup_json(run_cli, db, *args):
    r = run_cli(*db, "backup", "--json", *args)
    return r, json.loads(r.stdout)


def counts(doc) -> dict:
    return {(a["account"], s["kind"]): (s["status"], s["count"], s["gained"], s["lost"]) for a in doc["accounts"] for s in a["snapshots"]}


def assert_clean(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        report = verify(engine)
        assert report.ok, report.problems
    finally:
        engine.dispose()


def test_two_nights_of_mastodon_and_bluesky_give_complete_snapshots_and_an_exact_diff(run_cli, servers, registered, db_url):
    masto, sky = servers
    r, doc = backup_json(run_cli, registered)
    assert r.exit_code == 0, r.output
    assert doc["exit_code"] == 0
    assert counts(doc) == {
        ("mastodon:ana@social.example", "follower"): ("complete", 12, 12, 0),
        ("mastodon:ana@social.example", "following"): ("complete", 4, 4, 0),
        ("bluesky:ana.example.com", "follower"): ("complete", 7, 7, 0),
        ("bluesky:ana.example.com", "following"): ("complete", 3, 3, 0),
    }
    assert {a["status"] for a in doc["accounts"]} == {"active"}

    # The next night: two Mastodon followers left, three arrived.
    masto.lists["follower"] = [n for n in masto.lists["follower"] if n not in (2, 5)] + [40, 41, 42]
    r, doc = backup_json(run_cli, registered)
    assert r.exit_code == 0, r.output
    assert counts(doc)[("mastodon:ana@social.example", "follower")] == ("complete", 13, 3, 2)
    assert counts(doc)[("bluesky:ana.example.com", "follower")] == ("complete", 7, 0, 0)

    diff = json.loads(run_cli(*registered, "diff", "mastodon:ana@social.example", "--json").stdout)
    assert {p["platform_id"] for p in diff["gained"]} == {masto.member_id(n) for n in (40, 41, 42)}
    assert {p["platform_id"] for p in diff["lost"]} == {masto.member_id(n) for n in (2, 5)}
    assert all(p["display_name"] for p in diff["gained"])
    assert_clean(db_url)


def test_the_summary_table_has_one_line_per_account(run_cli, servers, registered):
    r = run_cli(*registered, "backup")
    assert r.exit_code == 0, r.output
    assert "mastodon:ana@social.example" in r.stdout and "bluesky:ana.example.com" in r.stdout
    assert "12 (+12 -0)" in r.stdout
    assert r.stderr == ""  # no progress when stderr is not a terminal


def test_a_suspended_account_exits_8_records_when_and_keeps_its_snapshots(run_cli, servers, registered, db_url):
    masto, sky = servers
    assert run_cli(*registered, "backup").exit_code == 0
    masto.own_state = "suspended"

    r, doc = backup_json(run_cli, registered)

    assert r.exit_code == 8, r.output
    by_account = {a["account"]: a for a in doc["accounts"]}
    assert by_account["mastodon:ana@social.example"]["status"] == "suspended"
    assert by_account["mastodon:ana@social.example"]["snapshots"] == []
    assert by_account["bluesky:ana.example.com"]["status"] == "active"  # the others still ran
    assert len(by_account["bluesky:ana.example.com"]["snapshots"]) == 2
    assert "error: mastodon:ana@social.example is suspended" in r.stderr
    accounts = json.loads(run_cli(*registered, "accounts", "list", "--json").stdout)
    masto_row = next(a for a in accounts if a["platform"] == "mastodon")
    assert masto_row["status"] == "suspended" and masto_row["status_since"]
    snapshots = json.loads(run_cli(*registered, "snapshots", "mastodon:ana@social.example", "--json").stdout)
    assert [(s["kind"], s["status"], s["count"]) for s in snapshots] == [("follower", "complete", 12), ("following", "complete", 4)]
    assert_clean(db_url)


def test_a_revoked_token_is_exit_4_for_that_account_and_6_for_the_run(run_cli, servers, registered):
    masto, _ = servers
    masto.revoked = True
    r, doc = backup_json(run_cli, registered)
    assert r.exit_code == 6, r.output  # the Bluesky account was saved
    masto_row = next(a for a in doc["accounts"] if a["account"].startswith("mastodon"))
    assert masto_row["status"] == "auth_failed" and masto_row["exit_code"] == 4
    assert "hint:" in r.stderr and TOKEN_ENV in r.stderr


def test_a_missing_token_variable_is_a_configuration_error(run_cli, servers, registered, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV)
    r = run_cli(*registered, "backup", "mastodon:ana@social.example")
    assert r.exit_code == 4
    assert f"{TOKEN_ENV} is not set" in r.stderr


def test_naming_an_account_without_an_api_is_a_usage_error(run_cli, registered):
    assert run_cli(*registered, "accounts", "add", "linkedin", "ana").exit_code == 0
    r = run_cli(*registered, "backup", "linkedin:ana")
    assert r.exit_code == 2
    assert "audience import" in r.stderr


def test_the_token_never_reaches_output_logs_or_the_database(run_cli, servers, registered, db_url, isolated_home):
    masto, _ = servers
    r = run_cli(*registered, "-v", "backup")
    assert r.exit_code == 0, r.output
    masto.revoked = True
    r2 = run_cli(*registered, "-v", "backup")
    logs = (isolated_home / "logs" / "audience.log").read_text()
    assert "status active -> auth_failed" in logs
    for text in (r.output, r2.output, logs):
        assert masto.secret not in text
    if db_url.startswith("sqlite"):
        db_file = Path(db_url.removeprefix("sqlite:///"))
        for f in db_file.parent.glob(db_file.name + "*"):
            assert masto.secret.encode() not in f.read_bytes()


def test_a_run_past_its_deadline_is_partial_exit_5_and_the_next_run_completes(engine, servers):
    masto, _ = servers
    clock = masto.clock
    masto.rate = (2, 300.0)  # two requests per five minutes: the walk must wait
    with engine.begin() as conn:
        from backup import accounts

        account = accounts.add(conn, "mastodon", masto.handle, server=masto.url, token_env=TOKEN_ENV)
    os.environ[TOKEN_ENV] = masto.secret
    try:
        first = run_backup(engine, [account], deadline=clock.monotonic() + 60, client_options=clock.options(), clock=clock.monotonic)
        assert first.exit_code == 5
        with engine.connect() as conn:
            statuses = conn.execute(select(Snapshot.status)).scalars().all()
        assert statuses == ["partial"]

        second = run_backup(engine, [account], deadline=clock.monotonic() + 7200, client_options=clock.options(), clock=clock.monotonic)
        assert second.exit_code == 0
        outcome = {s.kind: s for s in second.accounts[0].snapshots}
        assert outcome["follower"].count == 12 and outcome["following"].count == 4
        assert masto.served["follower"] == [0, 1, 2]  # each page once: the second run resumed
    finally:
        del os.environ[TOKEN_ENV]
    assert verify(engine).ok


@pytest.mark.slow
def test_a_backup_killed_mid_walk_resumes_and_ends_with_the_same_members(servers, tmp_path):
    masto, _ = servers
    db = str(tmp_path / "kill.db")
    env = {**os.environ, TOKEN_ENV: masto.secret, "AUDIENCE_HOME": str(tmp_path / "home")}

    def cli(*args, fault=None):
        return subprocess.run(
            [sys.executable, "-m", "backup", "--db", db, *args], capture_output=True, text=True, timeout=120,
            env={**env, **({"AUDIENCE_FAULT": fault} if fault else {})},
        )

    assert cli("accounts", "add", "mastodon", masto.handle, "--server", masto.url, "--token-env", TOKEN_ENV).returncode == 0
    killed = cli("backup", fault="page-committed:2")
    assert killed.returncode == -9
    assert masto.served["follower"] == [0, 1]

    done = cli("backup", "--json")
    assert done.returncode == 0, done.stderr
    assert masto.served["follower"] == [0, 1, 2]  # page 0 and 1 were not fetched again
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            acc = conn.execute(select(Account.id)).scalar_one()
            from backup.db.models import Relationship

            current = set(conn.execute(select(Relationship.platform_id).where(
                Relationship.account_id == acc, Relationship.kind == "follower", Relationship.until_snapshot_id.is_(None),
            )).scalars())
        assert current == masto.expected_ids("follower")
        assert verify(engine).ok
    finally:
        engine.dispose()
