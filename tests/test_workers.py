"""Scale-out on PostgreSQL (SPEC §11, issue 9): `audience worker`, `backup --enqueue`, serialized upgrades.

Against the real PostgreSQL server, each test in its own schema (the job tables beside it in
`<schema>_jobs`), with the accounts served by one local fake server (`connectors.fakes.Crowd`):

- four `audience worker` processes back up 200 accounts queued by the nightly task
  (procrastinate's periodic task, seen by all four, deferred once), every one exactly once; the
  GitHub accounts that share one token never run side by side; a link job follows;
- `kill -9` of the worker in the middle of an account (a page held by the fake server): another
  worker retries the job, which resumes from the stored cursor and completes the snapshot once;
- two `audience db upgrade` let loose together on an empty schema: one migrates, the other
  waits for the lock and finds nothing to do.

Workers run with `--heartbeat 0.5`: a silent worker is dead after 1.5 s, the sweep runs every 3 s.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import drop_pg_schema, pg_admin, pg_schema_url
from connectors.fakes import Crowd
from sqlalchemy import Engine, func, select, text

from backup import accounts
from backup.db.engine import make_engine, write
from backup.db.maintenance import verify
from backup.db.migrate import PG_MIGRATION_LOCK, ensure_schema, head_revision
from backup.db.models import Relationship, Snapshot
from backup.lock import run_lock
from backup.people.link import needs_link
from backup.workers import (
    BACKUP_TASK,
    LINK_TASK,
    NIGHTLY_TASK,
    PG_ACCOUNT_LOCK,
    JobFailed,
    backup_job,
    ensure_job_schema,
    pending_migrations,
)

GH_TOKEN_ENV = "AUDIENCE_TEST_CROWD_GH_TOKEN"
WORKER_ARGS = ("--heartbeat", "0.5", "--concurrency", "2")
TIMEOUT = 60.0


@pytest.fixture
def pg() -> Iterator[tuple[str, str]]:
    """(schema, URL) of a fresh schema; its job schema is dropped with it."""
    schema, url = pg_schema_url()
    try:
        yield schema, url
    finally:
        drop_pg_schema(f"{schema}_jobs")
        drop_pg_schema(schema)


@pytest.fixture
def store(pg) -> Iterator[tuple[Engine, str, str]]:
    schema, url = pg
    engine = make_engine(url)
    ensure_schema(engine, url)
    yield engine, url, schema
    engine.dispose()


@pytest.fixture
def crowd_factory() -> Iterator[Callable[..., Crowd]]:
    made: list[Crowd] = []

    def make(*args, **kwargs) -> Crowd:
        made.append(Crowd(*args, **kwargs))
        return made[-1]

    yield make
    for c in made:
        c.close()
        assert not c.server.errors, c.server.errors[0]


def register(engine: Engine, crowd: Crowd) -> dict[str, int]:
    """The crowd's accounts (GitHub first, sharing one token variable): handle -> account id."""
    ids = {}
    with write(engine) as conn:
        for handle in crowd.github:
            ids[handle] = accounts.add(conn, "github", handle, server=crowd.url, token_env=GH_TOKEN_ENV).id
        for handle in crowd.mastodon:
            ids[handle] = accounts.add(conn, "mastodon", f"{handle}@social.example", server=crowd.url).id
    return ids


def env(tmp_path: Path, crowd: Crowd | None = None) -> dict[str, str]:
    e = {**os.environ, "AUDIENCE_HOME": str(tmp_path / "home"), "PYTHONDONTWRITEBYTECODE": "1"}
    if crowd is not None:
        e[GH_TOKEN_ENV] = crowd.gh_token
    e.pop("AUDIENCE_DB", None)
    return e


class Workers:
    """`audience worker` subprocesses, their stderr in files."""

    def __init__(self, url: str, tmp_path: Path, environment: dict, n: int, *extra: str):
        self.logs = [tmp_path / f"worker{i}.log" for i in range(n)]
        self.procs = []
        for log in self.logs:
            with log.open("wb") as err:
                self.procs.append(subprocess.Popen(
                    [sys.executable, "-m", "backup", "--db", url, "worker", *WORKER_ARGS, *extra],
                    stdout=subprocess.DEVNULL, stderr=err, env=environment,
                ))

    def output(self) -> str:
        return "\n".join(f"--- worker {p.pid}:\n{log.read_text(errors='replace')[-3000:]}" for p, log in zip(self.procs, self.logs))

    def stop(self) -> list[int | None]:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes = []
        for p in self.procs:
            try:
                codes.append(p.wait(timeout=20))
            except subprocess.TimeoutExpired:
                p.kill()
                codes.append(p.wait())
        return codes

    def kill_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


