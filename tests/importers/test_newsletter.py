"""Newsletter subscriber exports through the CLI: Substack, Mailchimp, listmonk, a plain email list (SPEC §2, §4, §6).

Active subscribers are the members of a `subscriber` snapshot (consent `opted_in`); everyone
else is kept as a profile with an `unsubscribed` email and no relationship, and is suppressed.
Files are written at test time in each platform's layout (reference/platform-formats.md §11).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from backup.errors import InputError
from backup.importers import ImportOptions, RecordError
from backup.importers.newsletter import Newsletter, normalize_email, parse_time
from backup.importers.sources import FileSource
from backup.snapshot import MAX_TEXT, ProfileRecord

from .conftest import assert_input_error

ACCOUNT = "newsletter:letters"
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

SUBSTACK_HEADER = ["email", "active_subscription", "expiry", "email_disabled", "created_at"]
SUBSTACK_ROWS = [
    ["carmen.ruiz@example.com", "true", "2027-11-02T00:00:00.000Z", "false", "2024-02-10T08:15:30.123Z"],
    ["Grace@Grace.dev", "", "", "false", "2024-03-01T17:42:10.000Z"],
    ["jürgen.weiß@example.de", "", "", "false", "2024-09-12T08:00:00.000Z"],  # a non-ASCII local part
    ["dmitri@dmitri.example", "", "", "true", "2024-07-15T22:08:51.660Z"],  # email_disabled: unsubscribed
    ["9f2c1a7e@deletion-request.substack.com", "", "", "false", "2023-12-01T00:00:00.000Z"],  # skipped
    ["olu@lagosfintech.example", "", "", "TRUE", "2024-09-28T16:34:40.404Z"],
]

MAILCHIMP_COMMON = [
    "Email Address", "First Name", "Last Name", "Address", "Phone Number", "MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP",
    "CONFIRM_TIME", "CONFIRM_IP", "LATITUDE", "LONGITUDE", "GMTOFF", "DSTOFF", "TIMEZONE", "CC", "REGION",
]
MAILCHIMP_TAIL = ["LEID", "EUID", "NOTES", "TAGS"]
MAILCHIMP_HEADERS = {
    "subscribed": MAILCHIMP_COMMON + ["LAST_CHANGED"] + MAILCHIMP_TAIL,
    "unsubscribed": MAILCHIMP_COMMON + ["UNSUB_TIME", "UNSUB_CAMPAIGN_TITLE", "UNSUB_CAMPAIGN_ID", "UNSUB_REASON", "UNSUB_REASON_OTHER"] + MAILCHIMP_TAIL,
    "cleaned": MAILCHIMP_COMMON + ["CLEAN_TIME", "CLEAN_CAMPAIGN_TITLE", "CLEAN_CAMPAIGN_ID"] + MAILCHIMP_TAIL,
}
LISTMONK_HEADER = ["uuid", "email", "name", "attributes", "status", "created_at", "updated_at"]


def csv_bytes(rows: list[list[str]], *, quoting: int = csv.QUOTE_MINIMAL, newline: str = "\r\n", encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    csv.writer(buf, quoting=quoting, lineterminator=newline).writerows(rows)
    return buf.getvalue().encode(encoding)


def mailchimp_csv(state: str, people: list[dict]) -> bytes:
    """One file of a Mailchimp audience export; `people` give Email Address, First Name, ... by column name."""
    header = MAILCHIMP_HEADERS[state]
    defaults = {"MEMBER_RATING": "2", "OPTIN_TIME": "2024-05-01 10:00:00", "CONFIRM_TIME": "2024-05-01 10:02:11",
                "TIMEZONE": "Europe/Berlin", "CC": "DE", "LEID": "123456", "EUID": "a1b2c3d4e5"}
    return csv_bytes([header] + [[{**defaults, **p}.get(h, "") for h in header] for p in people], quoting=csv.QUOTE_ALL, newline="\n")


def mailchimp_export(subscribed=None, unsubscribed=None, cleaned=None, audience: str = "a1b2c3") -> dict[str, bytes]:
    files = {}
    for state, people in (("subscribed", subscribed), ("unsubscribed", unsubscribed), ("cleaned", cleaned)):
        if people is not None:
            files[f"{state}_members_export_{audience}.csv"] = mailchimp_csv(state, people)
    return files


def write_zip(files: dict[str, bytes], path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return path


def container(how: str, files: dict[str, bytes], tmp_path: Path) -> Path:
    """`zip`: the export as downloaded; `file`: its one subscriber CSV on its own."""
    if how == "zip":
        return write_zip(files, tmp_path / "export.zip")
    (name, content), = [(n, c) for n, c in files.items() if n.endswith(".csv") and "/" not in n and n != "posts.csv"]
    path = tmp_path / name
    path.write_bytes(content)
    return path


def rows(url: str, sql: str, **params) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def audience(url: str) -> dict:
    """Who is subscribed, who is kept without a relationship, each email's consent, the suppression list."""
    members = {r[0] for r in rows(url, "SELECT platform_id FROM relationships WHERE kind = 'subscriber' AND until_snapshot_id IS NULL")}
    everyone = {r[0] for r in rows(url, "SELECT platform_id FROM profiles WHERE platform = 'newsletter'")}
    return {
        "members": members,
        "others": everyone - members,
        "consent": dict(rows(url, "SELECT value, consent FROM contact_points WHERE kind = 'email'")),
        "suppressed": {r[0] for r in rows(url, "SELECT value FROM suppressions")},
    }


