"""One sender per campaign at a time (a second `campaign send NAME` exits without work).

The lock is what makes crash recovery sound: only while holding it may a `sending` message
be taken for a leftover of a dead sender and marked `unknown`. SQLite: an ``flock`` on
``<db>.campaign-<id>.lock`` (released by the kernel when the holder dies); PostgreSQL: a
session advisory lock keyed by schema and campaign. Backups and imports are not blocked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, text

from backup.db.engine import sqlite_path
from backup.errors import ConfigError, LockBusy
from backup.files import PRIVATE_FILE

PG_CAMPAIGN_LOCK = 0x617564_63616D  # "aud" "cam"; plus the campaign id


def _busy(name: str, holder: str) -> LockBusy:
    return LockBusy(
        f"campaign {name!r} is being sent by another process ({holder or 'unknown holder'}); nothing done",
        hint="wait for it to finish, or stop it",
    )


@contextlib.contextmanager
def campaign_lock(engine: Engine, campaign_id: int, name: str) -> Iterator[None]:
    path = sqlite_path(str(engine.url))
    if path is not None:
        lock = Path(f"{path}.campaign-{campaign_id}.lock")
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        except OSError as exc:
            raise ConfigError(f"cannot open the lock file {lock}: {exc.strerror}") from None
        try:
            os.fchmod(fd, PRIVATE_FILE)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _busy(name, os.pread(fd, 200, 0).decode("utf-8", "replace").strip()) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid={os.getpid()} host={socket.gethostname()}".encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    elif engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            key = conn.execute(
                text("SELECT hashtextextended(current_schema(), :k)"), {"k": PG_CAMPAIGN_LOCK + campaign_id}
            ).scalar_one()
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one():
                conn.commit()
                raise _busy(name, "another connection")
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
    else:  # in-memory SQLite: no other process can see it
        yield
