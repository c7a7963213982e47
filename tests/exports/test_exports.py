"""The export writers on SQLite and PostgreSQL, each file read back by its target's own rules:
RFC 4180 CSV (the csv module), Mailchimp's import columns, listmonk's importer
(knadh/listmonk internal/subimporter/importer.go), Mastodon's follow import
(mastodon/mastodon app/models/form/import.rb), vCard 4.0 through vobject and through
audience's own vCard importer. Consent and suppression for every combination of flags;
formula prefixes neutralised; 0600 files; a failed write keeps the previous file."""

from __future__ import annotations

import csv
import email.utils
import io
import itertools
import json
import os
import re
import stat
from pathlib import Path

import pytest
import vobject
from sqlalchemy import Engine, text

from backup.db.engine import write
from backup.importers.contacts import read_vcards
from backup.importers.sources import FileSource
from exporters import csv_export, follows, mailing_list
from exporters.csv_export import HEADER, write_csv
from exporters.follows import write_follows
from exporters.mailing_list import write_mailing_list
from exporters.optout import add_optout
from exporters.safety import FORMULA_TRIGGERS, neutralize_cell
from exporters.selection import Filters, filters_from, read_snapshot
from exporters.vcard import fold, write_vcard

from .world import DID_ED, HOSTILE, build


@pytest.fixture
def world(engine: Engine) -> Engine:
    build(engine)
    return engine


def read_csv(path: Path, *, bom: bool = False) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") == bom
    assert raw.endswith(b"\r\n") and raw.split(b"\n", 1)[0].endswith(b"\r")  # RFC 4180: CRLF after each record
    text_ = raw.decode("utf-8-sig" if bom else "utf-8")
    return list(csv.DictReader(io.StringIO(text_, newline="")))


def assert_private(path: Path) -> None:
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def assert_no_formula(rows: list[dict[str, str]]) -> None:
    for row in rows:
        for value in row.values():
            assert not value or value[0] not in FORMULA_TRIGGERS, value


# -- safety -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["=1+1", "+44", "-2", "@SUM(A1)", "\t=x", "\r=x", "\n=x", "＝1", "=cmd|' /C calc'!A0"])
def test_formula_prefixes_are_neutralised(value: str):
    assert neutralize_cell(value) == "'" + value


def test_safe_values_pass_and_nul_goes():
    assert neutralize_cell("Ada") == "Ada"
    assert neutralize_cell("") == ""
    assert neutralize_cell("a=b") == "a=b"
    assert neutralize_cell("\x00=x") == "'=x"
    assert neutralize_cell("\x00") == ""


# -- CSV ------------------------------------------------------------------------------------------


def test_csv_one_row_per_person_with_everything(world: Engine, tmp_path: Path):
    out = tmp_path / "people.csv"
    with world.connect() as conn:
        result = write_csv(conn, out)
    assert result.rows == 8 and result.path == out
    assert_private(out)
    rows = read_csv(out)
    assert list(rows[0]) == list(HEADER)
    by_id = {r["person_id"]: r for r in rows}
    assert list(by_id) == [str(i) for i in range(1, 9)]
    ada = by_id["1"]
    assert ada["name"] == "Ada Lovelace" and ada["tags"] == "professional"
    assert ada["x"] == "ada" and ada["x_url"] == "https://twitter.com/intent/user?user_id=101"
    assert ada["emails"] == "ada@example.org; ada.work@example.org"  # best first
    assert ada["follows"] == "newsletter:letters; x:ana" or ada["follows"] == "x:ana; newsletter:letters"
    assert ada["first_seen"] == "2024-01-01T00:00:00Z"
    bo = by_id["2"]
    assert bo["mastodon"] == "bo@fosstodon.org" and bo["mastodon_url"] == "https://fosstodon.org/@bo"
    assert bo["followed_by"] == "mastodon:ana@social.example" and bo["follows"] == "mastodon:ana@social.example"
    assert bo["websites"] == "https://bo.example" and bo["first_seen"] == "2024-02-01T00:00:00Z"
    # unsubscribed and suppressed addresses appear in no export
    assert by_id["3"]["emails"] == "" and by_id["3"]["follows"] == ""  # Cy left
    assert by_id["4"]["emails"] == "" and by_id["4"]["phones"] == "'+442079460958"
    ed = by_id["5"]
    assert ed["emails"] == "" and ed["bluesky"] == "ed.bsky.social" and ed["bluesky_url"] == f"https://bsky.app/profile/{DID_ED}"
    assert ed["mastodon"] == "ed@social.example" and ed["mastodon_url"] == "https://social.example/@ed"
    fay = by_id["7"]
    assert fay["bluesky"] == "fay.example.com" and fay["bluesky_url"] == "https://bsky.app/profile/fay.example.com"
    # hostile cells: neutralised, and they read back as the text with a quote in front
    hostile = by_id["6"]
    assert hostile["name"] == "'" + HOSTILE and hostile["tags"] == "'=HYPERLINK(1)"
    assert hostile["x"] == "hostile" and hostile["x_url"] == "https://x.com/hostile"
    assert_no_formula(rows)


