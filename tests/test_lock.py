"""The run lock (SPEC §10): one `backup` or `import` at a time per database.

- SQLite: an flock on `<db>.lock`, holding "pid=… host=…"; PostgreSQL: a session advisory
  lock keyed by the schema. Both are tested in-process (two holders, waiting) and against a
  holder process killed with SIGKILL, whose lock the next run must take over.
- Eight `audience import` processes started at once on one SQLite database: exactly one
  imports, the seven others exit 0 saying another run is using the database; and nothing
  another process does on its way out (every command checkpoints the WAL when it exits)
  breaks the holder's transaction.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from backup import lock
from backup.db.engine import BUSY_TIMEOUT_MS, make_engine
from backup.db.models import Snapshot
from backup.errors import LockBusy
from backup.lock import run_lock

TIMEOUT = 60  # seconds; a hung subprocess fails the test instead of hanging the suite
FAST_POLL = 0.02  # seconds between tries when waiting, instead of WAIT_POLL_SECONDS

# A process that takes the run lock, says so, and holds it until it is killed.
HOLDER = """
import sys, time
from backup.db.engine import make_engine
from backup.lock import run_lock

with run_lock(make_engine(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(600)
"""

on_postgresql = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
on_sqlite = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def fast_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lock, "WAIT_POLL_SECONDS", FAST_POLL)


def child_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AUDIENCE_FAULT", "AUDIENCE_DB")}
    env["AUDIENCE_HOME"] = str(tmp_path / "home")
    return env


def cli(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "backup", "--db", str(db), *args]


@pytest.fixture
def holder_process(db_url: str, tmp_path: Path) -> Iterator[subprocess.Popen]:
    """Start a process holding the run lock; yields it once it holds the lock."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, db_url], env=child_env(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()  # blocks until the child holds the lock (or dies)
        assert line.strip() == "locked", proc.stderr.read()
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        proc.stdout.close()
        proc.stderr.close()


# ---------------------------------------------------------------------------------------------
# Both databases


def test_a_second_holder_is_told_who_holds_the_lock(engine: Engine) -> None:
    with run_lock(engine):
        with pytest.raises(LockBusy) as busy:
            with run_lock(engine):
                pytest.fail("two holders at once")
    assert busy.value.exit_code == 0  # not a failure: the run exits without work
    message = str(busy.value)
    assert message.startswith("another audience run is using this database")
    if engine.dialect.name == "sqlite":
        assert f"pid={os.getpid()} host={socket.gethostname()}" in message
    else:  # the holder is a PostgreSQL session: its server process id
        assert "pid=" in message and "host=" in message

    with run_lock(engine):  # released: the next run takes it
        pass


def test_the_lock_is_released_when_the_run_fails(engine: Engine) -> None:
    with pytest.raises(RuntimeError):
        with run_lock(engine):
            raise RuntimeError("the run failed")
    with run_lock(engine):
        pass


def test_wait_takes_the_lock_when_the_holder_is_done(engine: Engine, fast_poll: None) -> None:
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with run_lock(engine):
            held.set()
            release.wait(TIMEOUT)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(TIMEOUT)
        threading.Timer(0.3, release.set).start()
        start = time.monotonic()
        with run_lock(engine, wait=True, timeout=TIMEOUT):
            waited = time.monotonic() - start
    finally:
        release.set()
        holder.join(TIMEOUT)
    assert 0.2 < waited < TIMEOUT


def test_wait_gives_up_after_its_timeout(engine: Engine, fast_poll: None) -> None:
    with run_lock(engine):
        start = time.monotonic()
        with pytest.raises(LockBusy):
            with run_lock(engine, wait=True, timeout=0.2):
                pytest.fail("two holders at once")
        assert 0.2 <= time.monotonic() - start < 5


def test_a_killed_holders_lock_is_taken_over(engine: Engine, holder_process: subprocess.Popen, fast_poll: None, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(LockBusy) as busy:
        with run_lock(engine):
            pytest.fail("the holder process is alive")
    if engine.dialect.name == "sqlite":
        assert f"pid={holder_process.pid} " in str(busy.value)

    holder_process.send_signal(signal.SIGKILL)
    assert holder_process.wait(TIMEOUT) == -signal.SIGKILL

    caplog.set_level(logging.WARNING, logger="backup.lock")
    # SQLite: the kernel dropped the flock at once. PostgreSQL: the server ends the session
    # when it sees the connection close, which can take a moment: wait for it, briefly.
    with run_lock(engine, wait=True, timeout=10):
        pass
    if engine.dialect.name == "sqlite":
        assert f"took over the run lock left by a process that is gone (pid={holder_process.pid} " in caplog.text


# ---------------------------------------------------------------------------------------------
# SQLite specifics


@on_sqlite
def test_the_lock_file_is_private_and_separate_from_the_database(engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lock_file = tmp_path / "audience.db.lock"
    caplog.set_level(logging.WARNING, logger="backup.lock")
    with run_lock(engine):
        assert stat.S_IMODE(lock_file.stat().st_mode) == 0o600
        assert lock_file.read_text() == f"pid={os.getpid()} host={socket.gethostname()}"
        with engine.begin() as conn:  # the database itself stays usable by the holder
            conn.execute(select(func.count()).select_from(Snapshot)).scalar_one()
    assert lock_file.read_text() == ""  # released cleanly
    with run_lock(engine):
        pass
    assert "took over" not in caplog.text  # a clean release is not a stale lock


@on_sqlite
@pytest.mark.parametrize(
    "command",
    [("import", "nothing.js", "--account", "x:nobody"), ("accounts", "list")],
    ids=["a-run-that-finds-the-lock-busy", "a-command-that-takes-no-lock"],
)
def test_another_process_does_not_break_the_holders_transaction(engine: Engine, tmp_path: Path, command: tuple[str, ...]) -> None:
    """Whatever another process does on its way out, the holder's next write goes through, at once.

    Every command checkpoints the WAL when it exits. It used to do so in TRUNCATE mode even
    while a run held the lock: a holder that had read but not yet written then failed its next
    write ("database is locked", SQLITE_BUSY_SNAPSHOT) -- or both waited out the busy timeout.
    """
    db = Path(engine.url.database)
    with run_lock(engine):
        with engine.begin() as conn:  # the WAL holds a commit, already copied into the database
            conn.execute(Snapshot.__table__.delete().where(Snapshot.id == -1))
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        with engine.connect() as conn:
            conn.execute(select(func.count()).select_from(Snapshot)).scalar_one()  # the holder has read
            start = time.monotonic()
            other = subprocess.run(cli(db, *command), env=child_env(tmp_path), capture_output=True, text=True, timeout=TIMEOUT)
            took = time.monotonic() - start
            conn.execute(Snapshot.__table__.delete().where(Snapshot.id == -2))  # and now writes
            conn.commit()
    assert other.returncode == 0, other.stderr
    if command[0] == "import":
        assert "another audience run is using this database" in other.stderr
    assert took < BUSY_TIMEOUT_MS / 1000 / 2, f"the other process took {took:.1f} s"


FOLLOWERS = 200_000
PROCESSES = 8
ENTRY = (
    '  {{\n    "follower" : {{\n      "accountId" : "{id}",\n'
    '      "userLink" : "https://twitter.com/intent/user?user_id={id}"\n    }}\n  }}'
)


def write_follower_js(path: Path, n: int) -> None:
    """An X archive's `data/follower.js`, laid out the way X writes it."""
    ids = (str(1400000000000000000 + 7919 * i) for i in range(n))
    body = ",\n".join(ENTRY.format(id=i) for i in ids)
    path.write_text(f"window.YTD.follower.part0 = [\n{body}\n]", encoding="utf-8")


@pytest.mark.slow
def test_eight_imports_at_once_make_one_snapshot(tmp_path: Path) -> None:
    db = tmp_path / "audience.db"
    env = child_env(tmp_path)
    added = subprocess.run(cli(db, "accounts", "add", "x", "ada_ex"), env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert added.returncode == 0, added.stderr
    archive = tmp_path / "follower.js"
    write_follower_js(archive, FOLLOWERS)

    procs = [
        subprocess.Popen(
            cli(db, "import", str(archive), "--account", "x:ada_ex", "--as-of", "2024-05-01"),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=TIMEOUT)
            results.append((proc.pid, proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    report = "\n".join(f"pid {pid} exit {code}\n{out}{err}" for pid, code, out, err in results)
    assert [code for _, code, _, _ in results] == [0] * PROCESSES, report
    imported = [r for r in results if f"snapshot 1 complete, {FOLLOWERS:,} profiles" in r[2]]
    busy = [r for r in results if "another audience run is using this database" in r[3]]
    assert len(imported) == 1, report
    assert len(busy) == PROCESSES - 1, report
    winner = imported[0][0]
    for _, _, out, err in busy:
        assert out == ""
        assert f"pid={winner} " in err  # the message names the run that holds the lock

    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            assert conn.execute(select(Snapshot.status, Snapshot.count)).all() == [("complete", FOLLOWERS)]
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------
# PostgreSQL specifics


@pytest.fixture
def other_schema() -> Iterator[Engine]:
    """An engine on a second schema of the same PostgreSQL server: another database, to audience."""
    from conftest import drop_pg_schema, pg_schema_url

    schema, url = pg_schema_url()
    engine = make_engine(url)
    yield engine
    engine.dispose()
    drop_pg_schema(schema)


@on_postgresql
def test_postgresql_locks_are_per_schema(engine: Engine, other_schema: Engine) -> None:
    with run_lock(engine):
        with run_lock(other_schema):
            with pytest.raises(LockBusy):
                with run_lock(engine):
                    pytest.fail("two holders on one schema")


@on_postgresql
def test_postgresql_busy_message_names_only_this_locks_holder(engine: Engine, other_schema: Engine) -> None:
    with engine.connect() as conn:
        ours = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    with other_schema.connect() as conn:
        theirs = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    # Each run_lock below checks out the pooled connection just returned: the sessions above.
    with run_lock(engine), run_lock(other_schema):
        with pytest.raises(LockBusy) as busy:
            with run_lock(engine):
                pytest.fail("two holders on one schema")
    assert f"pid={ours} " in str(busy.value)
    assert f"pid={theirs} " not in str(busy.value)  # another schema's run is not in the way


def _hold_write_lock(db: Path, seconds: float, started: threading.Event) -> None:
    """Another writer: takes SQLite's write lock, writes, holds it, commits."""
    con = sqlite3.connect(db, isolation_level=None, timeout=30)
    con.execute("BEGIN IMMEDIATE")
    con.execute("INSERT INTO persons (name, created_at) VALUES ('someone else', '2026-11-23 00:00:00')")
    started.set()
    time.sleep(seconds)
    con.execute("COMMIT")
    con.close()


def _add_account_while_locked(run_cli, db: Path, handle: str, hold: float):
    """`accounts add x HANDLE` while another connection holds SQLite's write lock for `hold` seconds."""
    assert run_cli("--db", db, "init").exit_code == 0
    started = threading.Event()
    other = threading.Thread(target=_hold_write_lock, args=(db, hold, started))
    other.start()
    started.wait(10)
    try:
        return run_cli("--db", db, "accounts", "add", "x", handle)
    finally:
        other.join()


def test_a_writer_waits_for_another_writer_instead_of_failing(run_cli, tmp_path: Path):
    """`accounts add` while another writer holds the lock waits and succeeds (BEGIN IMMEDIATE).

    With a deferred BEGIN it read first, then found its snapshot stale when the other writer
    committed, and SQLite refused the write at once ("database is locked", an internal error).
    """
    db = tmp_path / "audience.db"
    r = _add_account_while_locked(run_cli, db, "patient", hold=1.0)
    assert r.exit_code == 0, r.output
    assert [a["handle"] for a in json.loads(run_cli("--db", db, "accounts", "list", "--json").stdout)] == ["patient"]


def test_a_lock_held_past_the_busy_timeout_is_a_transient_error(run_cli, tmp_path: Path, monkeypatch):
    import backup.db.engine as engine_module

    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 200)
    r = _add_account_while_locked(run_cli, tmp_path / "audience.db", "impatient", hold=2.0)
    assert r.exit_code == 5, r.output
    assert r.stderr.startswith("error: the database stayed locked") and "internal error" not in r.stderr
