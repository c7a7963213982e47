"""Generic CSV import through the CLI: mappings, and CSVs as spreadsheets really save them (SPEC §6, E.25)."""

from __future__ import annotations

import codecs
import csv
import io
import json
from pathlib import Path

import pytest

from backup.snapshot import MAX_TEXT

from .conftest import assert_input_error, query

ACCOUNT = "mastodon:ana@mastodon.social"
HEADER = ["Username", "Display name", "E-mail", "Website"]
ROWS = [
    ["@bo@fosstodon.org", "Bo Lindqvist", "", "https://bo.example"],
    ["carmen@mastodon.social", "Carmen Ruiz", "Carmen.Ruiz@Example.com", ""],
    ["jose@mastodon.social", "José Núñez", "jose@example.org", ""],
]


def csv_bytes(
    rows: list[list[str]], *, delimiter: str = ",", newline: str = "\r\n", encoding: str = "utf-8", bom: bytes = b"",
    quoting: int = csv.QUOTE_MINIMAL,
) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator=newline, quoting=quoting).writerows(rows)
    return bom + buf.getvalue().encode(encoding)


@pytest.fixture
def account(run_cli) -> str:
    assert run_cli("accounts", "add", "mastodon", "ana@mastodon.social").exit_code == 0
    return ACCOUNT


def profiles(db: Path) -> dict[str, tuple]:
    """platform_id -> (handle, display_name, website, bio, followers_count), for the current followers."""
    rows = query(
        db,
        "SELECT p.platform_id, p.handle, p.display_name, p.website, p.bio, p.followers_count FROM profiles p "
        "JOIN relationships r ON r.platform = p.platform AND r.platform_id = p.platform_id AND r.until_snapshot_id IS NULL",
    )
    return {r[0]: r[1:] for r in rows}


def snapshots(run_cli) -> list[dict]:
    return json.loads(run_cli("snapshots", "--json").stdout)


def test_map_option_names_the_columns(account, run_cli, tmp_path, db_file):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([["Who", "Shown as", "Contact"], ["ana_b", "Ana B", "ana@example.org"], ["cy", "Cy", ""]]))
    r = run_cli("import", path, "--account", account)  # nothing recognisable without a mapping
    assert_input_error(r, "no id, handle or email column", str(path))
    assert "Who, Shown as, Contact" in r.stderr
    r = run_cli("import", path, "--account", account, "--map", "handle=Who,name=Shown as,email=Contact")
    assert r.exit_code == 0, r.output
    assert profiles(db_file) == {"ana_b": ("ana_b", "Ana B", None, None, None), "cy": ("cy", "Cy", None, None, None)}


def test_map_handle_and_email_as_in_the_spec(account, run_cli, tmp_path, db_file):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([HEADER, *ROWS]))
    r = run_cli("import", path, "--account", account, "--map", "handle=Username,email=E-mail")
    assert r.exit_code == 0, r.output
    assert "3 profiles" in r.stdout
    assert set(profiles(db_file)) == {"bo@fosstodon.org", "carmen@mastodon.social", "jose@mastodon.social"}


def test_headers_are_recognised_without_a_map(account, run_cli, tmp_path, db_file):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([["Screen name", "Full name", "Email address", "Homepage", "Description", "Followers count"],
                                ["ana_b", "Ana B", "ana@example.org", "https://ana.example", "hi", "1200"]]))
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert profiles(db_file) == {"ana_b": ("ana_b", "Ana B", "https://ana.example", "hi", 1200)}


def test_emails_become_contact_points_with_unknown_consent(account, run_cli, tmp_path, db_file):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([HEADER, *ROWS, ["", "Only Email", "only@example.net", ""]]))
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    rows = query(db_file, "SELECT c.platform_id, c.kind, c.value, c.consent FROM contact_points c WHERE source NOT LIKE 'profile:%' AND source <> 'self' ORDER BY c.value")
    assert rows == [
        ("carmen@mastodon.social", "email", "carmen.ruiz@example.com", "unknown"),
        ("jose@mastodon.social", "email", "jose@example.org", "unknown"),
        ("only@example.net", "email", "only@example.net", "unknown"),  # no handle: the email is the key
    ]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"])
def test_other_delimiters(delimiter, account, run_cli, tmp_path, db_file):
    path = tmp_path / "people.csv"
    rows = [HEADER, *ROWS, ["dee@a.social", "Dee, Jr.; the 2nd", "", ""]]
    path.write_bytes(csv_bytes(rows, delimiter=delimiter))
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert profiles(db_file)["dee@a.social"][1] == "Dee, Jr.; the 2nd"
    assert len(profiles(db_file)) == 4


