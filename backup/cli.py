"""The `audience` command line: global options, the command groups, and the one error boundary.

`main()` is the only place where exceptions become messages and exit codes (SPEC §4):
an `AudienceError` prints `error: ...` (and `hint: ...`) on stderr and exits with its code;
a click usage problem exits 2; anything else is a bug: exit 1, traceback with `-v`.
"""

from __future__ import annotations

import logging
import sys
import traceback

import typer
from sqlalchemy.exc import OperationalError

from . import __version__
from .commands import accounts, backup, db, demo, diff, imports, init, people, schedule, snapshots
from .commands import export
from .commands import worker
from .commands import report
from .commands import campaign
from .commands.common import State, click, print_error, report_error
from .errors import AudienceError, TransientError
from .logs import redact, setup_logging

app = typer.Typer(
    name="audience",
    help="Back up your followers from every platform, and take your audience with you.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"audience {__version__}\n")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db_url: str = typer.Option(None, "--db", metavar="URL", help="Database: a SQLite path or a SQLAlchemy URL (default: AUDIENCE_DB, else audience.db in the data dir)."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="More detail on stderr; tracebacks for internal errors."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Only errors on stderr; no progress."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Back up your followers from every platform, and take your audience with you."""
    setup_logging(verbose, quiet)
    ctx.obj = State(db_flag=db_url, verbose=verbose, quiet=quiet)
    ctx.call_on_close(ctx.obj.close)


app.command("init")(init.init)
app.command("demo")(demo.demo)
app.command("import")(imports.import_)
app.command("backup")(backup.backup)
app.command("diff")(diff.diff)
app.command("link")(people.link)
app.command("worker")(worker.worker)
app.add_typer(accounts.app, name="accounts")
app.add_typer(snapshots.app, name="snapshots")
app.add_typer(people.app, name="people")
app.add_typer(people.tag_app, name="tag")
app.add_typer(db.app, name="db")
app.add_typer(schedule.app, name="schedule")
app.add_typer(export.app, name="export")
app.add_typer(report.app, name="report")
app.add_typer(campaign.app, name="campaign")
app.command("optout")(export.optout)

log = logging.getLogger("backup")


def _locked(exc: OperationalError) -> bool:
    return "database is locked" in str(exc.orig) or "database table is locked" in str(exc.orig)


def main(argv: list[str] | None = None) -> int:
    verbose = any(a in ("-v", "--verbose") for a in (argv if argv is not None else sys.argv[1:]))
    try:
        result = app(args=argv, prog_name="audience", standalone_mode=False)
        code = result if isinstance(result, int) else 0
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        sys.stderr.write("aborted\n")
        code = 130
    except click.ClickException as exc:  # usage problems found by the parser
        exc.show(file=sys.stderr)
        code = 2
    except AudienceError as exc:
        report_error(exc)
        code = exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; what was saved is kept, and the next run resumes\n")
        code = 130
    except Exception as exc:
        if isinstance(exc, OperationalError) and _locked(exc):
            busy = TransientError(
                "the database stayed locked by another audience command for longer than the busy timeout",
                hint="run again when the other command (a backup or an import) has finished",
            )
            report_error(busy)
            code = busy.exit_code
        else:  # a bug: say so plainly, traceback only when asked
            if verbose:
                sys.stderr.write(redact(traceback.format_exc()))
            print_error(f"internal error: {type(exc).__name__}: {exc}", "run again with -v for the traceback, and report it")
            code = 1
    if argv is None:
        sys.exit(code)
    return code