def test_csv_excel_bom_and_filters(world: Engine, tmp_path: Path):
    out = tmp_path / "people.csv"
    with world.connect() as conn:
        result = write_csv(conn, out, filters_from(tag=["personal"]), excel=True)
    rows = read_csv(out, bom=True)
    assert result.rows == 2 and [r["person_id"] for r in rows] == ["2", "7"]


def test_hostile_names_round_trip(engine: Engine, tmp_path: Path):
    """Names with separators, quotes, line breaks, RTL overrides and 10k characters."""
    names = [
        '=HYPERLINK("http://evil.example","click")', "+1-2", "-2+3", "@SUM(1)", "\tTab", "\rCR",
        'Quote "in" it, and a comma', "line one\nline two", "\u202eevil\u202c", "<script>alert(1)</script>", "x" * 10_000,
    ]
    with write(engine) as conn:
        for i, name in enumerate(names, 1):
            conn.execute(text("INSERT INTO persons (id, name, created_at) VALUES (:i, :n, CURRENT_TIMESTAMP)"), {"i": i, "n": name})
            conn.execute(text("INSERT INTO contact_points (person_id, kind, value, source, consent, created_at) "
                              "VALUES (:i, 'email', :e, 'list.csv', 'opted_in', CURRENT_TIMESTAMP)"), {"i": i, "e": f"p{i}@example.org"})
    out = tmp_path / "people.csv"
    with engine.connect() as conn:
        write_csv(conn, out)
        for fmt in ("mailchimp", "listmonk", "generic"):
            write_mailing_list(conn, tmp_path / f"{fmt}.csv", fmt)
    got = [r["name"] for r in read_csv(out)]
    for name, cell in zip(names, got, strict=True):
        assert cell == neutralize_cell(name)
        assert cell.removeprefix("'") == name if name[0] in FORMULA_TRIGGERS else cell == name
    for fmt in ("mailchimp", "listmonk", "generic"):
        rows = read_csv(tmp_path / f"{fmt}.csv")
        assert len(rows) == len(names)
        assert_no_formula(rows)


