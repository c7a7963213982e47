"""`audience report risk|recovery` end to end: the JSON shapes of SPEC §4, the files and their
exports, hostile names and bios in every format, the terminal at 80 columns, and the report a
backup writes when it finds an account suspended."""

from __future__ import annotations

import io
import json
import os
import re
import stat
from pathlib import Path

import pytest
from rich.console import Console

from exporters.reports.render import render_recovery_terminal, render_risk_terminal

from . import world

RISK_KEYS = {"generated_at", "accounts", "people", "overall_resilience"}
RISK_ACCOUNT_KEYS = {"account", "audience", "reachable_elsewhere", "only_here", "resilience"}
RECOVERY_KEYS = {"generated_at", "account", "status", "status_since", "last_complete_snapshot", "audience", "tiers",
                 "by_channel", "reachable_fraction", "top_unreachable", "exports"}
P_KEYS = {"platform", "platform_id", "handle", "display_name"}
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture
def store(engine, db_url):
    world.build(engine)
    world.mark_linked(engine)
    return ("--db", db_url)


def run_json(run_cli, *args):
    r = run_cli(*args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def private(path: Path) -> bool:
    return stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_risk_json_has_the_spec_shape_and_the_known_numbers(run_cli, store):
    doc = run_json(run_cli, *store, "report", "risk")
    assert RISK_KEYS <= set(doc)
    assert ISO_UTC.match(doc["generated_at"])
    assert all(RISK_ACCOUNT_KEYS <= set(a) for a in doc["accounts"])
    by = {a["account"]: a for a in doc["accounts"]}
    assert {k: by["x:ana"][k] for k in RISK_ACCOUNT_KEYS} == {
        "account": "x:ana", "audience": 19, "reachable_elsewhere": 9, "only_here": 10, "resilience": round(9 / 19, 4),
    }
    assert doc["people"] == 19 and doc["overall_resilience"] == round(12 / 23, 4)


def test_risk_takes_the_shared_filters(run_cli, store):
    doc = run_json(run_cli, *store, "report", "risk", "--not-on", "mastodon")
    x = next(a for a in doc["accounts"] if a["account"] == "x:ana")
    assert x["audience"] == 17  # P1 (a Mastodon follower) and P16 (followed there) left out
    assert doc["selection"] == "not on mastodon"
    r = run_cli(*store, "report", "risk", "--platform", "nowhere")
    assert r.exit_code == 2 and "unknown platform" in r.stderr


def test_recovery_json_has_the_spec_shape_and_writes_the_ready_exports(run_cli, store, tmp_path):
    out = tmp_path / "out"
    doc = run_json(run_cli, *store, "report", "recovery", "x:ana", "--exports", out, "--top", "3")
    assert RECOVERY_KEYS <= set(doc)
    assert doc["account"] == "x:ana" and doc["status"] == "active" and ISO_UTC.match(doc["status_since"])
    assert {"id", "finished_at", "count"} <= set(doc["last_complete_snapshot"])
    assert doc["last_complete_snapshot"]["id"] == 3 and doc["last_complete_snapshot"]["count"] == 19
    assert doc["audience"] == 19 and doc["tiers"] == world.EXPECTED_X_TIERS
    assert doc["by_channel"] == world.EXPECTED_X_CHANNELS
    assert doc["reachable_fraction"] == round(9 / 19, 4)
    assert len(doc["top_unreachable"]) == 3 and all(P_KEYS <= set(p) for p in doc["top_unreachable"])
    assert [p["platform_id"] for p in doc["top_unreachable"]] == ["1017", "1018", "1007"]
    # Mailing list: P2 and P3 opted in; P9's opt-in lost to an unsubscribe, P5's address has no consent.
    # Follow lists: Mastodon has P10 (P1 and P16 are related to mastodon:ana already); Bluesky nobody new.
    assert set(doc["exports"]) == {"mailing_list", "follows_mastodon", "vcard", "csv"}
    assert doc["export_rows"] == {"mailing_list": 2, "follows_mastodon": 1, "vcard": 18, "csv": 18}
    for path in doc["exports"].values():
        assert Path(path).parent == out.resolve() and private(Path(path))
    mailing = Path(doc["exports"]["mailing_list"]).read_text()
    assert "p2@example.org" in mailing and "p3@example.org" in mailing and "p9@" not in mailing and "p5@" not in mailing
    assert "p10@social.example" in Path(doc["exports"]["follows_mastodon"]).read_text()
    assert any("mailing-list.csv" in step for step in doc["next_steps"])


def test_recovery_files_go_beside_the_report(run_cli, store, tmp_path):
    html, md = tmp_path / "x.html", tmp_path / "sub" / "x.md"
    r = run_cli(*store, "report", "recovery", "ana-x", "--html", html)
    assert r.exit_code == 0, r.output
    assert private(html) and (tmp_path / "x-exports" / "everyone.csv").exists()
    assert f"wrote the recovery report to {html}" in r.stderr and r.stdout == ""
    r = run_cli(*store, "report", "recovery", "1", "--markdown", md, "--no-exports")
    assert r.exit_code == 0, r.output
    assert md.read_text().startswith("# Recovery report: x:ana") and not (tmp_path / "sub" / "x-exports").exists()


def test_recovery_without_a_file_puts_its_exports_in_the_data_dir(run_cli, store, isolated_home):
    r = run_cli(*store, "report", "recovery", "x:ana")
    assert r.exit_code == 0, r.output
    assert "Recovery report: x:ana" in r.stdout and "You can still reach 9 of 19 (47%)" in r.stdout
    folders = list((isolated_home / "reports").glob("recovery-x-ana-*-exports"))
    assert len(folders) == 1 and (folders[0] / "contacts.vcf").exists()


def test_usage_errors(run_cli, store, tmp_path):
    assert run_cli(*store, "report", "risk", "--json", "--html", tmp_path / "a.html").exit_code == 2
    r = run_cli(*store, "report", "recovery", "x:nobody")
    assert r.exit_code == 2 and "no account 'x:nobody'" in r.stderr


def test_the_terminal_forms_fit_80_columns(run_cli, store, engine):
    from backup.accounts import resolve
    from exporters.reports.recovery import build_recovery
    from exporters.reports.risk import build_risk

    with engine.connect() as conn:
        risk, recovery = build_risk(conn), build_recovery(conn, resolve(conn, "x:ana"))
    expected = {render_risk_terminal: ("x:ana", "mastodon:ana@social.example", "(suspended)",
                                      "bluesky:ana.example.com is suspended: you can still reach 1 of 2 (50%)."),
                render_recovery_terminal: ("Recovery report: x:ana", "unreachable", "mastodon 3", "Next steps")}
    for render, doc in ((render_risk_terminal, risk), (render_recovery_terminal, recovery)):
        buf = io.StringIO()
        render(doc, Console(file=buf, width=80, force_terminal=False, color_system=None))
        lines = buf.getvalue().splitlines()
        assert max(len(line) for line in lines) <= 80
        for words in expected[render]:
            assert words in buf.getvalue()
    assert "If you lost x:ana tonight, you would keep 9 of 19 (47%)." in risk_text(risk)


def risk_text(doc) -> str:
    buf = io.StringIO()
    render_risk_terminal(doc, Console(file=buf, width=80, force_terminal=False, color_system=None))
    return buf.getvalue()


# -- hostile input ------------------------------------------------------------------------------

SCRIPT = "<script>document.title='PWNED'</script>"
IMG = '"><img src=x onerror="document.title=\'PWNED\'">'
RLO = "\u202egnp.exe\u202c Zed"
HOSTILE_NAMES = {7: SCRIPT, 8: IMG, 9: RLO, 11: "Nul\x00Esc\x1b[31mRed\x07", 12: "W" * 100_000, 17: "[click](javascript:alert(1))"}
HOSTILE_BIOS = {7: "</td></tr></table><h1>owned</h1>", 17: "=cmd|' /C calc'!A0 **bold** <b>x</b>", 18: "\u202e" + "b" * 100_000}
HOSTILE_URLS = {7: "javascript:alert(1)", 8: "JaVaScRiPt:alert(1)", 9: " https://spaced.example/", 11: "data:text/html,<script>alert(1)</script>",
                12: "https://ok.example/p12?a=1&b=2", 17: "https://ok.example/\"onmouseover=alert(1)"}


@pytest.fixture
def hostile(engine, db_url):
    names = HOSTILE_NAMES
    if engine.dialect.name == "postgresql":  # PostgreSQL text cannot hold NUL (the importers drop it)
        names = {k: v.replace("\x00", "") for k, v in names.items()}
    world.build(engine, names=names, bios=HOSTILE_BIOS, urls=HOSTILE_URLS)
    from backup.db.engine import write

    with write(engine) as conn:  # an account of mine with a hostile handle and label
        conn.exec_driver_sql(
            "INSERT INTO accounts (id, platform, handle, label, tags, status, created_at) "
            "VALUES (6, 'other', '<svg onload=alert(1)>', '\u202eLABEL', '[]', 'active', '2026-01-01 00:00:00')"
        )
    world.mark_linked(engine)
    return ("--db", db_url)


def parse(html: str) -> list[tuple[str, dict]]:
    """Every element of the page with its attributes, as a browser's tokenizer sees them."""
    from html.parser import HTMLParser

    found: list[tuple[str, dict]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, {k: v or "" for k, v in attrs}))

        handle_startendtag = handle_starttag

    Collect().feed(html)
    return found