@pytest.fixture
def workers() -> Iterator[Callable[..., Workers]]:
    started: list[Workers] = []

    def start(*args, **kwargs) -> Workers:
        started.append(Workers(*args, **kwargs))
        return started[-1]

    yield start
    for w in started:
        w.kill_all()


def jobs(engine: Engine, schema: str, task: str = BACKUP_TASK) -> list:
    with engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass(:t)"), {"t": f'"{schema}_jobs".procrastinate_jobs'}).scalar() is None:
            return []  # the workers have not installed the job tables yet
        return conn.execute(text(
            f'SELECT id, status::text AS status, attempts, lock, queueing_lock, args FROM "{schema}_jobs".procrastinate_jobs '
            "WHERE task_name = :t ORDER BY id"
        ), {"t": task}).all()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT, workers: Workers | None = None) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}" + (f"\n{workers.output()}" if workers else ""))
        time.sleep(0.2)


def snapshots_by_account(engine: Engine) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {}
    with engine.connect() as conn:
        for account_id, kind, status in conn.execute(select(Snapshot.account_id, Snapshot.kind, Snapshot.status).order_by(Snapshot.id)):
            out.setdefault(account_id, []).append((kind, status))
    return out


def linking_pending(engine: Engine) -> bool:
    with engine.connect() as conn:
        return needs_link(conn)


def current_members(engine: Engine, account_id: int, kind: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(Relationship.platform_id).where(
            Relationship.account_id == account_id, Relationship.kind == kind, Relationship.until_snapshot_id.is_(None),
        )).scalars())


# ---------------------------------------------------------------------------------------------
# Without worker processes


def test_workers_need_postgresql(run_cli, sqlite_url: str) -> None:
    for args in (("worker",), ("backup", "--enqueue")):
        r = run_cli("--db", sqlite_url, *args)
        assert r.exit_code == 4, r.output
        lines = r.stderr.splitlines()
        assert lines[0].startswith(f"error: audience {' '.join(args)} needs PostgreSQL; this database is sqlite"), r.output
        assert lines[1].startswith("hint: move it with `audience db copy --to postgresql"), r.output


