"""LinkedIn Connections.csv import through the CLI: both layouts, in the zip or alone (SPEC §6).

Files are built at test time in the real shape (reference/platform-formats.md §5): the current
layout with its ``Notes:`` preamble and ``DD Mon YYYY`` dates, and the 2018 layout without a
preamble or URL column and with ``"M/D/YY, h:mm AM"`` dates; CRLF line ends, RFC 4180 quoting.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from backup.errors import InputError
from backup.importers import ImportOptions, RecordError
from backup.importers.linkedin import (
    LinkedInConnections,
    name_date_key,
    normalize_profile_url,
    parse_connected_on,
)
from backup.importers.sources import open_source
from backup.snapshot import MAX_HANDLE, MAX_TEXT, ProfileRecord

from .archives import write_folder, write_zip
from .conftest import assert_input_error, query, summary

ACCOUNT = "linkedin:ada-example"
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PREAMBLE = (
    'Notes:\r\n"When exporting your connection data, you may notice that some of the email addresses are missing. You will '
    "only see email addresses for connections who have allowed their connections to see or download their email address "
    'using this setting https://www.linkedin.com/psettings/privacy/email. You can learn more here '
    'https://www.linkedin.com/help/linkedin/answer/261"\r\n\r\n'
)
CURRENT_HEADER = ["First Name", "Last Name", "URL", "Email Address", "Company", "Position", "Connected On"]
LEGACY_HEADER = ["First Name", "Last Name", "Email Address", "Company", "Position", "Connected On"]
IN = "https://www.linkedin.com/in/"
CURRENT_ROWS = [
    ["Ada", "Example", IN + "ada-example-1a2b3c", "", "Maps, Inc.", "Cartographer", "05 Mar 2024"],
    ["Bo", "O’Sample ", IN + "bo-o%E2%80%99sample", "Bo@Example.org", "Tea Co", "Head of Tea", "28 Dec 2023"],
    ["Zoë", "Müller", IN + "zo%C3%AB-m%C3%BCller/", "", 'Müller "&" Partner', "Designerin", "01 Jan 2024"],
    ["", "", "", "", "", "", "02 Jun 2022"],  # a hidden member: blank except the date
    ["郭", "伟", IN + "guo-wei", "", "", "", "11 Mar 2026"],
    ["Carmen", "Ruiz", "http://linkedin.com/in/Carmen-Ruiz-5B1A2C?trk=abc", "carmen.ruiz@example.com", "", "", "30 Sep 2025"],
]
LEGACY_ROWS = [
    ["Ada", "Example", "", "Maps, Inc.", "Cartographer", "1/8/18, 6:14 PM"],
    ["Bo", "Sample", "bo@example.org", "Tea Co", "Head of Tea", "12/31/17, 11:59 AM"],
    ["Zoë", "Müller", "urn:li:member:123456", "", "", "3/5/16, 12:05 AM"],
    ["Cy", "Noemail", "not-an-email", "", "", "7/4/17, 12:30 PM"],
]


def csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return buf.getvalue()


def connections_csv(layout: str = "current", rows: list[list[str]] | None = None, *, bom: bool = False) -> bytes:
    if layout == "current":
        data = PREAMBLE + csv_text([CURRENT_HEADER, *(CURRENT_ROWS if rows is None else rows)])
    else:
        data = csv_text([LEGACY_HEADER, *(LEGACY_ROWS if rows is None else rows)])
    return (b"\xef\xbb\xbf" if bom else b"") + data.encode("utf-8")


def export(layout: str = "current", rows=None, **kwargs) -> dict[str, bytes]:
    """The files of a LinkedIn export zip: Connections.csv at the root, among the export's other CSVs."""
    return {
        "Connections.csv": connections_csv(layout, rows, **kwargs),
        "Profile.csv": b"First Name,Last Name,Maiden Name,Address,Birth Date,Headline\r\nAda,Example,,,,Cartographer\r\n",
        "Invitations.csv": b"From,To,Sent At,Message,Direction\r\nAda Example,Bo Sample,\"1/2/24, 9:00 AM\",,OUTGOING\r\n",
        "messages.csv": b"CONVERSATION ID,FROM,TO,DATE,CONTENT\r\n1,Ada,Bo,2024-01-02,Hi\r\n",
        "Email Addresses.csv": b"Email Address,Confirmed,Primary,Updated On\r\nada@example.org,Yes,Yes,Not Available\r\n",
    }


@pytest.fixture
def account(run_cli) -> str:
    assert run_cli("accounts", "add", "linkedin", "ada-example").exit_code == 0
    return ACCOUNT