@pytest.fixture
def url(db_file: Path) -> str:
    return f"sqlite:///{db_file}"


@pytest.fixture
def letters(run_cli) -> str:
    r = run_cli("accounts", "add", "newsletter", "letters")
    assert r.exit_code == 0, r.output
    return ACCOUNT


def imported(run_cli, path: Path, *args: str) -> str:
    r = run_cli("import", path, "--account", ACCOUNT, *args)
    assert r.exit_code == 0, r.output
    return r.stdout


# -- Substack ----------------------------------------------------------------------------------


def substack_export(rows_: list[list[str]], header: list[str] = SUBSTACK_HEADER) -> dict[str, bytes]:
    """The full export zip: the email list beside posts and per-post delivery files."""
    return {
        "email_list.letters.csv": csv_bytes([header, *rows_], newline="\n"),
        "posts.csv": csv_bytes([["post_id", "post_date", "is_published", "email_sent_at", "title"], ["1.hello", "2024-01-01", "true", "", "Hello"]]),
        "posts/1.hello.html": b"<p>Hello</p>",
        "posts/1.hello.delivers.csv": csv_bytes([["timestamp", "email", "post_id"], ["2024-01-01", "carmen.ruiz@example.com", "1"]]),
    }


@pytest.mark.parametrize("how", ["zip", "file"])
def test_substack_export(how, letters, run_cli, tmp_path, url):
    path = container(how, substack_export(SUBSTACK_ROWS), tmp_path)
    out = imported(run_cli, path)
    assert "newsletter:letters subscribers: snapshot 1 complete, 3 profiles (+3 -0)" in out
    got = audience(url)
    assert got["members"] == {"carmen.ruiz@example.com", "grace@grace.dev", "jürgen.weiß@example.de"}
    assert got["others"] == {"dmitri@dmitri.example", "olu@lagosfintech.example"}  # the placeholder is not kept
    assert got["consent"] == {
        "carmen.ruiz@example.com": "opted_in", "grace@grace.dev": "opted_in", "jürgen.weiß@example.de": "opted_in",
        "dmitri@dmitri.example": "unsubscribed", "olu@lagosfintech.example": "unsubscribed",
    }
    assert got["suppressed"] == {"dmitri@dmitri.example", "olu@lagosfintech.example"}
    data = json.loads(rows(url, "SELECT data FROM profiles WHERE platform_id = 'carmen.ruiz@example.com'")[0][0])
    assert data == {"format": "substack", "paid": True, "email_disabled": False, "expiry": "2027-11-02T00:00:00+00:00",
                    "subscribed_at": "2024-02-10T08:15:30.123000+00:00"}


