"""The nightly run: a systemd user timer (preferred) or a crontab line (SPEC §4 `schedule`).

systemd's `Persistent=true` runs a night that was missed (the laptop was off) at the next
boot; cron cannot, so it is the fallback. Both call the installed `audience` by its absolute
path with the database the user chose. A database URL with a password is written without
it: the unit files and crontabs are readable by the user's other programs, and PostgreSQL
reads the password from `~/.pgpass` instead.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from .errors import ConfigError, UsageError
from .files import atomic_write

UNIT = "audience-backup"
TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
CRON_MARK = "# audience nightly backup"


@dataclass
class Plan:
    kind: str  # systemd | cron
    files: dict[Path, str]  # systemd unit files, or {} for cron
    cron_line: str | None
    notes: list[str]


def audience_executable() -> str:
    """The absolute path of the `audience` being run (the venv's, not whatever PATH finds)."""
    script = Path(sys.argv[0])
    if script.name == "audience" and script.exists():
        return str(script.resolve())
    found = shutil.which("audience")
    if found:
        return str(Path(found).resolve())
    return f"{Path(sys.executable).resolve()} -m backup"


def safe_db_url(url: str | None) -> tuple[str | None, list[str]]:
    """The URL to write into a schedule, without a password (with a note when one was dropped)."""
    if not url:
        return None, []
    parsed = make_url(url) if "://" in url else None
    if parsed is not None and parsed.password:
        # URL.set() ignores None; _replace is the namedtuple way to drop a field.
        return parsed._replace(password=None).render_as_string(hide_password=False), [
            "the database password is not written into the schedule: put it in ~/.pgpass (chmod 600)"
        ]
    return url, []


def parse_time(at: str) -> tuple[int, int]:
    m = TIME.match(at.strip())
    if not m:
        raise UsageError(f"--at {at!r} is not a time", hint="use HH:MM in 24-hour time, e.g. --at 03:30")
    return int(m.group(1)), int(m.group(2))


def command_line(db_url: str | None) -> list[str]:
    argv = shlex.split(audience_executable())
    if db_url:
        argv += ["--db", db_url]
    return [*argv, "--quiet", "backup"]


def systemd_plan(at: str, db_url: str | None, config_home: Path) -> Plan:
    hour, minute = parse_time(at)
    url, notes = safe_db_url(db_url)
    home = os.environ.get("AUDIENCE_HOME")
    env = f"Environment={_systemd_quote('AUDIENCE_HOME=' + home)}\n" if home else ""
    exec_start = " ".join(_systemd_quote(a) for a in command_line(url))
    service = (
        "[Unit]\n"
        "Description=audience: nightly backup of followers\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"{env}"
        f"ExecStart={exec_start}\n"
        # Exit 5 (stopped early, resumes next night) and 7 (a snapshot held back) are not
        # failures of the service; 4, 6 and 8 are, so `systemctl --user status` shows them.
        "SuccessExitStatus=5 7\n"
        "Nice=10\n"
    )
    timer = (
        "[Unit]\n"
        "Description=audience: run the backup every night\n\n"
        "[Timer]\n"
        f"OnCalendar=*-*-* {hour:02d}:{minute:02d}:00\n"
        "Persistent=true\n"
        "RandomizedDelaySec=10min\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    directory = config_home / "systemd" / "user"
    files = {directory / f"{UNIT}.service": service, directory / f"{UNIT}.timer": timer}
    return Plan("systemd", files, None, notes)


def cron_plan(at: str, db_url: str | None) -> Plan:
    hour, minute = parse_time(at)
    url, notes = safe_db_url(db_url)
    home = os.environ.get("AUDIENCE_HOME")
    prefix = f"AUDIENCE_HOME={shlex.quote(home)} " if home else ""
    line = f"{minute} {hour} * * * {prefix}{shlex.join(command_line(url))} {CRON_MARK}"
    notes.append("cron does not run a night that was missed while the machine was off; systemd does (--systemd)")
    return Plan("cron", {}, line, notes)


def _systemd_quote(value: str) -> str:
    """A word of ExecStart= or Environment=: quoted when it has spaces or quotes, `%` doubled."""
    value = value.replace("%", "%%")
    if re.search(r"[\s\"'\\;]", value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def install(plan: Plan) -> list[str]:
    """Write the plan; returns what was done, one line each."""
    done = []
    if plan.kind == "systemd":
        for path, content in plan.files.items():
            with atomic_write(path) as fh:
                fh.write(content)
            os.chmod(path, 0o644)  # systemd reads unit files; they hold no secret
            done.append(f"wrote {path}")
        systemctl = shutil.which("systemctl")
        if systemctl:
            for args in (["daemon-reload"], ["enable", "--now", f"{UNIT}.timer"]):
                run = subprocess.run([systemctl, "--user", *args], capture_output=True, text=True, check=False)
                if run.returncode != 0:
                    done.append(f"could not run systemctl --user {' '.join(args)}: {run.stderr.strip()[:200]}")
                    break
            else:
                done.append(f"enabled {UNIT}.timer (systemctl --user list-timers shows the next run)")
        else:
            done.append(f"systemctl not found: run `systemctl --user enable --now {UNIT}.timer` where systemd runs")
        return done
    crontab = shutil.which("crontab")
    if not crontab:
        raise ConfigError("crontab is not installed here", hint="use --systemd, or add the line from --print by hand")
    current = subprocess.run([crontab, "-l"], capture_output=True, text=True, check=False)
    lines = [l for l in (current.stdout if current.returncode == 0 else "").splitlines() if CRON_MARK not in l]
    lines.append(plan.cron_line or "")
    subprocess.run([crontab, "-"], input="\n".join(lines) + "\n", text=True, check=True)
    done.append("installed the crontab line (an earlier audience line was replaced)")
    return done