def test_failed_write_keeps_the_previous_file(world: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    tmp_path = tmp_path / "out"  # beside the database: only the exports here
    out = tmp_path / "people.csv"
    with world.connect() as conn:
        write_csv(conn, out)
    before = out.read_bytes()

    def broken(conn, filters, **kw):
        yield from itertools.islice(real(conn, filters, **kw), 2)
        raise OSError(28, "No space left on device")

    real = csv_export.iter_people
    monkeypatch.setattr(csv_export, "iter_people", broken)
    with world.connect() as conn, pytest.raises(OSError):
        write_csv(conn, out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["people.csv"]  # no temp file left behind
    monkeypatch.setattr(mailing_list, "iter_people", broken)
    ml = tmp_path / "list.csv"
    ml.write_text("previous\n")
    with world.connect() as conn, pytest.raises(OSError):
        write_mailing_list(conn, ml, "generic")
    assert ml.read_text() == "previous\n"


def test_files_are_private_whatever_the_umask(world: Engine, tmp_path: Path):
    old = os.umask(0)
    try:
        with world.connect() as conn:
            write_csv(conn, tmp_path / "a.csv")
            write_vcard(conn, tmp_path / "a.vcf")
            write_mailing_list(conn, tmp_path / "m.csv")
            r = write_follows(conn, tmp_path / "follows.csv", "mastodon")
    finally:
        os.umask(old)
    for p in (tmp_path / "a.csv", tmp_path / "a.vcf", tmp_path / "m.csv", *r.paths):
        assert_private(p)


# -- mailing lists: consent and suppression --------------------------------------------------------

# (include_unconsented, all_addresses) -> rows (address -> consent written), skipped_unconsented
EXPECTED = {
    (False, False): ({"ada@example.org": "opted_in", "hostile@example.org": "opted_in"}, 1),  # Bo has only an unknown one
    (True, False): ({"ada@example.org": "opted_in", "bo@bo.example": "unknown", "hostile@example.org": "opted_in"}, 0),
    (False, True): ({"ada@example.org": "opted_in", "hostile@example.org": "opted_in"}, 2),  # and Ada's work address
    (True, True): ({"ada@example.org": "opted_in", "ada.work@example.org": "unknown", "bo@bo.example": "unknown",
                    "hostile@example.org": "opted_in"}, 0),
}
NEVER = {"cy@example.com", "di@example.net", "ed@example.com"}  # unsubscribed, suppressed, unsubscribed elsewhere


def parse_mailchimp(path: Path) -> dict[str, dict]:
    """Mailchimp's import: an "Email Address" column, one address per row, Tags a comma list."""
    assert path.read_bytes().decode().split("\r\n", 1)[0] == "Email Address,First Name,Last Name,Tags,Status"
    rows = read_csv(path)
    out = {}
    for r in rows:
        address = r["Email Address"]
        assert address == address.strip() and address.count("@") == 1 and " " not in address
        assert email.utils.parseaddr(address)[1] == address
        tags = next(csv.reader([r["Tags"]])) if r["Tags"] else []
        assert all(len(t) <= 100 for t in tags)
        for field in ("First Name", "Last Name"):
            assert len(r[field].encode()) <= 255
        assert r["Status"] in ("subscribed", "non-subscribed")
        assert address not in out
        out[address] = {"status": r["Status"], "tags": tags, "first": r["First Name"], "last": r["Last Name"]}
    return out


def parse_listmonk(path: Path) -> dict[str, dict]:
    """listmonk's importer: Go encoding/csv, known headers email/name/attributes mapped by
    position (BOM and non-ASCII stripped from the header), email required, each row at least as
    many columns as mapped headers, the address lower-cased and trimmed must parse as itself,
    attributes a JSON object."""
    raw = path.read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(raw, newline=""), strict=True)
    header = next(reader)
    known = {re.sub(r"[^\x00-\x7f]", "", h.strip()): i for i, h in enumerate(header)}
    assert {"email", "name", "attributes"} <= set(known)
    out = {}
    for cols in reader:
        assert len(cols) >= len(known)
        address = cols[known["email"]].strip().lower()
        assert address == cols[known["email"]]
        assert email.utils.parseaddr(address)[1] == address
        attributes = json.loads(cols[known["attributes"]])
        assert isinstance(attributes, dict)
        out[address] = {"name": cols[known["name"]], "attributes": attributes}
    return out


@pytest.mark.parametrize(("include", "all_addresses"), list(EXPECTED))
@pytest.mark.parametrize("fmt", ["mailchimp", "listmonk", "generic"])
def test_consent_rules_for_every_combination(world: Engine, tmp_path: Path, fmt: str, include: bool, all_addresses: bool):
    out = tmp_path / "list.csv"
    with world.connect() as conn:
        result = write_mailing_list(conn, out, fmt, include_unconsented=include, all_addresses=all_addresses)
    expected, skipped = EXPECTED[(include, all_addresses)]
    if fmt == "mailchimp":
        got = {a: ("opted_in" if r["status"] == "subscribed" else "unknown") for a, r in parse_mailchimp(out).items()}
    elif fmt == "listmonk":
        parsed = parse_listmonk(out)
        got = {a: r["attributes"]["consent"] for a, r in parsed.items()}
        for r in parsed.values():
            a = r["attributes"]
            assert a["subscription_status"] == ("confirmed" if a["consent"] == "opted_in" else "unconfirmed")
            assert isinstance(a["tags"], list) and isinstance(a["platforms"], list) and a["consent_source"]
    else:
        rows = read_csv(out)
        assert list(rows[0]) == ["email", "name", "consent", "status", "source", "tags"]
        got = {r["email"]: r["consent"] for r in rows}
        assert {r["status"] for r in rows} <= {"subscribed", "unconfirmed"}
    assert got == expected
    assert not NEVER & set(got)
    assert result.rows == len(expected)
    assert result.skipped_suppressed == 3
    assert result.skipped_unconsented == skipped
    assert result.included_unconsented == sum(1 for c in expected.values() if c == "unknown")
    assert_private(out)


def test_mailchimp_columns_and_hostile_values(world: Engine, tmp_path: Path):
    out = tmp_path / "list.csv"
    with world.connect() as conn:
        write_mailing_list(conn, out, "mailchimp")
    rows = parse_mailchimp(out)
    assert rows["ada@example.org"] == {"status": "subscribed", "tags": ["professional"], "first": "Ada", "last": "Lovelace"}
    hostile = rows["hostile@example.org"]
    assert hostile["first"] == "'=cmd|' /C" and hostile["last"] == "calc'!A0"
    assert hostile["tags"] == ["'=HYPERLINK(1)"]


def test_listmonk_attributes(world: Engine, tmp_path: Path):
    out = tmp_path / "list.csv"
    with world.connect() as conn:
        write_mailing_list(conn, out, "listmonk", filters_from(tag=["professional"]))
    rows = parse_listmonk(out)
    assert list(rows) == ["ada@example.org"]
    a = rows["ada@example.org"]
    assert a["name"] == "Ada Lovelace"
    assert a["attributes"] == {"tags": ["professional"], "platforms": ["newsletter", "x"], "consent": "opted_in",
                               "consent_source": "letters.csv", "subscription_status": "confirmed", "audience_person_id": 1}


def test_one_row_per_address_and_optout_wins(world: Engine, tmp_path: Path):
    with write(world) as conn:  # Fay's card carries Ada's address too
        conn.execute(text("INSERT INTO contact_points (platform, platform_id, kind, value, source, consent, created_at) "
                          "VALUES ('mastodon', 'fay@mastodon.social', 'email', 'ada@example.org', 'cards.vcf', 'opted_in', CURRENT_TIMESTAMP)"))
    out = tmp_path / "list.csv"
    with world.connect() as conn:
        result = write_mailing_list(conn, out, "generic", include_unconsented=True, all_addresses=True)
    rows = read_csv(out)
    assert [r["email"] for r in rows].count("ada@example.org") == 1 and result.rows == len(rows)
    with write(world) as conn:
        done = add_optout(conn, "ADA@example.org", "asked by email")
    assert done.kind == "email" and done.value == "ada@example.org" and done.added and done.persons == 2
    with world.connect() as conn:
        write_mailing_list(conn, out, "generic", include_unconsented=True, all_addresses=True)
        write_csv(conn, tmp_path / "all.csv")
        write_vcard(conn, tmp_path / "all.vcf")
    assert "ada@example.org" not in {r["email"] for r in read_csv(out)}
    assert "ada@example.org" not in (tmp_path / "all.csv").read_text()
    assert "ada@example.org" not in (tmp_path / "all.vcf").read_text()


def test_unknown_format_is_a_usage_error(world: Engine, tmp_path: Path):
    from backup.errors import UsageError

    with world.connect() as conn, pytest.raises(UsageError, match="format"):
        write_mailing_list(conn, tmp_path / "x.csv", "sendgrid")
    assert not (tmp_path / "x.csv").exists()


# -- vCard --------------------------------------------------------------------------------------

TRICKY = 'Lovelace, Ada; "Countess" \\ of Lovelace\nsecond line 郭伟 — 设计师与字体排印爱好者 🖋️ ' + "é" * 40
TRICKY_FN = TRICKY.replace("\n", " ")  # a name is one line
TRICKY_TAG = "a,b;c\\d\ne"


def trick(engine: Engine) -> None:
    with write(engine) as conn:
        conn.execute(text("UPDATE persons SET name = :n WHERE id = 7"), {"n": TRICKY})
        conn.execute(text("INSERT INTO person_tags (person_id, tag, source, created_at) VALUES (7, :t, 'manual', CURRENT_TIMESTAMP)"),
                     {"t": TRICKY_TAG})


def physical_lines(path: Path) -> list[bytes]:
    raw = path.read_bytes()
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    return raw.split(b"\r\n")[:-1]


def test_vcard_reads_back_in_vobject(world: Engine, tmp_path: Path):
    trick(world)
    out = tmp_path / "people.vcf"
    with world.connect() as conn:
        result = write_vcard(conn, out)
    assert result.rows == 8
    assert_private(out)
    for line in physical_lines(out):
        assert len(line) <= 75
        line.decode("utf-8")  # no fold inside a UTF-8 sequence
    cards = list(vobject.readComponents(out.read_text(encoding="utf-8")))
    assert len(cards) == 8
    by_fn = {c.fn.value: c for c in cards}
    assert set(by_fn) == {"Ada Lovelace", "Bo Lindqvist", "Cy Young", "Di Dimitriou", "Ed Eriksen", HOSTILE, TRICKY_FN, "Gus"}
    for c in cards:
        assert c.version.value == "4.0"
    ada = by_fn["Ada Lovelace"]
    assert [e.value for e in ada.contents["email"]] == ["ada@example.org", "ada.work@example.org"]
    assert ada.contents["email"][0].params.get("PREF") == ["1"]
    assert ada.n.value.family == "Lovelace" and ada.n.value.given == "Ada"
    assert [c for c in ada.categories.value] == ["professional"] and "professional" in ada.note.value
    assert [(s.params["TYPE"], s.value) for s in ada.contents["x-socialprofile"]] == [
        (["x"], "https://twitter.com/intent/user?user_id=101")]
    di = by_fn["Di Dimitriou"]
    assert "email" not in di.contents  # suppressed
    assert [t.value for t in di.contents["tel"]] == ["tel:+442079460958"] and di.tel.params["VALUE"] == ["uri"]
    ed = by_fn["Ed Eriksen"]
    assert "email" not in ed.contents  # unsubscribed on one of his profiles
    profiles = {(s.params["TYPE"][0], s.params.get("X-USER", [None])[0], s.value) for s in ed.contents["x-socialprofile"]}
    assert profiles == {("bluesky", "ed.bsky.social", f"https://bsky.app/profile/{DID_ED}"),
                        ("mastodon", "ed@social.example", "https://social.example/@ed")}
    assert "x-socialprofile" not in by_fn["Gus"].contents  # his own handle is opted out
    fay = by_fn[TRICKY_FN]
    assert fay.note.value == f"tags: {TRICKY_TAG}, personal"
    assert fay.n.value.family == "éééééééééééééééééééééééééééééééééééééééé"
    uids = [c.uid.value for c in cards]
    assert len(set(uids)) == 8 and all(u.startswith("urn:uuid:") for u in uids)


def test_vcard_reads_back_in_our_importer(world: Engine, tmp_path: Path):
    trick(world)
    out = tmp_path / "people.vcf"
    with world.connect() as conn:
        write_vcard(conn, out)
    records = list(read_vcards(FileSource(out), out.name))
    assert len(records) == 8 and all(hasattr(r, "platform_id") for r in records), records
    by_name = {r.display_name: r for r in records}
    assert by_name[TRICKY_FN].data["note"] == f"tags: {TRICKY_TAG}, personal"
    assert by_name[TRICKY_FN].data["categories"] == [TRICKY_TAG, "personal"]
    assert by_name[HOSTILE].contacts == [("email", "hostile@example.org", "unknown"), ("website", "https://x.com/hostile", None)]
    ada = by_name["Ada Lovelace"]
    assert ada.contacts[:2] == [("email", "ada@example.org", "unknown"), ("email", "ada.work@example.org", "unknown")]
    assert ("website", "https://twitter.com/intent/user?user_id=101", None) in ada.contacts
    assert ada.data["categories"] == ["professional"]
    assert ("phone", "+442079460958", None) in by_name["Di Dimitriou"].contacts


@pytest.mark.parametrize("line", ["x" * 200, "FN:" + "é" * 100, "NOTE:" + "🖋️" * 60, "FN:" + "郭" * 30 + "a" * 3])
def test_folding_never_splits_a_character(line: str):
    folded = fold(line).encode()
    parts = folded.split(b"\r\n")[:-1]
    assert all(len(p) <= 75 for p in parts)
    assert all(p.startswith(b" ") for p in parts[1:])
    assert b"".join([parts[0], *[p[1:] for p in parts[1:]]]).decode() == line


# -- follow lists -------------------------------------------------------------------------------

MASTODON_ADDRESS = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?@[a-z0-9.-]+\.[a-z]{2,}$")


def parse_mastodon_follows(path: Path) -> list[str]:
    """Mastodon's Form::Import for "following": UTF-8 without BOM, the first header a known one,
    "Account address" present, at most 20,000 rows, addresses stripped of a leading @,
    booleans that ActiveModel reads (true/false)."""
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert len(raw) <= 20 * 1024 * 1024
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline=""), strict=True))
    header, body = rows[0], [r for r in rows[1:] if r]
    assert header[0] == "Account address" and header == ["Account address", "Show boosts", "Notify on new posts", "Languages"]
    assert len(body) <= 20_000
    out = []
    for r in body:
        address = r[0].strip().removeprefix("@")
        assert MASTODON_ADDRESS.match(address), address
        assert r[1] in ("true", "false") and r[2] in ("true", "false")
        out.append(address)
    return out


