"""`audience report risk` and `audience report recovery ACCOUNT` (SPEC §4, §9).

Each links what changed first (``ensure_linked``), reads the numbers in one read transaction
(``exporters.reports``), and prints the terminal form, or one JSON document (``--json``), or
writes a Markdown or a self-contained HTML file (``--markdown FILE``, ``--html FILE``; 0600,
replaced atomically). The recovery report also writes its ready exports into a folder beside
the report file (``FILE-exports/``), or, printed on the terminal, into the data directory's
``reports/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from exporters.selection import (
    AccountOpt,
    KindOpt,
    NotOnOpt,
    PlatformOpt,
    ReachableOnlyOpt,
    TagOpt,
    filters_from,
    person_ids_query,
)

from .. import accounts as service
from ..config import data_dir
from ..errors import UsageError
from ..files import atomic_write
from .common import emit_json, one_line, state, stdout

app = typer.Typer(help="Reports: what you would keep if you lost an account, and the recovery report.", no_args_is_help=True)

JsonOpt = typer.Option(False, "--json", help="Print one JSON document.")
HtmlOpt = typer.Option(None, "--html", metavar="FILE", help="Write a self-contained HTML page (no external requests).")
MarkdownOpt = typer.Option(None, "--markdown", metavar="FILE", help="Write the report as Markdown.")


def _check_outputs(json_: bool, html: Path | None, markdown: Path | None) -> None:
    if sum((bool(json_), html is not None, markdown is not None)) > 1:
        raise UsageError("choose one of --json, --html FILE and --markdown FILE")


def _write(path: Path, content: str) -> Path:
    path = path.expanduser().resolve()
    with atomic_write(path) as fh:
        fh.write(content)
    return path


def _note(message: str) -> None:
    sys.stderr.write(one_line(message) + "\n")


@app.command("risk")
def risk(
    ctx: typer.Context,
    json_: bool = JsonOpt,
    html: Path | None = HtmlOpt,
    markdown: Path | None = MarkdownOpt,
    tag: TagOpt = None, platform: PlatformOpt = None, account: AccountOpt = None, kind: KindOpt = None,
    not_on: NotOnOpt = None, reachable_only: ReachableOnlyOpt = False,
) -> None:
    """How much of each account's audience would survive losing that account.

    For every account: its audience (current followers, connections, subscribers), how many of
    them you could still reach elsewhere (they follow another of your accounts or your
    newsletter, an email or phone is known, or a profile elsewhere is), and the resilience
    ratio; then the overall figure. The filters choose whose memberships count.
    """
    from exporters.reports.recovery import ensure_people
    from exporters.reports.render import (
        render_risk_html,
        render_risk_markdown,
        render_risk_terminal,
    )
    from exporters.reports.risk import build_risk

    _check_outputs(json_, html, markdown)
    filters = filters_from(tag, platform, account, kind, not_on, reachable_only)
    engine = state(ctx).engine()
    ensure_people(engine)
    with engine.connect() as conn:
        persons = None if filters.empty else person_ids_query(conn, filters)
        doc = build_risk(conn, persons=persons, selection=filters.describe())
    if json_:
        emit_json(doc)
    elif html is not None:
        _note(f"wrote the risk report to {_write(html, render_risk_html(doc))}")
    elif markdown is not None:
        _note(f"wrote the risk report to {_write(markdown, render_risk_markdown(doc))}")
    else:
        render_risk_terminal(doc, stdout())


@app.command("recovery")
def recovery(
    ctx: typer.Context,
    account: str = typer.Argument(..., metavar="ACCOUNT", help="platform:handle, id or label."),
    json_: bool = JsonOpt,
    html: Path | None = HtmlOpt,
    markdown: Path | None = MarkdownOpt,
    top: int = typer.Option(20, "--top", min=0, max=1000, metavar="N", help="How many unreachable members to list (largest audiences first)."),
    exports: Path | None = typer.Option(
        None, "--exports", metavar="DIR",
        help="Where to write the ready exports (default: FILE-exports/ beside the report, else in the data dir's reports/).",
    ),
    no_exports: bool = typer.Option(False, "--no-exports", help="Only the report, no export files."),
    tag: TagOpt = None, platform: PlatformOpt = None, not_on: NotOnOpt = None, reachable_only: ReachableOnlyOpt = False,
) -> None:
    """The suspension recovery report of ACCOUNT: what is left and the means to act.

    Its status and since when, its last complete snapshot, the audience in four tiers
    (following elsewhere, contactable, known elsewhere, unreachable), counts per channel, the
    unreachable members with the largest audiences of their own, and next steps; with the
    ready exports written beside it: a mailing list of the opted-in, a follow list for each
    other platform, a vCard file and a CSV of everyone. `backup` writes it by itself into the
    data directory's reports/ when it finds an account suspended.
    """
    from exporters.reports.recovery import (
        REPORTS_DIR,
        build_recovery,
        ensure_people,
        exports_dir_for,
        report_path,
        write_exports,
    )
    from exporters.reports.render import (
        render_recovery_html,
        render_recovery_markdown,
        render_recovery_terminal,
    )

    _check_outputs(json_, html, markdown)
    filters = filters_from(tag, platform, None, None, not_on, reachable_only)
    engine = state(ctx).engine()
    ensure_people(engine)
    with engine.connect() as conn:
        acc = service.resolve(conn, account)
        if acc.platform == "contacts":
            raise UsageError(f"{acc.ref} is an address book: it has no audience to lose",
                             hint="`audience report risk` lists the accounts with an audience")
        persons = None if filters.empty else person_ids_query(conn, filters)
        doc = build_recovery(conn, acc, persons=persons, selection=filters.describe(), top=top)
        if not no_exports and doc["audience"]:
            target = html or markdown
            if exports is not None:
                folder = exports.expanduser().resolve()
            elif target is not None:
                folder = exports_dir_for(target.expanduser().resolve())
            else:
                folder = exports_dir_for(report_path(data_dir() / REPORTS_DIR, acc))
            write_exports(conn, acc, doc, folder, filters)
    if json_:
        emit_json(doc)
        return
    if html is not None:
        _note(f"wrote the recovery report to {_write(html, render_recovery_html(doc))}")
    elif markdown is not None:
        _note(f"wrote the recovery report to {_write(markdown, render_recovery_markdown(doc))}")
    else:
        render_recovery_terminal(doc, stdout())
        return
    if doc["exports"]:
        _note(f"ready exports in {Path(next(iter(doc['exports'].values()))).parent}")
