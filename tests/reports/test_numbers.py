"""The report numbers on a constructed store with known answers (world.py), on SQLite and
PostgreSQL, plus the risk and recovery documents built from them."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, update

from backup.accounts import resolve
from backup.db.engine import write
from backup.db.models import Account, PersonTag, Relationship, Snapshot, Suppression
from exporters.reports.numbers import Reach, history, last_complete_snapshot
from exporters.reports.recovery import build_recovery
from exporters.reports.risk import build_risk
from exporters.selection import Filters, person_ids_query

from . import world


@pytest.fixture
def store(engine):
    world.build(engine)
    return engine


def numbers(engine, persons=None) -> dict:
    with engine.connect() as conn:
        return {a.ref: a for a in Reach(conn, persons).accounts()}


def test_every_tier_rule_gives_the_known_answer(store):
    got = numbers(store)
    x = got["x:ana"]
    assert x.audience == world.X_AUDIENCE
    assert x.tiers == world.EXPECTED_X_TIERS
    assert x.by_channel == world.EXPECTED_X_CHANNELS
    assert (x.reachable_elsewhere, x.only_here) == (9, 10)
    assert x.resilience == pytest.approx(9 / 19)


def test_other_accounts_and_a_suspended_one(store):
    got = numbers(store)
    assert set(got) == {"x:ana", "mastodon:ana@social.example", "newsletter:letters", "bluesky:ana.example.com"}  # no address book
    masto = got["mastodon:ana@social.example"]
    assert (masto.audience, masto.tiers["following_elsewhere"]) == (1, 1)  # P1 also follows x:ana
    assert got["newsletter:letters"].tiers["following_elsewhere"] == 1
    sky = got["bluesky:ana.example.com"]
    # P4 still follows x:ana, which stands; P21 follows only the suspended account.
    assert sky.tiers == {"following_elsewhere": 1, "contactable": 0, "known_elsewhere": 0, "unreachable": 1}


def test_top_unreachable_by_their_own_followers(store):
    with store.connect() as conn:
        top = Reach(conn).top_unreachable(1, limit=4)
    assert [m.platform_id for m in top] == ["1017", "1018", "1007", "1008"]  # 5,000, 100, then unknown counts by id
    assert top[0].followers_count == 5000 and top[0].url == "https://twitter.com/intent/user?user_id=1017"


def test_the_suppression_list_and_unsubscribes_decide(store):
    """Lifting P7's suppression makes P7 contactable; suppressing P5's address makes P5 unreachable."""
    with write(store) as conn:
        conn.execute(Suppression.__table__.delete().where(Suppression.value == "p7@example.org"))
        conn.execute(insert(Suppression), [{"kind": "email", "value": "p5@example.org", "reason": "manual",
                                            "created_at": world.T0}])
    x = numbers(store)["x:ana"]
    assert x.tiers["contactable"] == 3 and x.tiers["unreachable"] == 10 and x.by_channel["email"] == 4
    with store.connect() as conn:
        unreachable = {m.platform_id for m in Reach(conn).top_unreachable(1, limit=100)}
    assert "1005" in unreachable and "1007" not in unreachable  # the two swapped places
    assert unreachable == {"1005", "1008", "1009", "1011", "1012", "1013", "1013b", "1017", "1018", "1019"}


def test_an_account_going_down_moves_its_followers_out_of_following_elsewhere(store):
    with write(store) as conn:
        conn.execute(update(Account).where(Account.id == 2).values(status="deactivated"))
    x = numbers(store)["x:ana"]
    # P1 followed mastodon:ana, now down: P1 is still known there (a profile on Mastodon).
    assert x.tiers["following_elsewhere"] == 2 and x.tiers["known_elsewhere"] == 4


def test_a_selection_restricts_whose_memberships_count(store):
    with write(store) as conn:
        conn.execute(insert(PersonTag), [
            {"person_id": p, "tag": "vip", "source": "manual", "created_at": world.T0} for p in (1, 5, 17)
        ])
    with store.connect() as conn:
        persons = person_ids_query(conn, Filters(tags=("vip",)))
        got = {a.ref: a for a in Reach(conn, persons).accounts()}
    x = got["x:ana"]
    assert x.audience == 3
    assert x.tiers == {"following_elsewhere": 1, "contactable": 1, "known_elsewhere": 0, "unreachable": 1}
    assert got["mastodon:ana@social.example"].audience == 1  # P1's reach still counts the other account
    assert got["newsletter:letters"].audience == 0


def test_history_and_the_last_complete_snapshot(store):
    with store.connect() as conn:
        points = history(conn, [1, 2])
        last = last_complete_snapshot(conn, 1)
    assert [(p.snapshot_id, p.count) for p in points[1]] == [(1, 15), (2, 17), (3, 19)]  # the partial one is not history
    assert [(p.kind, p.count) for p in points[2]] == [("follower", 1)]  # following is no audience
    assert (last.id, last.count, last.as_of) == (3, 19, world.T2)


def test_the_risk_document(store):
    now = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
    with store.connect() as conn:
        doc = build_risk(conn, now=now)
    assert doc["generated_at"] == "2026-11-02T08:00:00Z"
    assert doc["people"] == 19
    assert (doc["audience"], doc["reachable_elsewhere"]) == (23, 12)
    assert doc["overall_resilience"] == round(12 / 23, 4)
    x = doc["accounts"][0]
    assert {k: x[k] for k in ("account", "audience", "reachable_elsewhere", "only_here")} == {
        "account": "x:ana", "audience": 19, "reachable_elsewhere": 9, "only_here": 10,
    }
    assert x["resilience"] == round(9 / 19, 4)
    assert [p["count"] for p in x["history"]] == [15, 17, 19]


def test_the_recovery_document_of_the_suspended_account(store):
    with store.connect() as conn:
        doc = build_recovery(conn, resolve(conn, "bluesky:ana.example.com"), top=5)
    assert doc["status"] == "suspended" and doc["status_since"] == "2026-11-01T00:00:00Z" and doc["down"]
    assert doc["last_complete_snapshot"]["id"] == 7 and doc["last_complete_snapshot"]["count"] == 2
    assert doc["audience"] == 2 and doc["reachable_fraction"] == 0.5
    assert [m["platform_id"] for m in doc["top_unreachable"]] == ["did:plc:p21"]
    assert "suspended" in doc["next_steps"][0]
    assert [a["account"] for a in doc["other_accounts"]] == ["x:ana", "mastodon:ana@social.example", "newsletter:letters"]


def test_an_empty_store(engine):
    with engine.connect() as conn:
        doc = build_risk(conn)
    assert doc["accounts"] == [] and doc["people"] == 0 and doc["overall_resilience"] is None


def test_a_member_in_two_audience_kinds_of_one_account_counts_once(store):
    with write(store) as conn:
        conn.execute(insert(Snapshot), [{
            "id": 20, "account_id": 3, "kind": "follower", "source": "api", "status": "complete", "as_of": world.T2,
            "started_at": world.T2, "finished_at": world.T2, "seq": 1, "count": 1,
        }])
        conn.execute(insert(Relationship), [{
            "account_id": 3, "kind": "follower", "platform": "newsletter", "platform_id": "p2@example.org",
            "since_snapshot_id": 20, "until_snapshot_id": None,
        }])
    letters = numbers(store)["newsletter:letters"]
    assert letters.audience == 1 and letters.tiers["following_elsewhere"] == 1