def test_substack_dashboard_export_and_newer_columns(letters, run_cli, tmp_path, url):
    """The dashboard's `email,expiry,email_disabled,stripe_connected_customer_id,type`, and `plan` in newer exports."""
    path = tmp_path / "subscribers.csv"
    path.write_bytes(csv_bytes([
        ["email", "expiry", "email_disabled", "stripe_connected_customer_id", "type", "plan"],
        ["ada@example.org", "2027-01-01T00:00:00.000Z", "false", "cus_123", "paid", "yearly"],
        ["bo@example.net", "", "true", "", "comp", ""],
    ]))
    imported(run_cli, path)
    assert audience(url)["members"] == {"ada@example.org"} and audience(url)["suppressed"] == {"bo@example.net"}
    data = json.loads(rows(url, "SELECT data FROM profiles WHERE platform_id = 'ada@example.org'")[0][0])
    assert (data["type"], data["plan"]) == ("paid", "yearly")


def test_the_bundled_substack_example(letters, run_cli, examples, url):
    out = imported(run_cli, examples / "newsletter-substack.csv")
    assert "25 profiles (+25 -0)" in out
    got = audience(url)
    assert len(got["members"]) == 25 and len(got["others"]) == 4 and len(got["suppressed"]) == 4
    assert "lucia.fernandez@edicionessur.example" in got["members"]  # lower-cased
    # people the other examples know, by the same address
    assert {"carmen.ruiz@example.com", "elif@example.net", "hana@example.org", "wei@guo.example"} <= got["members"]


# -- Mailchimp ---------------------------------------------------------------------------------

SUBSCRIBED = [
    {"Email Address": "zoe.mueller@example.de", "First Name": "Zoë", "Last Name": "Müller", "TAGS": '"Designers","Berlin"'},
    {"Email Address": "kai@nakamura.example", "First Name": "Kai 🌊", "Last Name": "Nakamura", "MEMBER_RATING": "5"},
    {"Email Address": "Tram.Nguyen@Example.vn", "First Name": "Nguyễn", "Last Name": "Ngọc Trâm"},
]
UNSUBSCRIBED = [{"Email Address": "sven@ek-soner.example", "First Name": "Sven", "Last Name": "Ek",
                 "UNSUB_TIME": "2025-01-02 03:04:05", "UNSUB_REASON": "Too many emails"}]
CLEANED = [{"Email Address": "lam.dang@example.vn", "First Name": "Đặng", "Last Name": "Văn Lâm", "CLEAN_TIME": "2025-02-03 04:05:06"}]


def test_mailchimp_audience_export_zip(letters, run_cli, tmp_path, url):
    path = write_zip(mailchimp_export(SUBSCRIBED, UNSUBSCRIBED, CLEANED), tmp_path / "members_export_a1b2c3.zip")
    out = imported(run_cli, path)
    assert "snapshot 1 complete, 3 profiles (+3 -0)" in out
    got = audience(url)
    assert got["members"] == {"zoe.mueller@example.de", "kai@nakamura.example", "tram.nguyen@example.vn"}
    assert got["others"] == got["suppressed"] == {"sven@ek-soner.example", "lam.dang@example.vn"}
    assert {got["consent"][e] for e in got["members"]} == {"opted_in"}
    assert {got["consent"][e] for e in got["others"]} == {"unsubscribed"}
    names = dict(rows(url, "SELECT platform_id, display_name FROM profiles"))
    assert names["kai@nakamura.example"] == "Kai 🌊 Nakamura" and names["lam.dang@example.vn"] == "Đặng Văn Lâm"
    assert names["tram.nguyen@example.vn"] == "Nguyễn Ngọc Trâm"
    zoe = json.loads(rows(url, "SELECT data FROM profiles WHERE platform_id = 'zoe.mueller@example.de'")[0][0])
    assert zoe["tags"] == ["Designers", "Berlin"] and zoe["subscribed_at"] == "2024-05-01T10:00:00+00:00"
    sven = json.loads(rows(url, "SELECT data FROM profiles WHERE platform_id = 'sven@ek-soner.example'")[0][0])
    assert (sven["status"], sven["unsubscribe_reason"]) == ("unsubscribed", "Too many emails")
    assert json.loads(run_cli("snapshots", "--json").stdout)[0]["source"] == "members_export_a1b2c3.zip"


