"""`audience schedule install`: the systemd user timer or crontab line that runs the backup nightly.

systemctl and crontab are replaced by scripts on PATH that record how they were called, so the
tests check what a real install would run without touching the machine's own scheduler.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

PG_URL = "postgresql+psycopg://agency:s3cret-pw@db.example/audience"


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A PATH with recording `systemctl` and `crontab` stand-ins; returns (bin dir, calls file, crontab file)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls, crontab_file = tmp_path / "calls.log", tmp_path / "crontab.txt"

    def script(name: str, body: str) -> None:
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\necho \"{name} $*\" >> {calls}\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)

    script("systemctl", "exit 0")
    script("crontab", f'if [ "$1" = "-l" ]; then cat {crontab_file} 2>/dev/null || exit 1; else cat > {crontab_file}; fi')
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")  # the fakes win
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return bin_dir, calls, crontab_file


def test_print_shows_a_persistent_timer_and_writes_nothing(run_cli, fake_bin, tmp_path) -> None:
    r = run_cli("schedule", "install", "--print", "--at", "04:15")
    assert r.exit_code == 0, r.output
    assert "OnCalendar=*-*-* 04:15:00" in r.stdout
    assert "Persistent=true" in r.stdout
    assert "--quiet backup" in r.stdout
    assert not (tmp_path / "config").exists()
    assert not fake_bin[1].exists()  # neither systemctl nor crontab was called


def test_the_service_runs_this_audience_with_the_chosen_database_but_never_its_password(run_cli, fake_bin) -> None:
    r = run_cli("--db", PG_URL, "schedule", "install", "--print")
    assert r.exit_code == 0, r.output
    exec_start = next(line for line in r.stdout.splitlines() if line.startswith("ExecStart="))
    assert "--db postgresql+psycopg://agency@db.example/audience" in exec_start
    assert exec_start.split("=", 1)[1].split()[0].startswith("/")  # an absolute path
    assert "s3cret-pw" not in r.stdout + r.stderr
    assert "~/.pgpass" in r.stderr


def test_install_writes_the_units_and_enables_the_timer(run_cli, fake_bin, tmp_path) -> None:
    r = run_cli("schedule", "install", "--systemd")
    assert r.exit_code == 0, r.output
    units = tmp_path / "config" / "systemd" / "user"
    assert (units / "audience-backup.timer").read_text().count("Persistent=true") == 1
    assert "ExecStart=" in (units / "audience-backup.service").read_text()
    assert fake_bin[1].read_text().splitlines() == [
        "systemctl --user daemon-reload", "systemctl --user enable --now audience-backup.timer",
    ]


def test_cron_replaces_its_own_line_and_keeps_the_others(run_cli, fake_bin) -> None:
    _, _, crontab = fake_bin
    crontab.write_text("0 1 * * * /usr/bin/other-job\n")
    assert run_cli("schedule", "install", "--cron", "--at", "02:00").exit_code == 0
    assert run_cli("schedule", "install", "--cron", "--at", "05:45").exit_code == 0
    lines = crontab.read_text().splitlines()
    assert lines[0] == "0 1 * * * /usr/bin/other-job"
    assert len(lines) == 2 and lines[1].startswith("45 5 * * * ") and "backup" in lines[1]


@pytest.mark.parametrize("at", ["25:00", "3pm", "03:7"])
def test_a_time_that_is_not_hh_mm_is_a_usage_error(run_cli, fake_bin, at) -> None:
    r = run_cli("schedule", "install", "--print", "--at", at)
    assert r.exit_code == 2
    assert "is not a time" in r.stderr