def assert_inert(text: str) -> None:
    assert "\x00" not in text and "\x1b" not in text and "\x07" not in text
    assert "\u202e" not in text and "\u202c" not in text
    assert "W" * 1000 not in text and "b" * 1000 not in text  # 100k-character strings are cut


def test_hostile_strings_in_html(run_cli, hostile, tmp_path):
    page = tmp_path / "r.html"
    assert run_cli(*hostile, "report", "recovery", "x:ana", "--html", page, "--no-exports").exit_code == 0
    risk = tmp_path / "risk.html"
    assert run_cli(*hostile, "report", "risk", "--html", risk).exit_code == 0
    for html in (page.read_text(), risk.read_text()):
        assert_inert(html)
        tags = parse(html)
        names = {tag for tag, _ in tags}
        assert not names & {"script", "img", "iframe", "object", "embed", "link", "base", "form"}, names
        assert [tag for tag, _ in tags].count("style") == 1 and [tag for tag, _ in tags].count("h1") == 1  # ours
        for tag, attrs in tags:
            assert not [a for a in attrs if a.startswith("on")], (tag, attrs)  # no event handler anywhere
            if "href" in attrs:
                assert attrs["href"].startswith(("https://", "http://", "mailto:")), attrs["href"]
            assert "style" not in attrs
        assert "onerror=&#34;" in html or "onload=" in html  # the text is there, inert
    html = page.read_text()
    assert "&lt;script&gt;" in html and "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;h1&gt;" in html
    assert 'href="https://ok.example/p12?a=1&amp;b=2"' in html  # a good link stays, escaped
    hrefs = [attrs["href"] for _, attrs in parse(html) if "href" in attrs]
    assert "https://ok.example/p12?a=1&b=2" in hrefs
    assert not [h for h in hrefs if "spaced.example" in h or "onmouseover" in h]  # a space or a quote: no link
    assert "gnp.exe Zed" in html  # the text stays, without the override


