"""Shared fixtures.

- Every test runs with `AUDIENCE_HOME` in a temporary directory: no test touches real data.
- `db_url` runs a storage test twice: on SQLite and on the real PostgreSQL server (its own
  schema per test). PostgreSQL tests are skipped only when no server answers and we are not
  in CI; in CI (`CI` set) a missing server is a failure.
- `run_cli` goes through `backup.cli.main`, the real error boundary, and returns
  (exit code, stdout, stderr).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from backup.cli import main
from backup.db.engine import make_engine
from backup.db.migrate import ensure_schema

collect_ignore = ["benchmarks"]

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
PG_SERVER = os.environ.get("AUDIENCE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("AUDIENCE_HOME", str(home))
    monkeypatch.delenv("AUDIENCE_DB", raising=False)
    monkeypatch.delenv("AUDIENCE_FAULT", raising=False)
    return home


_pg_admin: Engine | None = None


def pg_admin() -> Engine:
    global _pg_admin
    if _pg_admin is None:
        engine = create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            if os.environ.get("CI"):
                pytest.fail(f"PostgreSQL is required in CI and did not answer at {PG_SERVER}: {exc}")
            pytest.skip(f"no PostgreSQL server at {PG_SERVER}")
        _pg_admin = engine
    return _pg_admin


def pg_schema_url() -> tuple[str, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with pg_admin().connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_SERVER else "?"
    return schema, f"{PG_SERVER}{sep}options=-csearch_path%3D{schema}"


def drop_pg_schema(schema: str) -> None:
    with pg_admin().connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each supported kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audience.db'}"
        return
    schema, url = pg_schema_url()
    try:
        yield url
    finally:
        drop_pg_schema(schema)


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A fresh PostgreSQL schema at the current revision, for what only PostgreSQL has
    (several writers at once)."""
    schema, url = pg_schema_url()
    eng = make_engine(url)
    try:
        ensure_schema(eng, url)
        yield eng
    finally:
        eng.dispose()
        drop_pg_schema(schema)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'audience.db'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    ensure_schema(eng, db_url)
    yield eng
    eng.dispose()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture):
    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's database, made once per test run: every bundled export imported and linked.
    Tests that change it take `demo_copy`."""
    directory = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--dir", str(directory)]) == 0
    return directory / "audience.db"


@pytest.fixture
def demo_copy(demo_db: Path, tmp_path: Path) -> str:
    """A private copy of the demo's database (its path)."""
    copy = tmp_path / "audience.db"
    shutil.copy(demo_db, copy)
    return str(copy)