def test_enqueue_queues_one_job_per_account_and_never_two(run_cli, store, crowd_factory) -> None:
    engine, url, schema = store
    crowd = crowd_factory(mastodon=3, github=2)
    ids = register(engine, crowd)

    r = run_cli("--db", url, "backup", "--enqueue", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [q["account"] for q in doc["queued"]] == ["github:g0", "github:g1", *(f"mastodon:u{i}@social.example" for i in range(3))]
    assert doc["already_queued"] == []

    again = run_cli("--db", url, "backup", "--enqueue", "mastodon:u1@social.example", "github:g0")
    assert again.exit_code == 0, again.output
    assert "already queued mastodon:u1@social.example" in again.stdout
    assert "0 queued, 2 already waiting" in again.stdout

    rows = jobs(engine, schema)
    assert len(rows) == 5 and {r.status for r in rows} == {"todo"}
    by_account = {r.args["account_id"]: r for r in rows}
    for handle in crowd.github:  # one token for both: one job at a time
        assert by_account[ids[handle]].lock == f"credential:{GH_TOKEN_ENV}"
    for handle in crowd.mastodon:  # no token: the account is the unit
        assert by_account[ids[handle]].lock == f"account:{ids[handle]}"
    assert all(r.queueing_lock == f"account:{r.args['account_id']}" for r in rows)
    assert crowd.lookups == {}  # enqueueing does not call the platform


def test_the_job_tables_live_in_their_own_schema_installed_once(run_cli, store) -> None:
    engine, url, schema = store
    for _ in range(2):
        r = run_cli("--db", url, "db", "upgrade")
        assert r.exit_code == 0, r.output
        assert f"job queue tables are in schema {schema}_jobs" in r.stdout
    assert ensure_job_schema(engine) == f"{schema}_jobs"
    with engine.connect() as conn:
        where = dict(conn.execute(text(
            "SELECT table_name, table_schema FROM information_schema.tables WHERE table_name LIKE 'procrastinate%' "
            "AND table_schema IN (:a, :j)"
        ), {"a": schema, "j": f"{schema}_jobs"}).all())
        comment = conn.execute(text("SELECT obj_description(to_regnamespace(:j), 'pg_namespace')"), {"j": f"{schema}_jobs"}).scalar()
    import procrastinate

    assert set(where) == {"procrastinate_jobs", "procrastinate_events", "procrastinate_periodic_defers", "procrastinate_workers"}
    assert set(where.values()) == {f"{schema}_jobs"}  # nothing beside audience's own tables
    assert comment == f"procrastinate {procrastinate.__version__}"


def test_procrastinate_upgrades_apply_only_newer_migration_files() -> None:
    files = ["03.02.00_01_pre_batch.sql", "03.01.00_50_post_heartbeat.sql", "03.01.00_01_pre_heartbeat.sql",
             "02.14.01_01_indexes.sql", "03.04.00_01_pre_retry.sql", "__init__.py"]
    assert pending_migrations("3.1.0", files) == ["03.02.00_01_pre_batch.sql", "03.04.00_01_pre_retry.sql"]
    assert pending_migrations("3.0.2", files)[:2] == ["03.01.00_01_pre_heartbeat.sql", "03.01.00_50_post_heartbeat.sql"]
    assert pending_migrations("3.10.0", files) == []  # 3.10 > 3.4: numbers, not strings


def test_a_job_runs_the_backup_commands_code(store, crowd_factory, monkeypatch) -> None:
    engine, _, _ = store
    crowd = crowd_factory(mastodon=1, github=1)
    ids = register(engine, crowd)

    outcome = backup_job(engine, ids["u0"])
    assert [(s.kind, s.status, s.count) for s in outcome.snapshots] == [("follower", "complete", 12), ("following", "complete", 4)]
    assert current_members(engine, ids["u0"], "follower") == crowd.expected_ids("u0", "follower")

    monkeypatch.delenv(GH_TOKEN_ENV, raising=False)  # the token's variable is not set on this host
    with pytest.raises(JobFailed) as failed:
        backup_job(engine, ids["g0"])
    assert failed.value.exit_code == 4 and "github:g0" in str(failed.value)
    assert crowd.lookups.get("g0") is None  # refused before any request

    with write(engine) as conn:
        accounts.remove(conn, accounts.resolve(conn, "mastodon:u0@social.example"))
    assert backup_job(engine, ids["u0"]) is None  # removed since it was queued: nothing to do


def test_a_job_that_finds_its_account_suspended_writes_the_recovery_report(store, monkeypatch, isolated_home) -> None:
    """As `audience backup` does (SPEC §5.7): the worker's job writes the report into the data dir."""
    from connectors.fakes import FakeClock, MastodonFake

    engine, _, _ = store
    fake = MastodonFake(FakeClock(), followers=6, following=2, page_size=5)
    try:
        monkeypatch.setenv("AUDIENCE_TEST_WORKER_TOKEN", fake.secret)
        with write(engine) as conn:
            account_id = accounts.add(conn, "mastodon", fake.handle, server=fake.url, token_env="AUDIENCE_TEST_WORKER_TOKEN").id
        assert backup_job(engine, account_id).status == "active"
        assert not (isolated_home / "reports").exists()
        fake.own_state = "suspended"
        with pytest.raises(JobFailed) as failed:
            backup_job(engine, account_id)
        assert failed.value.exit_code == 8
        reports = list((isolated_home / "reports").glob("recovery-mastodon-*.html"))
        assert len(reports) == 1 and "suspended since" in reports[0].read_text()
    finally:
        fake.close()
    assert not fake.server.errors, fake.server.errors[0]


def test_jobs_and_exclusive_runs_keep_out_of_each_other(run_cli, store, crowd_factory) -> None:
    """A job holds the run lock shared: `backup` (exclusive) says busy; a job waits for `backup`."""
    engine, url, _ = store
    crowd = crowd_factory(mastodon=2)
    ids = register(engine, crowd)
    crowd.hold("u0", "follower", 0)
    job = threading.Thread(target=backup_job, args=(engine, ids["u0"]))
    job.start()
    try:
        assert crowd.held.wait(20)
        r = run_cli("--db", url, "backup")
        assert r.exit_code == 0 and "another audience run is using this database" in r.stderr, r.output
    finally:
        crowd.release()
        job.join(30)
    assert crowd.lookups == {"u0": 1}  # the refused `backup` did nothing

    with run_lock(engine):  # `backup`, `import`, `link` hold it exclusively
        job = threading.Thread(target=backup_job, args=(engine, ids["u1"]))
        job.start()
        time.sleep(1.0)
        assert "u1" not in crowd.lookups  # the job waits
    job.join(30)
    assert crowd.lookups.get("u1") == 1


# ---------------------------------------------------------------------------------------------
# Worker processes


def at_second(when: dt.datetime) -> str:
    """A cron expression (6th field: seconds) that fires once a day, at `when` (UTC)."""
    return f"{when.minute} {when.hour} * * * {when.second}"


@pytest.mark.slow
def test_four_workers_back_up_200_accounts_each_once_a_night(store, crowd_factory, workers, tmp_path) -> None:
    engine, url, schema = store
    crowd = crowd_factory(mastodon=192, github=8)
    crowd.delay["github"] = 0.1  # long enough that two GitHub jobs would overlap if they could
    ids = register(engine, crowd)
    assert len(ids) == 200
    tick = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=3)
    w = workers(url, tmp_path, env(tmp_path, crowd), 4, "--nightly-cron", at_second(tick))

    def done(n: int) -> Callable[[], bool]:
        return lambda: sum(r.status == "succeeded" for r in jobs(engine, schema)) >= n

    wait_until(done(200), "the nightly cycle", workers=w)
    rows = jobs(engine, schema)
    assert [r.status for r in rows] == ["succeeded"] * 200, w.output()
    assert sorted(r.args["account_id"] for r in rows) == sorted(ids.values())
    nightly = jobs(engine, schema, NIGHTLY_TASK)
    assert [r.status for r in nightly] == ["succeeded"]  # one tick, one job, however many workers saw it
    assert crowd.lookups == {h: 1 for h in ids}  # every account backed up exactly once
    snaps = snapshots_by_account(engine)
    assert all(snaps[i] == [("follower", "complete"), ("following", "complete")] for i in ids.values())
    for handle in ("g0", "g7", "u0", "u191"):
        assert current_members(engine, ids[handle], "follower") == crowd.expected_ids(handle, "follower")
    spans = sorted(crowd.spans[h] for h in crowd.github)  # one token: never two jobs at once
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans)), spans

    # As `backup` links after itself, a link job follows the backups once none runs (it needs the run lock).
    wait_until(lambda: not linking_pending(engine), "the link job after the backups", workers=w)
    assert any(r.status == "succeeded" for r in jobs(engine, schema, LINK_TASK))

    assert w.stop() == [0, 0, 0, 0], w.output()  # SIGTERM: finish, unregister, exit 0
    report = verify(engine)
    assert report.ok, report.problems


