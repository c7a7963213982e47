"""`audience backup [ACCOUNT]...`: the nightly job (SPEC §4)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from ..db.engine import write
from ..logs import file_logging
from ..lock import run_lock
from ..config import DEFAULT_RUN_SECONDS

if TYPE_CHECKING:
    from ..nightly import AccountResult, RunResult
from ..snapshot import recover_interrupted
from .common import emit_json, one_line, state, status_line, stdout

KIND_PLURAL = {"follower": "followers", "following": "following"}


def backup(
    ctx: typer.Context,
    accounts: list[str] = typer.Argument(None, metavar="[ACCOUNT]...", help="Only these accounts (platform:handle, id or label)."),
    max_minutes: float = typer.Option(
        DEFAULT_RUN_SECONDS / 60, "--max-minutes", metavar="N",
        help="Stop starting new requests after N minutes; what was read is kept and the next run resumes (exit 5).",
    ),
    full_profiles: bool = typer.Option(False, "--full-profiles", help="GitHub: fetch each profile (blog, email, twitter_username) within the rate limit."),
    wait: bool = typer.Option(False, "--wait", help="Wait for another run on this database instead of exiting."),
    enqueue: bool = typer.Option(False, "--enqueue", help="PostgreSQL: queue one job per account for `audience worker` instead of running here."),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Back up followers and following of every account that has an API (or those named).

    Resumes partial snapshots, checks each account's own standing, and ends with one line per
    account. Exit codes: 4 credentials, 5 stopped early (resumes next run), 6 some accounts
    failed, 7 a snapshot held back by the drop guard, 8 an account suspended or deactivated.
    """
    from ..nightly import api_accounts, run_backup  # the connectors (and requests) load only for a backup

    st = state(ctx)
    engine = st.engine()
    if enqueue:
        return _enqueue(engine, accounts or None, full_profiles, json_)
    file_logging()
    with run_lock(engine, wait=wait):
        with write(engine) as conn:
            recover_interrupted(conn)
        chosen = api_accounts(engine, accounts or None)
        options = {"full_profiles": True} if full_profiles else {}
        with status_line(st.quiet) as progress:
            result = run_backup(
                engine, chosen, deadline=time.monotonic() + max_minutes * 60, client_options=options, progress=progress,
            )
        if chosen:
            from ..people.link import link_after_import  # (phonenumbers and email-validator load only here)

            link_after_import(engine)  # under the same lock: no other run changes profiles meanwhile
            from exporters.reports.recovery import write_reports_for_down

            write_reports_for_down(engine, result.accounts)  # an account found suspended: its recovery report
    if json_:
        emit_json({"accounts": [_as_json(r) for r in result.accounts], "exit_code": result.exit_code})
    else:
        _summary(result, nothing_to_do=not chosen)
    for r in result.accounts:
        if r.error:
            sys.stderr.write(f"error: {one_line(r.error)}\n")
            if r.hint:
                sys.stderr.write(f"hint: {one_line(r.hint)}\n")
        if r.report:
            sys.stderr.write(f"recovery report for {r.account}: {one_line(r.report)}\n")
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _enqueue(engine, refs: list[str] | None, full_profiles: bool, json_: bool) -> None:
    """`backup --enqueue`: one job per account (backup/workers.py); an account already waiting is skipped."""
    from ..workers import enqueue

    done = enqueue(engine, refs, full_profiles=full_profiles)
    if json_:
        emit_json({"queued": [{"account": a, "job": j} for a, j in done.queued], "already_queued": done.already})
        return
    out = stdout()
    for account, job in done.queued:
        out.print(f"queued {account} (job {job})", markup=False)
    for account in done.already:
        out.print(f"already queued {account}", markup=False)
    out.print(f"{len(done.queued)} queued, {len(done.already)} already waiting; `audience worker` runs them", markup=False)


def _as_json(r: AccountResult) -> dict:
    return {
        "account": r.account, "status": r.status, "status_changed": r.status_changed, "detail": r.detail,
        "snapshots": [
            {"id": s.snapshot_id, "kind": s.kind, "status": s.status, "count": s.count, "gained": s.gained, "lost": s.lost}
            for s in r.snapshots
        ],
        "error": r.error, "exit_code": r.exit_code, "report": r.report,
    }


def _summary(result: RunResult, nothing_to_do: bool) -> None:
    out = stdout()
    if nothing_to_do:
        out.print("no accounts with an API to back up: `audience accounts add mastodon you@server.example` (or bluesky, x, github)")
        return
    table = Table("account", "status", "followers", "following", "result")
    for r in result.accounts:
        by_kind = {s.kind: s for s in r.snapshots}
        cells = []
        for kind in ("follower", "following"):
            s = by_kind.get(kind)
            cells.append("" if s is None else f"{s.count:,} (+{s.gained:,} -{s.lost:,})" if s.status == "complete" else f"{s.count:,} held back")
        outcome = "ok" if r.exit_code == 0 else "held back: see audience snapshots" if not r.error else f"failed (exit {r.exit_code}), below"
        table.add_row(r.account, r.status + (" (new)" if r.status_changed else ""), *cells, outcome)
    out.print(table)
