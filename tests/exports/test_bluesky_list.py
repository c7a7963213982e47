"""`export follows --platform bluesky --create-list NAME [--starter-pack]` against a local
Bluesky PDS (tests/connectors/fakes.py BlueskyRepoFake) that checks every record against
the lexicons: the list, one listitem per DID, the starter pack; handles resolved; reruns and
runs cut short never duplicate; the app password shows nowhere."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from backup.db import orm
from backup.db.engine import write
from backup.db.models import Account
from backup.errors import ConfigError, TransientError
from exporters.bluesky_list import create_list
from exporters.follows import write_follows
from tests.connectors.fakes import BlueskyRepoFake, FakeClock

from .world import DID_ED, build

DID_FAY = "did:plc:fayfayfayfayfayfayfayfayf"
PASSWORD = BlueskyRepoFake.app_password


@pytest.fixture
def pds() -> Iterator[BlueskyRepoFake]:
    fake = BlueskyRepoFake(FakeClock(), followers=0, following=0)
    fake.resolvable["fay.example.com"] = DID_FAY
    yield fake
    fake.close()


@pytest.fixture
def world(engine: Engine, pds: BlueskyRepoFake, monkeypatch: pytest.MonkeyPatch) -> Engine:
    build(engine)
    with write(engine) as conn:  # my Bluesky account lives on the fake PDS; someone names an unknown handle
        conn.execute(text("UPDATE accounts SET server = :s WHERE id = 4"), {"s": pds.url})
        conn.execute(text("INSERT INTO contact_points (person_id, kind, value, source, created_at) "
                          "VALUES (6, 'handle', 'bluesky:nobody.example.net', 'manual.csv', CURRENT_TIMESTAMP)"))
    monkeypatch.setenv("BSKY_APP_PASSWORD", PASSWORD)
    return engine


def account(engine: Engine) -> Account:
    with engine.connect() as conn:
        return orm(conn).execute(select(Account).where(Account.id == 4)).scalar_one()


def entries(engine: Engine, tmp_path: Path):
    with engine.connect() as conn:
        return write_follows(conn, tmp_path / "bsky.csv", "bluesky").entries


def items(pds: BlueskyRepoFake, list_uri: str) -> list[str]:
    return [v["subject"] for _, v in pds.records.get("app.bsky.graph.listitem", []) if v["list"] == list_uri]


def test_list_and_starter_pack(world: Engine, pds: BlueskyRepoFake, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    result = create_list(account(world), "Moved from X", entries(world, tmp_path), starter_pack=True,
                         client_options=pds.clock.options())
    assert pds.logins == 1  # one session for the whole run
    (lkey, lst), = pds.records["app.bsky.graph.list"]
    assert lst["name"] == "Moved from X" and lst["purpose"] == "app.bsky.graph.defs#referencelist"
    assert result.list_uri == f"at://{pds.did}/app.bsky.graph.list/{lkey}" and result.created
    assert result.list_url == f"https://bsky.app/profile/ana.example.com/lists/{lkey}"
    assert items(pds, result.list_uri) == [DID_ED, DID_FAY]  # fay.example.com resolved to her DID
    assert result.added == 2 and result.unresolved == ["nobody.example.net"]
    (_, pack), = pds.records["app.bsky.graph.starterpack"]
    assert pack["list"] == result.list_uri and pack["name"] == "Moved from X"
    assert result.starter_pack_url.startswith("https://bsky.app/starter-pack/ana.example.com/")
    assert not pds.server.errors
    for r in pds.server.requests:  # the password went only into the login body
        if r.path != "/xrpc/com.atproto.server.createSession":
            assert PASSWORD.encode() not in r.body and PASSWORD not in str(r.headers)
    assert PASSWORD not in caplog.text

    again = create_list(account(world), "Moved from X", entries(world, tmp_path), starter_pack=True,
                        client_options=pds.clock.options())
    assert not again.created and again.list_uri == result.list_uri and again.added == 0 and again.already == 2
    assert len(pds.records["app.bsky.graph.list"]) == 1 and len(pds.records["app.bsky.graph.starterpack"]) == 1
    assert items(pds, result.list_uri) == [DID_ED, DID_FAY]


def test_a_run_cut_short_continues_without_duplicates(world: Engine, pds: BlueskyRepoFake, tmp_path: Path):
    pds.fail_create_after = 3  # the list and the first item go through; the second item fails
    with pytest.raises(TransientError) as err:
        create_list(account(world), "Friends", entries(world, tmp_path), client_options=pds.clock.options(max_attempts=2))
    assert PASSWORD not in str(err.value)
    (_, lst), = pds.records["app.bsky.graph.list"]
    assert lst["purpose"] == "app.bsky.graph.defs#curatelist"
    pds.fail_create_after = None
    result = create_list(account(world), "Friends", entries(world, tmp_path), client_options=pds.clock.options())
    assert not result.created and result.already == 1 and result.added == 1
    assert items(pds, result.list_uri) == [DID_ED, DID_FAY]


def test_wrong_password_and_missing_credential(world: Engine, pds: BlueskyRepoFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BSKY_APP_PASSWORD", "wrong-wrong-wrong")
    with pytest.raises(ConfigError) as err:
        create_list(account(world), "X", entries(world, tmp_path), client_options=pds.clock.options())
    assert "wrong-wrong-wrong" not in str(err.value) and "wrong-wrong-wrong" not in (err.value.hint or "")
    assert "app.bsky.graph.list" not in pds.records
    with write(world) as conn:
        conn.execute(text("UPDATE accounts SET token_env = NULL WHERE id = 4"))
    with pytest.raises(ConfigError, match="app password"):
        create_list(account(world), "X", [], client_options=pds.clock.options())


def test_cli_creates_the_list(world: Engine, pds: BlueskyRepoFake, db_url: str, run_cli, tmp_path: Path):
    out = tmp_path / "bsky.csv"
    r = run_cli("--db", db_url, "export", "follows", "--platform", "bluesky", "-o", out,
                "--create-list", "Moved from X", "--starter-pack", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["rows"] == 3 and doc["list"]["added"] == 2 and doc["list"]["unresolved"] == 1 and doc["list"]["created"]
    assert doc["list"]["starter_pack"].startswith(f"at://{pds.did}/app.bsky.graph.starterpack/")
    assert "did not resolve" in r.stderr and PASSWORD not in r.stdout + r.stderr
    r = run_cli("--db", db_url, "export", "follows", "--platform", "bluesky", "-o", out, "--create-list", "Moved from X")
    assert r.exit_code == 0, r.output
    assert "completed the Bluesky list" in r.stdout and "0 added, 2 already in it" in r.stdout
    r = run_cli("--db", db_url, "export", "follows", "--platform", "mastodon", "-o", out, "--create-list", "Nope")
    assert r.exit_code == 2 and "for --platform bluesky" in r.stderr