@pytest.mark.parametrize("newline", ["\r\n", "\n", ""], ids=["end-crlf", "end-lf", "end-no-newline"])
@pytest.mark.parametrize("where", ["middle", "last-field"])
def test_cp1252_bytes(where, newline, account, run_cli, tmp_path, db_file):
    """A spreadsheet on Windows saves cp1252; "José" as the very last bytes must not pass for cut UTF-8."""
    rows = [HEADER, ["jose@m.social", "José", "", ""], ["bo@m.social", "Bo", "", ""]]
    if where == "last-field":
        rows = [HEADER, ["bo@m.social", "Bo", "", ""], ["jose@m.social", "Jo", "", "José"]]
    path = tmp_path / "people.csv"
    data = csv_bytes(rows, encoding="cp1252", newline="\r\n")
    data = data[:-2] + newline.encode()
    assert b"Jos\xe9" in data
    path.write_bytes(data)
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    got = profiles(db_file)["jose@m.social"]
    assert (got[1], got[2]) == (("José", None) if where == "middle" else ("Jo", "José"))


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr-only"])
@pytest.mark.parametrize("row", [3, 40, 1502])
def test_undecodable_byte_names_its_own_line(row, newline, account, run_cli, tmp_path, monkeypatch):
    """UTF-8 guessed from the first bytes, a cp1252 byte further down: the error names that line exactly.

    The sniff window is shrunk to 64 bytes so a small file has bytes beyond it (the real
    window is 1 MiB); the text layer decodes 8 KB ahead of the csv reader, so the reader's
    own line number would point thousands of lines too early.
    """
    from backup.importers import tabular

    monkeypatch.setattr(tabular, "SNIFF_BYTES", 64)
    rows = [HEADER, ["zoe@m.social", "Zoë", "", ""]] + [[f"u{i}@m.social", "Plain\r\nquoted", "", ""] for i in range(2000)]
    rows[row - 1] = ["jose@m.social", "José", "", ""]
    lines_before = sum(1 + sum(f.count("\n") for f in r) for r in rows[:row - 1])  # a quoted break is a line too
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(rows, newline=newline).replace("José".encode(), "José".encode("cp1252")))
    r = run_cli("import", path, "--account", account)
    assert_input_error(r, str(path), f"line {lines_before + 1}: not utf-8 text")
    assert snapshots(run_cli) == []


@pytest.mark.parametrize("codec,bom", [("utf-16", b""), ("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE)])
def test_utf16_with_bom(codec, bom, account, run_cli, tmp_path, db_file):
    path = tmp_path / "people.csv"
    data = csv_bytes([HEADER, *ROWS], encoding=codec, bom=bom)
    assert data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    path.write_bytes(data)
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert profiles(db_file)["jose@mastodon.social"][1] == "José Núñez"


def test_utf8_bom_does_not_hide_the_first_column(account, run_cli, tmp_path, db_file):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([HEADER, *ROWS], bom=codecs.BOM_UTF8))
    r = run_cli("import", path, "--account", account, "--map", "handle=Username")
    assert r.exit_code == 0, r.output
    assert len(profiles(db_file)) == 3
    assert "\ufeff" not in "".join(str(v) for row in profiles(db_file).values() for v in row)


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr-only"])
def test_line_ends(newline, account, run_cli, tmp_path, db_file):
    """CR-only (old Mac Excel) works: the csv module takes a lone CR as a line end when newline=''."""
    rows = [HEADER, *ROWS, ["multi@m.social", "two\nlines", "", ""]]
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(rows, newline=newline, quoting=csv.QUOTE_ALL))  # as Excel: a field with a break is quoted
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    got = profiles(db_file)
    assert len(got) == 4 and got["jose@mastodon.social"][1] == "José Núñez"
    assert got["multi@m.social"][1] == "two\nlines"  # a quoted line break stays inside its field


def test_bad_line_numbers_count_cr_only_lines(account, run_cli, tmp_path):
    rows = [HEADER] + [[f"u{i}@m.social", "N", "", ""] for i in range(150)]
    rows[120] = ["", "No key here", "", ""]
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(rows, newline="\r"))
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert f"{path} line 121: no id, handle or email on this line" in r.stderr


@pytest.mark.parametrize("header", ["USERNAME", "username", " User_Name "])
def test_header_case_and_spacing_changed_are_recognised(header, account, run_cli, tmp_path, db_file):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([[header, "DISPLAY NAME"], ["ana_b", "Ana"]]))
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert profiles(db_file) == {"ana_b": ("ana_b", "Ana", None, None, None)}


@pytest.mark.parametrize("header", ["USERNAME", "username", "UserName "])
def test_map_ignores_header_case(header, account, run_cli, tmp_path, db_file):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([[header, "DISPLAY NAME"], ["ana_b", "Ana"]]))
    r = run_cli("import", path, "--account", account, "--map", "handle=Username,name=Display Name")
    assert r.exit_code == 0, r.output
    assert profiles(db_file) == {"ana_b": ("ana_b", "Ana", None, None, None)}


