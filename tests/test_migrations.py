"""Schema migrations (SPEC §3; STYLE §10, pytest-alembic's checks), on SQLite and PostgreSQL.

- one Alembic head; an empty database upgrades to it; the models match the migrated schema;
- `ensure_schema` is idempotent, and refuses databases it did not make or does not know;
- an older database is upgraded for real: the tests run against a copy of `migrations/` with
  one extra revision (NEXT, a new table), so the path a user takes when a new version of
  audience opens last year's database is exercised end to end: the 0600 `.pre-<head>.bak` copy
  on SQLite, the upgrade itself, and a failing migration that leaves nothing half-made;
- and each real revision upgrades a database filled at the one before it, keeping its rows.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, Integer, MetaData, Table, func, inspect, select, text

from backup import accounts
from backup.db import migrate
from backup.db.engine import make_engine
from backup.db.maintenance import backup_sqlite
from backup.db.migrate import alembic_config, current_revision, ensure_schema, head_revision
from backup.db.models import Account, Base, Profile, Snapshot
from backup.errors import ConfigError, UsageError
from backup.snapshot import Page, ProfileRecord, run_api_snapshot

# The shipped head, and the test-only revision that a "newer release" adds on top of it.
HEAD = head_revision()
NEXT = f"{int(HEAD) + 1:04d}"
EXTRA_REVISION = '''"""test-only revision: {what}

Revision ID: {rev}
Revises: {down}
"""
from alembic import op
import sqlalchemy as sa

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("extra", sa.Column("id", sa.Integer(), primary_key=True))
    {then}


def downgrade() -> None:
    op.drop_table("extra")
'''


@pytest.fixture
def fresh(db_url: str) -> Iterator[tuple[Engine, str]]:
    """An engine on an empty database (no schema yet), and its URL."""
    engine = make_engine(db_url)
    yield engine, db_url
    engine.dispose()


def revision_of(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return current_revision(conn)


def tables_of(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def schema_differences(engine: Engine, metadata: MetaData = Base.metadata) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, metadata)


def fill(engine: Engine) -> None:
    """A little of everything: an account, a complete snapshot, profiles and relationships."""
    with engine.begin() as conn:
        account = accounts.add(conn, "mastodon", "ana@social.example")
    profiles = [ProfileRecord(platform_id=f"https://social.example/users/u{n}", display_name=f"User {n}") for n in range(5)]
    run_api_snapshot(engine, account, "follower", lambda kind, cursor: Page(profiles, None))


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {m.__tablename__: conn.execute(select(func.count()).select_from(m)).scalar_one() for m in (Account, Profile, Snapshot)}


@pytest.fixture
def newer_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Make audience's migrations a copy with one more revision; returns a function taking its `then` line."""

    def install(then: str = "pass", what: str = "adds a table") -> None:
        target = tmp_path / "migrations"
        shutil.copytree(migrate.MIGRATIONS_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
        (target / "versions" / f"{NEXT}_extra.py").write_text(EXTRA_REVISION.format(then=then, what=what, rev=NEXT, down=HEAD))
        monkeypatch.setattr(migrate, "MIGRATIONS_DIR", target)
        assert head_revision() == NEXT

    return install


# ---------------------------------------------------------------------------------------------


def test_there_is_exactly_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"several Alembic heads, merge them: {heads}"
    assert heads[0] == head_revision() == migrate.HEAD  # HEAD spares every command an Alembic import


def test_an_empty_database_is_migrated_to_head(fresh) -> None:
    engine, url = fresh
    assert revision_of(engine) is None

    assert ensure_schema(engine, url) is None  # nothing to copy: the database was empty

    assert revision_of(engine) == head_revision()
    assert set(Base.metadata.tables) <= tables_of(engine)
    fill(engine)  # and the store works on it
    assert row_counts(engine) == {"accounts": 1, "profiles": 5, "snapshots": 1}


def test_the_models_match_the_migrated_schema(engine: Engine) -> None:
    assert schema_differences(engine) == []


def test_the_model_comparison_sees_a_missing_migration(engine: Engine) -> None:
    """The check above has teeth: a model without a migration is reported."""
    metadata = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    Table("unmigrated", metadata, Column("id", Integer, primary_key=True))
    differences = schema_differences(engine, metadata)
    assert [d[0] for d in differences] == ["add_table"]
    assert differences[0][1].name == "unmigrated"


def test_ensure_schema_is_idempotent(engine: Engine, db_url: str, tmp_path: Path) -> None:
    fill(engine)
    before = row_counts(engine)

    assert ensure_schema(engine, db_url) is None
    assert ensure_schema(engine, db_url) is None

    assert revision_of(engine) == head_revision()
    assert row_counts(engine) == before
    assert not list(tmp_path.glob("*.bak"))  # an up-to-date database is never copied


def test_a_database_with_other_tables_and_no_version_is_refused(fresh) -> None:
    engine, url = fresh
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)"))

    with pytest.raises(ConfigError, match="no audience schema version"):
        ensure_schema(engine, url)

    assert tables_of(engine) == {"invoices"}  # nothing created beside someone else's tables


