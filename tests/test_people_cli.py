"""`audience link`, `people` and `tag` end to end on the bundled examples (SPEC §4, §7)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest


CARMEN = "carmen.ruiz@example.com"  # on LinkedIn, Mastodon, the newsletter and in the address book


@pytest.fixture
def db(demo_copy: str) -> str:
    return demo_copy


def as_json(result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_link_json_shape(run_cli, db: str):
    doc = as_json(run_cli("--db", db, "link", "--json"))
    assert set(doc) >= {"persons", "profiles", "links_by_evidence", "contact_points_by_kind", "refused"}
    assert doc["profiles"] > doc["persons"] > 0
    assert doc["links_by_evidence"]["same_email"] >= 10 and doc["links_by_evidence"]["same_website"] >= 3
    assert doc["contact_points_by_kind"]["email"] > 0 and "handle" in doc["contact_points_by_kind"]
    assert doc["refused"]["shared_values"] == 0 and doc["refused"]["clusters"] == 0
    again = as_json(run_cli("--db", db, "link", "--json"))
    assert again["unchanged"] and again["profiles_read"] == 0 and again["persons"] == doc["persons"]
    text = run_cli("--db", db, "link", "--full")
    assert text.exit_code == 0, text.output
    assert f"in {doc['persons']:,} persons" in text.stdout and "same_email" in text.stdout


def test_people_show_lists_every_profile_contact_and_link(run_cli, db: str):
    run_cli("--db", db, "link")
    doc = as_json(run_cli("--db", db, "people", "show", CARMEN, "--json"))
    assert set(doc) == {"id", "name", "tags", "profiles", "contacts", "links"}
    assert doc["name"] == "Carmen Ruiz"
    by_platform = {p["platform"]: p for p in doc["profiles"]}
    assert set(by_platform) == {"contacts", "linkedin", "mastodon", "newsletter"}
    for p in doc["profiles"]:
        assert set(p) == {"platform", "platform_id", "handle", "display_name", "url", "relationships"}
    assert by_platform["mastodon"]["url"] == "https://mastodon.social/@carmen" or by_platform["mastodon"]["url"] is None
    rel = by_platform["linkedin"]["relationships"]
    assert rel == [{"account": "linkedin:ada-example", "kind": "connection", "since": rel[0]["since"], "until": None}]
    assert rel[0]["since"].endswith("Z") and rel[0]["since"][:4] == "2026"
    assert {r["kind"] for r in by_platform["newsletter"]["relationships"]} == {"subscriber"}
    contacts = {(c["kind"], c["value"]): c for c in doc["contacts"]}
    assert set(contacts) == {
        ("email", CARMEN), ("email", "carmen@mapas-abiertos.example"), ("phone", "+34612345678"),
        ("website", "https://mastodon.social/@carmen"), ("handle", "mastodon:carmen@mastodon.social"),
    }
    assert all(c["source"] != "self" for c in doc["contacts"])
    assert contacts[("email", CARMEN)]["consent"] == "opted_in"  # the newsletter says so
    assert set(contacts[("email", CARMEN)]) >= {"kind", "value", "source", "consent"}
    keys = {f"{p['platform']}:{p['platform_id']}" for p in doc["profiles"]}
    linked = set()
    for link in doc["links"]:
        assert set(link) >= {"profile_a", "profile_b", "evidence", "confidence", "manual"}
        assert {link["profile_a"], link["profile_b"]} <= keys and 0.7 <= link["confidence"] <= 1 and not link["manual"]
        linked |= {link["profile_a"], link["profile_b"]}
    assert linked == keys
    assert {link["evidence"] for link in doc["links"]} == {"same_email", "mentions"}
    # the same person by id and by handle; the text form names the evidence
    assert as_json(run_cli("--db", db, "people", "show", str(doc["id"]), "--json")) == doc
    assert as_json(run_cli("--db", db, "people", "show", "mastodon:@Carmen@mastodon.social", "--json"))["id"] == doc["id"]
    text = run_cli("--db", db, "people", "show", CARMEN)
    assert text.exit_code == 0, text.output
    for needle in ("Carmen Ruiz", "linkedin:carmen-ruiz-5b1a2c", "same_email", "mentions", "connection of linkedin:ada-example"):
        assert needle in text.stdout, needle


def test_decoys_with_the_same_name_stay_separate(run_cli, db: str):
    run_cli("--db", db, "link")
    found = as_json(run_cli("--db", db, "people", "Carmen", "--json"))
    # Facebook, Instagram and TikTok name a Carmen Ruiz too, with no evidence to join them
    assert len(found) >= 3
    assert len({p["platform"] for person in found for p in person["profiles"]}) >= 5
    main_person = next(p for p in found if CARMEN in p["emails"])
    assert "facebook" not in {p["platform"] for p in main_person["profiles"]}


def test_merge_and_split_from_the_command_line(run_cli, db: str):
    run_cli("--db", db, "link")
    carmen = as_json(run_cli("--db", db, "people", "show", CARMEN, "--json"))
    fb = next(p for p in as_json(run_cli("--db", db, "people", "Carmen", "--platform", "facebook", "--json")))
    r = run_cli("--db", db, "people", "merge", str(carmen["id"]), str(fb["id"]))
    assert r.exit_code == 0, r.output
    assert f"now person {min(carmen['id'], fb['id'])}" in r.stdout
    merged = as_json(run_cli("--db", db, "people", "show", CARMEN, "--json"))
    assert "facebook" in {p["platform"] for p in merged["profiles"]}
    assert any(link["manual"] and link["evidence"] == "manual" for link in merged["links"])
    assert as_json(run_cli("--db", db, "link", "--full", "--json"))["links_by_evidence"]["manual"] == len(carmen["profiles"])
    assert "facebook" in {p["platform"] for p in as_json(run_cli("--db", db, "people", "show", CARMEN, "--json"))["profiles"]}
    r = run_cli("--db", db, "people", "split", CARMEN, "linkedin:carmen-ruiz-5b1a2c")
    assert r.exit_code == 0, r.output
    after = as_json(run_cli("--db", db, "people", "show", str(merged["id"]), "--json"))  # the rest keeps its id
    assert "linkedin" not in {p["platform"] for p in after["profiles"]} and "facebook" in {p["platform"] for p in after["profiles"]}
    ambiguous = run_cli("--db", db, "people", "show", CARMEN)  # the LinkedIn profile has the address too
    assert ambiguous.exit_code == 2 and "matches 2 persons" in ambiguous.stderr
    r = run_cli("--db", db, "people", "split", "linkedin:carmen-ruiz-5b1a2c", "linkedin:carmen-ruiz-5b1a2c")
    assert r.exit_code == 2 and "only this profile" in r.stderr
    assert run_cli("--db", db, "people", "show", "nobody@nowhere.example").exit_code == 2


def test_tags_by_hand_and_by_rule(run_cli, db: str):
    run_cli("--db", db, "link")
    r = run_cli("--db", db, "tag", "rule", "add", "professional", "--platform", "linkedin")
    assert r.exit_code == 0, r.output
    assert run_cli("--db", db, "tag", "rule", "add", "fans", "--kind", "follower").exit_code == 0
    assert run_cli("--db", db, "tag", "rule", "add", "x", "--platform", "linkedin", "--kind", "follower").exit_code == 2
    assert run_cli("--db", db, "tag", "add", "friend", CARMEN, "mastodon:elif@mastodon.social").exit_code == 0
    doc = as_json(run_cli("--db", db, "tag", "list", "--json"))
    tags = {t["tag"]: t for t in doc["tags"]}
    assert tags["professional"]["persons"] == tags["professional"]["by_rule"] == 22  # LinkedIn connections
    assert tags["friend"] == {"tag": "friend", "persons": 2, "manual": 2, "by_rule": 0}
    assert [r["platform"] for r in doc["rules"]] == ["linkedin", None]
    pros = as_json(run_cli("--db", db, "people", "--tag", "professional", "--limit", "0", "--json"))
    assert len(pros) == 22 and all(any(p["platform"] == "linkedin" for p in person["profiles"]) for person in pros)
    assert "professional" in as_json(run_cli("--db", db, "people", "show", CARMEN, "--json"))["tags"]
    r = run_cli("--db", db, "tag", "remove", "professional", CARMEN)
    assert r.exit_code == 0 and "returns at the next link run" in r.stdout
    run_cli("--db", db, "link", "--full")
    assert "professional" in as_json(run_cli("--db", db, "people", "show", CARMEN, "--json"))["tags"]
    assert run_cli("--db", db, "tag", "rule", "remove", "1").exit_code == 0
    tags = {t["tag"]: t for t in as_json(run_cli("--db", db, "tag", "list", "--json"))["tags"]}
    assert "professional" not in tags and tags["friend"]["persons"] == 2


def test_people_search_and_empty_store(run_cli, tmp_path: Path):
    db = str(tmp_path / "empty.db")
    r = run_cli("--db", db, "people")
    assert r.exit_code == 0 and "no persons yet" in r.stdout
    assert as_json(run_cli("--db", db, "people", "--json")) == []
    assert as_json(run_cli("--db", db, "tag", "list", "--json")) == {"tags": [], "rules": []}
    assert as_json(run_cli("--db", db, "link", "--json"))["persons"] == 0


def _import_carmen_twice(run_cli, examples: Path, db: str) -> None:
    """Two exports that both name Carmen's address: LinkedIn and the newsletter."""
    for platform, handle in (("linkedin", "ada-example"), ("newsletter", "ada-letters")):
        assert run_cli("--db", db, "accounts", "add", platform, handle).exit_code == 0
    for name, ref in (("linkedin-export", "linkedin:ada-example"), ("newsletter-substack.csv", "newsletter:ada-letters")):
        r = run_cli("--db", db, "import", str(examples / name), "--account", ref)
        assert r.exit_code == 0, r.output