def test_field_longer_than_the_csv_module_default(account, run_cli, tmp_path, db_file):
    """csv's default field limit is 131,072 characters: a longer bio is read (then capped when stored)."""
    bio = "x" * 131_072 + "y" * 70_000
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([["Username", "Bio", "Display name"], ["ana_b", bio, "Ana"], ["bo", "short", "Bo"]]))
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    got = profiles(db_file)
    assert got["ana_b"][3] == bio[:MAX_TEXT] and got["ana_b"][1] == "Ana"  # the next field is still in its place
    assert got["bo"][3] == "short"


def test_few_bad_lines_are_skipped_and_reported(account, run_cli, tmp_path, db_file):
    rows = [HEADER] + [[f"user{i}@m.social", f"User {i}", "", ""] for i in range(200)]
    rows[57] = ["", "Nobody", "", "https://nobody.example"]  # line 58
    rows[140] = ["  ", "  ", "not-an-address", ""]  # line 141: a bad email
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(rows))
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert "198 profiles" in r.stdout and "2 bad records skipped" in r.stdout
    assert f"warning: skipped {path} line 58: no id, handle or email on this line" in r.stderr
    assert f"warning: skipped {path} line 141: 'not-an-address' is not an email address" in r.stderr
    assert len(profiles(db_file)) == 198
    assert snapshots(run_cli)[0]["bad_records"] == 2


def test_more_than_one_percent_bad_fails_and_stores_nothing(account, run_cli, tmp_path, db_file, db_state):
    before = db_state()
    rows = [HEADER] + [[f"user{i}@m.social", f"User {i}", "", ""] for i in range(100)]
    rows[10] = ["", "Nobody", "", ""]
    rows[20] = ["", "Nobody either", "", ""]
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(rows))
    r = run_cli("import", path, "--account", account)
    assert_input_error(r, str(path), "2 of 100 records are bad", "line 11")
    assert db_state() == before
    assert profiles(db_file) == {}


def test_map_naming_a_missing_column(account, run_cli, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([HEADER, *ROWS]))
    r = run_cli("import", path, "--account", account, "--map", "handle=Username,email=Mail address")
    assert_input_error(r, str(path), "email=mail address", code=2)
    hint = [line for line in r.stderr.splitlines() if line.startswith("hint: ")]
    assert hint and all(column in hint[0] for column in HEADER)
    assert snapshots(run_cli) == []


def test_map_with_an_unknown_field_is_a_usage_error(account, run_cli, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([HEADER, *ROWS]))
    assert_input_error(run_cli("import", path, "--account", account, "--map", "nickname=Username"), "nickname", code=2)
    assert_input_error(run_cli("import", path, "--account", account, "--map", "handle"), "FIELD=COLUMN", code=2)


def test_a_first_column_named_pk_is_not_taken_for_a_zip(account, run_cli, tmp_path, db_file):
    """Zips are recognised by their signature `PK\\x03\\x04`, not by two letters a CSV header can start with."""
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([["PK", "Username"], ["1", "ana_b"], ["2", "bo"]]))
    r = run_cli("import", path, "--account", account, "--map", "id=PK")
    assert r.exit_code == 0, r.output
    assert set(profiles(db_file)) == {"1", "2"}


@pytest.mark.parametrize("count", ["²", "١٢٣", "99999999999999999999999", "-5", "1,200", "12k"])
def test_follower_counts_that_are_not_plain_numbers(count, account, run_cli, tmp_path, db_file):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([["Username", "Followers"], ["ana_b", count], ["bo", "7"]]))
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    got = profiles(db_file)
    assert got["bo"][4] == 7
    assert got["ana_b"][4] in (None, 123)  # never a crash, never a made-up number


def test_empty_csv(account, run_cli, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(b"")
    assert_input_error(run_cli("import", path, "--account", account), "people.csv")
    path.write_bytes(b"Username,Display name\r\n")
    assert_input_error(run_cli("import", path, "--account", account), str(path), "no records at all")


def test_column_names_in_messages_stay_on_one_line(account, run_cli, tmp_path):
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes([["Who\nam I", "\x00bin\rary", "x" * 5000], ["ana", "b", "c"]]))
    r = run_cli("import", path, "--account", account)
    assert_input_error(r, str(path), "no id, handle or email column")
    assert "Who\\nam I" in r.stderr and "x" * 5000 not in r.stderr
    r = run_cli("import", path, "--account", account, "--map", "handle=Nobody")
    assert_input_error(r, str(path), "handle=nobody", code=2)