def test_hostile_strings_in_markdown(run_cli, hostile, tmp_path):
    md = tmp_path / "r.md"
    assert run_cli(*hostile, "report", "recovery", "x:ana", "--markdown", md, "--no-exports").exit_code == 0
    risk = tmp_path / "risk.md"
    assert run_cli(*hostile, "report", "risk", "--markdown", risk).exit_code == 0
    for text in (md.read_text(), risk.read_text()):
        assert_inert(text)
        assert "<script" not in text and "<img" not in text and "<svg" not in text and "<b>" not in text
        assert not re.search(r"(?<!\\)\]\((javascript|data):", text, re.IGNORECASE)  # no link to them
        for table in re.findall(r"(?:^\|.*\n)+", text, re.MULTILINE):  # a name or bio cannot add table cells
            cells = {len(re.findall(r"(?<!\\)\|", line)) for line in table.splitlines()}
            assert len(cells) == 1, table
    assert "\\[click\\](javascript:alert(1))" in md.read_text()  # no link: its brackets are escaped
    assert "(https://ok.example/p12?a=1&b=2)" in md.read_text()  # a good link stays a link


def test_hostile_strings_in_the_terminal_and_json(run_cli, hostile):
    for args in (("report", "risk"), ("report", "recovery", "x:ana", "--no-exports")):
        r = run_cli(*hostile, *args)
        assert r.exit_code == 0, r.output
        assert_inert(r.stdout)
    doc = run_json(run_cli, *hostile, "report", "recovery", "x:ana", "--no-exports")
    assert doc["top_unreachable"][0]["bio"].startswith("=cmd")  # JSON keeps the data as it is (JSON-escaped)
    assert len(doc["top_unreachable"][1]["bio"]) <= 280