def test_each_mailchimp_file_alone(letters, run_cli, tmp_path, url):
    """The subscribed file alone is the audience; an unsubscribed or cleaned file alone ends no subscription."""
    files = mailchimp_export(SUBSCRIBED, UNSUBSCRIBED, CLEANED)
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    imported(run_cli, tmp_path / "subscribed_members_export_a1b2c3.csv", "--as-of", "2025-03-01")
    assert len(audience(url)["members"]) == 3 and audience(url)["suppressed"] == set()
    out = imported(run_cli, tmp_path / "unsubscribed_members_export_a1b2c3.csv", "--as-of", "2025-03-01")
    assert "newsletter:letters unsubscribed: snapshot 2 complete" in out
    imported(run_cli, tmp_path / "cleaned_members_export_a1b2c3.csv", "--as-of", "2025-03-01")
    got = audience(url)
    assert len(got["members"]) == 3  # still subscribed: these files say nothing about them
    assert got["suppressed"] == got["others"] == {"sven@ek-soner.example", "lam.dang@example.vn"}
    kinds = [(s["kind"], s["count"], s["lost"]) for s in json.loads(run_cli("snapshots", "--json").stdout)]
    assert kinds == [("subscriber", 3, 0), ("unsubscribed", 0, 0), ("unsubscribed", 0, 0)]


def test_mailchimp_files_are_told_apart_by_their_columns_not_only_their_names(letters, run_cli, tmp_path, url):
    """Renamed by a browser (`export (2).csv`), the UNSUB_TIME column still says it is the unsubscribed file."""
    path = tmp_path / "export (2).csv"
    path.write_bytes(mailchimp_csv("unsubscribed", UNSUBSCRIBED))
    imported(run_cli, path)
    assert audience(url)["suppressed"] == {"sven@ek-soner.example"} and audience(url)["members"] == set()


def test_two_mailchimp_audiences_in_one_folder_are_refused(letters, run_cli, tmp_path, db_state):
    before = db_state()
    folder = tmp_path / "exports"
    folder.mkdir()
    for audience_id in ("a1b2c3", "d4e5f6"):
        for name, content in mailchimp_export(SUBSCRIBED, audience=audience_id).items():
            (folder / name).write_bytes(content)
    assert_input_error(run_cli("import", folder, "--account", ACCOUNT), str(folder), "more than one Mailchimp audience")
    assert db_state() == before


# -- listmonk ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["zip", "file"])
def test_listmonk_export(how, letters, run_cli, tmp_path, url):
    content = csv_bytes([
        LISTMONK_HEADER,
        ["8a4d-1", "rosa@diaz-foto.example", "Rosa Díaz", '{"city": "Sevilla", "plan": "free"}', "enabled",
         "2024-10-31 23:59:59.999999 +0100 CET", "2025-01-01 00:00:00 +0000 UTC"],
        ["8a4d-2", "tomas@gaeltacht.example", "Tomás Ó Briain", "{}", "blocklisted", "2024-12-01 12:12:12.12 +0000 UTC", ""],
        ["8a4d-3", "uma@patel-ux.example", "Uma Patel", "{}", "disabled", "2025-01-07 18:30:00 +0000 UTC", ""],
        ["8a4d-4", "wen@wen.example", "文 Wen", "not json", "enabled", "", ""],
    ])
    imported(run_cli, container(how, {"subscribers.csv": content}, tmp_path))
    got = audience(url)
    assert got["members"] == {"rosa@diaz-foto.example", "wen@wen.example"}
    assert got["suppressed"] == got["others"] == {"tomas@gaeltacht.example", "uma@patel-ux.example"}
    rosa = json.loads(rows(url, "SELECT data FROM profiles WHERE platform_id = 'rosa@diaz-foto.example'")[0][0])
    assert rosa["attributes"] == {"city": "Sevilla", "plan": "free"}
    assert rosa["subscribed_at"] == "2024-10-31T22:59:59.999999+00:00"  # Go's layout, converted to UTC
    names = dict(rows(url, "SELECT platform_id, display_name FROM profiles"))
    assert names["tomas@gaeltacht.example"] == "Tomás Ó Briain" and names["wen@wen.example"] == "文 Wen"


