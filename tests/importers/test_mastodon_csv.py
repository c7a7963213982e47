"""Mastodon follows export (following_accounts.csv) through the CLI (SPEC §6).

Files are built at test time as Mastodon's ``export.rb`` writes them
(reference/platform-formats.md §3): ``Account address,Show boosts,Notify on new posts,Languages``,
LF line ends, languages comma-joined in one quoted field, no BOM.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from backup.errors import InputError, UsageError
from backup.importers import ImportOptions, RecordError
from backup.importers.mastodon_csv import MastodonFollows, parse_address
from backup.importers.sources import open_source
from backup.snapshot import MAX_HANDLE, ProfileRecord

from .archives import write_folder, write_zip
from .conftest import assert_input_error, query, summary

ACCOUNT = "mastodon:ada@mastodon.social"
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
HEADER = ["Account address", "Show boosts", "Notify on new posts", "Languages"]
ROWS = [
    ["bo@fosstodon.org", "true", "false", ""],
    ["Carmen@Mastodon.Social", "true", "true", "es, en"],
    ["@grace@hachyderm.io", "false", "false", ""],
    ["dev_d@hachyderm.io", "true", "false", "en"],
    ["zoë@social.example", "true", "false", "de"],  # other fediverse servers allow non-ASCII names
    ["ana@localhost:3000", "1", "0", ""],  # a local test server with a port
]


def follows_csv(rows: list[list[str]] | None = None, header: list[str] = HEADER, newline: str = "\n") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=newline).writerows([header, *(ROWS if rows is None else rows)])
    return buf.getvalue().encode("utf-8")


@pytest.fixture
def account(run_cli) -> str:
    assert run_cli("accounts", "add", "mastodon", "ada@mastodon.social").exit_code == 0
    return ACCOUNT


def current(db: Path, kind: str = "following") -> dict[str, tuple]:
    rows = query(
        db,
        "SELECT p.platform_id, p.handle, p.url, p.data FROM relationships r JOIN profiles p "
        "ON p.platform = r.platform AND p.platform_id = r.platform_id WHERE r.until_snapshot_id IS NULL AND r.kind = :kind",
        kind=kind,
    )
    return {r[0]: (r[1], r[2], json.loads(r[3]) if r[3] else None) for r in rows}


@pytest.mark.parametrize("where", ["loose", "zip", "folder"])
def test_follows_export(where, account, run_cli, tmp_path, db_file):
    files = {"following_accounts.csv": follows_csv()}
    if where == "zip":
        path = write_zip(files, tmp_path / "export.zip")
    elif where == "folder":
        path = write_folder(files, tmp_path / "export")
    else:
        path = tmp_path / "following_accounts.csv"
        path.write_bytes(files["following_accounts.csv"])
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert summary(run_cli) == [("following", "complete", 6)]
    got = current(db_file)
    assert set(got) == {"bo@fosstodon.org", "carmen@mastodon.social", "grace@hachyderm.io", "dev_d@hachyderm.io", "zoë@social.example", "ana@localhost:3000"}
    assert got["carmen@mastodon.social"] == (
        "carmen@mastodon.social", "https://mastodon.social/@carmen", {"show_boosts": True, "notify": True, "languages": ["es", "en"]},
    )
    assert got["grace@hachyderm.io"][2] == {"show_boosts": False, "notify": False}
    assert got["ana@localhost:3000"][1:] == ("https://localhost:3000/@ana", {"show_boosts": True, "notify": False})
    assert r.stderr == ""


def test_renamed_file_with_crlf_and_a_bom(account, run_cli, tmp_path, db_file):
    """Re-saved by a spreadsheet: recognised by its header, not its name."""
    path = tmp_path / "my follows (1).csv"
    path.write_bytes(b"\xef\xbb\xbf" + follows_csv(newline="\r\n"))
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert len(current(db_file)) == 6


def test_second_import_is_a_noop(account, run_cli, tmp_path):
    path = tmp_path / "following_accounts.csv"
    path.write_bytes(follows_csv())
    assert run_cli("import", path, "--account", account).exit_code == 0
    again = run_cli("import", path, "--account", account)
    assert again.exit_code == 0, again.output
    assert "already imported as snapshot 1" in again.stdout


def test_followers_and_follows_of_one_account_are_two_lists(account, run_cli, tmp_path, examples, db_file):
    assert run_cli("import", examples / "mastodon-followers.csv", "--account", account).exit_code == 0
    path = tmp_path / "following_accounts.csv"
    path.write_bytes(follows_csv())
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert summary(run_cli) == [("follower", "complete", 7), ("following", "complete", 6)]
    both = set(current(db_file, "follower")) & set(current(db_file, "following"))
    assert both == {"bo@fosstodon.org", "carmen@mastodon.social", "dev_d@hachyderm.io"}  # one key whichever list names them


def test_the_export_does_not_name_the_account(run_cli, tmp_path):
    path = tmp_path / "following_accounts.csv"
    path.write_bytes(follows_csv())
    assert_input_error(run_cli("import", path), "does not say whose it is", code=2)
    assert run_cli("accounts", "add", "x", "ada_ex").exit_code == 0
    assert_input_error(run_cli("import", path, "--account", "x:ada_ex"), "mastodon export", code=2)


@pytest.mark.parametrize(
    "value,expected",
    [
        ("ada@social.example", "ada@social.example"), (" @Ada@Social.Example ", "ada@social.example"),
        ("ada", None), ("ada@", None), ("@social.example", None), ("a b@c.d", None), ("ada@social example", None),
        ("=cmd|' /C calc'!A0@x.y", None), ("<script>@x.y", None), ("ada@x.y/path", None), ("\u202eada@x.y", None),
        ("a" * 600 + "@x.y", None),
    ],
)
def test_addresses(value, expected):
    assert parse_address(value) == expected


def test_platform_mastodon_on_another_csv_reads_it_as_a_generic_one(account, run_cli, tmp_path, db_file):
    """`--platform mastodon` does not steal CSVs that are not the follows export."""
    path = tmp_path / "people.csv"
    path.write_bytes(b"Username,Display name\r\nbo@fosstodon.org,Bo\r\n")
    r = run_cli("import", path, "--account", account, "--platform", "mastodon", "--kind", "follower")
    assert r.exit_code == 0, r.output
    assert set(current(db_file, "follower")) == {"bo@fosstodon.org"}
    r = run_cli("import", path, "--account", account, "--platform", "mastodon", "--map", "handle=Username", "--kind", "following")
    assert r.exit_code == 0, r.output


def test_a_single_account_address_column_is_not_taken_for_follows(account, run_cli, tmp_path, db_file):
    """Severed-relationship lists have only `Account address`, and they list followers: the generic reader takes them."""
    path = tmp_path / "followers.csv"
    path.write_bytes(b"Account address\nbo@fosstodon.org\n")
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert summary(run_cli) == [("follower", "complete", 1)]


# -- hostile values ----------------------------------------------------------------------------

HOSTILE = ["=cmd|' /C calc'!A0", "<script>alert(1)</script>", "\u202egnp.exe@x.y", "a\x00b@x.y", "x" * 100_000, "+1+1", "@SUM(A1)"]


def test_hostile_addresses_are_bad_records_on_sqlite_and_postgresql(db_url, run_cli, tmp_path):
    assert run_cli("--db", db_url, "accounts", "add", "mastodon", "ada@mastodon.social").exit_code == 0
    good = [[f"user{i}@social.example", "true", "false", "=SUM(A1), <b>"] for i in range(1000)]
    path = tmp_path / "following_accounts.csv"
    path.write_bytes(follows_csv(good + [[h, "true", "false", ""] for h in HOSTILE]))
    r = run_cli("--db", db_url, "import", path, "--account", ACCOUNT)
    assert r.exit_code == 0, r.output
    assert f"{len(HOSTILE) - 1} bad records skipped" in r.stdout  # "a\x00b@x.y" is read without its NUL: a good address
    assert f"warning: skipped {path} line 1002: \"=cmd|' /C calc'!A0\" is not an account address (user@server)" in r.stderr
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            stored = dict(conn.execute(text("SELECT platform_id, data FROM profiles")).all())
    finally:
        engine.dispose()
    assert set(stored) == {g[0] for g in good} | {"ab@x.y"}
    assert json.loads(stored["user0@social.example"])["languages"] == ["=SUM(A1)", "<b>"]  # kept as text, escaped on the way out


# -- malformed files ---------------------------------------------------------------------------


@pytest.fixture
def before(account, run_cli, tmp_path, db_state) -> dict:
    path = tmp_path / "good.csv"
    path.write_bytes(follows_csv())
    assert run_cli("import", path, "--account", account, "--as-of", "2026-10-01").exit_code == 0
    return db_state()


def refused(run_cli, db_state, before: dict, path: Path, *needles: str, code: int = 3) -> str:
    line = assert_input_error(run_cli("import", path, "--account", ACCOUNT), *needles, code=code)
    assert db_state() == before, "a failed import changed the database"
    return line


def test_more_than_one_percent_bad_fails(before, run_cli, db_state, tmp_path):
    rows = [[f"user{i}@social.example", "true", "false", ""] for i in range(100)]
    rows[5] = ["nobody", "true", "false", ""]
    rows[70] = ["", "true", "false", ""]
    path = tmp_path / "following_accounts.csv"
    path.write_bytes(follows_csv(rows))
    refused(run_cli, db_state, before, path, "2 of 100 records are bad", f"{path} line 7: 'nobody' is not an account address")


def test_not_utf8(before, run_cli, db_state, tmp_path, monkeypatch):
    from backup.importers import tabular

    monkeypatch.setattr(tabular, "SNIFF_BYTES", 64)
    rows = [[f"user{i}@social.example", "true", "false", ""] for i in range(200)]
    path = tmp_path / "following_accounts.csv"
    path.write_bytes(follows_csv(rows).replace(b"user150@", "josé@".encode("cp1252")))
    refused(run_cli, db_state, before, path, str(path), "line 152: not utf-8 text")


def test_only_the_header(before, run_cli, db_state, tmp_path):
    path = tmp_path / "following_accounts.csv"
    path.write_bytes(follows_csv([]))
    refused(run_cli, db_state, before, path, str(path), "no records at all")


def test_a_binary_file(before, run_cli, db_state, tmp_path):
    path = tmp_path / "following_accounts.csv"
    path.write_bytes(b"\x00\x01\x02\x03\xff\xfe\x00garbage")
    refused(run_cli, db_state, before, path, "following_accounts.csv")


# -- property ----------------------------------------------------------------------------------

CELL = st.one_of(st.text(max_size=30), st.sampled_from(["ada@x.y", "@b@c.d", "true", "false", "en, de", *HOSTILE[:-1]]))


def read_all(path: Path) -> list:
    source = open_source(path)
    try:
        importer = MastodonFollows()
        importer.detect(source, ImportOptions())
        plan = importer.plan(source, ImportOptions())
        return [item for stream in plan.streams for item in stream.read()]
    finally:
        source.close()


def check(items: list) -> None:
    for item in items:
        assert isinstance(item, ProfileRecord | RecordError)
        if isinstance(item, ProfileRecord):
            assert item.platform_id == item.handle == item.platform_id.lower() and len(item.platform_id) <= MAX_HANDLE
            assert item.platform_id.count("@") == 1 and item.platform_id.isprintable()


@PROPERTY
@given(rows=st.lists(st.lists(CELL, max_size=5), max_size=6))
def test_any_rows_either_parse_or_are_an_input_error(rows):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "following_accounts.csv"
        path.write_bytes(follows_csv(rows))
        try:
            check(read_all(path))
        except InputError as exc:
            assert "\n" not in exc.message


@PROPERTY
@given(data=st.binary(max_size=300))
def test_any_bytes_either_parse_or_are_an_input_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "following_accounts.csv"
        path.write_bytes(follows_csv([]) + data)
        try:
            check(read_all(path))
        except (InputError, UsageError) as exc:  # not a follows CSV any more: the generic reader may say --map
            assert "\n" not in exc.message


def test_the_bundled_example(examples, run_cli, account, db_file):
    r = run_cli("import", examples / "mastodon-follows.csv", "--account", account)
    assert r.exit_code == 0, r.output
    assert summary(run_cli) == [("following", "complete", 16)]
    assert current(db_file)["grace@hachyderm.io"][1] == "https://hachyderm.io/@grace"
