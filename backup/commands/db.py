"""`audience db verify | backup | upgrade`: integrity, consistent copies, migrations."""

from __future__ import annotations

from pathlib import Path

import typer

from ..db.maintenance import backup_sqlite, verify as verify_db
from ..db.migrate import head_revision
from .common import emit_json, state, stdout

app = typer.Typer(help="Check, copy and upgrade the database.", no_args_is_help=True)


@app.command("verify")
def verify(ctx: typer.Context, json_: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """Integrity check (SQLite integrity_check, foreign keys) and the snapshot store's invariants."""
    report = verify_db(state(ctx).engine())
    if json_:
        emit_json({"ok": report.ok, "checks": report.checks, "problems": report.problems})
    else:
        out = stdout()
        for name, result in report.checks.items():
            mark = "ok  " if result == "ok" else "info" if name.startswith("interrupted") else "FAIL"
            out.print(f"{mark} {name}: {result}", markup=False)
        out.print("database is consistent" if report.ok else f"{len(report.problems)} problem(s) found", markup=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command("backup")
def backup(ctx: typer.Context, file: Path = typer.Argument(..., help="Where to write the copy (created 0600).")) -> None:
    """A consistent copy of the SQLite database while it is in use (online backup API)."""
    target = backup_sqlite(state(ctx).engine(), file)
    stdout().print(f"copied the database to {target}", markup=False)


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Migrate the database to this version's schema (also done automatically by every command)."""
    state(ctx).engine()
    stdout().print(f"database schema is at {head_revision()}", markup=False)