@pytest.mark.slow
def test_a_killed_workers_job_is_retried_and_completes_once(store, crowd_factory, workers, tmp_path, run_cli) -> None:
    engine, url, schema = store
    crowd = crowd_factory(mastodon=3)
    crowd.page_size["u0"] = 5  # 12 followers: pages of 5, 5, 2
    crowd.hold("u0", "follower", 1)  # page 0 is stored, then the worker waits for page 1
    ids = register(engine, crowd)
    w = workers(url, tmp_path, env(tmp_path, crowd), 2, "--nightly-at", "off")
    r = run_cli("--db", url, "backup", "--enqueue")
    assert r.exit_code == 0, r.output
    if not crowd.held.wait(30):
        pytest.fail("no worker reached the held page\n" + w.output())

    with engine.connect() as conn:  # the worker holding the account's lock: its pid is in application_name
        holder = conn.execute(text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(:s || '/account/' || :a, :k)"
        ), {"s": schema, "a": str(ids["u0"]), "k": PG_ACCOUNT_LOCK}).scalar_one()
        partial = conn.execute(select(Snapshot.status, Snapshot.pages).where(Snapshot.account_id == ids["u0"], Snapshot.kind == "follower")).all()
    victim = int(holder.rsplit("pid=", 1)[1])
    assert victim in [p.pid for p in w.procs]
    assert partial == [("running", 1)]  # page 0 committed with its cursor
    os.kill(victim, signal.SIGKILL)
    crowd.release()

    wait_until(lambda: [r.status for r in jobs(engine, schema)] == ["succeeded"] * 3, "the retried job", workers=w)
    retried = next(r for r in jobs(engine, schema) if r.args["account_id"] == ids["u0"])
    assert retried.attempts == 2  # the crashed attempt, then the one that finished
    snaps = snapshots_by_account(engine)
    assert snaps[ids["u0"]] == [("follower", "complete"), ("following", "complete")]  # completed once
    assert current_members(engine, ids["u0"], "follower") == crowd.expected_ids("u0", "follower")
    # Resumed from the cursor: page 0 was fetched once; page 1 by both attempts (the first never got it).
    assert crowd.served[("u0", "follower")] == [0, 1, 1, 2]
    assert crowd.lookups["u0"] == 2
    # The victim may have been in the middle of another account too: that job is retried as well.
    # At least once, and never a half-made snapshot: every snapshot left is complete.
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Snapshot).where(Snapshot.status != "complete")).scalar() == 0
    assert all(set(snaps[ids[h]]) == {("follower", "complete"), ("following", "complete")} for h in ("u1", "u2"))
    codes = {p.pid: code for p, code in zip(w.procs, w.stop())}
    assert codes[victim] == -signal.SIGKILL
    assert [c for pid, c in codes.items() if pid != victim] == [0], w.output()
    report = verify(engine)
    assert report.ok, report.problems