def current(db: Path) -> dict[str, tuple]:
    """platform_id -> (handle, display_name, url, data) of the current connections."""
    rows = query(
        db,
        "SELECT p.platform_id, p.handle, p.display_name, p.url, p.data, r.kind FROM relationships r JOIN profiles p "
        "ON p.platform = r.platform AND p.platform_id = r.platform_id WHERE r.until_snapshot_id IS NULL",
    )
    assert {r[5] for r in rows} <= {"connection"}
    return {r[0]: (r[1], r[2], r[3], json.loads(r[4]) if r[4] else None) for r in rows}


def emails(db: Path) -> list[tuple]:
    return query(db, "SELECT platform_id, kind, value, consent FROM contact_points WHERE source NOT LIKE 'profile:%' AND source <> 'self' ORDER BY value")


def container(kind: str, files: dict[str, bytes], tmp_path: Path) -> Path:
    if kind == "zip":
        return write_zip(files, tmp_path / "Basic_LinkedInDataExport_11-01-2026.zip")
    if kind == "zip-deeper":
        return write_zip(files, tmp_path / "Complete_LinkedInDataExport_11-01-2026.zip", root="Complete_LinkedInDataExport_11-01-2026")
    if kind == "folder":
        return write_folder(files, tmp_path / "Basic_LinkedInDataExport_11-01-2026")
    if kind == "loose":
        path = tmp_path / "Connections.csv"
        path.write_bytes(files["Connections.csv"])
        return path
    raise ValueError(kind)


# -- the current layout ------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["zip", "zip-deeper", "folder", "loose"])
def test_current_layout(where, account, run_cli, tmp_path, db_file):
    r = run_cli("import", container(where, export(), tmp_path), "--account", account)
    assert r.exit_code == 0, r.output
    assert summary(run_cli) == [("connection", "complete", 5)]  # the hidden member is not a person
    got = current(db_file)
    assert got[IN + "ada-example-1a2b3c"] == (
        "ada-example-1a2b3c", "Ada Example", IN + "ada-example-1a2b3c",
        {"connected_on": "2024-03-05", "company": "Maps, Inc.", "position": "Cartographer"},
    )
    bo = got[IN + "bo-o%e2%80%99sample"]  # decoded, lower-cased and encoded again
    assert bo[:2] == ("bo-o’sample", "Bo O’Sample") and bo[3]["connected_on"] == "2023-12-28"
    assert got[IN + "zo%c3%ab-m%c3%bcller"][1:] == (
        "Zoë Müller", IN + "zo%c3%ab-m%c3%bcller", {"connected_on": "2024-01-01", "company": 'Müller "&" Partner', "position": "Designerin"},
    )
    assert got[IN + "guo-wei"][1] == "郭 伟"
    assert IN + "carmen-ruiz-5b1a2c" in got  # http, no www, capitals and a tracking query: the same key
    assert emails(db_file) == [
        (IN + "bo-o%e2%80%99sample", "email", "bo@example.org", "unknown"),
        (IN + "carmen-ruiz-5b1a2c", "email", "carmen.ruiz@example.com", "unknown"),
    ]
    assert r.stderr == ""


def test_current_layout_with_a_bom_and_lf_line_ends(account, run_cli, tmp_path, db_file):
    path = tmp_path / "Connections.csv"
    path.write_bytes(connections_csv(bom=True).replace(b"\r\n", b"\n"))
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert len(current(db_file)) == 5


def test_header_found_by_content_whatever_the_preamble(account, run_cli, tmp_path, db_file):
    """A longer notes paragraph over several lines, and no blank line: the header is still found."""
    notes = 'Notes:\r\n"Line one,\r\nline two, with a comma.\r\nLine three."\r\nSecond note\r\n'
    path = tmp_path / "connections.csv"
    path.write_bytes((notes + csv_text([CURRENT_HEADER, *CURRENT_ROWS])).encode())
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert len(current(db_file)) == 5


def test_header_without_the_preamble_and_columns_reordered(account, run_cli, tmp_path, db_file):
    header = ["Connected On", "URL", "Last Name", "First Name", "Position", "Company", "Email Address"]
    rows = [[r[6], r[2], r[1], r[0], r[5], r[4], r[3]] for r in CURRENT_ROWS]
    path = tmp_path / "Connections.csv"
    path.write_bytes(csv_text([header, *rows]).encode())
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert current(db_file)[IN + "ada-example-1a2b3c"][1] == "Ada Example"