# -- backup finds an account suspended ----------------------------------------------------------

TOKEN_ENV = "AUDIENCE_TEST_MASTODON_TOKEN"


@pytest.fixture
def masto(run_cli, db_url, monkeypatch):
    from connectors.fakes import FakeClock, MastodonFake

    fake = MastodonFake(FakeClock(), followers=12, following=4, page_size=5)
    monkeypatch.setenv(TOKEN_ENV, fake.secret)
    db = ("--db", db_url)
    r = run_cli(*db, "accounts", "add", "mastodon", fake.handle, "--server", fake.url, "--token-env", TOKEN_ENV)
    assert r.exit_code == 0, r.output
    yield fake, db
    fake.close()
    assert not fake.server.errors, fake.server.errors[0]


def test_a_backup_that_finds_an_account_suspended_writes_the_recovery_report(run_cli, masto, isolated_home):
    fake, db = masto
    assert run_cli(*db, "backup").exit_code == 0
    assert not (isolated_home / "reports").exists()  # nothing to report while it stands
    fake.own_state = "suspended"

    r = run_cli(*db, "backup", "--json")

    assert r.exit_code == 8, r.output
    reports = sorted((isolated_home / "reports").glob("recovery-mastodon-ana_social.example-*.html"))
    assert len(reports) == 1 and private(reports[0])
    assert f"recovery report for mastodon:ana@social.example: {reports[0]}" in r.stderr
    row = json.loads(r.stdout)["accounts"][0]
    assert row["report"] == str(reports[0]) and row["status"] == "suspended"
    html = reports[0].read_text()
    assert "mastodon:ana@social.example" in html and "suspended since" in html
    assert "12 followers" in html  # the last good snapshot, kept
    exports = reports[0].with_name(reports[0].stem + "-exports")
    assert {p.name for p in exports.iterdir()} >= {"mailing-list.csv", "contacts.vcf", "everyone.csv"}
    assert len((exports / "everyone.csv").read_text().splitlines()) == 13  # a header and the 12 followers

    # The next night, still suspended: the same report, refreshed, not a second one.
    r = run_cli(*db, "backup")
    assert r.exit_code == 8
    assert sorted((isolated_home / "reports").glob("*.html")) == reports
    assert f"recovery report for mastodon:ana@social.example: {reports[0]}" in r.stderr


def test_an_address_book_has_no_recovery_report(run_cli, store):
    r = run_cli(*store, "report", "recovery", "contacts:address-book")
    assert r.exit_code == 2 and "address book" in r.stderr