def test_mastodon_follows(world: Engine, tmp_path: Path):
    out = tmp_path / "follows.csv"
    with world.connect() as conn:
        result = write_follows(conn, out, "mastodon")
    # Bo follows my Mastodon account already; Ed is named in a bio; Fay has a profile
    assert parse_mastodon_follows(out) == ["ed@social.example", "fay@mastodon.social"]
    assert result.rows == 2 and result.paths == [out] and result.persons == 2
    with write(world) as conn:
        add_optout(conn, "@fay@mastodon.social")
    with world.connect() as conn:
        result = write_follows(conn, out, "mastodon")
    assert parse_mastodon_follows(out) == ["ed@social.example"] and result.skipped_suppressed == 1
    with world.connect() as conn:
        result = write_follows(conn, out, "mastodon", Filters(tags=("personal",)))
    assert parse_mastodon_follows(out) == [] and result.rows == 0


def test_mastodon_follows_split_at_the_row_limit(world: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    out = tmp_path / "follows.csv"
    monkeypatch.setattr(follows, "MASTODON_MAX_ROWS", 1)
    with world.connect() as conn:
        result = write_follows(conn, out, "mastodon")
    assert result.paths == [out, tmp_path / "follows-2.csv"]
    assert [parse_mastodon_follows(p) for p in result.paths] == [["ed@social.example"], ["fay@mastodon.social"]]
    monkeypatch.setattr(follows, "MASTODON_MAX_ROWS", 20_000)
    with world.connect() as conn:
        result = write_follows(conn, out, "mastodon")
    assert result.paths == [out] and not (tmp_path / "follows-2.csv").exists()  # the stale part went


def test_bluesky_and_x_follows(world: Engine, tmp_path: Path):
    with world.connect() as conn:
        bsky = write_follows(conn, tmp_path / "bsky.csv", "bluesky")
        x = write_follows(conn, tmp_path / "x.csv", "x")
    rows = read_csv(tmp_path / "bsky.csv")
    assert [(r["handle"], r["did"]) for r in rows] == [("ed.bsky.social", DID_ED), ("fay.example.com", "")]
    assert rows[0]["url"] == f"https://bsky.app/profile/{DID_ED}" and rows[0]["name"] == "Ed"
    assert [(e.handle, e.platform_id) for e in bsky.entries] == [("ed.bsky.social", DID_ED), ("fay.example.com", None)]
    rows = read_csv(tmp_path / "x.csv")
    # Ada and Gus follow x:ana now; Cy left (a candidate again); the hostile person names x:hostile
    assert [(r["handle"], r["user_id"], r["url"]) for r in rows] == [
        ("cy", "103", "https://twitter.com/intent/user?user_id=103"), ("hostile", "", "https://x.com/hostile")]
    assert rows[1]["name"] == "'" + HOSTILE
    assert x.rows == 2


# -- a large CSV export split between processes ---------------------------------------------------


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_csv_is_the_same_file(world: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int):
    monkeypatch.setattr(csv_export, "PARALLEL_MIN", 1)  # the world has 8 persons
    with read_snapshot(world) as conn:
        one = write_csv(conn, tmp_path / "one.csv", workers=1)
        many = write_csv(conn, tmp_path / "many.csv", workers=workers)
        filtered = write_csv(conn, tmp_path / "filtered.csv", filters_from(tag=["personal"]), excel=True, workers=workers)
    assert one.rows == many.rows == 8
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "many.csv").read_bytes()
    assert filtered.rows == 2 and [r["person_id"] for r in read_csv(tmp_path / "filtered.csv", bom=True)] == ["2", "7"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".part") == []  # the parts are gone
    assert_private(tmp_path / "many.csv")


