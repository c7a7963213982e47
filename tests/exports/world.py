"""A small, fully known store for the export and selection tests, written row by row (persons
assigned by hand, no linking), so every expectation below is exact.

Accounts: 1 ``x:ana`` (tagged professional), 2 ``mastodon:ana@social.example``,
3 ``newsletter:letters``, 4 ``bluesky:ana.example.com``.

========  =====================================================================================
person 1  "Ada Lovelace": X 101 (follower of x:ana, current); newsletter profile with
          ada@example.org opted_in; a bio address ada.work@example.org (unknown); tag professional
person 2  "Bo Lindqvist": Mastodon bo@fosstodon.org (follower of mastodon:ana, current, and
          following); bio email bo@bo.example (unknown), a website; tag personal
person 3  "Cy Young": X 103, follower of x:ana until snapshot 4 (left); cy@example.com
          unsubscribed (newsletter, no relationship): unreachable
person 4  "Di Dimitriou": an address-book contact: di@example.net unknown but on the
          suppression list, and a phone (+442079460958): reachable by phone only
person 5  "Ed Eriksen": Bluesky did:plc:… (no relationship); mastodon handle
          ed@social.example named in his bio; ed@example.com opted in by one newsletter
          profile and unsubscribed on another: unsubscribed wins
person 6  "=cmd|' /C calc'!A0" (hostile): contact points on the person itself (no profile):
          hostile@example.org opted_in, a handle x:hostile; tag "=HYPERLINK(1)"
person 7  "Fay": Mastodon fay@mastodon.social, not related to any account (found in a bio),
          plus a Bluesky handle fay.example.com without a DID; tag personal
person 8  "Gus": X 108 follower of x:ana (current), no contacts; his own handle x:gus is
          suppressed (opted out of messages)
========  =====================================================================================

A finished link run is recorded after all of it, so the incremental link every export
command starts with changes nothing.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, insert

from backup.db.engine import write
from backup.db.models import (
    Account,
    ContactPoint,
    LinkRun,
    Person,
    PersonTag,
    Profile,
    Relationship,
    Snapshot,
    Suppression,
)

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
T1 = dt.datetime(2024, 2, 1, tzinfo=dt.UTC)
DID_ED = "did:plc:edeedeedeedeedeedeedeede"
HOSTILE = "=cmd|' /C calc'!A0"


def _profile(platform, platform_id, person, *, handle=None, name=None, url=None, seen=T0):
    return {"platform": platform, "platform_id": platform_id, "handle": handle, "display_name": name, "url": url,
            "person_id": person, "first_seen_at": seen, "updated_at": seen}


def _contact(platform, platform_id, kind, value, source, consent=None, person=None, verified=None):
    return {"platform": platform, "platform_id": platform_id, "kind": kind, "value": value, "source": source,
            "consent": consent, "person_id": person, "verified": verified, "created_at": T0}


def build(engine: Engine) -> None:
    with write(engine) as conn:
        account = {"label": None, "tags": [], "status": "active", "token_env": None, "created_at": T0}
        conn.execute(insert(Account), [
            {**account, "id": 1, "platform": "x", "handle": "ana", "label": "ana-x", "tags": ["professional"]},
            {**account, "id": 2, "platform": "mastodon", "handle": "ana@social.example"},
            {**account, "id": 3, "platform": "newsletter", "handle": "letters"},
            {**account, "id": 4, "platform": "bluesky", "handle": "ana.example.com", "token_env": "BSKY_APP_PASSWORD"},
        ])
        snap = {"source": "api", "status": "complete", "started_at": T0, "finished_at": T0}
        conn.execute(insert(Snapshot), [
            {"id": 1, "account_id": 1, "kind": "follower", "as_of": T0, "seq": 1, **snap},
            {"id": 2, "account_id": 2, "kind": "follower", "as_of": T0, "seq": 1, **snap},
            {"id": 3, "account_id": 3, "kind": "subscriber", "as_of": T0, "seq": 1, **snap},
            {"id": 4, "account_id": 1, "kind": "follower", "as_of": T1, "seq": 2, **snap},
            {"id": 5, "account_id": 2, "kind": "following", "as_of": T0, "seq": 1, **snap},
        ])
        conn.execute(insert(Person), [
            {"id": i, "name": n, "created_at": T0} for i, n in [
                (1, "Ada Lovelace"), (2, "Bo Lindqvist"), (3, "Cy Young"), (4, "Di Dimitriou"), (5, "Ed Eriksen"),
                (6, HOSTILE), (7, "Fay"), (8, "Gus")]
        ])
        conn.execute(insert(Profile), [
            _profile("x", "101", 1, handle="ada", name="Ada L."),
            _profile("newsletter", "ada@example.org", 1),
            _profile("mastodon", "bo@fosstodon.org", 2, handle="bo@fosstodon.org", name="Bo", url="https://fosstodon.org/@bo", seen=T1),
            _profile("x", "103", 3, handle="cy"),
            _profile("newsletter", "cy@example.com", 3),
            _profile("contacts", "uid-di", 4, name="Di Dimitriou"),
            _profile("bluesky", DID_ED, 5, handle="ed.bsky.social", name="Ed"),
            _profile("newsletter", "ed@example.com", 5),
            _profile("contacts", "uid-ed", 5, name="Ed Eriksen"),
            _profile("mastodon", "fay@mastodon.social", 7, handle="fay@mastodon.social", name="Fay"),
            _profile("x", "108", 8, handle="gus", name="Gus"),
        ])
        conn.execute(insert(Relationship), [
            {"account_id": 1, "kind": "follower", "platform": "x", "platform_id": "101", "since_snapshot_id": 1, "until_snapshot_id": None},
            {"account_id": 2, "kind": "follower", "platform": "mastodon", "platform_id": "bo@fosstodon.org", "since_snapshot_id": 2, "until_snapshot_id": None},
            {"account_id": 2, "kind": "following", "platform": "mastodon", "platform_id": "bo@fosstodon.org", "since_snapshot_id": 5, "until_snapshot_id": None},
            {"account_id": 3, "kind": "subscriber", "platform": "newsletter", "platform_id": "ada@example.org", "since_snapshot_id": 3, "until_snapshot_id": None},
            {"account_id": 1, "kind": "follower", "platform": "x", "platform_id": "103", "since_snapshot_id": 1, "until_snapshot_id": 4},
            {"account_id": 1, "kind": "follower", "platform": "x", "platform_id": "108", "since_snapshot_id": 1, "until_snapshot_id": None},
        ])
        conn.execute(insert(ContactPoint), [
            _contact("x", "101", "handle", "x:ada", "self"),
            _contact("newsletter", "ada@example.org", "email", "ada@example.org", "letters.csv", "opted_in"),
            _contact("x", "101", "email", "ada.work@example.org", "profile:bio"),
            _contact("mastodon", "bo@fosstodon.org", "handle", "mastodon:bo@fosstodon.org", "self"),
            _contact("mastodon", "bo@fosstodon.org", "email", "bo@bo.example", "profile:bio", "unknown"),
            _contact("mastodon", "bo@fosstodon.org", "website", "https://bo.example", "profile:website"),
            _contact("newsletter", "cy@example.com", "email", "cy@example.com", "letters.csv", "unsubscribed"),
            _contact("contacts", "uid-di", "email", "di@example.net", "contacts.vcf", "unknown"),
            _contact("contacts", "uid-di", "phone", "+442079460958", "contacts.vcf"),
            _contact("bluesky", DID_ED, "handle", "bluesky:ed.bsky.social", "self"),
            _contact("bluesky", DID_ED, "handle", "mastodon:ed@social.example", "profile:bio"),
            _contact("newsletter", "ed@example.com", "email", "ed@example.com", "letters.csv", "opted_in"),
            _contact("contacts", "uid-ed", "email", "ed@example.com", "old-letters.csv", "unsubscribed"),
            _contact(None, None, "email", "hostile@example.org", "manual.csv", "opted_in", person=6),
            _contact(None, None, "handle", "x:hostile", "manual.csv", person=6),
            _contact("mastodon", "fay@mastodon.social", "handle", "mastodon:fay@mastodon.social", "self"),
            _contact("mastodon", "fay@mastodon.social", "handle", "bluesky:fay.example.com", "profile:bio"),
            _contact("x", "108", "handle", "x:gus", "self"),
        ])
        conn.execute(insert(PersonTag), [
            {"person_id": 1, "tag": "professional", "source": "manual", "created_at": T0},
            {"person_id": 2, "tag": "personal", "source": "manual", "created_at": T0},
            {"person_id": 6, "tag": "=HYPERLINK(1)", "source": "manual", "created_at": T0},
            {"person_id": 7, "tag": "personal", "source": "manual", "created_at": T0},
        ])
        conn.execute(insert(Suppression), [
            {"kind": "email", "value": "di@example.net", "reason": "manual", "source": "optout", "created_at": T0},
            {"kind": "email", "value": "cy@example.com", "reason": "unsubscribed", "source": "letters.csv", "account_id": 3, "created_at": T0},
            {"kind": "handle", "value": "x:gus", "reason": "manual", "source": "optout", "created_at": T0},
        ])
        # A finished link run after every change: an export's incremental link finds nothing to do
        # and keeps these hand-made persons as they are.
        done = T1 + dt.timedelta(days=1)
        conn.execute(insert(LinkRun), [{"started_at": done, "finished_at": done, "created_at": done}])
        if conn.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for table in ("persons", "contact_points", "suppressions", "accounts", "snapshots"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