# -- a plain email list ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["zip", "file"])
def test_email_list_with_a_status_column_is_recognised(how, letters, run_cli, tmp_path, url):
    content = csv_bytes([
        ["Email", "Name", "Status", "Subscribed at"],
        ["ximena@example.mx", "Ximena", "subscribed", "2025-05-18"],
        ["fran@social-coop.example", "Fran O'Neil", "Unsubscribed", ""],
        ["marta.silva@example.pt", "Marta Silva", "pending", ""],
        ["ingrid@nordlys.example", "Ingrid", "", ""],
    ])
    imported(run_cli, container(how, {"list.csv": content}, tmp_path))
    got = audience(url)
    assert got["members"] == {"ximena@example.mx", "ingrid@nordlys.example"}
    assert got["others"] == {"fran@social-coop.example", "marta.silva@example.pt"}
    assert got["consent"]["marta.silva@example.pt"] == "unknown"  # never confirmed: neither opted in nor out
    assert got["suppressed"] == {"fran@social-coop.example"}


def test_email_list_without_status_needs_platform_newsletter(letters, run_cli, tmp_path, url):
    path = tmp_path / "emails.csv"
    path.write_bytes(csv_bytes([["email", "name"], ["ada@example.org", "Ada"], ["bo@example.net", ""]]))
    r = run_cli("import", path, "--account", ACCOUNT, "--platform", "newsletter")
    assert r.exit_code == 0, r.output
    assert audience(url)["members"] == {"ada@example.org", "bo@example.net"}
    assert audience(url)["consent"] == {"ada@example.org": "opted_in", "bo@example.net": "opted_in"}


def test_unknown_status_words_are_bad_records(letters, run_cli, tmp_path, url):
    people = [[f"reader{i}@example.org", "subscribed"] for i in range(150)]
    people[99] = ["odd@example.org", "maybe later"]  # line 101
    path = tmp_path / "list.csv"
    path.write_bytes(csv_bytes([["email", "status"], *people]))
    r = run_cli("import", path, "--account", ACCOUNT)
    assert r.exit_code == 0, r.output
    assert f"{path} line 101: status 'maybe later' is not one this tool knows" in r.stderr
    assert len(audience(url)["members"]) == 149


# -- account, idempotence, history -------------------------------------------------------------


def test_the_account_must_be_named_and_registered(run_cli, tmp_path, db_state):
    path = container("file", substack_export(SUBSTACK_ROWS), tmp_path)
    before = db_state()
    assert_input_error(run_cli("import", path), "does not say whose it is", code=2)
    assert_input_error(run_cli("import", path, "--account", ACCOUNT), "no account 'newsletter:letters'", code=2)
    assert run_cli("accounts", "add", "x", "ada_ex").exit_code == 0
    assert_input_error(run_cli("import", path, "--account", "x:ada_ex"), "this is a newsletter export", code=2)
    after = db_state()
    assert after["history"] == before["history"] and after["profiles"] == 0


def test_a_second_import_is_a_noop(letters, run_cli, tmp_path):
    path = write_zip(mailchimp_export(SUBSCRIBED, UNSUBSCRIBED, CLEANED), tmp_path / "export.zip")
    imported(run_cli, path)
    assert "already imported as snapshot 1; nothing to do" in imported(run_cli, path)
    assert len(json.loads(run_cli("snapshots", "--json").stdout)) == 1


