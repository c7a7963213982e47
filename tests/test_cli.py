"""The command line end to end: demo, init, accounts, import, snapshots, diff, db."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from backup.cli import app


def test_demo_runs_offline_and_summarizes(run_cli, tmp_path: Path):
    result = run_cli("demo", "--dir", tmp_path / "demo")
    assert result.exit_code == 0, result.output
    assert "6 new followers, 4 left" in result.stdout
    assert "already imported as snapshot 2" in result.stdout  # following.js did not change
    for line in (  # every bundled format is imported
        "linkedin:ada-example connections: snapshot", "instagram:ada.example followers: snapshot",
        "facebook:ada.example connections: snapshot", "tiktok:ada.example following: snapshot",
        "mastodon:ada@mastodon.social following: snapshot", "newsletter:ada-letters subscribers: snapshot",
        "contacts:address-book contacts: snapshot",
    ):
        assert line in result.stdout, line
    db = tmp_path / "demo" / "audience.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "demo").stat().st_mode) == 0o700
    again = run_cli("demo", "--dir", tmp_path / "demo")  # a fresh database each time
    assert again.exit_code == 0, again.output
    assert "6 new followers, 4 left" in again.stdout


def test_init_is_idempotent_and_private_under_any_umask(run_cli, isolated_home: Path):
    old = os.umask(0o000)
    try:
        first = run_cli("init")
        second = run_cli("init")
    finally:
        os.umask(old)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    db = isolated_home / "audience.db"
    assert str(db) in first.stdout
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(isolated_home.stat().st_mode) == 0o700


def test_db_flag_and_env_choose_the_database(run_cli, tmp_path: Path, monkeypatch):
    assert run_cli("--db", tmp_path / "a.db", "init").exit_code == 0
    assert (tmp_path / "a.db").exists()
    monkeypatch.setenv("AUDIENCE_DB", str(tmp_path / "b.db"))
    assert run_cli("init").exit_code == 0
    assert (tmp_path / "b.db").exists()


def test_accounts_add_list_remove(run_cli):
    r = run_cli("accounts", "add", "mastodon", "@Ana@Mastodon.Social", "--label", "ana", "--tag", "personal", "--token-env", "ANA_TOKEN")
    assert r.exit_code == 0, r.output
    listed = json.loads(run_cli("accounts", "list", "--json").stdout)
    assert listed[0]["platform"] == "mastodon" and listed[0]["handle"] == "ana@mastodon.social"
    assert set(listed[0]) >= {"id", "platform", "handle", "label", "tags", "status", "status_since", "last_snapshot_at"}
    assert listed[0]["tags"] == ["personal"] and listed[0]["status"] == "unknown"
    dup = run_cli("accounts", "add", "mastodon", "ana@mastodon.social")
    assert dup.exit_code == 2 and dup.stderr.startswith("error: ")
    assert run_cli("accounts", "remove", "ana", "--yes").exit_code == 0
    assert json.loads(run_cli("accounts", "list", "--json").stdout) == []


def test_token_env_takes_a_name_not_a_secret(run_cli):
    r = run_cli("accounts", "add", "x", "ana", "--token-env", "AAAA-real-token-value/xyz")
    assert r.exit_code == 2
    assert "real-token-value" not in r.stderr


def test_import_snapshots_and_diff_json(run_cli, examples: Path, db_url: str):
    db = ("--db", db_url)
    assert run_cli(*db, "import", examples / "x-archive-2026-10-01").exit_code == 0
    r = run_cli(*db, "import", examples / "x-archive-2026-11-01")
    assert r.exit_code == 0, r.output
    snaps = json.loads(run_cli(*db, "snapshots", "--json").stdout)
    assert [(s["kind"], s["status"], s["count"], s["gained"], s["lost"]) for s in snaps] == [
        ("follower", "complete", 40, 40, 0),
        ("following", "complete", 8, 8, 0),
        ("follower", "complete", 42, 6, 4),
    ]
    keys = {"id", "account", "platform", "kind", "source", "started_at", "finished_at", "status", "count", "gained", "lost"}
    assert all(keys <= set(s) for s in snaps)
    assert snaps[0]["account"] == "x:ada_ex" and snaps[0]["source"] == "x-archive-2026-10-01"
    diff = json.loads(run_cli(*db, "diff", "x:ada_ex", "--json").stdout)
    assert diff["from_snapshot"] == 1 and diff["to_snapshot"] == 3
    assert len(diff["gained"]) == 6 and len(diff["lost"]) == 4
    assert set(diff["gained"][0]) == {"platform", "platform_id", "handle", "display_name", "url"}
    assert diff["gained"][0]["url"] == "https://twitter.com/intent/user?user_id=" + diff["gained"][0]["platform_id"]
    # snapshots for one account, and the accept subcommand share the group
    assert len(json.loads(run_cli(*db, "snapshots", "x:ada_ex", "--json").stdout)) == 3
    assert run_cli(*db, "snapshots", "accept", "1").exit_code == 2  # complete, not suspect


def test_reimport_is_a_noop_that_says_so(run_cli, examples: Path, db_url: str):
    db = ("--db", db_url)
    assert run_cli(*db, "import", examples / "x-archive-2026-10-01").exit_code == 0
    again = run_cli(*db, "import", examples / "x-archive-2026-10-01")
    assert again.exit_code == 0, again.output
    assert "already imported as snapshot 1" in again.stdout
    assert len(json.loads(run_cli(*db, "snapshots", "--json").stdout)) == 2


def test_older_export_after_newer_is_refused(run_cli, examples: Path, db_url: str):
    db = ("--db", db_url)
    assert run_cli(*db, "import", examples / "x-archive-2026-11-01").exit_code == 0
    r = run_cli(*db, "import", examples / "x-archive-2026-10-01")
    assert r.exit_code == 3
    assert "import older exports first" in r.stderr
    assert len(json.loads(run_cli(*db, "snapshots", "--json").stdout)) == 2


def test_csv_import_needs_an_account(run_cli, examples: Path, db_url: str):
    db = ("--db", db_url)
    r = run_cli(*db, "import", examples / "mastodon-followers.csv")
    assert r.exit_code == 2 and "--account" in r.stderr
    assert run_cli(*db, "accounts", "add", "mastodon", "ada@mastodon.social").exit_code == 0
    r = run_cli(*db, "import", examples / "mastodon-followers.csv", "--account", "mastodon:ada@mastodon.social")
    assert r.exit_code == 0, r.output
    assert "7 profiles" in r.stdout


def test_db_verify_backup_upgrade(run_cli, examples: Path, tmp_path: Path, isolated_home: Path):
    assert run_cli("import", examples / "x-archive-2026-10-01").exit_code == 0
    v = run_cli("db", "verify", "--json")
    assert v.exit_code == 0, v.output
    assert json.loads(v.stdout)["ok"] is True
    b = run_cli("db", "backup", tmp_path / "copy.db")
    assert b.exit_code == 0, b.output
    assert stat.S_IMODE((tmp_path / "copy.db").stat().st_mode) == 0o600
    copy = run_cli("--db", tmp_path / "copy.db", "snapshots", "--json")
    assert len(json.loads(copy.stdout)) == 2
    assert run_cli("db", "upgrade").exit_code == 0


def _commands(group, prefix=()):
    import typer.main

    cmd = typer.main.get_command(group)
    for name, sub in getattr(cmd, "commands", {}).items():
        yield (*prefix, name), sub
        if hasattr(sub, "commands"):
            for inner_name, inner in sub.commands.items():
                yield (*prefix, name, inner_name), inner


@pytest.mark.parametrize("path", [p for p, _ in _commands(app)], ids=" ".join)
def test_every_command_has_help_and_is_in_the_readme(path, run_cli):
    r = run_cli(*path, "--help")
    assert r.exit_code == 0, r.output
    cmd = dict(_commands(app))[path]
    assert (cmd.help or "").strip(), f"{' '.join(path)} has no help text"
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert f"audience {' '.join(path)}" in readme, f"`audience {' '.join(path)}` is not in the README"


def test_unknown_command_is_a_usage_error(run_cli):
    assert run_cli("no-such-command").exit_code == 2


def test_error_messages_stay_on_one_line(run_cli, tmp_path: Path):
    odd = tmp_path / "evil\nname.csv"
    odd.write_text("Nothing,Here\n1,2\n")
    r = run_cli("import", odd, "--account", "x:nobody")
    assert r.exit_code != 0 and r.exit_code != 1, r.output
    assert [line.split(":")[0] for line in r.stderr.splitlines()] in (["error"], ["error", "hint"]), r.stderr


def test_drop_guard_holds_an_import_back_until_accepted(run_cli, tmp_path: Path, db_url: str):
    """A night with fewer than half the followers changes nothing (exit 7) until `snapshots accept`."""
    from tests.importers.archives import ids, write_zip, x_archive

    db = ("--db", db_url)
    full = write_zip(x_archive(followers=ids(40), generated="2026-10-01T06:00:00Z"), tmp_path / "full.zip")
    few = write_zip(x_archive(followers=ids(10), generated="2026-10-02T06:00:00Z"), tmp_path / "few.zip")
    assert run_cli(*db, "import", full).exit_code == 0
    held = run_cli(*db, "import", few)
    assert held.exit_code == 7, held.output
    assert "HELD BACK" in held.stdout and "snapshots accept" in held.stdout
    snaps = json.loads(run_cli(*db, "snapshots", "--json").stdout)
    suspect = [s for s in snaps if s["status"] == "suspect"]
    assert len(suspect) == 1 and suspect[0]["count"] == 10
    assert run_cli(*db, "db", "verify").exit_code == 0
    nothing = run_cli(*db, "diff", "x:ada_ex")  # nothing changed: no second complete snapshot yet
    assert nothing.exit_code == 2 and "two complete follower snapshots" in nothing.stderr
    again = run_cli(*db, "import", few)
    assert again.exit_code == 0 and "already imported" in again.stdout
    accepted = run_cli(*db, "snapshots", "accept", suspect[0]["id"])
    assert accepted.exit_code == 0, accepted.output
    diff = json.loads(run_cli(*db, "diff", "x:ada_ex", "--json").stdout)
    assert (len(diff["gained"]), len(diff["lost"])) == (0, 30)
    assert run_cli(*db, "db", "verify").exit_code == 0


def test_diff_since_across_several_snapshots(run_cli, tmp_path: Path, db_url: str):
    """`diff --since` over up to five nights equals the set difference of the two nights' members,
    with profiles that leave and come back, and profiles that come and go between the two ends."""
    from tests.importers.archives import ids, write_zip, x_archive

    db = ("--db", db_url)
    p = ids(30)
    stable = p[:20]
    present = {  # who, besides `stable`, is there on nights 1..5
        p[20]: (1, 3, 5),  # leaves and comes back, twice
        p[21]: (2,),  # gained and lost between nights 1 and 3 (and 1 and 5)
        p[22]: (3,),
        p[23]: (1, 2, 4),  # lost, back, lost again
        p[24]: (5,),  # new on the last night
        p[25]: (1, 2, 3),  # gone for good on night 4
        p[26]: (1, 4, 5),  # away on nights 2 and 3, back on 4
        p[27]: (2, 3, 4, 5),
    }
    members = {k: set(stable) | {who for who, nights in present.items() if k in nights} for k in range(1, 6)}
    for k in range(1, 6):
        archive = x_archive(followers=sorted(members[k], reverse=k % 2 == 0), generated=f"2026-10-0{k}T06:00:00Z")
        r = run_cli(*db, "import", write_zip(archive, tmp_path / f"night{k}.zip"))
        assert r.exit_code == 0, r.output
    snaps = [s["id"] for s in json.loads(run_cli(*db, "snapshots", "--json").stdout) if s["kind"] == "follower"]
    assert len(snaps) == 5

    for k in range(1, 5):  # --since the day after night k: night k against night 5
        r = run_cli(*db, "diff", "x:ada_ex", "--since", f"2026-10-0{k + 1}", "--json")
        assert r.exit_code == 0, r.output
        doc = json.loads(r.stdout)
        assert (doc["from_snapshot"], doc["to_snapshot"]) == (snaps[k - 1], snaps[4])
        assert [g["platform_id"] for g in doc["gained"]] == sorted(members[5] - members[k]), k
        assert [g["platform_id"] for g in doc["lost"]] == sorted(members[k] - members[5]), k
        assert all(set(g) == {"platform", "platform_id", "handle", "display_name", "url"} for g in doc["gained"] + doc["lost"])
    # Spelled out for nights 1 -> 5: p[20] and p[26] came back, p[21] and p[22] came and went.
    doc = json.loads(run_cli(*db, "diff", "x:ada_ex", "--since", "2026-10-01T06:00:00Z", "--json").stdout)
    assert [g["platform_id"] for g in doc["gained"]] == sorted([p[24], p[27]])
    assert [g["platform_id"] for g in doc["lost"]] == sorted([p[23], p[25]])
    human = run_cli(*db, "diff", "x:ada_ex", "--since", "2026-10-02")
    assert human.exit_code == 0 and "gained: 2" in human.stdout and "lost: 2" in human.stdout, human.output
    # --since after the last night compares it with itself: nothing changed.
    same = json.loads(run_cli(*db, "diff", "x:ada_ex", "--since", "2026-11-01", "--json").stdout)
    assert (same["from_snapshot"], same["to_snapshot"], same["gained"], same["lost"]) == (snaps[4], snaps[4], [], [])


def test_a_bad_path_does_not_stop_the_others(run_cli, examples: Path, tmp_path: Path):
    """Each PATH is its own transaction: the good ones are imported, the exit code is the highest."""
    junk = tmp_path / "notes.txt"
    junk.write_text("just some notes\n")
    r = run_cli("import", junk, examples / "x-archive-2026-10-01", "--json")
    assert r.exit_code == 3, r.output
    assert r.stderr.count("error: ") == 1 and "notes.txt" in r.stderr
    doc = json.loads(r.stdout)
    assert doc[0]["account"] == "x:ada_ex" and [s["count"] for s in doc[0]["snapshots"]] == [40, 8]
    assert doc[1]["path"].endswith("notes.txt") and doc[1]["exit_code"] == 3
    assert len(json.loads(run_cli("snapshots", "--json").stdout)) == 2
