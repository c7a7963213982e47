"""`audience diff ACCOUNT`: who came and who left."""

from __future__ import annotations

from typing import Optional

import typer

from .. import accounts as service
from ..db.queries import iter_diff, kinds_of, pick_diff_snapshots
from ..errors import UsageError
from .common import emit_json, parse_date, state, stdout

SHOW_ROWS = 50


def diff(
    ctx: typer.Context,
    account: str = typer.Argument(..., help="platform:handle, id or label."),
    kind: Optional[str] = typer.Option(None, "--kind", help="follower, following, connection or subscriber (default: follower, or the only kind there is)."),
    since: Optional[str] = typer.Option(None, "--since", metavar="DATE", help="Compare the newest snapshot with the last one on or before DATE (default: the previous one)."),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Who came and who left since DATE (default: between the last two complete snapshots)."""
    when = parse_date(since, "--since")
    with state(ctx).engine().connect() as conn:
        acc = service.resolve(conn, account)
        kinds = kinds_of(conn, acc.id)
        if kind is None:
            kind = "follower" if "follower" in kinds or not kinds else kinds[0]
        if kind not in kinds:
            raise UsageError(f"{acc.ref} has no complete {kind} snapshot", hint=f"kinds with snapshots: {', '.join(kinds) or 'none'}")
        a, b = pick_diff_snapshots(conn, acc.id, kind, when)
        gained, lost = iter_diff(conn, acc.id, kind, a, b)
        if json_:
            emit_json({"account": acc.ref, "kind": kind, "from_snapshot": a.id, "to_snapshot": b.id, "gained": list(gained), "lost": list(lost)})
            return
        out = stdout()
        out.print(f"{acc.ref} {kind}s: snapshot {a.id} ({a.as_of:%Y-%m-%d}) -> {b.id} ({b.as_of:%Y-%m-%d})", markup=False)
        for title, rows in (("gained", gained), ("lost", lost)):
            n = 0
            for n, p in enumerate(rows, start=1):
                if n <= SHOW_ROWS:
                    name = p["handle"] or p["display_name"] or p["platform_id"]
                    out.print(f"  {'+' if title == 'gained' else '-'} {name}", markup=False)
            if n > SHOW_ROWS:
                out.print(f"  ... and {n - SHOW_ROWS:,} more (use --json for all)", markup=False)
            out.print(f"{title}: {n:,}", markup=False)