# -- the legacy layout -------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["zip", "loose"])
def test_legacy_layout(where, account, run_cli, tmp_path, db_file):
    r = run_cli("import", container(where, export("legacy"), tmp_path), "--account", account)
    assert r.exit_code == 0, r.output
    assert summary(run_cli) == [("connection", "complete", 4)]
    got = current(db_file)
    ada = got[name_date_key("Ada Example", dt.date(2018, 1, 8))]
    assert ada == (None, "Ada Example", None, {
        "connected_on": "2018-01-08", "connected_at": "2018-01-08T18:14", "company": "Maps, Inc.", "position": "Cartographer",
    })
    assert got[name_date_key("Bo Sample", dt.date(2017, 12, 31))][3]["connected_at"] == "2017-12-31T11:59"
    zoe = got[name_date_key("Zoë Müller", dt.date(2016, 3, 5))]
    assert zoe[1] == "Zoë Müller" and zoe[3] == {"connected_on": "2016-03-05", "connected_at": "2016-03-05T00:05", "member_urn": "urn:li:member:123456"}
    assert [e[2] for e in emails(db_file)] == ["bo@example.org"]  # not the urn, not "not-an-email"


def test_second_import_is_a_noop(account, run_cli, tmp_path):
    path = write_zip(export(), tmp_path / "Basic.zip")
    assert run_cli("import", path, "--account", account).exit_code == 0
    again = run_cli("import", path, "--account", account)
    assert again.exit_code == 0, again.output
    assert "already imported as snapshot 1" in again.stdout
    assert len(summary(run_cli)) == 1


def test_a_newer_export_records_who_came_and_went(account, run_cli, tmp_path):
    assert run_cli("import", write_zip(export(), tmp_path / "a.zip"), "--account", account, "--as-of", "2026-10-01").exit_code == 0
    rows = CURRENT_ROWS[1:] + [["New", "Person", IN + "new-person", "", "", "", "01 Nov 2026"]]
    r = run_cli("import", write_zip(export(rows=rows), tmp_path / "b.zip"), "--account", account, "--as-of", "2026-11-01")
    assert r.exit_code == 0, r.output
    assert "snapshot 2 complete, 5 profiles (+1 -1)" in r.stdout


@pytest.mark.parametrize(
    "value,expected",
    [
        ("05 Mar 2024", ("2024-03-05", None)), ("5 Mar 2024", ("2024-03-05", None)), ("05 MAR 2024", ("2024-03-05", None)),
        ("1/8/18, 6:14 PM", ("2018-01-08", "2018-01-08T18:14")), ("12/31/17, 12:00 AM", ("2017-12-31", "2017-12-31T00:00")),
        ("12/31/17, 12:00 PM", ("2017-12-31", "2017-12-31T12:00")), ("1/8/2018 6:14 pm", ("2018-01-08", "2018-01-08T18:14")),
        ("2024-03-05", ("2024-03-05", None)), ("31 Feb 2024", None), ("05 Mär 2024", None), ("13/1/18, 1:00 PM", None),
        ("1/1/18, 13:00 PM", None), ("yesterday", None), ("", None),
    ],
)
def test_connected_on_formats(value, expected):
    got = parse_connected_on(value)
    assert (got and (got[0].isoformat(), got[1] and got[1].isoformat(timespec="minutes"))) == expected or (got is None and expected is None)


@pytest.mark.parametrize(
    "url,key",
    [
        ("https://www.linkedin.com/in/ada-example", IN + "ada-example"),
        ("https://www.linkedin.com/in/Ada-Example/", IN + "ada-example"),
        ("http://uk.linkedin.com/in/ada-example?trk=x#y", IN + "ada-example"),
        ("https://www.linkedin.com/in/bo-o’sample", IN + "bo-o%e2%80%99sample"),
        ("https://www.linkedin.com/in/bo-o%E2%80%99sample", IN + "bo-o%e2%80%99sample"),
        ("https://www.linkedin.com/pub/ada-example/1/2/3", "https://www.linkedin.com/pub/ada-example/1/2/3"),
        ("https://example.com/in/ada", None), ("javascript:alert(1)", None), ("=HYPERLINK(\"x\")", None), ("https://www.linkedin.com/", None),
    ],
)
def test_profile_url_normalization(url, key):
    got = normalize_profile_url(url)
    assert (got[0] if got else None) == key


# -- hostile values ----------------------------------------------------------------------------

HOSTILE = [
    "=cmd|' /C calc'!A0", "+SUM(1+1)", "-2+3", "@import", "<script>alert(1)</script>", "\u202egnp.exe", "a\x00b",
    "line\nbreak", 'say "hi", \'bye\'', "x" * 100_000, "👩‍👩‍👧 family",
]


