"""Engines for the embedded SQLite default and for PostgreSQL.

SQLite settings per SPEC §3: WAL, foreign keys on, busy_timeout >= 5 s, synchronous=NORMAL.
pysqlite's own transaction handling is switched off and we emit BEGIN ourselves, so that
transactions (DDL included, for migrations) are real SQLite transactions (the SQLAlchemy
"serializable isolation / savepoints / transactional DDL" recipe).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from ..errors import ConfigError, LockBusy
from ..files import ensure_private_dir, ensure_private_file

BUSY_TIMEOUT_MS = 10_000  # SPEC §3 asks for >= 5 s; a nightly job can afford to wait longer
# The page cache also bounds each sorter thread's memory. Measured on a 1M-follower import with
# two sorter threads: 8 MiB peaks at 121 MB RSS (SPEC P2: <= 150 MB), 12 MiB at 138 MB, 16 MiB at
# 154 MB, and the larger caches were no faster (12.4 s vs 12.6 s and 14.3 s).
CACHE_SIZE_KIB = 8 * 1024
# Helper threads for SQLite's sorter: applying a snapshot sorts the staged ids twice, and a
# second core takes about 1 s off a 1M-follower import (13.8/13.0 s -> 12.3/12.1 s, alternated).
SORTER_THREADS = 2


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL, or None for other databases and in-memory SQLite."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_pragmas(dbapi_connection, connection_record) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA cache_size=-{CACHE_SIZE_KIB}")
    cur.execute("PRAGMA temp_store=FILE")
    cur.execute(f"PRAGMA threads={SORTER_THREADS}")
    cur.close()


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


_WRITE = "audience_write"


@contextlib.contextmanager
def write(engine: Engine, *, bulk: bool = False) -> Iterator[Connection]:
    """A write transaction (reads use `engine.connect()`).

    On SQLite it takes the write lock at BEGIN, waiting up to busy_timeout for another writer.
    A deferred BEGIN would read first and upgrade later, and if another writer committed in
    between, SQLite refuses the upgrade at once (SQLITE_BUSY_SNAPSHOT) without waiting: that is
    how `accounts add` during a nightly import would fail. Reads stay deferred: in WAL mode they
    never wait for a writer.

    `bulk=True` is for applying a snapshot, whose statements keep the foreign keys by
    construction (every relationship row comes from the same id set its profiles were upserted
    from, in the same transaction): SQLite then skips the per-row parent lookups, a million of
    them into `profiles` for a million followers, about a tenth of a 1M import (SQLite's advice
    for bulk loads). The setting can only change outside a transaction, and is restored before
    the connection goes back to the pool. `db verify` checks every foreign key.
    """
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        relax = bulk and is_sqlite(engine)
        if relax:  # on the DBAPI connection: through SQLAlchemy, the PRAGMA would open a transaction
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                yield conn
        finally:
            if relax:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def make_engine(url: str) -> Engine:
    """Create an engine; a SQLite file (and its directory) is created private (0600 / 0700)."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError: the URL itself is malformed
        raise ConfigError(f"cannot understand the database URL: {exc}", hint="use a path or e.g. postgresql+psycopg://user@host/db") from None
    path = sqlite_path(url)
    if path is not None:
        ensure_private_dir(path.parent)
        ensure_private_file(path)  # SQLite gives -wal/-shm the database file's mode
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, hide_parameters=True, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, hide_parameters=True, pool_pre_ping=True)
    raise ConfigError(f"unsupported database {parsed.get_backend_name()!r}", hint="use SQLite (a path) or PostgreSQL (postgresql+psycopg://...)")


def checkpoint(engine: Engine) -> None:
    """After a run: fold the WAL back into the database and truncate it, so it stays small.

    Only while no run holds the run lock: truncating the WAL under a run whose transaction has
    read but not yet written makes its next write fail at once ("database is locked",
    SQLITE_BUSY_SNAPSHOT), which is what happened to an import when the runs that found the
    lock busy checkpointed on their way out. And without waiting: a TRUNCATE checkpoint that
    waits holds the write lock while it waits for readers. The next run truncates instead.
    """
    if not is_sqlite(engine):
        return
    from ..lock import run_lock  # a local import: backup.lock imports this module

    try:
        with run_lock(engine), engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA busy_timeout=0")
            try:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    except LockBusy:
        pass
