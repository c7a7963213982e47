"""`audience import PATH...`: read data-export files into snapshots."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional

import typer

from ..importers import ImportOptions
from ..importers.csv_generic import parse_mapping
from ..importing import ImportResult, import_path
from ..lock import run_lock
from ..snapshot import recover_interrupted
from ..errors import AudienceError, SuspectSnapshot
from ..db.engine import write
from .common import emit_json, one_line, parse_date, report_error, state, status_line, stdout

log = logging.getLogger("backup")
SHOW_BAD_RECORDS = 10


def import_(
    ctx: typer.Context,
    paths: List[Path] = typer.Argument(..., help="Export zips, folders or files."),
    account: Optional[str] = typer.Option(None, "--account", help="Whose export this is (platform:handle, id or label), when the export does not say."),
    platform: Optional[str] = typer.Option(None, "--platform", help="Skip detection: read the files as this platform's export."),
    as_of: Optional[str] = typer.Option(None, "--as-of", metavar="DATE", help="The date the export was made, when the files do not say."),
    map_: Optional[str] = typer.Option(None, "--map", metavar="FIELD=COLUMN,...", help="CSV column mapping: id, handle, name, email, phone, url, website, bio, followers."),
    kind: Optional[str] = typer.Option(None, "--kind", help="Relationship kind of a generic CSV: follower (default), following, connection, subscriber."),
    wait: bool = typer.Option(False, "--wait", help="Wait for another run on this database instead of exiting."),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Import data-export files: a zip, a folder, or single files; the format is detected.

    Each PATH is imported on its own, in one transaction: a bad one is reported and changes
    nothing, and the others are still imported. The exit code is the highest that applies.
    """
    st = state(ctx)
    options = ImportOptions(platform=platform.lower() if platform else None, kind=kind, mapping=parse_mapping(map_))
    when = parse_date(as_of, "--as-of")
    engine = st.engine()
    results: list[ImportResult] = []
    failures: list[tuple[Path, AudienceError]] = []
    with run_lock(engine, wait=wait):
        with write(engine) as conn:
            recover_interrupted(conn)
        for path in paths:
            try:
                with status_line(st.quiet) as progress:
                    results.append(import_path(engine, path, account_ref=account, options=options, as_of=when, progress=progress))
            except AudienceError as exc:
                if len(paths) == 1:
                    raise  # the error boundary reports it
                report_error(exc)
                failures.append((path, exc))
                continue
            _report(results[-1], json_)
        if any(s.status != "already-imported" for r in results for s in r.streams):
            from ..people.link import link_after_import  # (phonenumbers and email-validator load only here)

            link_after_import(engine)  # under the same lock: no other run changes profiles meanwhile
    if json_:
        emit_json([_as_json(r) for r in results] + [
            {"path": str(p), "error": one_line(e.message), "exit_code": e.exit_code} for p, e in failures
        ])
    codes = [e.exit_code for _, e in failures]
    if any(s.status == "suspect" for r in results for s in r.streams):
        codes.append(SuspectSnapshot.exit_code)
    if codes:
        raise typer.Exit(max(codes))


KIND_PLURAL = {
    "follower": "followers", "following": "following", "connection": "connections", "subscriber": "subscribers",
    "contact": "contacts", "unsubscribed": "unsubscribed",
}


def describe(result: ImportResult) -> list[str]:
    """One line per snapshot an import made (or found already made)."""
    lines = [f"registered {result.account} from the export"] if result.created_account else []
    for s in result.streams:
        what = f"{result.account} {KIND_PLURAL.get(s.kind, s.kind)}"
        if s.status == "already-imported":
            line = f"{what}: already imported as snapshot {s.snapshot_id}; nothing to do"
        elif s.status == "suspect":
            line = (
                f"{what}: snapshot {s.snapshot_id} HELD BACK: {s.count:,} profiles against {s.previous_count:,} "
                f"before (a drop of more than half); nothing changed. If it is right: audience snapshots accept {s.snapshot_id}"
            )
        elif s.count == 0 and s.not_members:  # an address book, a list of unsubscribes: contacts only
            line = f"{what}: snapshot {s.snapshot_id} complete, {s.not_members:,} kept as contacts (no relationship)"
        else:
            line = f"{what}: snapshot {s.snapshot_id} complete, {s.count:,} profiles (+{s.gained:,} -{s.lost:,})"
            if s.not_members:
                line += f"; {s.not_members:,} more kept as contacts only (unsubscribed addresses are suppressed)"
        if s.bad:
            line += f", {s.bad:,} bad records skipped"
        lines.append(line)
    return lines


def _report(result: ImportResult, json_: bool) -> None:
    for s in result.streams:
        for bad in s.bad_examples[:SHOW_BAD_RECORDS]:
            log.warning("skipped %s: %s", bad.where, bad.reason)
        if s.bad > SHOW_BAD_RECORDS:
            log.warning("skipped %d bad records in all", s.bad)
    if not json_:
        out = stdout()
        for line in describe(result):
            out.print(line, markup=False)


def _as_json(result: ImportResult) -> dict:
    return {
        "path": result.path, "format": result.importer, "account": result.account, "as_of": result.as_of.isoformat(),
        "snapshots": [
            {"id": s.snapshot_id, "kind": s.kind, "status": s.status, "count": s.count, "gained": s.gained,
             "lost": s.lost, "bad_records": s.bad, "not_members": s.not_members}
            for s in result.streams
        ],
    }
