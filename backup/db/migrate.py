"""Alembic configured in code: the schema is created and upgraded only through migrations.

`ensure_schema` runs on every command that opens a database: a new database is migrated
to head; an older one is first copied (SQLite: `audience.db.pre-<revision>.bak`, 0600, made
with the online backup API) and then upgraded in one transaction. On PostgreSQL several
workers may start at once, so the upgrade is serialized by an advisory lock.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect, text

import migrations

from ..errors import ConfigError
from .engine import is_sqlite, sqlite_path

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent
# Any fixed 64-bit number: the PostgreSQL advisory lock that serializes schema upgrades.
PG_MIGRATION_LOCK = 0x617564_6D6967  # "aud" "mig"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def schema_state(engine: Engine) -> tuple[str | None, str]:
    with engine.connect() as conn:
        return current_revision(conn), head_revision()


def _known_revision(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:  # Alembic raises, rather than returning None, for a revision it cannot find
        return False


def ensure_schema(engine: Engine, url: str) -> str | None:
    """Bring the database to the head revision. Returns the path of a pre-upgrade copy, if one was made."""
    current, head = schema_state(engine)
    if current == head:
        return None
    script = ScriptDirectory.from_config(alembic_config())
    if current is not None and not _known_revision(script, current):
        raise ConfigError(
            f"the database is at schema revision {current}, which this version of audience does not know",
            hint="upgrade audience (pip install -U audience-backup) before using this database",
        )
    if current is None:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
        if tables - {"alembic_version"}:
            raise ConfigError(
                "the database has tables but no audience schema version",
                hint="point --db at an empty database or at one made by audience",
            )
    copy = None
    path = sqlite_path(url)
    if current is not None and path is not None:
        copy = path.with_name(f"{path.name}.pre-{current}.bak")
        from .maintenance import backup_sqlite  # local import: maintenance imports this module's siblings

        backup_sqlite(engine, copy)
    upgrade(engine)
    return str(copy) if copy else None


def upgrade(engine: Engine) -> None:
    with engine.begin() as conn:
        if not is_sqlite(engine):
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
            if current_revision(conn) == head_revision():
                return  # another worker upgraded while we waited for the lock
        command.upgrade(alembic_config(conn), "head")
