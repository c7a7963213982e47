"""`audience db copy`: move a whole database into another one, typically SQLite into PostgreSQL.

The target is migrated to the current schema and must hold no audience data yet. Then every
table is copied in foreign-key order (parents first), streamed in batches of `BATCH` rows, so
memory stays flat whatever the size; PostgreSQL targets get the rows through `COPY`. All of it
is one transaction on the target, and it commits only when the row count of every table equals
the source's (read in one consistent snapshot of the source) and no row points at a missing
parent. Otherwise nothing is kept: the target is as empty as before.

Ids are copied as they are, so every reference stays valid; PostgreSQL's sequences are then set
past the highest copied id, so the next account or snapshot gets a fresh one.

The target URL may carry a password: it is shown only as `safe_url` renders it, and masked in
any database error this module passes on.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, Table, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from ..errors import ConfigError, InputError, UsageError
from ..lock import run_lock
from ..logs import redact
from .engine import make_engine, sqlite_path, write
from .maintenance import orphan_queries, skip_foreign_key_checks
from .migrate import ensure_schema
from .models import Base

# Rows per batch: large enough that a batch's round trip is noise, small enough that a batch of
# the widest rows (profiles with 4 KB bios) stays a few tens of MB.
BATCH = 5_000

# Called as rows are written: (table, rows copied so far, rows in the table).
Progress = Callable[[str, int, int], None]


@dataclass
class CopyResult:
    source: str  # URLs as `safe_url` shows them: never a password
    target: str
    tables: dict[str, int] = field(default_factory=dict)  # rows copied, verified against the source
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def safe_url(url: str) -> str:
    """A database URL as it may be shown: the password replaced by ***."""
    try:
        return redact(make_url(url).render_as_string(hide_password=True))
    except (ArgumentError, ValueError):  # not a URL we can parse (ValueError: a bad port): show nothing of it
        return "(unreadable database URL)"


def _mask(message: str, url: str) -> str:
    """A driver's message with the URL's password taken out, wherever the driver put it."""
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        password = None
    if password:
        message = message.replace(str(password), "***")
    return redact(" ".join(message.split()))


def tables() -> list[Table]:
    """Every table of the schema, parents before children."""
    return list(Base.metadata.sorted_tables)


def copy_database(source: Engine, target_url: str, *, progress: Progress | None = None) -> CopyResult:
    """Copy the database of `source` into the (empty) database at `target_url`; see the module docstring."""
    try:
        make_url(target_url)
    except (ArgumentError, ValueError):  # ArgumentError's message repeats the whole URL
        raise UsageError(
            "cannot understand the target database URL (not shown: it may hold a password)",
            hint="use e.g. postgresql+psycopg://user@host/audience, or a path for SQLite",
        ) from None
    source_url = source.url.render_as_string(hide_password=False)
    if _same_database(source_url, target_url):
        raise UsageError("the source and the target are the same database", hint="give --to another database")
    started = time.perf_counter()
    result = CopyResult(safe_url(source_url), safe_url(target_url))
    target = make_engine(target_url)
    try:
        with _database_errors(target, target_url, opening=True):
            ensure_schema(target, target_url)
            _refuse_if_used(target, result.target)
        # No backup or import may write to either database meanwhile.
        with (
            _database_errors(target, target_url),
            run_lock(source),
            run_lock(target),
            _snapshot_of(source) as read,
            write(target, bulk=True) as conn,
        ):
            _refuse_if_used(target, result.target, conn)  # again, under the lock
            skip_foreign_key_checks(conn)  # parents go first; the check below finds any orphan
            expected = {t.name: read.execute(select(func.count()).select_from(t)).scalar_one() for t in tables()}
            for table in tables():
                result.tables[table.name] = _copy_table(read, conn, table, expected[table.name], progress)
            _set_sequences(conn)
            _verify(conn, expected, result)
    finally:
        target.dispose()
    result.seconds = time.perf_counter() - started
    return result


def _same_database(a: str, b: str) -> bool:
    path_a, path_b = sqlite_path(a), sqlite_path(b)
    if path_a is not None or path_b is not None:
        return path_a is not None and path_b is not None and path_a.expanduser().resolve() == path_b.expanduser().resolve()
    return make_url(a) == make_url(b)


@contextlib.contextmanager
def _database_errors(target: Engine, url: str, *, opening: bool = False) -> Iterator[None]:
    """Database errors as audience errors, with the target's password masked.

    While `opening` the target, any error is a configuration problem (exit 4: wrong URL, no
    server, no rights). During the copy, an error is a row of the source that the target
    refuses (exit 3: a value too long for PostgreSQL, a NUL character): nothing is kept.
    Rows are written through the driver's own cursor, so its errors come unwrapped too.
    """
    driver_error = target.dialect.loaded_dbapi.Error
    try:
        yield
    except (DBAPIError, driver_error) as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        if opening:
            raise ConfigError(
                f"cannot open the target database {safe_url(url)}: {_mask(str(cause), url)}",
                hint="check the URL, that the server runs, and the user's rights (a password belongs in ~/.pgpass)",
            ) from None
        raise InputError(
            f"copying into {safe_url(url)} failed: {_mask(str(cause), url)}; nothing was copied",
            hint="run `audience db verify` on the source",
        ) from None


def _refuse_if_used(target: Engine, shown: str, conn: Connection | None = None) -> None:
    def used(c: Connection) -> list[str]:
        return [t.name for t in tables() if c.execute(select(1).select_from(t).limit(1)).first() is not None]

    if conn is None:
        with target.connect() as c:
            names = used(c)
    else:
        names = used(conn)
    if names:
        raise UsageError(
            f"{shown} already holds audience data (in {', '.join(names)}); nothing was copied",
            hint="copy into an empty database or schema: audience never merges two databases",
        )


@contextlib.contextmanager
def _snapshot_of(source: Engine) -> Iterator[Connection]:
    """One read transaction on the source: every table as of the same moment."""
    with source.connect() as conn:
        if source.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def _copy_table(read: Connection, conn: Connection, table: Table, total: int, progress: Progress | None) -> int:
    """Stream one table's rows into the target, a batch at a time; returns how many."""
    columns = list(table.columns)
    # The source's values as Python objects (its result processing), then as the target's driver
    # takes them (the target's bind processing): a time stays a UTC time, JSON stays JSON, a
    # boolean a boolean, in either direction. NULL stays NULL (a JSON column would make it 'null').
    dialect = conn.dialect
    processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]

    def convert(rows: Iterable) -> Iterator[tuple]:
        for row in rows:
            yield tuple(v if v is None or p is None else p(v) for v, p in zip(row, processors, strict=True))

    copied = 0
    if progress:
        progress(table.name, 0, total)
    stream = read.execution_options(yield_per=BATCH).execute(select(*columns))
    for batch in stream.partitions():
        if dialect.name == "postgresql":
            _write_by_copy(conn, table, columns, convert(batch))
        else:
            _write_by_executemany(conn, table, columns, list(convert(batch)))
        copied += len(batch)
        if progress:
            progress(table.name, copied, total)
    return copied