def test_hostile_values_are_stored_safely_on_sqlite_and_postgresql(db_url, run_cli, tmp_path):
    assert run_cli("--db", db_url, "accounts", "add", "linkedin", "ada-example").exit_code == 0
    rows = [[h, "Last", IN + f"hostile-{i}", "", h, h, "05 Mar 2024"] for i, h in enumerate(HOSTILE)]
    rows += [["Plain", f"P{i}", IN + f"plain-{i}", "", "", "", "05 Mar 2024"] for i in range(100)]
    rows += [["No", "Url", "", "", "", "", "05 Mar 2024"]]
    path = tmp_path / "Connections.csv"
    path.write_bytes(connections_csv(rows=rows))
    r = run_cli("--db", db_url, "import", path, "--account", ACCOUNT)
    assert r.exit_code == 0, r.output
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            stored = {pid: (name, json.loads(data)) for pid, name, data in conn.execute(text("SELECT platform_id, display_name, data FROM profiles"))}
    finally:
        engine.dispose()
    assert len(stored) == len(HOSTILE) + 101
    for i, h in enumerate(HOSTILE):
        cell = h.replace("\x00", "").strip()  # cells are read without NUL and surrounding blanks
        name, data = stored[IN + f"hostile-{i}"]
        assert name == f"{cell} Last"[:MAX_TEXT], h[:40]
        assert data["company"] == data["position"] == cell[:MAX_TEXT]


# -- malformed files ---------------------------------------------------------------------------


@pytest.fixture
def before(account, run_cli, tmp_path, db_state) -> dict:
    assert run_cli("import", write_zip(export(), tmp_path / "good.zip"), "--account", account, "--as-of", "2026-10-01").exit_code == 0
    return db_state()


def refused(run_cli, db_state, before: dict, path: Path, *needles: str, platform: str | None = None) -> str:
    args = ["import", path, "--account", ACCOUNT] + (["--platform", platform] if platform else [])
    line = assert_input_error(run_cli(*args), *needles)
    assert db_state() == before, "a failed import changed the database"
    return line


def test_bad_rows_are_skipped_and_reported_by_line(account, run_cli, tmp_path):
    rows = [["P", f"{i}", IN + f"p-{i}", "", "", "", "05 Mar 2024"] for i in range(150)]
    rows[40] = ["Bad", "Url", "https://example.com/in/bad", "", "", "", "05 Mar 2024"]
    path = tmp_path / "Connections.csv"
    path.write_bytes(connections_csv(rows=rows))
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    line = 4 + 41  # the preamble (Notes:, the paragraph, a blank line), the header on line 4, then row 41
    assert f"warning: skipped {path} line {line}: URL 'https://example.com/in/bad' is not a LinkedIn profile link" in r.stderr
    assert "149 profiles" in r.stdout and "1 bad records skipped" in r.stdout


def test_more_than_one_percent_bad_fails(before, run_cli, db_state, tmp_path):
    rows = [["P", f"{i}", IN + f"p-{i}", "", "", "", "05 Mar 2024"] for i in range(100)]
    rows[3] = ["No", "Date", "", "", "", "", "someday"]  # no URL and no date: nothing to key it on
    rows[7] = ["", "", "", "", "Only a company", "", "05 Mar 2024"]
    path = write_zip(export(rows=rows), tmp_path / "bad.zip")
    refused(run_cli, db_state, before, path, "2 of 100 records are bad", "Connections.csv line 8")


def test_an_unclosed_quote_is_a_bad_record_naming_its_line(before, run_cli, db_state, tmp_path):
    """The csv module takes the rest of the file into the quoted field: that row is bad, and 1 of 6 fails the import."""
    data = connections_csv() + b'Eve,"Unclosed,https://www.linkedin.com/in/eve,,,,05 Mar 2024\r\n' + b"x" * 10
    path = tmp_path / "Connections.csv"
    path.write_bytes(data)
    refused(run_cli, db_state, before, path, f"{path}: 1 of 6 records are bad", f"{path} line 12: no URL")


def test_not_utf8_in_the_middle(before, run_cli, db_state, tmp_path, monkeypatch):
    from backup.importers import tabular

    monkeypatch.setattr(tabular, "SNIFF_BYTES", 64)
    rows = [["P", f"{i}", IN + f"p-{i}", "", "", "", "05 Mar 2024"] for i in range(300)]
    path = tmp_path / "Connections.csv"
    path.write_bytes(connections_csv(rows=rows).replace(b"P,250", "José,250".encode("cp1252")))
    refused(run_cli, db_state, before, path, str(path), "not utf-8 text")


