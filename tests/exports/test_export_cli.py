"""`audience export ...` and `audience optout` end to end on the bundled examples (the demo
database), each file read back by its target's rules; the generic mailing list and the vCard
file re-imported into audience itself; an opt-out outlives a re-import that says subscribed."""

from __future__ import annotations

import csv
import io
import json
import stat
from pathlib import Path

import pytest
import vobject
from sqlalchemy import create_engine, text


from .test_exports import parse_listmonk, parse_mailchimp, parse_mastodon_follows

SUBSCRIBED = 25  # active subscribers in examples/newsletter-substack.csv
UNSUBSCRIBED = {"dmitri@dmitri.example", "olu@lagosfintech.example", "sven@ek-soner.example", "lam.dang@example.vn"}


@pytest.fixture
def db(demo_copy: str) -> str:
    return demo_copy


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def persons(db: str) -> int:
    with create_engine(f"sqlite:///{db}").connect() as conn:
        return conn.execute(text("SELECT COUNT(*) FROM persons")).scalar_one()


def test_csv_of_everyone(run_cli, db: str, tmp_path: Path):
    out = tmp_path / "people.csv"
    doc = json.loads(ok(run_cli("--db", db, "export", "csv", "-o", out, "--json")))
    rows = rows_of(out)
    assert doc == {"path": str(out), "rows": len(rows), "filters": "everyone"}
    assert len(rows) == persons(db) > 100
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    carmen = next(r for r in rows if "carmen.ruiz@example.com" in r["emails"])
    assert carmen["name"] == "Carmen Ruiz"
    assert carmen["mastodon"] == "carmen@mastodon.social" and carmen["linkedin"].startswith("carmen-ruiz")
    assert carmen["phones"] == "'+34612345678"  # neutralised: it starts with +
    assert "newsletter:ada-letters" in carmen["follows"] and "mastodon:ada@mastodon.social" in carmen["followed_by"]
    for r in rows:
        for v in r.values():
            assert not v or v[0] not in "=+-@\t\r"
    text_ = ok(run_cli("--db", db, "export", "csv", "-o", out, "--excel", "--tag", "professional"))
    assert text_.startswith("wrote ") and "(tag=professional)" in text_
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")


def test_mailing_lists_follow_consent(run_cli, db: str, tmp_path: Path):
    out = tmp_path / "list.csv"
    r = run_cli("--db", db, "export", "mailing-list", "-o", out)
    assert "wrote 25 addresses" in ok(r) and "(mailchimp)" in r.stdout
    chimp = parse_mailchimp(out)
    assert len(chimp) == SUBSCRIBED and {v["status"] for v in chimp.values()} == {"subscribed"}
    assert not UNSUBSCRIBED & set(chimp)
    assert "unsubscribed or opted-out" in r.stderr

    r = run_cli("--db", db, "export", "mailing-list", "-o", out, "--format", "listmonk", "--include-unconsented", "--all-addresses", "--json")
    doc = json.loads(ok(r))
    lm = parse_listmonk(out)
    assert doc["rows"] == len(lm) > SUBSCRIBED and doc["included_unconsented"] == len(lm) - SUBSCRIBED
    assert f"{doc['included_unconsented']} of the addresses have no recorded opt-in" in r.stderr
    assert not UNSUBSCRIBED & set(lm)
    assert {a["attributes"]["subscription_status"] for a in lm.values()} == {"confirmed", "unconfirmed"}

    r = run_cli("--db", db, "export", "mailing-list", "-o", out, "--format", "sendgrid")
    assert r.exit_code == 2 and "format" in r.stderr
    r = run_cli("--db", db, "export", "mailing-list", "-o", out, "--platform", "myspace")
    assert r.exit_code == 2 and "unknown platform" in r.stderr
    r = run_cli("--db", db, "export", "mailing-list")
    assert r.exit_code == 2  # -o is required


def test_generic_list_reimports_with_the_same_consent(run_cli, db: str, tmp_path: Path):
    out = tmp_path / "subscribers.csv"
    ok(run_cli("--db", db, "export", "mailing-list", "-o", out, "--format", "generic", "--include-unconsented", "--all-addresses"))
    written = {r["email"]: r["consent"] for r in rows_of(out)}
    assert set(written.values()) == {"opted_in", "unknown"}
    fresh = str(tmp_path / "fresh.db")
    ok(run_cli("--db", fresh, "accounts", "add", "newsletter", "roundtrip"))
    ok(run_cli("--db", fresh, "import", out, "--account", "newsletter:roundtrip"))
    with create_engine(f"sqlite:///{fresh}").connect() as conn:
        back = dict(conn.execute(text("SELECT value, consent FROM contact_points WHERE kind = 'email'")).all())
    assert back == written


