"""After `audience demo`, the reports give the numbers the bundled examples imply, counted here
from the example files themselves; and the demo prints the risk report and writes the
recovery report of its X account with the ready exports."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest


def _x_ids(archive: Path) -> set[str]:
    return set(re.findall(r'"accountId"\s*:\s*"(\d+)"', (archive / "data" / "follower.js").read_text()))


def _linkedin_reachable(examples: Path) -> tuple[int, int]:
    """(connections, those with an address the newsletter does not list as unsubscribed)."""
    lines = (examples / "linkedin-export" / "Connections.csv").read_text(encoding="utf-8-sig").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("First Name"))
    rows = [r for r in csv.DictReader(lines[header:]) if r["First Name"] or r["URL"]]  # (blank rows are no one)
    with open(examples / "newsletter-substack.csv", encoding="utf-8") as fh:
        unsubscribed = {r["email"].lower() for r in csv.DictReader(fh) if r["email_disabled"] == "true"}
    emails = [r["Email Address"].strip().lower() for r in rows]
    return len(rows), sum(1 for e in emails if e and e not in unsubscribed)


def _active_subscribers(examples: Path) -> int:
    with open(examples / "newsletter-substack.csv", encoding="utf-8") as fh:
        # (Substack's placeholder for a reader who asked to be deleted is no subscriber.)
        return sum(1 for r in csv.DictReader(fh)
                   if r["email_disabled"] != "true" and not r["email"].endswith("@deletion-request.substack.com"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from backup.cli import main

    directory = tmp_path_factory.mktemp("demo")
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["demo", "--dir", str(directory)]) == 0
    return directory, out.getvalue()


def test_the_demo_prints_the_risk_report_and_writes_the_recovery_report(demo):
    directory, output = demo
    assert "Audience risk" in output and "If you lost x:ada_ex tonight, you would keep 0 of 42 (0%)." in output
    page = directory / "recovery-x-ada_ex.html"
    assert page.exists() and "Content-Security-Policy" in page.read_text()
    exports = directory / "recovery-x-ada_ex-exports"
    assert {p.name for p in exports.iterdir()} >= {"mailing-list.csv", "contacts.vcf", "everyone.csv"}
    assert str(page) in output


def test_after_the_demo_the_reports_match_the_examples(demo, examples, run_cli):
    directory, _ = demo
    db = ("--db", directory / "audience.db")
    r = run_cli(*db, "report", "risk", "--json")
    assert r.exit_code == 0, r.output
    by = {a["account"]: a for a in json.loads(r.stdout)["accounts"]}

    followers = _x_ids(examples / "x-archive-2026-11-01")
    # An X archive holds only ids: nobody can be found elsewhere from an id alone.
    assert (by["x:ada_ex"]["audience"], by["x:ada_ex"]["reachable_elsewhere"]) == (len(followers), 0)
    subscribers = _active_subscribers(examples)
    assert (by["newsletter:ada-letters"]["audience"], by["newsletter:ada-letters"]["reachable_elsewhere"]) == (subscribers, subscribers)
    connections, with_address = _linkedin_reachable(examples)
    assert (by["linkedin:ada-example"]["audience"], by["linkedin:ada-example"]["reachable_elsewhere"]) == (connections, with_address)

    r = run_cli(*db, "report", "recovery", "x:ada_ex", "--json", "--no-exports")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["audience"] == len(followers) and doc["tiers"]["unreachable"] == len(followers)
    assert doc["unreachable_ids_only"] == len(followers)  # and said so in the next steps
    assert any("known only by their x id" in step for step in doc["next_steps"])
    assert doc["last_complete_snapshot"]["count"] == len(followers)
    assert doc["last_complete_snapshot"]["as_of"].startswith("2026-11-01")
    older = _x_ids(examples / "x-archive-2026-10-01")
    assert [p["count"] for p in doc["history"]] == [len(older), len(followers)]
    assert {p["platform_id"] for p in doc["top_unreachable"]} <= followers
