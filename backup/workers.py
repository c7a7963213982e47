"""Scale-out on PostgreSQL (SPEC §11): `audience worker` and `audience backup --enqueue`.

The job engine is procrastinate (PostgreSQL-only: jobs are rows, workers on any host fetch them
with `FOR UPDATE SKIP LOCKED`, LISTEN/NOTIFY wakes them). What this module adds on top:

- **One job per account** (task ``audience.backup_account``). Its *queueing lock*
  ``account:<id>`` lets one account have at most one job waiting: a second enqueue while one
  waits is refused (``AlreadyEnqueued``, reported as "already queued").
- **One job per credential at a time.** Its *lock* is ``credential:<token_env>`` (the name of the
  variable that holds the token), else ``account:<id>``: procrastinate never runs two jobs with
  the same lock at once, so two workers never spend one token's rate-limit budget side by side
  (a GitHub token shared by 50 client accounts backs them up one after another), while
  accounts with their own tokens run in parallel. Why this and not a shared budget in a table:
  the platforms tell each client its remaining budget in every response, which the HTTP client
  already paces on; one job per credential keeps that pacing exact without another protocol.
- **The job runs `audience backup ACCOUNT`'s code**: `nightly.run_backup` for that one account
  (resume, health checks, drop guard, exit semantics), inside two PostgreSQL advisory locks held
  on a dedicated session for the length of the job: the account's own lock (never two jobs on
  one account, whatever their queue locks say) and the run lock *shared* (the lock `backup`,
  `import` and `link` take exclusively: while jobs run, those commands say the database is busy
  or wait with `--wait`; while one of them runs, jobs wait). A job fails when `audience backup
  ACCOUNT` would exit with anything but 0 or 7; a transient failure (exit 5) is queued again
  15 minutes later, at most twice, and resumes its partial snapshot.
- **Nightly**: a procrastinate periodic task (default 03:00 UTC) enqueues every account with an
  API. Every worker runs the periodic deferrer; procrastinate's unique periodic-defer row makes
  one tick one job, however many workers see it.
- **A crashed worker's job is retried by another.** Workers write a heartbeat every
  `heartbeat` seconds; a periodic sweep (every `6 × heartbeat`, one at a time) finds the jobs
  of workers silent for `3 × heartbeat` and puts them back in the queue (procrastinate's
  documented stalled-job recipe). The retried job resumes the partial snapshot from its cursor.
  A job that crashed its worker three times is failed instead of retried forever.
- **The engine's own tables** live in their own PostgreSQL schema beside audience's
  (``<schema>_jobs``, e.g. ``public_jobs``), installed from procrastinate's own schema file when
  absent and migrated with procrastinate's own migration files when procrastinate is upgraded,
  under the schema-change advisory lock of `backup.db.migrate`. audience's Alembic migrations do
  not touch them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, select, text

from .config import DEFAULT_RUN_SECONDS
from .db import orm
from .db.migrate import PG_MIGRATION_LOCK
from .db.models import Account
from .errors import ConfigError, SuspectSnapshot, TransientError, UsageError
from .lock import PG_RUN_LOCK

log = logging.getLogger(__name__)

BACKUP_TASK = "audience.backup_account"
NIGHTLY_TASK = "audience.enqueue_nightly"
SWEEP_TASK = "audience.retry_stalled"
LINK_TASK = "audience.link"
BACKUP_QUEUE = "backup"
MAINTENANCE_QUEUE = "maintenance"  # the nightly enqueue and the stalled-job sweep
# Any fixed 64-bit number: mixed with the schema and the account id into the account's lock key.
PG_ACCOUNT_LOCK = 0x617564_616363  # "aud" "acc"
JOBS_SCHEMA_SUFFIX = "_jobs"
DEFAULT_HEARTBEAT = 10.0  # seconds (procrastinate's default)
STALLED_AFTER_HEARTBEATS = 3  # a worker silent for 3 heartbeats is dead (procrastinate: 30 s for 10 s)
SWEEP_EVERY_HEARTBEATS = 6
LINK_AFTER_HEARTBEATS = 12  # a link job waits this long after a backup job (2 minutes): one per batch
MAX_CRASHES = 3  # a job whose worker died this many times is failed, not retried again
TRANSIENT_RETRIES = 2
TRANSIENT_RETRY_AFTER = {"minutes": 15}  # procrastinate's schedule_in
KEEP_FINISHED_JOBS_HOURS = 14 * 24
_SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def require_postgresql(engine: Engine, what: str) -> None:
    if engine.dialect.name != "postgresql":
        raise ConfigError(
            f"{what} needs PostgreSQL; this database is {engine.dialect.name} ({engine.url.render_as_string(hide_password=True)})",
            hint="move it with `audience db copy --to postgresql+psycopg://user@host/audience`, then use --db URL",
        )


# ---------------------------------------------------------------------------------------------
# The job engine's schema


def jobs_schema(engine: Engine) -> str:
    """The schema of procrastinate's tables: `<audience's schema>_jobs`."""
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar()
    if not schema:
        raise ConfigError("the database connection has no current schema", hint="check search_path in the URL")
    name = f"{schema}{JOBS_SCHEMA_SUFFIX}"
    if not _SAFE_NAME.match(name) or len(name) > 63:
        raise ConfigError(
            f"workers need a plain schema name (letters, digits, _; at most {63 - len(JOBS_SCHEMA_SUFFIX)} characters), not {schema!r}",
        )
    return name


def _version(text_: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text_)[:3])


def pending_migrations(installed: str, migrations: list[str]) -> list[str]:
    """procrastinate's migration files newer than `installed` (a version like "3.4.0"), in order.

    The files are named by the version that brought them: `03.04.00_01_pre_....sql`."""
    have = _version(installed)
    return sorted(name for name in migrations if name.endswith(".sql") and _version(name.split("_")[0]) > have)


def ensure_job_schema(engine: Engine) -> str:
    """Install procrastinate's tables when absent, or migrate them after an upgrade; returns the schema.

    Idempotent and safe when several workers start together: the check and the change run under
    the same advisory lock as audience's own migrations. The installed version is written as the
    schema's comment ("procrastinate 3.10.0"); tables installed some other way are left alone.
    """
    import procrastinate
    from procrastinate.schema import SchemaManager

    require_postgresql(engine, "audience worker")
    schema = jobs_schema(engine)
    version = procrastinate.__version__
    if _installed_version(engine, schema) == version:
        return schema
    with engine.connect() as conn:
        key = conn.execute(text("SELECT hashtextextended(current_schema(), :k)"), {"k": PG_MIGRATION_LOCK}).scalar_one()
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()
        try:
            installed = _installed_version(engine, schema)
            if installed == version:
                return schema
            if installed is None:
                with conn.begin():
                    conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                    conn.exec_driver_sql(f'SET LOCAL search_path TO "{schema}"')
                    _run_script(conn, SchemaManager.get_schema())
                    conn.exec_driver_sql(f"COMMENT ON SCHEMA \"{schema}\" IS 'procrastinate {version}'")
                log.info("installed the job engine's tables (procrastinate %s) in schema %s", version, schema)
            elif installed == "":
                log.warning("schema %s holds job tables of an unknown procrastinate version; left as they are", schema)
            else:
                directory = Path(SchemaManager.get_migrations_path())
                for name in pending_migrations(installed, [p.name for p in directory.iterdir()]):
                    with conn.begin():  # one transaction per file, as procrastinate's migrations expect
                        conn.exec_driver_sql(f'SET LOCAL search_path TO "{schema}"')
                        _run_script(conn, (directory / name).read_text(encoding="utf-8"))
                    log.info("applied procrastinate migration %s in schema %s", name, schema)
                with conn.begin():
                    conn.exec_driver_sql(f"COMMENT ON SCHEMA \"{schema}\" IS 'procrastinate {version}'")
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
    return schema


def _run_script(conn, script: str) -> None:
    """Several statements as written (`%` is no placeholder here), in `conn`'s transaction."""
    conn.connection.driver_connection.execute(script)


def _installed_version(engine: Engine, schema: str) -> str | None:
    """None: no job tables; "": tables of an unknown version; else the version in the comment."""
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT to_regclass(quote_ident(:s) || '.procrastinate_jobs') IS NOT NULL, "
            "obj_description(to_regnamespace(quote_ident(:s)), 'pg_namespace')"
        ), {"s": schema}).one()
    if not row[0]:
        return None
    match = re.fullmatch(r"procrastinate (\S+)", row[1] or "")
    return match.group(1) if match else ""


def conninfo(engine: Engine, schema: str, application_name: str) -> str:
    """The libpq connection string of procrastinate's connections: audience's database, the jobs schema."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    url = engine.url.set(drivername="postgresql")
    params = conninfo_to_dict(url.render_as_string(hide_password=False))
    # A later -c wins: the URL's own search_path (audience's schema) is overridden, other options kept.
    params["options"] = f"{params.get('options', '')} -csearch_path={schema}".strip()
    params["application_name"] = application_name
    return make_conninfo(**params)


def application_name(role: str) -> str:
    """What pg_stat_activity shows for our sessions: who, where, which process."""
    return f"audience {role} {socket.gethostname()} pid={os.getpid()}"[:63]


# ---------------------------------------------------------------------------------------------
# Jobs


@dataclass
class Planned:
    account_id: int
    ref: str
    lock: str  # never two running jobs with the same lock: one per credential
    queueing_lock: str  # never two waiting jobs with the same queueing lock: one per account


def plan(engine: Engine, refs: list[str] | None) -> list[Planned]:
    """The jobs to enqueue: the accounts named, else every account with an API (as `backup`)."""
    from .nightly import api_accounts

    return [
        Planned(a.id, a.ref, f"credential:{a.token_env}" if a.token_env else f"account:{a.id}", f"account:{a.id}")
        for a in api_accounts(engine, refs)
    ]


@dataclass
class Enqueued:
    queued: list[tuple[str, int]] = field(default_factory=list)  # (account, job id)
    already: list[str] = field(default_factory=list)


def enqueue(engine: Engine, refs: list[str] | None, *, full_profiles: bool = False) -> Enqueued:
    """`audience backup --enqueue [ACCOUNT]...`: one job per account, none for an account already waiting."""
    from procrastinate import exceptions

    require_postgresql(engine, "audience backup --enqueue")
    schema = ensure_job_schema(engine)
    planned = plan(engine, refs)
    app = make_app(connector(conninfo(engine, schema, application_name("enqueue")), 2), None)
    done = Enqueued()
    with app.open():
        task = app.tasks[BACKUP_TASK]
        for p in planned:
            try:
                job_id = task.configure(lock=p.lock, queueing_lock=p.queueing_lock).defer(
                    account_id=p.account_id, account=p.ref, full_profiles=full_profiles,
                )
            except exceptions.AlreadyEnqueued:
                done.already.append(p.ref)
            else:
                done.queued.append((p.ref, job_id))
    return done


@contextlib.contextmanager
def account_locks(engine: Engine, account_id: int) -> Iterator[None]:
    """For the length of one job: the account's own lock, then the run lock shared.

    Both on one dedicated session, so the server drops them when the worker dies (kill -9, a lost
    host): nothing to clean up before another worker retries the job. Waits for each; the run
    lock is held exclusively only by `backup`, `import`, `link` and `db copy`, which refuse to
    start while jobs run (or wait with --wait).
    """
    with engine.connect() as conn:
        keys = conn.execute(text(
            "SELECT hashtextextended(current_schema() || '/account/' || :a, :acc), hashtextextended(current_schema(), :run)"
        ), {"a": str(account_id), "acc": PG_ACCOUNT_LOCK, "run": PG_RUN_LOCK}).one()
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": keys[0]})
        conn.commit()
        try:
            if not conn.execute(text("SELECT pg_try_advisory_lock_shared(:k)"), {"k": keys[1]}).scalar_one():
                log.info("account %s: waiting for another audience run on this database to finish", account_id)
                conn.execute(text("SELECT pg_advisory_lock_shared(:k)"), {"k": keys[1]})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock_shared(:k)"), {"k": keys[1]})
                conn.commit()
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": keys[0]})
            conn.commit()


class JobFailed(Exception):
    """The job's account could not be backed up; the message is `backup`'s error line (redacted)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def backup_job(
    engine: Engine, account_id: int, *, max_seconds: float = DEFAULT_RUN_SECONDS, full_profiles: bool = False,
    client_options: dict[str, Any] | None = None,
):
    """One account, as `audience backup ACCOUNT` does it; returns its AccountResult (None: the account is gone).

    Raises JobFailed when that command would exit with anything but 0 (done) or 7 (held back
    by the drop guard: done, waiting for `snapshots accept`)."""
    from . import connectors
    from .commands.common import one_line
    from .nightly import run_backup

    with account_locks(engine, account_id):
        with engine.connect() as conn:
            account = orm(conn).execute(select(Account).where(Account.id == account_id)).scalar()
        if account is None or not connectors.available(account.platform):
            return None  # removed (or changed) since it was queued: nothing to do
        options = {**(client_options or {}), **({"full_profiles": True} if full_profiles else {})}
        result = run_backup(engine, [account], deadline=time.monotonic() + max_seconds, client_options=options)
        from exporters.reports.recovery import write_reports_for_down

        write_reports_for_down(engine, result.accounts)  # found suspended: its recovery report, as `backup` writes it
    outcome = result.accounts[0]
    if result.exit_code not in (0, SuspectSnapshot.exit_code):
        raise JobFailed(one_line(f"{outcome.account}: {outcome.error or 'failed'}"), result.exit_code)
    return outcome


def summary(outcome) -> str:
    """One line per job, like a row of `backup`'s table."""
    parts = []
    for s in outcome.snapshots:
        name = "followers" if s.kind == "follower" else s.kind
        parts.append(f"{name} {s.count:,} (+{s.gained:,} -{s.lost:,})" if s.status == "complete" else f"{name} {s.count:,} held back ({s.status})")
    return f"{outcome.account}: " + (", ".join(parts) or "nothing read") + (f" [{outcome.status}]" if outcome.status != "active" else "")


# ---------------------------------------------------------------------------------------------
# The procrastinate app


@dataclass
class Runtime:
    """What a worker process's tasks need."""

    engine: Engine
    max_seconds: float = DEFAULT_RUN_SECONDS
    stalled_after: float = DEFAULT_HEARTBEAT * STALLED_AFTER_HEARTBEATS
    link_after: float = DEFAULT_HEARTBEAT * LINK_AFTER_HEARTBEATS
    say: Callable[[str], None] = lambda line: None


def connector(dsn: str, max_size: int):
    from procrastinate import PsycopgConnector

    return PsycopgConnector(conninfo=dsn, min_size=1, max_size=max_size)


def make_app(job_connector, runtime: Runtime | None, *, nightly_cron: str | None = None, sweep_cron: str | None = None):
    """The procrastinate app with audience's tasks (their bodies need `runtime`: workers only)."""
    from procrastinate import App, exceptions

    app = App(connector=job_connector)

    @app.task(name=BACKUP_TASK, queue=BACKUP_QUEUE, pass_context=True)
    def backup_account(context, account_id: int, account: str = "", full_profiles: bool = False, attempt: int = 1):
        assert runtime is not None
        try:
            outcome = backup_job(runtime.engine, account_id, max_seconds=runtime.max_seconds, full_profiles=full_profiles)
        except JobFailed as exc:
            again = exc.exit_code == TransientError.exit_code and attempt <= TRANSIENT_RETRIES
            if again:  # the network or a rate limit: the partial snapshot resumes in a while
                with contextlib.suppress(exceptions.AlreadyEnqueued):  # or a job for it already waits
                    backup_account.configure(
                        lock=context.job.lock, queueing_lock=context.job.queueing_lock, schedule_in=TRANSIENT_RETRY_AFTER,
                    ).defer(account_id=account_id, account=account, full_profiles=full_profiles, attempt=attempt + 1)
            runtime.say(f"error: {exc} (exit {exc.exit_code}{'; queued again in 15 minutes' if again else ''})")
            raise
        if outcome is None:
            runtime.say(f"{account or account_id}: no such account with an API any more; nothing done")
            return None
        runtime.say(summary(outcome))
        if any(s.status == "complete" for s in outcome.snapshots):
            queue_link()
        return {"account": outcome.account, "status": outcome.status}

    def queue_link() -> None:
        """Identity linking after backups, as `backup` does: one link job waits for a batch of them."""
        assert runtime is not None
        with contextlib.suppress(exceptions.AlreadyEnqueued):
            link_accounts.configure(queueing_lock=LINK_TASK, schedule_in={"seconds": round(runtime.link_after)}).defer()

    @app.task(name=LINK_TASK, queue=MAINTENANCE_QUEUE, lock=LINK_TASK)
    def link_accounts() -> str:
        """`link` needs the run lock to itself: while backup jobs run, it waits its turn again."""
        from .errors import LockBusy
        from .lock import run_lock
        from .people.link import link_after_import

        assert runtime is not None
        try:
            with run_lock(runtime.engine):
                result = link_after_import(runtime.engine)
        except LockBusy:
            queue_link()
            return "busy: queued again"
        if result is not None:
            runtime.say(f"linked: {result.persons:,} persons from {result.profiles:,} profiles ({result.profiles_read:,} read)")
        return "linked"

    async def enqueue_nightly(timestamp: int) -> dict:
        assert runtime is not None
        planned = await asyncio.to_thread(plan, runtime.engine, None)
        queued = already = 0
        for p in planned:
            try:
                await backup_account.configure(lock=p.lock, queueing_lock=p.queueing_lock).defer_async(
                    account_id=p.account_id, account=p.ref,
                )
                queued += 1
            except exceptions.AlreadyEnqueued:
                already += 1
        await app.job_manager.delete_old_jobs(
            nb_hours=KEEP_FINISHED_JOBS_HOURS, queue=BACKUP_QUEUE, include_failed=True, include_cancelled=True, include_aborted=True,
        )
        runtime.say(f"nightly backup: queued {queued} accounts" + (f" ({already} already waiting)" if already else ""))
        return {"queued": queued, "already_queued": already}

    async def retry_stalled(timestamp: int) -> int:
        """procrastinate's recipe: jobs of workers without a heartbeat go back to the queue."""
        assert runtime is not None
        retried = 0
        for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=runtime.stalled_after):
            if job.task_name == SWEEP_TASK:
                continue
            assert job.id is not None
            try:
                if job.attempts + 1 >= MAX_CRASHES:
                    await app.job_manager.finish_job_by_id_async(job.id, _status("failed"), delete_job=False)
                    runtime.say(f"error: job {job.id} ({job.task_kwargs.get('account', job.task_name)}) stopped its worker "
                                f"{job.attempts + 1} times; not retried again")
                    continue
                await app.job_manager.retry_job(job)
            except exceptions.UniqueViolation:
                # A newer job for the same account already waits: it will resume the partial snapshot.
                await app.job_manager.finish_job_by_id_async(job.id, _status("failed"), delete_job=False)
                continue
            except exceptions.ConnectorException as exc:  # retried or finished by someone else meanwhile
                log.info("job %s: not retried (%s)", job.id, exc)
                continue
            retried += 1
            runtime.say(f"job {job.id} ({job.task_kwargs.get('account', job.task_name)}): its worker stopped answering; queued again")
        await app.job_manager.delete_old_jobs(nb_hours=1, queue=MAINTENANCE_QUEUE, include_failed=True)
        return retried

    nightly = app.task(name=NIGHTLY_TASK, queue=MAINTENANCE_QUEUE)(enqueue_nightly)
    sweep = app.task(name=SWEEP_TASK, queue=MAINTENANCE_QUEUE, lock=SWEEP_TASK, queueing_lock=SWEEP_TASK)(retry_stalled)
    if nightly_cron:
        app.periodic(cron=nightly_cron, periodic_id="nightly", queueing_lock=NIGHTLY_TASK)(nightly)
    if sweep_cron:
        app.periodic(cron=sweep_cron, periodic_id="sweep")(sweep)
    return app


def _status(name: str):
    from procrastinate.jobs import Status

    return Status(name)


# ---------------------------------------------------------------------------------------------
# The worker


def nightly_cron(at: str) -> str:
    """`HH:MM` (UTC) -> a cron expression; `off` -> None."""
    if at.strip().lower() in ("off", "none", "no"):
        return ""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", at.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise UsageError(f"--nightly-at {at!r} is not a time", hint="use HH:MM in UTC, e.g. 03:00, or off")
    return f"{int(match.group(2))} {int(match.group(1))} * * *"


def check_cron(expression: str) -> str:
    import croniter

    if not croniter.croniter.is_valid(expression):
        raise UsageError(f"--nightly-cron {expression!r} is not a cron expression", hint="e.g. '30 2 * * *' for 02:30 UTC")
    return expression


def every(seconds: float) -> str:
    """A cron expression (with procrastinate's optional 6th field, seconds) for "every N seconds"."""
    n = max(1, round(seconds))
    if n < 60:
        return f"* * * * * */{n}"
    return f"*/{max(1, n // 60)} * * * *"


def run_worker(
    engine: Engine, *, concurrency: int, cron: str, heartbeat: float, max_seconds: float, quiet: bool, verbose: bool,
) -> None:
    """Run until SIGTERM/SIGINT (procrastinate's handlers: finish the running jobs, then stop)."""
    require_postgresql(engine, "audience worker")
    schema = ensure_job_schema(engine)
    engine.dispose()  # the command's own connections: the work uses the pools below
    name = f"{socket.gethostname()}:{os.getpid()}"
    # Each job holds one session for its locks and uses one at a time for its work.
    work = create_engine(
        engine.url.update_query_dict({"application_name": application_name("worker")}),
        hide_parameters=True, pool_pre_ping=True, pool_size=2 * concurrency + 1, max_overflow=2,
    )

    def say(line: str) -> None:
        log.info("%s", line)  # the log file keeps every job's line (and -v shows it as info:)
        if not quiet and not verbose:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()

    runtime = Runtime(
        work, max_seconds=max_seconds, stalled_after=heartbeat * STALLED_AFTER_HEARTBEATS,
        link_after=heartbeat * LINK_AFTER_HEARTBEATS, say=say,
    )
    app = make_app(
        # procrastinate's short queries (fetch, finish, heartbeat) share a few connections.
        connector(conninfo(engine, schema, application_name("worker")), min(concurrency + 2, 6)), runtime,
        nightly_cron=cron or None, sweep_cron=every(heartbeat * SWEEP_EVERY_HEARTBEATS),
    )
    if not verbose:  # procrastinate's own INFO lines (every job started and ended) only with -v
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
        logging.getLogger("procrastinate.worker").addFilter(_OurJobErrors())
    when = f"nightly backup at {_describe(cron)}" if cron else "no nightly backup"
    say(f"worker {name}: {concurrency} at a time, {when}, jobs in schema {schema}; stop with Ctrl-C or SIGTERM")

    async def main() -> None:
        # Sync tasks run in the loop's default executor: make room for every slot.
        asyncio.get_running_loop().set_default_executor(concurrent.futures.ThreadPoolExecutor(concurrency + 2))
        async with app.open_async():
            await app.run_worker_async(
                name=name, concurrency=concurrency, update_heartbeat_interval=heartbeat,
                stalled_worker_timeout=heartbeat * STALLED_AFTER_HEARTBEATS,
                fetch_job_polling_interval=min(5.0, heartbeat), abort_job_polling_interval=max(5.0, heartbeat),
                shutdown_graceful_timeout=None, install_signal_handlers=True,
            )

    try:
        asyncio.run(main())
    finally:
        work.dispose()
    say(f"worker {name}: stopped")


def _describe(cron: str) -> str:
    parts = cron.split()
    if len(parts) == 5 and parts[0].isdigit() and parts[1].isdigit() and parts[2:] == ["*", "*", "*"]:
        return f"{int(parts[1]):02d}:{int(parts[0]):02d} UTC"
    return f"cron '{cron}' (UTC)"


class _OurJobErrors(logging.Filter):
    """Drop procrastinate's traceback for a job that failed with JobFailed: the worker printed its line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, JobFailed)
