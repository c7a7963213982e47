"""What every command shares: the opened database, JSON and table output, option parsing."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sys
from dataclasses import dataclass, field
from collections.abc import Callable, Iterator
from typing import Any

import typer

try:  # typer >= 0.29 vendors click; older releases depend on it
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from sqlalchemy import Engine
from typer.core import TyperGroup

from ..config import resolve_db_url
from ..db.engine import checkpoint, make_engine
from ..db.migrate import ensure_schema
from ..errors import AudienceError, UsageError
from ..logs import redact

log = logging.getLogger("backup")


@dataclass
class State:
    db_flag: str | None = None
    verbose: bool = False
    quiet: bool = False
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def db_url(self) -> str:
        return resolve_db_url(self.db_flag)

    def engine(self) -> Engine:
        """The database, created or upgraded to the current schema on first use."""
        if self._engine is None:
            engine = make_engine(self.db_url)
            copy = ensure_schema(engine, self.db_url)
            if copy:
                log.warning("upgraded the database schema; the previous version is kept at %s", copy)
            self._engine = engine
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            checkpoint(self._engine)
            self._engine.dispose()


def state(ctx: typer.Context) -> State:
    return ctx.find_root().obj


# Tables piped to a file or another program are not squeezed to 80 columns.
PIPE_WIDTH = 200


def stdout() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else PIPE_WIDTH)


def stderr() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def one_line(text: str) -> str:
    """Messages quote file names and records, which can hold line breaks: keep each message one line."""
    return redact(" ".join(text.split("\n"))).replace("\r", " ")


def print_error(message: str, hint: str | None = None) -> None:
    """The `error: ...` line (and `hint: ...` line) of SPEC §4, on stderr."""
    sys.stderr.write(f"error: {one_line(message)}\n")
    if hint:
        sys.stderr.write(f"hint: {one_line(hint)}\n")


def report_error(exc: AudienceError) -> None:
    if exc.exit_code == 0:  # e.g. the run lock is busy: say so, but it is not a failure
        sys.stderr.write(f"{one_line(exc.message)}\n")
    else:
        print_error(exc.message, exc.hint)


def emit_json(document: Any) -> None:
    """Exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n")


def parse_date(value: str | None, option: str) -> dt.datetime | None:
    """YYYY-MM-DD or an ISO 8601 time; naive values are UTC."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} {value!r} is not a date", hint="use YYYY-MM-DD or an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


class DefaultGroup(TyperGroup):
    """A group that runs its `list` command when the first argument is not a subcommand.

    So `audience snapshots`, `audience snapshots x:ana --json` and `audience snapshots accept 5`
    all work, as SPEC §4 writes them.
    """

    default_command = "list"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


@contextlib.contextmanager
def status_line(quiet: bool) -> Iterator[Callable[[str], None] | None]:
    """One changing status line on stderr ("x:ana followers: 20,000 records read") while work
    runs, only for a person watching a terminal: None when quiet or stderr is not a TTY."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=stderr(), transient=True) as bar:
        task = bar.add_task("starting", total=None)
        yield lambda status: bar.update(task, description=status)