def test_a_later_export_moves_the_unsubscribed_out_of_the_audience(db_url, run_cli, tmp_path):
    """Night 1: three subscribers. Night 2: Zoë unsubscribed, Kai bounced, Sven came back: on SQLite and PostgreSQL."""
    assert run_cli("--db", db_url, "accounts", "add", "newsletter", "letters").exit_code == 0
    first = write_zip(mailchimp_export(SUBSCRIBED, UNSUBSCRIBED, []), tmp_path / "first.zip")
    r = run_cli("--db", db_url, "import", first, "--account", ACCOUNT, "--as-of", "2025-03-01")
    assert r.exit_code == 0, r.output
    assert audience(db_url)["suppressed"] == {"sven@ek-soner.example"}
    zoe, kai, tram = SUBSCRIBED
    sven = {**UNSUBSCRIBED[0], "UNSUB_TIME": ""}
    later = mailchimp_export([tram, sven], [{**zoe, "UNSUB_TIME": "2025-03-15 08:00:00"}], [{**kai, "CLEAN_TIME": "2025-03-20 09:00:00"}])
    second = write_zip(later, tmp_path / "second.zip")
    r = run_cli("--db", db_url, "import", second, "--account", ACCOUNT, "--as-of", "2025-04-01")
    assert r.exit_code == 0, r.output
    assert "snapshot 2 complete, 2 profiles (+1 -2)" in r.stdout
    got = audience(db_url)
    assert got["members"] == {"tram.nguyen@example.vn", "sven@ek-soner.example"}
    assert got["suppressed"] == {"zoe.mueller@example.de", "kai@nakamura.example"}  # Sven's own unsubscribe lifted
    assert got["consent"]["zoe.mueller@example.de"] == "unsubscribed" and got["consent"]["sven@ek-soner.example"] == "opted_in"
    r = run_cli("--db", db_url, "diff", ACCOUNT, "--kind", "subscriber", "--json")
    assert r.exit_code == 0, r.output
    diff = json.loads(r.stdout)
    assert {p["platform_id"] for p in diff["lost"]} == {"zoe.mueller@example.de", "kai@nakamura.example"}
    assert {p["platform_id"] for p in diff["gained"]} == {"sven@ek-soner.example"}


def test_a_later_substack_export_where_readers_left(letters, run_cli, tmp_path, url):
    first = tmp_path / "email_list.letters.csv"
    first.write_bytes(csv_bytes([SUBSTACK_HEADER, *SUBSTACK_ROWS]))
    imported(run_cli, first, "--as-of", "2026-10-01")
    later = [row[:] for row in SUBSTACK_ROWS if not row[0].startswith("jürgen")]  # Jürgen deleted his subscription
    later[0][3] = "true"  # Carmen turned email off
    later.append(["marta.silva@example.pt", "", "", "false", "2026-10-20T10:00:00.000Z"])
    second = tmp_path / "email_list.letters-2.csv"
    second.write_bytes(csv_bytes([SUBSTACK_HEADER, *later]))
    assert "snapshot 2 complete, 2 profiles (+1 -2)" in imported(run_cli, second, "--as-of", "2026-11-01")
    got = audience(url)
    assert got["members"] == {"grace@grace.dev", "marta.silva@example.pt"}
    assert "jürgen.weiß@example.de" in got["others"]  # gone from the list, kept with its last stated consent
    assert got["consent"]["jürgen.weiß@example.de"] == "opted_in" and "jürgen.weiß@example.de" not in got["suppressed"]
    assert got["suppressed"] == {"carmen.ruiz@example.com", "dmitri@dmitri.example", "olu@lagosfintech.example"}


# -- hostile and malformed input ---------------------------------------------------------------

HOSTILE = ["=cmd|' /C calc'!A0", "<script>alert(1)</script>", "\u202egnp.exe", "nul\x00byte", "+1 -1 @SUM(A1)", "x" * 100_000]


def test_hostile_names_are_stored_safely(db_url, run_cli, tmp_path):
    assert run_cli("--db", db_url, "accounts", "add", "newsletter", "letters").exit_code == 0
    people = [{"Email Address": f"h{i}@example.org", "First Name": name} for i, name in enumerate(HOSTILE)]
    path = tmp_path / "subscribed_members_export_x.csv"
    path.write_bytes(mailchimp_csv("subscribed", people))
    r = run_cli("--db", db_url, "import", path, "--account", ACCOUNT)
    assert r.exit_code == 0, r.output
    names = dict(rows(db_url, "SELECT platform_id, display_name FROM profiles"))
    for i, name in enumerate(HOSTILE):
        assert names[f"h{i}@example.org"] == name.replace("\x00", "")[:MAX_TEXT], name[:40]
    data = json.loads(dict(rows(db_url, "SELECT platform_id, data FROM profiles"))["h5@example.org"])
    assert len(data["first_name"]) == MAX_TEXT


