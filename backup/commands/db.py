"""`audience db verify | backup | copy | upgrade`: integrity, consistent copies, moving, migrations."""

from __future__ import annotations

from pathlib import Path

import typer

from ..config import resolve_db_url
from ..db.maintenance import backup_sqlite
from ..db.maintenance import verify as verify_db
from ..db.migrate import head_revision
from .common import emit_json, state, status_line, stdout

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


@app.command("copy")
def copy(
    ctx: typer.Context,
    to: str = typer.Option(..., "--to", metavar="URL", help="The database to copy into: empty, or a new SQLite path (e.g. postgresql+psycopg://user@host/audience)."),
    from_: str | None = typer.Option(None, "--from", metavar="URL", help="The database to copy from (default: the current --db)."),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Copy the whole database into another one, e.g. from SQLite into PostgreSQL.

    The target is migrated to the current schema and must not hold audience data yet. Tables
    are streamed in batches in one transaction, which commits only when every table's row count
    equals the source's (else nothing is kept, exit 3). Then use the target with --db URL or
    AUDIENCE_DB. Put a password in ~/.pgpass rather than in the URL; it is never printed.
    """
    from ..db.copy import copy_database
    from ..db.engine import make_engine
    from ..db.migrate import ensure_schema

    st = state(ctx)
    if from_ is None:
        source = st.engine()
    else:
        from_url = resolve_db_url(from_)
        source = make_engine(from_url)
        ensure_schema(source, from_url)
    try:
        with status_line(st.quiet) as show:
            progress = None if show is None else (lambda table, done, total: show(f"{table}: {done:,} of {total:,} rows"))
            result = copy_database(source, resolve_db_url(to), progress=progress)
    finally:
        if from_ is not None:
            source.dispose()
    if json_:
        emit_json({
            "source": result.source, "target": result.target, "tables": result.tables, "rows": result.rows,
            "seconds": round(result.seconds, 2),
        })
        return
    out = stdout()
    for name, count in result.tables.items():
        out.print(f"{name}: {count:,} rows", markup=False)
    out.print(
        f"copied {result.rows:,} rows into {result.target} in {result.seconds:.1f} s; counts verified. "
        f"Use it with --db or AUDIENCE_DB",
        markup=False,
    )


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Migrate the database to this version's schema (also done automatically by every command)."""
    engine = state(ctx).engine()
    stdout().print(f"database schema is at {head_revision()}", markup=False)
    if engine.dialect.name == "postgresql":  # and the job queue of `audience worker` (backup/workers.py)
        from ..workers import ensure_job_schema

        stdout().print(f"job queue tables are in schema {ensure_job_schema(engine)}", markup=False)