def test_vcard_reimports(run_cli, db: str, tmp_path: Path):
    out = tmp_path / "people.vcf"
    doc = json.loads(ok(run_cli("--db", db, "export", "vcard", "-o", out, "--json")))
    cards = list(vobject.readComponents(out.read_text(encoding="utf-8")))
    assert len(cards) == doc["rows"] == persons(db)
    fresh = str(tmp_path / "fresh.db")
    r = run_cli("--db", fresh, "import", out, "--json")
    assert r.exit_code == 0, r.output
    with create_engine(f"sqlite:///{fresh}").connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM profiles WHERE platform = 'contacts'")).scalar_one() == len(cards)
        emails = {v for (v,) in conn.execute(text("SELECT value FROM contact_points WHERE kind = 'email'"))}
    assert "carmen.ruiz@example.com" in emails and not UNSUBSCRIBED & emails


def test_follow_lists(run_cli, db: str, tmp_path: Path):
    for platform in ("mastodon", "bluesky", "x"):
        out = tmp_path / f"follows-{platform}.csv"
        doc = json.loads(ok(run_cli("--db", db, "export", "follows", "--platform", platform, "-o", out, "--json")))
        assert doc["paths"] == [str(out)] and stat.S_IMODE(out.stat().st_mode) == 0o600
        if platform == "mastodon":
            assert len(parse_mastodon_follows(out)) == doc["rows"]
        else:
            assert len(rows_of(out)) == doc["rows"]
    r = run_cli("--db", db, "export", "follows", "--platform", "myspace", "-o", tmp_path / "f.csv")
    assert r.exit_code == 2


def test_optout_wins_over_every_export_and_reimport(run_cli, db: str, tmp_path: Path, examples: Path):
    out = tmp_path / "list.csv"
    r = run_cli("--db", db, "optout", "Carmen.Ruiz@Example.com", "--reason", "asked in person")
    assert "email carmen.ruiz@example.com: added to the suppression list" in ok(r)
    # Dmitri unsubscribed in the newsletter (an import's entry): by hand now
    assert "added" in ok(run_cli("--db", db, "optout", "dmitri@dmitri.example"))
    assert "already on the suppression list" in ok(run_cli("--db", db, "optout", "dmitri@dmitri.example"))
    ok(run_cli("--db", db, "optout", "@bo@fosstodon.org"))
    ok(run_cli("--db", db, "optout", "+34 612 345 678"))
    r = run_cli("--db", db, "optout", "not an address")
    assert r.exit_code == 2 and r.stderr.startswith("error: ")

    # the newsletter's next export lists both as active subscribers again
    newer = tmp_path / "email_list.ada-letters.csv"
    lines = (examples / "newsletter-substack.csv").read_text(encoding="utf-8").splitlines()
    lines = [line.replace("dmitri@dmitri.example,,,true", "dmitri@dmitri.example,,,false") for line in lines]
    newer.write_text("\n".join(lines) + "\nfresh@example.org,,,false,2025-08-01T00:00:00.000Z\n", encoding="utf-8")
    ok(run_cli("--db", db, "import", newer, "--account", "newsletter:ada-letters"))

    ok(run_cli("--db", db, "export", "mailing-list", "-o", out, "--format", "generic", "--include-unconsented", "--all-addresses"))
    listed = {r["email"] for r in rows_of(out)}
    assert "fresh@example.org" in listed  # the re-import did land
    assert "carmen.ruiz@example.com" not in listed and "dmitri@dmitri.example" not in listed
    ok(run_cli("--db", db, "export", "csv", "-o", tmp_path / "all.csv"))
    ok(run_cli("--db", db, "export", "vcard", "-o", tmp_path / "all.vcf"))
    for f in ("all.csv", "all.vcf"):
        body = (tmp_path / f).read_text(encoding="utf-8")
        assert "carmen.ruiz@example.com" not in body and "dmitri@dmitri.example" not in body
        assert "+34612345678" not in body
    ok(run_cli("--db", db, "export", "follows", "--platform", "mastodon", "-o", tmp_path / "follows.csv", "--not-on", "x"))
    assert "bo@fosstodon.org" not in (tmp_path / "follows.csv").read_text()