@pytest.mark.parametrize("address", ["not-an-address", "a@b", "two@@example.org", "rtl\u202e@example.org", "sp ace@example.org", "x@" + "d" * 260 + ".org"])
def test_addresses_that_are_not_emails_are_bad_records(address, letters, run_cli, tmp_path, db_state):
    before = db_state()
    path = tmp_path / "list.csv"
    path.write_bytes(csv_bytes([["email", "status"], ["ada@example.org", "active"], [address, "active"]]))
    r = run_cli("import", path, "--account", ACCOUNT)
    assert_input_error(r, str(path), "1 of 2 records are bad", "line 3")  # 1 of 2 is more than 1%: nothing imported
    assert db_state() == before


def test_a_csv_without_an_email_column(letters, run_cli, tmp_path, db_state):
    before = db_state()
    path = tmp_path / "list.csv"
    path.write_bytes(csv_bytes([["Name", "Status"], ["Ada", "subscribed"]]))
    assert_input_error(run_cli("import", path, "--account", ACCOUNT, "--platform", "newsletter"), str(path), "no newsletter subscriber list")
    assert_input_error(run_cli("import", path, "--account", ACCOUNT), str(path))  # not recognised: the generic CSV says why
    assert db_state() == before


def test_bytes_that_are_not_utf8_name_their_line(letters, run_cli, tmp_path, db_state, monkeypatch):
    from backup.importers import tabular

    monkeypatch.setattr(tabular, "SNIFF_BYTES", 64)  # a small file with bytes beyond the sniff window
    before = db_state()
    people = [[f"reader{i}@example.org", "true", "", "false", ""] for i in range(300)]
    people[200] = ["josé@example.org", "", "", "false", ""]  # line 202
    path = tmp_path / "email_list.letters.csv"
    path.write_bytes(csv_bytes([SUBSTACK_HEADER, *people]).replace("josé".encode(), "josé".encode("cp1252")))
    assert_input_error(run_cli("import", path, "--account", ACCOUNT), str(path), "line 202: not utf-8 text")
    assert db_state() == before


def test_a_whole_cp1252_file_is_read_with_its_accents(letters, run_cli, tmp_path, url):
    path = tmp_path / "list.csv"
    path.write_bytes(csv_bytes([["Email", "Name", "Status"], ["jose@example.org", "José Núñez", "active"]], encoding="cp1252"))
    imported(run_cli, path)
    assert dict(rows(url, "SELECT platform_id, display_name FROM profiles")) == {"jose@example.org": "José Núñez"}


def test_a_bad_substack_flag_is_a_bad_record(letters, run_cli, tmp_path):
    people = [[f"reader{i}@example.org", "", "", "false", ""] for i in range(120)]
    people[10][3] = "maybe"
    path = tmp_path / "email_list.letters.csv"
    path.write_bytes(csv_bytes([SUBSTACK_HEADER, *people]))
    r = run_cli("import", path, "--account", ACCOUNT)
    assert r.exit_code == 0, r.output
    assert f"{path} line 12: email_disabled is 'maybe', not true or false" in r.stderr


def test_lists_of_different_newsletters_in_one_folder_are_refused(letters, run_cli, tmp_path):
    folder = tmp_path / "both"
    folder.mkdir()
    (folder / "email_list.letters.csv").write_bytes(csv_bytes([SUBSTACK_HEADER, *SUBSTACK_ROWS]))
    (folder / "subscribers.csv").write_bytes(csv_bytes([LISTMONK_HEADER, ["u", "ada@example.org", "Ada", "{}", "enabled", "", ""]]))
    assert_input_error(run_cli("import", folder, "--account", ACCOUNT), str(folder), "different kinds (listmonk, substack)")


