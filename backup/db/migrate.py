"""Alembic configured in code: the schema is created and upgraded only through migrations.

`ensure_schema` runs on every command that opens a database: a new database is migrated
to head; an older one is first copied (SQLite: `audience.db.pre-<revision>.bak`, 0600, made
with the online backup API) and then upgraded in one transaction.

On PostgreSQL several workers (and `db upgrade`s) may start at once on hosts that cannot see
each other: the whole check-and-upgrade runs in one transaction that first takes an advisory
lock (per schema), so the second process waits, then finds the schema at head and does
nothing. Checking before taking the lock would let it see a half-finished state of the
first (no version yet, but tables) and refuse the database.
"""

from __future__ import annotations

import logging
from pathlib import Path

from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

import migrations

from ..errors import ConfigError
from .engine import is_sqlite, sqlite_path

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent
# The newest revision in migrations/versions/. Every command checks the database against it,
# and importing Alembic to find it out costs a tenth of a second of every run; the tests
# check that it names the real head (tests/test_migrations.py).
HEAD = "0004"
_SHIPPED_DIR = MIGRATIONS_DIR  # tests point MIGRATIONS_DIR elsewhere; then the full check runs
# Any fixed 64-bit number: the PostgreSQL advisory lock that serializes schema upgrades.
PG_MIGRATION_LOCK = 0x617564_6D6967  # "aud" "mig"

log = logging.getLogger(__name__)


def lock_schema_changes(conn: Connection) -> None:
    """PostgreSQL: wait for, then hold until the end of `conn`'s transaction, the lock that
    serializes every schema change of this schema (Alembic's and the job engine's tables).

    The key mixes in the schema name, so stores in other schemas of the server never wait."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(current_schema(), :k))"), {"k": PG_MIGRATION_LOCK})


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _stored_revision(engine: Engine) -> str | None:
    """The database's revision by one query (None when there is no version table yet)."""
    with engine.connect() as conn:
        try:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except DBAPIError:  # no such table: a new or foreign database, which the full check handles
            conn.rollback()
            return None


def schema_state(engine: Engine) -> tuple[str | None, str]:
    with engine.connect() as conn:
        return current_revision(conn), head_revision()


def _known_revision(script, revision: str) -> bool:
    from alembic.util import CommandError

    try:
        return script.get_revision(revision) is not None
    except CommandError:  # Alembic raises, rather than returning None, for a revision it cannot find
        return False


def ensure_schema(engine: Engine, url: str) -> str | None:
    """Bring the database to the head revision. Returns the path of a pre-upgrade copy, if one was made."""
    if MIGRATIONS_DIR == _SHIPPED_DIR and _stored_revision(engine) == HEAD:
        return None  # the common case, without importing Alembic
    if not is_sqlite(engine):
        with engine.begin() as conn:
            lock_schema_changes(conn)  # everything below sees the result of an upgrade that ran meanwhile
            _upgrade(conn, current_revision(conn))
        return None
    current, head = schema_state(engine)
    if current == head:
        return None
    with engine.connect() as conn:
        _check_upgradable(conn, current)
    copy = None
    path = sqlite_path(url)
    if current is not None and path is not None:
        copy = path.with_name(f"{path.name}.pre-{current}.bak")
        from .maintenance import backup_sqlite  # local import: maintenance imports this module's siblings

        backup_sqlite(engine, copy)
    upgrade(engine)
    return str(copy) if copy else None


def _check_upgradable(conn: Connection, current: str | None) -> None:
    """Refuse a database from a newer audience, and one with tables that are not audience's."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    if current is not None and not _known_revision(script, current):
        raise ConfigError(
            f"the database is at schema revision {current}, which this version of audience does not know",
            hint="upgrade audience (pip install -U audience-backup) before using this database",
        )
    if current is None:
        tables = set(inspect(conn).get_table_names())
        if tables - {"alembic_version"}:
            raise ConfigError(
                "the database has tables but no audience schema version",
                hint="point --db at an empty database or at one made by audience",
            )


def _upgrade(conn: Connection, current: str | None) -> None:
    """Check and migrate inside the caller's transaction (on PostgreSQL, under the lock)."""
    head = head_revision()
    if current == head:
        return  # another process upgraded while we waited for the lock
    _check_upgradable(conn, current)
    log.info("migrating the database schema from %s to %s", current or "an empty database", head)
    from alembic import command

    command.upgrade(alembic_config(conn), "head")


def upgrade(engine: Engine) -> None:
    with engine.begin() as conn:
        if not is_sqlite(engine):
            lock_schema_changes(conn)
        _upgrade(conn, current_revision(conn))