def test_a_database_from_a_newer_audience_is_refused(engine: Engine, db_url: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe'"))
    with pytest.raises(ConfigError, match="does not know"):
        ensure_schema(engine, db_url)


def test_an_older_database_is_upgraded(engine: Engine, db_url: str, newer_release) -> None:
    fill(engine)
    before = row_counts(engine)
    newer_release()

    copy = ensure_schema(engine, db_url)

    assert revision_of(engine) == NEXT
    assert "extra" in tables_of(engine)
    assert row_counts(engine) == before
    if engine.dialect.name == "sqlite":
        assert copy is not None and copy.endswith(f"audience.db.pre-{HEAD}.bak")
    else:
        assert copy is None  # PostgreSQL: pg_dump is the user's copy
    assert ensure_schema(engine, db_url) is None  # and now it is current


def test_the_pre_upgrade_copy_is_private_and_complete(sqlite_url: str, tmp_path: Path, newer_release) -> None:
    engine = make_engine(sqlite_url)
    ensure_schema(engine, sqlite_url)
    fill(engine)
    before = row_counts(engine)
    newer_release()
    old_umask = os.umask(0o022)
    try:
        copy = Path(ensure_schema(engine, sqlite_url))
    finally:
        os.umask(old_umask)
        engine.dispose()

    assert copy == tmp_path / f"audience.db.pre-{HEAD}.bak"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert_sqlite_copy(copy, before, revision=HEAD)


def test_a_failing_migration_leaves_nothing_half_made(engine: Engine, db_url: str, newer_release) -> None:
    fill(engine)
    before = row_counts(engine)
    newer_release(then='raise RuntimeError("migration bug")', what="fails after creating a table")

    with pytest.raises(RuntimeError, match="migration bug"):
        ensure_schema(engine, db_url)

    assert revision_of(engine) == HEAD
    assert "extra" not in tables_of(engine)  # the CREATE TABLE was rolled back with the rest
    assert row_counts(engine) == before


def assert_sqlite_copy(copy: Path, counts: dict[str, int], revision: str) -> None:
    """A standalone SQLite file that passes integrity_check and holds the same rows."""
    assert not Path(f"{copy}-wal").exists()
    db = sqlite3.connect(copy)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(revision,)]
        assert {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in counts} == counts
    finally:
        db.close()


def test_db_backup_makes_a_private_consistent_copy(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    ensure_schema(engine, sqlite_url)
    fill(engine)
    counts = row_counts(engine)
    target = tmp_path / "copies" / "audience-copy.db"
    old_umask = os.umask(0o022)
    try:
        with engine.connect():  # the database is in use while it is copied
            assert backup_sqlite(engine, target) == target
    finally:
        os.umask(old_umask)
        engine.dispose()

    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert_sqlite_copy(target, counts, revision=head_revision())
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp files left


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_db_backup_refuses_postgresql(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="SQLite databases only"):
        backup_sqlite(engine, tmp_path / "copy.db")


def test_a_0001_database_with_data_upgrades_to_head(fresh) -> None:
    """The real path of the first users: a database made by 0001, filled the 0001 way, then opened."""
    engine, url = fresh
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.execute(text(
            "INSERT INTO accounts (platform, handle, tags, status, created_at) "
            "VALUES ('x', 'ana', '[]', 'active', '2026-10-01 00:00:00')"
        ))
        conn.execute(text(
            "INSERT INTO snapshots (account_id, kind, source, status, started_at, as_of, pages, received, bad_records) "
            "VALUES (1, 'follower', 'api', 'partial', '2026-10-01 00:00:00', '2026-10-01 00:00:00', 1, 1, 0)"
        ))
        conn.execute(text("INSERT INTO snapshot_items (snapshot_id, seq, platform_id) VALUES (1, 0, '42')"))

    ensure_schema(engine, url)

    assert revision_of(engine) == HEAD
    assert schema_differences(engine) == []
    with engine.connect() as conn:  # the staged row of the partial snapshot survives, as a member
        assert conn.execute(text("SELECT platform_id, member FROM snapshot_items")).all() == [("42", None)]
    engine.dispose()
