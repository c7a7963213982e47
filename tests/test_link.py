"""Identity linking (backup.people.link, SPEC §7) on SQLite and PostgreSQL: every rung of the
evidence ladder links, decoys and hostile bios do not, manual decisions and person ids
survive every kind of re-run, and runs are incremental."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import Engine, func, select, text, update

from backup.db.engine import write
from backup.db.models import (
    Account,
    ContactPoint,
    IdentityDecision,
    IdentityLink,
    Person,
    PersonTag,
    Profile,
    Relationship,
    Snapshot,
    TagRule,
    utcnow,
)
from backup.people import link as link_module
from backup.people.evidence import MAX_SHARED
from backup.people.link import MAX_CLUSTER, run_link
from backup.people.persons import add_tag, merge, split

DID = "did:plc:abcdefghijklmnopqrstuvwx"
DID2 = "did:plc:bcdefghijklmnopqrstuvwxy"


def add_profiles(engine: Engine, *profiles: dict, when: dt.datetime | None = None) -> None:
    """Profiles as a connector or importer would store them (platform, platform_id, fields)."""
    now = when or utcnow()
    rows = []
    for p in profiles:
        row = {"handle": None, "display_name": None, "url": None, "bio": None, "website": None, "data": None, **p}
        if isinstance(row["data"], dict):
            row["data"] = json.dumps(row["data"])
        # NUL never reaches the store: snapshots clean text (and PostgreSQL refuses it)
        row = {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in row.items()}
        rows.append({**row, "first_seen_at": now, "updated_at": now})
    with write(engine) as conn:
        conn.execute(Profile.__table__.insert(), rows)


def touch(engine: Engine, key: str, **fields) -> None:
    platform, _, platform_id = key.partition(":")
    if isinstance(fields.get("data"), dict):
        fields["data"] = json.dumps(fields["data"])
    with write(engine) as conn:
        conn.execute(update(Profile).where(Profile.platform == platform, Profile.platform_id == platform_id)
                     .values(updated_at=utcnow(), **fields))


def person_of(engine: Engine, key: str) -> int:
    platform, _, platform_id = key.partition(":")
    with engine.connect() as conn:
        return conn.execute(select(Profile.person_id).where(Profile.platform == platform, Profile.platform_id == platform_id)).scalar_one()


def evidence_between(engine: Engine, a: str, b: str) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(IdentityLink.a_platform, IdentityLink.a_platform_id, IdentityLink.b_platform,
                                   IdentityLink.b_platform_id, IdentityLink.evidence)).all()
    return {r[4] for r in rows if {f"{r[0]}:{r[1]}", f"{r[2]}:{r[3]}"} == {a, b}}


def invariants(engine: Engine) -> None:
    """Every profile has exactly one person, every person has a profile, links stay within persons."""
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Profile).where(Profile.person_id.is_(None))).scalar_one() == 0
        orphans = conn.execute(text(
            "SELECT COUNT(*) FROM persons WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.person_id = persons.id)"
        )).scalar_one()
        assert orphans == 0
        crossing = conn.execute(text(
            "SELECT COUNT(*) FROM identity_links l "
            "JOIN profiles a ON a.platform = l.a_platform AND a.platform_id = l.a_platform_id "
            "JOIN profiles b ON b.platform = l.b_platform AND b.platform_id = l.b_platform_id WHERE a.person_id <> b.person_id"
        )).scalar_one()
        assert crossing == 0


# One pair of profiles per rung of the ladder: (evidence, profile a, profile b).
LADDER = [
    ("same_email",
     {"platform": "x", "platform_id": "101", "handle": "ana_x", "display_name": "Ana", "bio": "mail: Ana@Ana.dev"},
     {"platform": "github", "platform_id": "201", "handle": "ana-gh", "display_name": "Ana Lima", "data": {"email": "ana@ana.dev"}}),
    ("same_phone",
     {"platform": "x", "platform_id": "102", "handle": "bo_x", "bio": "call +44 20 7946 0958"},
     {"platform": "mastodon", "platform_id": "https://m.example/users/bo", "handle": "bo@m.example", "bio": "☎ +44 (0)20 7946 0958"}),
    ("verified_link",
     {"platform": "mastodon", "platform_id": "https://m.example/users/cy", "handle": "cy@m.example",
      "data": {"fields": [{"name": "Code", "value": "https://github.com/cy-codes", "verified_at": "2024-01-01T00:00:00Z"}]}},
     {"platform": "github", "platform_id": "202", "handle": "cy-codes"}),
    ("github_twitter",
     {"platform": "github", "platform_id": "203", "handle": "dee", "data": {"twitter_username": "dee_tweets"}},
     {"platform": "x", "platform_id": "103", "handle": "dee_tweets"}),
    ("mentions_both",
     {"platform": "x", "platform_id": "104", "handle": "eli_x", "bio": "also 🐘 @eli@m.example"},
     {"platform": "mastodon", "platform_id": "https://m.example/users/eli", "handle": "eli@m.example", "bio": "https://x.com/eli_x"}),
    ("mentions",
     {"platform": "bluesky", "platform_id": DID, "handle": "fay.bsky.social", "bio": "code: github.com/fay-gh"},
     {"platform": "github", "platform_id": "204", "handle": "fay-gh"}),
    ("domain_handle",
     {"platform": "bluesky", "platform_id": DID2, "handle": "gus.dev"},
     {"platform": "x", "platform_id": "105", "handle": "gus_x", "website": "https://gus.dev/"}),
    ("same_website",
     {"platform": "mastodon", "platform_id": "https://m.example/users/hal", "handle": "hal@m.example", "website": "https://hal.example.org/about"},
     {"platform": "github", "platform_id": "205", "handle": "hal", "data": {"blog": "hal.example.org/about?utm_source=gh"}}),
    ("same_account",  # one Mastodon account under its URI (API) and its address (a follows CSV)
     {"platform": "mastodon", "platform_id": "https://m.example/users/ivy", "handle": "ivy@m.example"},
     {"platform": "mastodon", "platform_id": "ivy@m.example", "handle": "ivy@m.example"}),
    ("moved",
     {"platform": "mastodon", "platform_id": "https://m.example/users/jo", "handle": "jo@m.example", "data": {"moved": "jo@n.example"}},
     {"platform": "mastodon", "platform_id": "https://n.example/users/jo", "handle": "jo@n.example"}),
]


def test_every_rung_of_the_ladder_links(engine: Engine):
    add_profiles(engine, *(p for _, a, b in LADDER for p in (a, b)))
    result = run_link(engine)
    for kind, a, b in LADDER:
        ka, kb = f"{a['platform']}:{a['platform_id']}", f"{b['platform']}:{b['platform_id']}"
        assert person_of(engine, ka) == person_of(engine, kb), kind
        assert kind in evidence_between(engine, ka, kb), (kind, evidence_between(engine, ka, kb))
    assert set(result.links_by_evidence) == {k for k, _, _ in LADDER}
    assert result.persons == len(LADDER) and result.profiles == 2 * len(LADDER)
    with engine.connect() as conn:
        row = conn.execute(select(IdentityLink.matched, IdentityLink.confidence).where(IdentityLink.evidence == "same_email")).one()
    assert json.loads(row.matched) == ["ana@ana.dev"]
    assert row.confidence == pytest.approx(0.99)  # 0.95, and the names are alike: +0.04
    invariants(engine)


def test_decoys_stay_separate(engine: Engine):
    office = [{"platform": "x", "platform_id": str(300 + i), "handle": f"colleague{i}", "bio": "press: press@bigcorp.example"}
              for i in range(MAX_SHARED + 1)]
    add_profiles(
        engine,
        # a mention on the same platform: an employer, a friend, a joke
        {"platform": "x", "platform_id": "1", "handle": "fan", "display_name": "Kim", "bio": "views my own, fan of @acme"},
        {"platform": "x", "platform_id": "2", "handle": "acme", "display_name": "Acme"},
        # the same display name, nothing else: two people
        {"platform": "mastodon", "platform_id": "https://m.example/users/ana", "handle": "ana@m.example", "display_name": "Ana Lima"},
        {"platform": "github", "platform_id": "9", "handle": "analima", "display_name": "Ana Lima"},
        # the same page on a shared host is not a personal website
        {"platform": "x", "platform_id": "3", "handle": "lee", "website": "https://linktr.ee/lee"},
        {"platform": "github", "platform_id": "10", "handle": "lee", "data": {"blog": "https://linktr.ee/lee"}},
        {"platform": "mastodon", "platform_id": "https://m.example/users/max", "handle": "max@m.example", "website": "https://medium.com"},
        {"platform": "github", "platform_id": "11", "handle": "max", "data": {"blog": "https://medium.com/"}},
        # two fans naming the same account elsewhere are not each other
        {"platform": "x", "platform_id": "4", "handle": "fan1", "bio": "🐘 @star@m.example"},
        {"platform": "bluesky", "platform_id": DID, "handle": "fan2.bsky.social", "bio": "🐘 @star@m.example"},
        # an office address in many bios: nobody's personal value
        *office,
    )
    result = run_link(engine)
    assert result.links_by_evidence == {}
    assert result.persons == result.profiles
    refused = result.refused
    assert refused["shared_values"] == 1
    assert refused["shared_value_examples"] == [{"kind": "email", "value": "press@bigcorp.example", "profiles": MAX_SHARED + 1}]
    invariants(engine)


HOSTILE = [
    "x" * 150_000 + " @ana_x " + "y" * 150_000,  # huge; the handle is past the cap or glued to junk
    "@a@b@c @ana_x@b@c a@b@c",
    "https://x.com@evil.example/ana_x https://user:pw@x.com/ana_x //ana_x:pw@twitter.com/ana_x",
    "https://x.cоm/ana_x twіtter.com/ana_x https://xn--twtter-uqc.com/ana_x",  # Cyrillic о and і
    "\u202eana_x@x.com\u202c \u202e@ana_x\u202c \u200bgithub.com/\u200b",
    "\x01 mail:\x02ana\x03@ana.dev\x7f " + "@" * 10_000 + " " + "https://" * 5_000,  # controls inside the address
    "((((((((((" * 5_000 + "@ana_x" + "))))))))))" * 5_000,
]


def test_hostile_bios_neither_crash_nor_link(engine: Engine):
    add_profiles(
        engine,
        {"platform": "x", "platform_id": "1", "handle": "ana_x", "display_name": "Ana"},
        {"platform": "github", "platform_id": "7", "handle": "ana_gh", "display_name": "\u202eanA", "data": {"email": "ana@ana.dev"}},
        *({"platform": "mastodon", "platform_id": f"https://m.example/users/h{i}", "handle": f"h{i}@m.example",
           "display_name": bio[:1000], "bio": bio, "website": bio[:3000], "data": {"fields": [{"name": bio[:100], "value": bio[:5000]}]}}
          for i, bio in enumerate(HOSTILE)),
        {"platform": "bluesky", "platform_id": DID, "handle": "evil.bsky.social", "data": "{not json"},
    )
    result = run_link(engine)
    assert result.links_by_evidence == {}, result.links_by_evidence
    assert result.persons == result.profiles
    invariants(engine)


def test_merge_and_split_survive_every_kind_of_run(engine: Engine):
    add_profiles(
        engine,
        {"platform": "x", "platform_id": "1", "handle": "ana_x", "display_name": "Ana", "bio": "ana@ana.dev"},
        {"platform": "github", "platform_id": "2", "handle": "ana", "data": {"email": "ana@ana.dev"}},
        {"platform": "mastodon", "platform_id": "https://m.example/users/ana", "handle": "ana@m.example", "display_name": "Ana L."},
        {"platform": "instagram", "platform_id": "ana.pics", "handle": "ana.pics"},
    )
    run_link(engine)
    x, gh, masto, ig = "x:1", "github:2", "mastodon:https://m.example/users/ana", "instagram:ana.pics"
    assert person_of(engine, x) == person_of(engine, gh) != person_of(engine, masto)
    with write(engine) as conn:
        merge(conn, person_of(engine, x), person_of(engine, masto))
        merge(conn, person_of(engine, x), person_of(engine, ig))
    run_link(engine)
    assert len({person_of(engine, k) for k in (x, gh, masto, ig)}) == 1
    assert "manual" in evidence_between(engine, x, masto)
    with write(engine) as conn:
        split(conn, person_of(engine, x), ("github", "2"))  # the email link was wrong, say
        split(conn, person_of(engine, x), ("instagram", "ana.pics"))  # a split wins over an earlier merge
    for full in (False, False, True):
        touch(engine, gh)  # a changed profile is re-read, its evidence found again
        result = run_link(engine, full=full)
        assert person_of(engine, x) == person_of(engine, masto)
        assert person_of(engine, gh) != person_of(engine, x)
        assert person_of(engine, ig) != person_of(engine, x)
        assert result.refused["blocked_by_split"] >= 1
        invariants(engine)
    with engine.connect() as conn:
        kinds = dict(conn.execute(select(IdentityDecision.b_platform, IdentityDecision.kind)
                                  .where(IdentityDecision.a_platform == "github")).all())
    assert kinds.get("x") == "split"


def test_person_ids_stay_put(engine: Engine):
    add_profiles(
        engine,
        {"platform": "x", "platform_id": "1", "handle": "ana_x", "display_name": "Ana", "bio": "ana@ana.dev"},
        {"platform": "github", "platform_id": "2", "handle": "ana", "data": {"email": "ana@ana.dev"}},
        {"platform": "x", "platform_id": "3", "handle": "bo_x", "display_name": "Bo"},
    )
    run_link(engine)
    ana, bo = person_of(engine, "x:1"), person_of(engine, "x:3")
    # a new profile of Ana joins her person; Bo's id does not move
    add_profiles(engine, {"platform": "mastodon", "platform_id": "https://m.example/users/ana", "handle": "ana@m.example",
                          "bio": "https://x.com/ana_x"})
    run_link(engine)
    assert person_of(engine, "mastodon:https://m.example/users/ana") == ana and person_of(engine, "x:3") == bo
    # a profile whose evidence goes is split off with a new person; the rest keep theirs
    touch(engine, "github:2", data=None)
    run_link(engine)
    assert person_of(engine, "x:1") == ana == person_of(engine, "mastodon:https://m.example/users/ana")
    gh = person_of(engine, "github:2")
    assert gh not in (ana, bo)
    # two persons merged keep the smaller id; the other is deleted
    with write(engine) as conn:
        merge(conn, bo, ana)
    run_link(engine)
    assert person_of(engine, "x:3") == min(ana, bo) == person_of(engine, "x:1")
    with engine.connect() as conn:
        assert conn.execute(select(Person.id).where(Person.id == max(ana, bo))).first() is None
        assert conn.execute(select(Person.name).where(Person.id == min(ana, bo))).scalar_one() == "Ana"
    run_link(engine, full=True)
    assert person_of(engine, "x:3") == min(ana, bo) and person_of(engine, "github:2") == gh
    invariants(engine)


def test_manual_tags_follow_a_merge(engine: Engine):
    add_profiles(engine, {"platform": "x", "platform_id": "1", "handle": "a"}, {"platform": "x", "platform_id": "2", "handle": "b"})
    run_link(engine)
    a, b = person_of(engine, "x:1"), person_of(engine, "x:2")
    with write(engine) as conn:
        add_tag(conn, "vip", [max(a, b)])
        merge(conn, a, b)
    run_link(engine)
    with engine.connect() as conn:
        tags = conn.execute(select(PersonTag.person_id, PersonTag.tag, PersonTag.source)).all()
    assert [tuple(t) for t in tags] == [(min(a, b), "vip", "manual")]


def test_a_person_never_grows_past_the_cap(engine: Engine):
    n = MAX_CLUSTER + 5  # a chain: profile i shares one address with i + 1
    add_profiles(engine, *(
        {"platform": "x", "platform_id": str(i), "handle": f"p{i}", "bio": f"a{i}@chain.example a{i + 1}@chain.example"}
        for i in range(n)
    ))
    result = run_link(engine)
    with engine.connect() as conn:
        sizes = [r[0] for r in conn.execute(text("SELECT COUNT(*) FROM profiles GROUP BY person_id"))]
    assert max(sizes) <= MAX_CLUSTER and sum(sizes) == n and len(sizes) >= 2
    assert result.refused["clusters"] >= 1
    assert result.refused["cluster_examples"][0]["size"] > MAX_CLUSTER
    invariants(engine)


def test_runs_are_incremental(engine: Engine):
    add_profiles(engine, *({"platform": "x", "platform_id": str(i), "handle": f"p{i}", "bio": f"🐘 @p{i}@m.example"} for i in range(20)))
    first = run_link(engine)
    assert first.profiles_read == 20 and first.full
    again = run_link(engine)
    assert again.profiles_read == 0 and again.unchanged and not again.full
    touch(engine, "x:3", bio="now at github.com/p3-gh")
    add_profiles(engine, {"platform": "github", "platform_id": "77", "handle": "p3-gh"})
    third = run_link(engine)
    assert third.profiles_read == 2 and not third.unchanged
    assert person_of(engine, "x:3") == person_of(engine, "github:77")
    with engine.connect() as conn:  # the old mention is gone with the bio that made it
        values = set(conn.execute(select(ContactPoint.value).where(ContactPoint.platform_id == "3", ContactPoint.source != "self")).scalars())
    assert values == {"github:p3-gh"}
    assert run_link(engine, full=True).profiles_read == 21


def test_contact_points_an_import_stored_are_never_touched(engine: Engine):
    add_profiles(engine, {"platform": "mastodon", "platform_id": "ana@m.example", "handle": "ana@m.example", "bio": "ana@ana.dev"},
                 {"platform": "contacts", "platform_id": "card-1", "display_name": "Ana Lima"})
    with write(engine) as conn:
        conn.execute(ContactPoint.__table__.insert(), [
            {"platform": "mastodon", "platform_id": "ana@m.example", "kind": "email", "value": "ana@ana.dev",
             "source": "followers.csv", "consent": "opted_in", "created_at": utcnow()},
            # a vCard's URL names her Mastodon account: a handle read from it
            {"platform": "contacts", "platform_id": "card-1", "kind": "website", "value": "https://m.example/@ana",
             "source": "contacts.vcf", "consent": None, "created_at": utcnow()},
        ])
    for full in (False, True):
        run_link(engine, full=full)
        with engine.connect() as conn:
            rows = conn.execute(select(ContactPoint.platform, ContactPoint.kind, ContactPoint.value, ContactPoint.source,
                                       ContactPoint.consent).order_by(ContactPoint.platform, ContactPoint.kind)).all()
        assert [tuple(r) for r in rows] == [
            ("contacts", "handle", "mastodon:ana@m.example", "profile:import", None),
            ("contacts", "website", "https://m.example/@ana", "contacts.vcf", None),
            ("mastodon", "email", "ana@ana.dev", "followers.csv", "opted_in"),
            ("mastodon", "handle", "mastodon:ana@m.example", "self", None),
        ]
        assert person_of(engine, "contacts:card-1") == person_of(engine, "mastodon:ana@m.example")


def _account_with(engine: Engine, platform: str, handle: str, kind: str, platform_ids: list[str]) -> int:
    now = utcnow()
    with write(engine) as conn:
        acc = conn.execute(Account.__table__.insert().values(platform=platform, handle=handle, tags=[], status="active",
                                                             created_at=now).returning(Account.id)).scalar_one()
        snap = conn.execute(Snapshot.__table__.insert().values(
            account_id=acc, kind=kind, source="api", status="complete", started_at=now, finished_at=now, as_of=now, seq=1,
            pages=1, received=len(platform_ids), bad_records=0,
        ).returning(Snapshot.id)).scalar_one()
        conn.execute(Relationship.__table__.insert(), [
            {"account_id": acc, "kind": kind, "platform_id": pid, "since_snapshot_id": snap, "platform": platform}
            for pid in platform_ids
        ])
    return acc


def test_tag_rules_follow_the_data_and_leave_manual_tags(engine: Engine):
    add_profiles(
        engine,
        {"platform": "linkedin", "platform_id": "https://www.linkedin.com/in/ana", "handle": "ana", "bio": "ana@ana.dev"},
        {"platform": "x", "platform_id": "1", "handle": "ana_x", "bio": "ana@ana.dev"},
        {"platform": "x", "platform_id": "2", "handle": "bo"},
        {"platform": "x", "platform_id": "3", "handle": "cy"},
    )
    acc = _account_with(engine, "x", "me_personal", "follower", ["2", "3"])
    run_link(engine)
    with write(engine) as conn:
        none = {"platform": None, "account_id": None, "kind": None, "created_at": utcnow()}
        conn.execute(TagRule.__table__.insert(), [
            {**none, "tag": "professional", "platform": "linkedin"},
            {**none, "tag": "personal", "account_id": acc},
            {**none, "tag": "fans", "kind": "follower"},
        ])
        add_tag(conn, "personal", [person_of(engine, "x:3")])
    run_link(engine)

    def tags() -> set[tuple[str, str, str]]:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT p.platform_id, t.tag, t.source FROM person_tags t JOIN profiles p ON p.person_id = t.person_id "
                "WHERE p.platform = 'x'"
            )).all()
        return {(r[0], r[1], r[2].partition(":")[0]) for r in rows}

    assert tags() == {
        ("1", "professional", "rule"),  # Ana's X profile is the same person as her LinkedIn one
        ("2", "personal", "rule"), ("2", "fans", "rule"),
        ("3", "personal", "manual"), ("3", "fans", "rule"),
    }
    with write(engine) as conn:  # Bo and Cy stop following: rule tags go, the manual one stays
        conn.execute(update(Relationship).where(Relationship.account_id == acc).values(
            until_snapshot_id=select(func.max(Snapshot.id)).scalar_subquery()))
    run_link(engine)
    assert tags() == {("1", "professional", "rule"), ("3", "personal", "manual")}


def test_a_failed_run_changes_nothing_and_the_next_one_catches_up(engine: Engine, monkeypatch):
    add_profiles(engine, {"platform": "x", "platform_id": "1", "handle": "a", "bio": "a@a.example"},
                 {"platform": "github", "platform_id": "2", "handle": "a", "data": {"email": "a@a.example"}})

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(link_module, "assign_persons", boom)
    assert link_module.link_after_import(engine) is None  # logged, not raised
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ContactPoint)).scalar_one() == 0
        assert conn.execute(text("SELECT COUNT(*) FROM link_runs")).scalar_one() == 0
    monkeypatch.undo()
    result = run_link(engine)
    assert result.profiles_read == 2 and person_of(engine, "x:1") == person_of(engine, "github:2")


def test_people_queries_on_both_databases(engine: Engine):
    """The read side of the people commands: resolve, search (with LIKE escapes), show."""
    from backup.people.persons import resolve_person, search, show

    add_profiles(
        engine,
        {"platform": "x", "platform_id": "1", "handle": "ana_x", "display_name": "Ana 100%_sure", "bio": "ana@ana.dev"},
        {"platform": "github", "platform_id": "2", "handle": "Ana-GH", "data": {"email": "ana@ana.dev"}},
        {"platform": "mastodon", "platform_id": "https://m.example/users/bo", "handle": "bo@m.example", "display_name": "Bo"},
    )
    run_link(engine)
    with engine.connect() as conn:
        ana = resolve_person(conn, "ANA@ana.dev")
        assert resolve_person(conn, "github:@ana-gh") == ana == resolve_person(conn, "x:1") == resolve_person(conn, str(ana))
        assert resolve_person(conn, "mastodon:bo@m.example") == resolve_person(conn, "mastodon:https://m.example/users/bo")
        assert [p["id"] for p in search(conn, "100%_")] == [ana]
        assert search(conn, "10%x") == []
        assert [p["id"] for p in search(conn, "ana.dev")] == [ana]
        assert [p["name"] for p in search(conn, None, platform="mastodon")] == ["Bo"]
        doc = show(conn, ana)
    assert {p["platform"] for p in doc["profiles"]} == {"x", "github"}
    assert doc["contacts"] == [{"kind": "email", "value": "ana@ana.dev", "source": "profile:data:email", "consent": "unknown",
                                "verified": False, "sources": [{"profile": "github:2", "source": "profile:data:email"},
                                                               {"profile": "x:1", "source": "profile:bio"}]}]
    assert [(link["evidence"], link["manual"]) for link in doc["links"]] == [("same_email", False)]


def test_bulk_and_parallel_paths_give_the_same_result(engine: Engine, monkeypatch):
    """A million-profile run drops and rebuilds secondary indexes (SQLite) and extracts in
    worker processes; on a small store forced down those paths, nothing may differ."""
    import people_truth

    profiles = list(people_truth.generate(150, seed=3))
    with write(engine) as conn:
        people_truth.load(conn, profiles)

    def state() -> tuple:
        with engine.connect() as conn:
            persons = sorted(sorted(g) for g in _groups(conn))
            links = sorted(tuple(r) for r in conn.execute(select(
                IdentityLink.a_platform, IdentityLink.a_platform_id, IdentityLink.b_platform, IdentityLink.b_platform_id,
                IdentityLink.evidence, IdentityLink.matched, IdentityLink.confidence)))
            points = sorted(tuple(r) for r in conn.execute(select(
                ContactPoint.platform, ContactPoint.platform_id, ContactPoint.kind, ContactPoint.value, ContactPoint.source)))
        return persons, links, points

    first = run_link(engine)
    before = state()
    monkeypatch.setattr(link_module, "BULK_MIN", 1)
    monkeypatch.setattr(link_module, "PARALLEL_MIN", 1)
    with write(engine) as conn:  # a first run, as far as persons and links go
        conn.execute(text("UPDATE profiles SET person_id = NULL"))
        conn.execute(text("DELETE FROM persons"))
        conn.execute(text("DELETE FROM identity_links"))
    again = run_link(engine, full=True)
    assert state() == before
    assert again.links_by_evidence == first.links_by_evidence and sum(first.links_by_evidence.values()) > 50
    with engine.connect() as conn:
        from sqlalchemy import inspect

        indexes = {i["name"] for t in ("contact_points", "profiles", "identity_links") for i in inspect(conn).get_indexes(t)}
    assert {"ix_contact_points_kind_value", "ix_profiles_person_id", "ix_identity_links_b"} <= indexes
    invariants(engine)


def _groups(conn) -> list[list[str]]:
    groups: dict[int, list[str]] = {}
    for platform, platform_id, person in conn.execute(select(Profile.platform, Profile.platform_id, Profile.person_id)):
        groups.setdefault(person, []).append(f"{platform}:{platform_id}")
    return list(groups.values())


def test_ensure_linked_runs_only_when_something_changed(engine: Engine):
    from backup.people.link import ensure_linked, needs_link

    assert ensure_linked(engine) is None  # an empty store: nothing to link
    add_profiles(engine, {"platform": "x", "platform_id": "1", "handle": "ana", "bio": "mail me: ana@example.org"},
                 {"platform": "mastodon", "platform_id": "https://m.example/users/ana", "handle": "ana@m.example",
                  "bio": "ana@example.org"})
    first = ensure_linked(engine)
    assert first is not None and first.links_by_evidence == {"same_email": 1}
    assert ensure_linked(engine) is None
    with engine.connect() as conn:
        assert not needs_link(conn)
    add_profiles(engine, {"platform": "github", "platform_id": "7", "handle": "ana", "bio": "ana@example.org"})
    assert ensure_linked(engine).links_by_evidence == {"same_email": 3}  # each pair of the three
    invariants(engine)


def test_phone_region_setting_reads_national_numbers(engine: Engine, monkeypatch):
    """Issue 5: phone region from a setting, default none (only +numbers are read then)."""
    add_profiles(engine, {"platform": "x", "platform_id": "1", "handle": "ana", "bio": "Büro: 030 901820"})
    run_link(engine)
    with engine.connect() as conn:
        assert conn.execute(select(ContactPoint.value).where(ContactPoint.kind == "phone")).scalars().all() == []
    monkeypatch.setenv("AUDIENCE_PHONE_REGION", "de")
    run_link(engine, full=True)  # the region applies to what is read: --full re-reads stored bios
    with engine.connect() as conn:
        assert conn.execute(select(ContactPoint.value).where(ContactPoint.kind == "phone")).scalars().all() == ["+4930901820"]


def test_an_unknown_phone_region_is_a_configuration_error(run_cli, tmp_path):
    r = run_cli("--db", str(tmp_path / "a.db"), "link", "--phone-region", "XX")
    assert r.exit_code == 4 and "unknown phone region 'XX'" in r.stderr and "hint:" in r.stderr