def _write_by_copy(conn: Connection, table: Table, columns: list, rows: Iterable[tuple]) -> None:
    names = ", ".join(c.name for c in columns)
    cursor = conn.connection.driver_connection.cursor()
    try:
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:  # text format: psycopg adapts each value
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


def _write_by_executemany(conn: Connection, table: Table, columns: list, rows: list[tuple]) -> None:
    names = ", ".join(c.name for c in columns)
    marks = ", ".join("?" * len(columns))
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)
    finally:
        cursor.close()


def _set_sequences(conn: Connection) -> None:
    """PostgreSQL: each id sequence past the highest copied id (SQLite's rowids need nothing)."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables():
        column = table.autoincrement_column
        if column is None:
            continue
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence(:t, :c), COALESCE(MAX({column.name}), 0) + 1, false) FROM {table.name}"
            ),
            {"t": table.name, "c": column.name},
        )


def _verify(conn: Connection, expected: dict[str, int], result: CopyResult) -> None:
    """Counts per table as the source has them, and no orphans; raising rolls the copy back."""
    wrong = []
    for table in tables():
        stored = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if stored != expected[table.name] or result.tables[table.name] != expected[table.name]:
            wrong.append(f"{table.name} has {stored:,} rows, the source {expected[table.name]:,}")
    if wrong:
        raise InputError(
            f"the copy does not match the source: {'; '.join(wrong)}; nothing was copied",
            hint="run `audience db verify` on the source, then copy again",
        )
    orphans = {name: n for name, sql in orphan_queries().items() if (n := conn.exec_driver_sql(sql).scalar())}
    if orphans:
        raise InputError(
            "the source has rows whose parent rows are missing ("
            + ", ".join(f"{n:,} in {name}" for name, n in orphans.items())
            + "); nothing was copied",
            hint="run `audience db verify` on the source",
        )