def test_other_csvs_with_an_email_column_are_not_taken_for_newsletters(tmp_path):
    """A US `State` is no subscription status, and a list keyed by username is someone's followers."""
    for header in (["Name", "Email", "City", "State"], ["Username", "Email", "Status"]):
        path = tmp_path / "people.csv"
        path.write_bytes(csv_bytes([header, ["Ada", "ada@example.org", "x", "y"]]))
        assert not Newsletter().detect(FileSource(path), ImportOptions())


# -- parsing helpers ---------------------------------------------------------------------------


def test_normalize_email_and_parse_time():
    assert normalize_email(" Ada@Example.ORG ") == "ada@example.org"
    assert normalize_email("mailto:bo@example.net") == "bo@example.net"
    assert normalize_email("Öz@example.at") == "öz@example.at"
    assert normalize_email("a@b..c") is None and normalize_email("") is None
    assert parse_time("2024-02-10T08:15:30.123Z") == "2024-02-10T08:15:30.123000+00:00"
    assert parse_time("2014-11-01 20:53:34") == "2014-11-01T20:53:34+00:00"
    assert parse_time("2021-04-01 12:34:56.789012345 +0530 IST") == "2021-04-01T07:04:56.789012+00:00"
    assert parse_time("last Tuesday") == "last Tuesday"


HEADERS = st.sampled_from([SUBSTACK_HEADER, MAILCHIMP_HEADERS["subscribed"], MAILCHIMP_HEADERS["unsubscribed"], LISTMONK_HEADER,
                           ["email", "name", "status"]])
CELL = st.one_of(st.text(max_size=30), st.sampled_from(["true", "false", "enabled", "blocklisted", "ada@example.org", "=cmd", "\x00", "\u202e"]))


@PROPERTY
@given(header=HEADERS, body=st.lists(st.lists(CELL, max_size=8), max_size=6), junk=st.binary(max_size=40))
def test_any_subscriber_csv_parses_or_raises_input_error(header, body, junk, tmp_path_factory):
    """Arbitrary cells (and arbitrary bytes after them): records, record errors, or InputError; nothing else."""
    path = tmp_path_factory.mktemp("prop") / "list.csv"
    path.write_bytes(csv_bytes([header, *body]) + junk)
    source = FileSource(path)
    try:
        plan = Newsletter().plan(source, ImportOptions(platform="newsletter"))
        for item in plan.streams[0].read():
            assert isinstance(item, (ProfileRecord, RecordError))
            if isinstance(item, ProfileRecord):
                assert item.platform_id == normalize_email(item.platform_id) and len(item.platform_id) <= 254
    except InputError:
        pass


# -- what --account tells detection; summaries; duplicates ----------------------------------------


def test_an_email_list_imported_into_a_newsletter_account_is_a_subscriber_list(letters, run_cli, tmp_path, url):
    path = tmp_path / "emails.csv"
    path.write_bytes(csv_bytes([["email", "name"], ["ada@example.org", "Ada"], ["bo@example.net", ""]]))
    r = run_cli("import", path, "--account", ACCOUNT)  # no --platform: the account says it
    assert r.exit_code == 0, r.output
    assert audience(url)["members"] == {"ada@example.org", "bo@example.net"}
    assert "subscribers: snapshot 1 complete, 2 profiles" in r.stdout


def test_the_summary_counts_the_readers_kept_without_a_subscription(letters, run_cli, tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(csv_bytes([["email", "status"], ["ada@example.org", "subscribed"], ["bo@example.net", "unsubscribed"]]))
    out = imported(run_cli, path)
    assert "1 profiles (+1 -0); 1 more kept as contacts only" in out
    doc = json.loads(run_cli("import", path, "--account", ACCOUNT, "--json").stdout)
    assert doc[0]["snapshots"][0]["status"] == "already-imported"


def test_an_address_listed_as_subscribed_and_unsubscribed_is_suppressed(letters, run_cli, tmp_path, url):
    path = tmp_path / "list.csv"
    path.write_bytes(csv_bytes([
        ["email", "status"], ["ada@example.org", "unsubscribed"], ["ada@example.org", "subscribed"], ["bo@example.net", "subscribed"],
    ]))
    imported(run_cli, path)
    state = audience(url)
    assert state["consent"]["ada@example.org"] == "unsubscribed"
    assert "ada@example.org" in state["suppressed"]
