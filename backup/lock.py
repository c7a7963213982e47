"""The run lock (SPEC §10): one `backup` or `import` at a time per database.

SQLite: an `flock` on a separate file `<db>.lock` (never the database file itself: closing
any descriptor of a file drops POSIX locks on it). The kernel releases the lock when the
holder dies, so a lock left by a killed process is simply taken; the pid and host written
in the file let us say whose it was. PostgreSQL: a session-level advisory lock, held on a
dedicated connection for the length of the run.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Engine, text

from .db.engine import sqlite_path
from .errors import ConfigError, LockBusy
from .files import PRIVATE_FILE

log = logging.getLogger(__name__)

# Any fixed 64-bit number: the PostgreSQL advisory lock key of the run lock.
PG_RUN_LOCK = 0x617564_72756E  # "aud" "run"
WAIT_POLL_SECONDS = 0.5


def _owner() -> str:
    return f"pid={os.getpid()} host={socket.gethostname()}"


def _busy(holder: str) -> LockBusy:
    return LockBusy(
        f"another audience run is using this database ({holder or 'unknown holder'}); nothing done",
        hint="this run exits without work; pass --wait to wait for it instead",
    )


@contextlib.contextmanager
def run_lock(engine: Engine, *, wait: bool = False, timeout: float | None = None) -> Iterator[None]:
    with exclusive_lock(engine, "lock", PG_RUN_LOCK, _busy, wait=wait, timeout=timeout, what="the run lock"):
        yield


@contextlib.contextmanager
def exclusive_lock(
    engine: Engine, suffix: str, pg_key: int, busy: Callable[[str], LockBusy], *,
    wait: bool = False, timeout: float | None = None, what: str = "a lock",
) -> Iterator[None]:
    """One holder at a time per database: the file `<db>.<suffix>` (SQLite) or the advisory
    lock `pg_key` of the current schema (PostgreSQL). Busy: `busy(holder)` is raised, unless
    `wait` (then it polls until `timeout`, if any). The run lock and a campaign's send lock."""
    path = sqlite_path(str(engine.url))
    if path is not None:
        with _file_lock(Path(f"{path}.{suffix}"), wait, timeout, busy, what):
            yield
    elif engine.dialect.name == "postgresql":
        with _pg_lock(engine, wait, timeout, pg_key, busy):
            yield
    else:  # in-memory SQLite: nothing else can see it
        yield


@contextlib.contextmanager
def _file_lock(path: Path, wait: bool, timeout: float | None, busy: Callable[[str], LockBusy], what: str) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    except OSError as exc:
        raise ConfigError(f"cannot open the lock file {path}: {exc.strerror}", hint="check the data directory's permissions") from None
    try:
        os.fchmod(fd, PRIVATE_FILE)
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait or (timeout is not None and time.monotonic() - start > timeout):
                    raise busy(os.pread(fd, 200, 0).decode("utf-8", "replace").strip()) from None
                time.sleep(WAIT_POLL_SECONDS)
            except OSError as exc:  # an unreadable or broken lock: refuse rather than run unlocked
                raise ConfigError(f"cannot lock {path}: {exc.strerror}") from None
        previous = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        if previous:
            log.warning("took over %s left by a process that is gone (%s)", what, previous)
        os.ftruncate(fd, 0)
        os.pwrite(fd, _owner().encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # an empty file means "released cleanly"
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _pg_lock(engine: Engine, wait: bool, timeout: float | None, pg_key: int, busy: Callable[[str], LockBusy]) -> Iterator[None]:
    with engine.connect() as conn:
        # The key includes the schema, so separate schemas on one server do not block each other.
        key = conn.execute(text("SELECT hashtextextended(current_schema(), :k)"), {"k": pg_key}).scalar_one()
        start = time.monotonic()
        while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one():
            conn.commit()
            if not wait or (timeout is not None and time.monotonic() - start > timeout):
                holder = conn.execute(text(
                    "SELECT string_agg('pid=' || a.pid || ' host=' || COALESCE(host(a.client_addr), 'local'), ', ') "
                    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted "
                    # Only this lock: a bigint key shows as classid (high half), objid (low half).
                    "AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = :k "
                    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                ), {"k": key}).scalar()
                raise busy(holder or "")
            time.sleep(WAIT_POLL_SECONDS)
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
