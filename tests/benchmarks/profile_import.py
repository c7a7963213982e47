"""Where the time of one `audience import` goes: per SQL statement and per phase.

    /work/venv/bin/python tests/benchmarks/profile_import.py DB ZIP [ZIP...]
    /work/venv/bin/python tests/benchmarks/profile_import.py --db postgresql+psycopg://postgres@127.0.0.1/test ZIP [ZIP...]

Runs `audience --db DB import ZIP` in this process (through `backup.cli.main`), with timers on
every statement SQLAlchemy sends (wall and CPU time of this process), on the staging calls (`stage()`, whose executemany or
COPY goes through a raw DBAPI cursor that SQLAlchemy does not see), and on the snapshot phases; prints them sorted by total time.
DB is a SQLite path or any database URL. `--db SERVER_URL` instead imports into a fresh schema
of that PostgreSQL server, dropped at the end (`--keep` keeps it). For PostgreSQL the wall time
of a statement is mostly the server's, its CPU time this process's; the server backends' own
CPU time (read from /proc, for a server on this machine) is printed per archive. The `import_path` phase is
the import itself; the rest of the command's time is the identity linking that follows it.
`--json FILE` also writes the figures as JSON (what bench_pg.py reads).
Use an archive written by bench_import.py (`--workdir DIR` keeps them). Figures include the
small overhead of the timers; for a call graph use `python -m cProfile -o out.prof -m backup ...`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections import defaultdict

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from backup import importing, snapshot
from backup.cli import main
from backup.commands import imports as import_command

totals: dict[str, list] = defaultdict(lambda: [0, 0.0, 0.0])  # calls, wall s, cpu s of this process


def _key(sql: str) -> str:
    return " ".join(sql.split())[:150]


@event.listens_for(Engine, "before_cursor_execute")
def _before(conn, cursor, statement, parameters, context, executemany):
    conn.info.setdefault("t0", []).append((time.perf_counter(), time.process_time()))


@event.listens_for(Engine, "after_cursor_execute")
def _after(conn, cursor, statement, parameters, context, executemany):
    w0, c0 = conn.info["t0"].pop()
    entry = totals["sql: " + _key(statement)]
    entry[0] += 1
    entry[1] += time.perf_counter() - w0
    entry[2] += time.process_time() - c0


# The PostgreSQL server's side of the work: CPU seconds of the backend processes of this
# process's connections, read from /proc (a server on this machine; else nothing is reported).
_backends: dict[int, float | None] = {}  # pid -> CPU seconds when its connection closed (None: still open)


def _proc_cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@event.listens_for(Pool, "connect")
def _connected(dbapi_connection, record):
    pid = getattr(getattr(dbapi_connection, "info", None), "backend_pid", None)  # psycopg only
    if isinstance(pid, int):
        _backends[pid] = None


@event.listens_for(Pool, "close")
def _closing(dbapi_connection, record):
    pid = getattr(getattr(dbapi_connection, "info", None), "backend_pid", None)
    if isinstance(pid, int) and pid in _backends:
        _backends[pid] = _proc_cpu(pid)


def server_cpu() -> float | None:
    """CPU seconds of the backends of the connections opened since `_backends` was cleared."""
    used = [cpu if cpu is not None else _proc_cpu(pid) for pid, cpu in _backends.items()]
    known = [u for u in used if u is not None]
    return sum(known) if known else None


def _timed(module, name: str, label: str) -> None:
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        w0, c0 = time.perf_counter(), time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            entry = totals[label]
            entry[0] += 1
            entry[1] += time.perf_counter() - w0
            entry[2] += time.process_time() - c0

    setattr(module, name, wrapper)


def fresh_schema_url(server: str) -> tuple[str, str]:
    """A new, empty schema on a PostgreSQL server, and the URL that makes it the search path."""
    from sqlalchemy import create_engine, text

    schema = f"audience_profile_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in server else "?"
    return schema, f"{server}{sep}options=-csearch_path%3D{schema}"


def drop_schema(server: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def run(db: str, zips: list[str], json_path: str | None = None) -> int:
    _timed(snapshot, "ingest", "phase: ingest (parse + stage, whole stream)")
    _timed(snapshot, "complete_snapshot", "phase: complete_snapshot")
    _timed(snapshot, "stage", "phase: stage() calls (build rows + executemany or COPY)")
    _timed(importing, "import_path", "phase: import_path (all)")
    # importing imported these names directly: patch its references too
    importing.ingest = snapshot.ingest
    importing.complete_snapshot = snapshot.complete_snapshot
    import_command.import_path = importing.import_path
    code = 0
    report = []
    for z in zips:
        totals.clear()
        _backends.clear()
        w0, c0 = time.perf_counter(), time.process_time()
        code = max(code, main(["--db", db, "import", z]))
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        server = server_cpu()
        on_server = "" if server is None else f", PostgreSQL server backends cpu {server:.2f} s"
        print(f"\n{z}: in-process wall {wall:.2f} s, cpu {cpu:.2f} s{on_server} (exit {code})", file=sys.stderr)
        print(f"{'wall':>8} {'cpu':>8} {'calls':>6}", file=sys.stderr)
        for label, (n, secs, cpu_s) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
            if secs >= 0.005:
                print(f"{secs:7.2f}s {cpu_s:7.2f}s {n:6d}  {label}", file=sys.stderr)
        report.append({
            "zip": z, "wall": wall, "cpu": cpu, "server_cpu": server, "exit": code,
            "timers": {label: {"calls": n, "wall": secs, "cpu": cpu_s} for label, (n, secs, cpu_s) in totals.items()},
        })
    if json_path:
        with open(json_path, "w") as fh:
            json.dump(report, fh, indent=1)
    return code


def main_args(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", metavar="SERVER_URL", help="a PostgreSQL server: import into a fresh schema of it")
    ap.add_argument("--keep", action="store_true", help="keep the fresh schema")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    ap.add_argument("paths", nargs="+", metavar="[DB] ZIP")
    args = ap.parse_args(argv)
    if args.db is None:
        if len(args.paths) < 2:
            ap.error("give DB and at least one ZIP, or --db SERVER_URL and ZIPs")
        return run(args.paths[0], args.paths[1:], args.json)
    schema, url = fresh_schema_url(args.db)
    print(f"importing into the fresh schema {schema}", file=sys.stderr)
    os.environ.pop("AUDIENCE_DB", None)
    try:
        return run(url, args.paths, args.json)
    finally:
        if not args.keep:
            drop_schema(args.db, schema)


if __name__ == "__main__":
    raise SystemExit(main_args(sys.argv[1:]))