@pytest.mark.slow
def test_two_db_upgrades_at_once_migrate_once(pg, tmp_path) -> None:
    schema, url = pg
    admin = pg_admin()
    with admin.connect() as gate:  # hold the migration lock so that both start before either can go
        gate.execute(text("SELECT pg_advisory_lock(hashtextextended(:s, :k))"), {"s": schema, "k": PG_MIGRATION_LOCK})
        procs = [subprocess.Popen(
            [sys.executable, "-m", "backup", "-v", "--db", url, "db", "upgrade"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(tmp_path),
        ) for _ in range(2)]

        def waiting() -> int:
            with admin.connect() as conn:
                return conn.execute(text(
                    "SELECT count(*) FROM pg_locks l WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objsubid = 1 "
                    "AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(:s, :k)"
                ), {"s": schema, "k": PG_MIGRATION_LOCK}).scalar()

        wait_until(lambda: waiting() == 2, "both upgrades to wait for the lock", timeout=30)
        gate.execute(text("SELECT pg_advisory_unlock(hashtextextended(:s, :k))"), {"s": schema, "k": PG_MIGRATION_LOCK})
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    head = head_revision()
    assert all(f"database schema is at {head}" in out for out, _ in results)
    assert all(f"job queue tables are in schema {schema}_jobs" in out for out, _ in results)
    errs = [err for _, err in results]
    assert sum("migrating the database schema from an empty database" in e for e in errs) == 1, errs
    assert sum("installed the job engine's tables" in e for e in errs) == 1, errs
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
    finally:
        engine.dispose()


def test_a_transient_failure_is_queued_again_and_resumes_later(store, crowd_factory) -> None:
    """Exit 5 (the network, a rate limit past the time limit): the job fails and a new one waits 15 minutes."""
    import asyncio

    from procrastinate.testing import InMemoryConnector

    from backup.workers import Runtime, make_app

    engine, _, _ = store
    crowd = crowd_factory(mastodon=1)
    crowd.page_size["u0"] = 5
    crowd.hold("u0", "follower", 1)  # never answered before the job's time limit
    ids = register(engine, crowd)
    memory = InMemoryConnector()
    said: list[str] = []
    app = make_app(memory, Runtime(engine, max_seconds=0.5, say=said.append))

    async def run() -> None:
        async with app.open_async():
            await app.tasks[BACKUP_TASK].configure(lock=f"account:{ids['u0']}", queueing_lock=f"account:{ids['u0']}").defer_async(
                account_id=ids["u0"], account="mastodon:u0@social.example",
            )
            await app.run_worker_async(wait=False, install_signal_handlers=False)

    threading.Timer(1.0, crowd.release).start()  # the held request answers after the job gave up
    asyncio.run(run())
    rows = sorted(memory.jobs.values(), key=lambda j: j["id"])
    assert [(j["status"], j["args"].get("attempt", 1)) for j in rows] == [("failed", 1), ("todo", 2)], said
    assert rows[1]["scheduled_at"] > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=14)
    assert rows[1]["queueing_lock"] == rows[0]["queueing_lock"] and rows[1]["lock"] == rows[0]["lock"]
    assert said and said[-1].startswith("error: mastodon:u0@social.example:") and "queued again in 15 minutes" in said[-1]
    snaps = snapshots_by_account(engine)
    assert snaps[ids["u0"]] == [("follower", "partial")]  # kept, with its cursor, for the next job