@pytest.mark.parametrize(
    "content",
    [
        b"Notes:\r\nsomething else entirely\r\n",
        b"Name,Company\r\nAda,Maps\r\n",
        b"First Name,Last Name,URL\r\nAda,Example,https://www.linkedin.com/in/ada\r\n",  # no Connected On column
    ],
    ids=["notes-only", "other-csv", "missing-column"],
)
def test_not_a_connections_csv_in_the_zip_names_the_file(content, before, run_cli, db_state, tmp_path):
    files = export()
    files["Connections.csv"] = content
    path = write_zip(files, tmp_path / "Basic_LinkedInDataExport.zip")
    refused(run_cli, db_state, before, path, str(path))


def test_a_zip_without_connections_csv(before, run_cli, db_state, tmp_path):
    files = export()
    del files["Connections.csv"]
    path = write_zip(files, tmp_path / "Basic_LinkedInDataExport.zip")
    r = run_cli("import", path, "--account", ACCOUNT, "--platform", "linkedin")
    assert_input_error(r, str(path))
    assert db_state() == before


def test_a_binary_file_with_platform_linkedin(before, run_cli, db_state, tmp_path):
    path = tmp_path / "Connections.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    refused(run_cli, db_state, before, path, "Connections.csv", platform="linkedin")


def test_platform_linkedin_with_map_reads_another_csv(account, run_cli, tmp_path, db_file):
    """`--platform linkedin --map` on a CSV that is not LinkedIn's own: the generic reader, as LinkedIn people."""
    path = tmp_path / "crm.csv"
    path.write_bytes(b"Profile,Full name,Mail\r\nhttps://www.linkedin.com/in/ada,Ada Example,ada@example.org\r\n")
    r = run_cli("import", path, "--account", account, "--platform", "linkedin", "--map", "id=Profile,name=Full name,email=Mail", "--kind", "connection")
    assert r.exit_code == 0, r.output
    assert current(db_file)["https://www.linkedin.com/in/ada"][1] == "Ada Example"


def test_the_export_does_not_name_the_account(run_cli, tmp_path):
    path = write_zip(export(), tmp_path / "Basic.zip")
    assert_input_error(run_cli("import", path), "does not say whose it is", code=2)
    assert run_cli("accounts", "add", "facebook", "ada").exit_code == 0
    assert_input_error(run_cli("import", path, "--account", "facebook:ada"), "linkedin export", code=2)


# -- property ----------------------------------------------------------------------------------

CELL = st.one_of(st.text(max_size=30), st.sampled_from(HOSTILE[:-2] + ["05 Mar 2024", "1/8/18, 6:14 PM", IN + "x", "a@b.co"]))


def read_all(path: Path) -> list:
    source = open_source(path)
    try:
        importer = LinkedInConnections()
        importer.detect(source, ImportOptions())
        plan = importer.plan(source, ImportOptions())
        return [item for stream in plan.streams for item in stream.read()]
    finally:
        source.close()


def check(items: list) -> None:
    for item in items:
        assert isinstance(item, ProfileRecord | RecordError)
        if isinstance(item, ProfileRecord):
            assert 0 < len(item.platform_id) <= MAX_HANDLE and "\x00" not in item.platform_id
            assert item.platform_id.startswith(("https://www.linkedin.com/", "name+date:"))
            for kind, value, consent in item.contacts or []:
                assert kind == "email" and "@" in value and consent == "unknown"


@PROPERTY
@given(rows=st.lists(st.lists(CELL, min_size=0, max_size=8), max_size=6), layout=st.sampled_from(["current", "legacy"]))
def test_any_rows_either_parse_or_are_an_input_error(rows, layout):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Connections.csv"
        path.write_bytes(connections_csv(layout, rows))
        try:
            check(read_all(path))
        except InputError as exc:
            assert "\n" not in exc.message


@PROPERTY
@given(data=st.binary(max_size=400))
def test_any_bytes_either_parse_or_are_an_input_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Connections.csv"
        path.write_bytes(PREAMBLE.encode() + csv_text([CURRENT_HEADER]).encode() + data)
        try:
            check(read_all(path))
        except InputError as exc:
            assert "\n" not in exc.message


def test_the_bundled_example(examples, run_cli, account, db_file):
    r = run_cli("import", examples / "linkedin-export", "--account", account)
    assert r.exit_code == 0, r.output
    assert summary(run_cli) == [("connection", "complete", 22)]
    got = current(db_file)
    assert got[IN + "elif-%c5%9fahin-7a1b"][1] == "Elif Şahin"
    assert ("grace@grace.dev", "unknown") in [(e[2], e[3]) for e in emails(db_file)]
