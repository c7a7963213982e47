"""One sender per campaign at a time (a second `campaign send NAME` exits without work).

The lock is what makes crash recovery sound: only while holding it may a `sending` message
be taken for a leftover of a dead sender and marked `unknown`. SQLite: an ``flock`` on
``<db>.campaign-<id>.lock`` (released by the kernel when the holder dies); PostgreSQL: a
session advisory lock keyed by schema and campaign. Backups and imports are not blocked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import Engine

from backup.errors import LockBusy
from backup.lock import exclusive_lock

PG_CAMPAIGN_LOCK = 0x617564_63616D  # "aud" "cam"; plus the campaign id


def _busy(name: str, holder: str) -> LockBusy:
    return LockBusy(
        f"campaign {name!r} is being sent by another process ({holder or 'unknown holder'}); nothing done",
        hint="wait for it to finish, or stop it",
    )


@contextlib.contextmanager
def campaign_lock(engine: Engine, campaign_id: int, name: str) -> Iterator[None]:
    with exclusive_lock(engine, f"campaign-{campaign_id}.lock", PG_CAMPAIGN_LOCK + campaign_id,
                        lambda holder: _busy(name, holder), what=f"the send lock of campaign {name!r}"):
        yield
