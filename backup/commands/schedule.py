"""`audience schedule install`: run the backup every night (systemd user timer or cron)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import typer

from .. import scheduling
from ..errors import UsageError
from .common import state, stderr, stdout

app = typer.Typer(help="Run the backup every night.", no_args_is_help=True)


@app.command("install")
def install(
    ctx: typer.Context,
    at: str = typer.Option("03:30", "--at", metavar="HH:MM", help="Local time of the nightly run."),
    systemd: bool = typer.Option(False, "--systemd", help="A systemd user timer (the default where systemd runs)."),
    cron: bool = typer.Option(False, "--cron", help="A crontab line instead."),
    print_: bool = typer.Option(False, "--print", help="Only show what would be written."),
) -> None:
    """Write a systemd user service and timer (Persistent=true: a missed night runs at the next boot) or a crontab line."""
    if systemd and cron:
        raise UsageError("choose one of --systemd and --cron")
    db_url = state(ctx).db_flag or os.environ.get("AUDIENCE_DB")
    use_cron = cron or (not systemd and shutil.which("systemctl") is None and shutil.which("crontab") is not None)
    if use_cron:
        plan = scheduling.cron_plan(at, db_url)
    else:
        config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        plan = scheduling.systemd_plan(at, db_url, config_home)
    out = stdout()
    if print_:
        if plan.cron_line:
            out.print(plan.cron_line, markup=False, soft_wrap=True)
        for path, content in plan.files.items():
            out.print(f"# {path}\n{content}", markup=False, soft_wrap=True)
    else:
        for line in scheduling.install(plan):
            out.print(line, markup=False, soft_wrap=True)
    for note in plan.notes:
        stderr().print(f"note: {note}", markup=False)
