"""`audience snapshots [ACCOUNT]` and `audience snapshots accept ID`: the history of reads."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from .. import accounts as service
from ..db.queries import list_snapshots
from ..lock import run_lock
from ..snapshot import accept_snapshot
from .common import DefaultGroup, emit_json, state, stdout

app = typer.Typer(cls=DefaultGroup, help="Snapshot history, and accepting snapshots held back by the drop guard.", no_args_is_help=False)


@app.command("list")
def list_(
    ctx: typer.Context,
    account: Optional[str] = typer.Argument(None, help="Only this account (platform:handle, id or label)."),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """One row per snapshot: when, what, status, count, gained, lost."""
    with state(ctx).engine().connect() as conn:
        account_id = service.resolve(conn, account).id if account else None
        rows = list_snapshots(conn, account_id)
    if json_:
        emit_json(rows)
        return
    table = Table("id", "account", "kind", "source", "as of", "status", "count", "gained", "lost")
    for r in rows:
        table.add_row(
            str(r["id"]), r["account"], r["kind"], r["source"], (r["as_of"] or "")[:16], r["status"],
            f"{r['count']:,}" if r["count"] is not None else "", _n(r["gained"]), _n(r["lost"]),
        )
    stdout().print(table if rows else "no snapshots yet")


def _n(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


@app.command("accept")
def accept(ctx: typer.Context, snapshot_id: int = typer.Argument(..., metavar="ID", help="The suspect snapshot's id.")) -> None:
    """Apply a snapshot the drop guard held back as suspect (when the drop is real)."""
    engine = state(ctx).engine()
    with run_lock(engine, wait=True, timeout=60):
        outcome = accept_snapshot(engine, snapshot_id)
    stdout().print(f"snapshot {snapshot_id} applied: {outcome.count:,} profiles (+{outcome.gained:,} -{outcome.lost:,})", markup=False)
