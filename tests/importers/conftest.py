"""Fixtures shared by the importer tests: what the database holds, and what a failure must look like."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

TABLES = ("accounts", "profiles", "relationships", "snapshots", "snapshot_items", "contact_points")


def query(db: Path, sql: str, **params) -> list[tuple]:
    """Rows of one SQL query on a SQLite database file (a fresh engine: no state shared with the CLI)."""
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def assert_input_error(result, *needles: str, code: int = 3) -> str:
    """Exit `code` through the error boundary: exactly one `error: ...` line naming what is wrong.

    Only `hint:` (and `warning:` lines for skipped records) may accompany it: a message that
    spills onto a second line (a parser's multi-line diagnostic) fails here.
    """
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert all(line.startswith(("error: ", "hint: ", "warning: ")) for line in lines), result.output
    assert "internal error" not in errors[0], result.output
    for needle in needles:
        assert needle in errors[0], f"{needle!r} not in {errors[0]!r}"
    return errors[0]


@pytest.fixture
def db_file(isolated_home: Path) -> Path:
    return isolated_home / "audience.db"


@pytest.fixture
def db_state(run_cli, db_file: Path):
    """What `snapshots --json` says and how many rows each table holds: equal before and after a failed import."""

    def state() -> dict:
        r = run_cli("snapshots", "--json")
        assert r.exit_code == 0, r.output
        counts = {t: query(db_file, f"SELECT COUNT(*) FROM {t}")[0][0] for t in TABLES}
        return {"history": json.loads(r.stdout), **counts}

    return state


def summary(run_cli) -> list[tuple]:
    """(kind, status, count) of every snapshot, as `snapshots --json` lists them."""
    r = run_cli("snapshots", "--json")
    assert r.exit_code == 0, r.output
    return [(s["kind"], s["status"], s["count"]) for s in json.loads(r.stdout)]


def current(db: Path, kind: str) -> dict[str, tuple]:
    """platform_id -> (handle, url, data) of the current relationships of one kind."""
    rows = query(
        db,
        "SELECT p.platform_id, p.handle, p.url, p.data FROM relationships r JOIN profiles p "
        "ON p.platform = r.platform AND p.platform_id = r.platform_id WHERE r.until_snapshot_id IS NULL AND r.kind = :kind",
        kind=kind,
    )
    return {r[0]: (r[1], r[2], json.loads(r[3]) if r[3] else None) for r in rows}