def test_import_links_by_itself(run_cli, examples: Path, tmp_path: Path):
    """SPEC §4: `link` runs after every import, incrementally; re-importing changes nothing."""
    db = str(tmp_path / "a.db")
    _import_carmen_twice(run_cli, examples, db)
    doc = as_json(run_cli("--db", db, "people", "show", CARMEN, "--json"))
    assert {p["platform"] for p in doc["profiles"]} == {"linkedin", "newsletter"}
    assert {link["evidence"] for link in doc["links"]} == {"same_email"}
    again = run_cli("--db", db, "import", str(examples / "linkedin-export"), "--account", "linkedin:ada-example")
    assert again.exit_code == 0 and "already imported" in again.output
    assert as_json(run_cli("--db", db, "link", "--json"))["unchanged"]


def test_a_failing_link_never_fails_the_import(run_cli, examples: Path, tmp_path: Path, monkeypatch, caplog):
    """The import is committed before linking starts: if linking breaks, the data stays, every
    profile still has a person (a snapshot gives new profiles their own), and the next run links."""
    import backup.people.link as link_module

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    db = str(tmp_path / "a.db")
    monkeypatch.setattr(link_module, "run_link", broken)
    _import_carmen_twice(run_cli, examples, db)
    assert "identity linking failed, the imported data is saved" in caplog.text
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        profiles, without, persons = conn.execute(text(
            "SELECT COUNT(*), COUNT(*) - COUNT(person_id), COUNT(DISTINCT person_id) FROM profiles")).one()
    engine.dispose()
    assert profiles > 10 and without == 0 and persons == profiles  # one each, none linked yet
    monkeypatch.undo()
    doc = as_json(run_cli("--db", db, "link", "--json"))
    assert not doc["unchanged"] and doc["links_by_evidence"]["same_email"] >= 1
    assert doc["persons"] < profiles


def test_tag_rules_reach_bare_ids_imported_later(run_cli, examples: Path, tmp_path: Path):
    """Linking skips an import of bare ids (nothing to extract or link), but not when a tag rule
    may give the new followers a tag."""
    db = str(tmp_path / "a.db")
    r = run_cli("--db", db, "import", str(examples / "x-archive-2026-10-01"))
    assert r.exit_code == 0, r.output
    assert as_json(run_cli("--db", db, "link", "--json"))["persons"] > 0  # a run by hand: the incremental point moves on
    assert run_cli("--db", db, "tag", "rule", "add", "x-crowd", "--account", "x:ada_ex").exit_code == 0
    r = run_cli("--db", db, "import", str(examples / "x-archive-2026-11-01"))
    assert r.exit_code == 0, r.output

    def followers(archive: str) -> set[str]:
        return set(re.findall(r'"accountId"\s*:\s*"(\d+)"', (examples / archive / "data" / "follower.js").read_text()))

    new = followers("x-archive-2026-11-01") - followers("x-archive-2026-10-01")
    assert len(new) >= 3
    for platform_id in sorted(new):
        assert "x-crowd" in as_json(run_cli("--db", db, "people", "show", f"x:{platform_id}", "--json"))["tags"], platform_id