def test_parallel_csv_runs_again_when_the_store_changed(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """SQLite (PostgreSQL workers share the parent's exported snapshot): a worker that saw
    another store than the parent (a commit in between): the export is redone in one process,
    from the parent's snapshot."""
    from backup.db.engine import make_engine
    from backup.db.migrate import ensure_schema

    world = make_engine(sqlite_url)
    ensure_schema(world, sqlite_url)
    build(world)
    monkeypatch.setattr(csv_export, "PARALLEL_MIN", 1)
    monkeypatch.setattr(csv_export, "_fingerprint", lambda conn: ("not what the workers see",))
    with read_snapshot(world) as conn:
        result = write_csv(conn, tmp_path / "many.csv", excel=True, workers=2)
        write_csv(conn, tmp_path / "one.csv", excel=True, workers=1)
    assert result.rows == 8
    assert (tmp_path / "many.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()


def test_parallel_csv_survives_a_failed_worker(world: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture):
    monkeypatch.setattr(csv_export, "PARALLEL_MIN", 1)
    monkeypatch.setattr(csv_export, "_WORKER", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)")
    with read_snapshot(world) as conn:
        result = write_csv(conn, tmp_path / "many.csv", workers=2)
        write_csv(conn, tmp_path / "one.csv", workers=1)
    assert result.rows == 8
    assert (tmp_path / "many.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert "worker process of the export failed (boom)" in caplog.text
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".part"]
