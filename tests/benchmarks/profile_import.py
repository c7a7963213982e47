"""Where the time of one `audience import` goes: per SQL statement and per phase.

    /work/venv/bin/python tests/benchmarks/profile_import.py DB ZIP [ZIP...]

Runs `audience --db DB import ZIP` in this process (through `backup.cli.main`), with timers on
every statement SQLAlchemy sends (wall and CPU time of this process), on the staging calls (`stage()`, whose executemany goes
through a raw DBAPI cursor that SQLAlchemy does not see), and on the snapshot phases; prints them sorted by total time.
Use an archive written by bench_import.py (`--workdir DIR` keeps them). Figures include the
small overhead of the timers; for a call graph use `python -m cProfile -o out.prof -m backup ...`.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict

from sqlalchemy import event
from sqlalchemy.engine import Engine

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


def run(argv: list[str]) -> int:
    db, zips = argv[0], argv[1:]
    _timed(snapshot, "ingest", "phase: ingest (parse + stage, whole stream)")
    _timed(snapshot, "complete_snapshot", "phase: complete_snapshot")
    _timed(snapshot, "stage", "phase: stage() calls (build rows + executemany)")
    _timed(importing, "import_path", "phase: import_path (all)")
    # importing imported these names directly: patch its references too
    importing.ingest = snapshot.ingest
    importing.complete_snapshot = snapshot.complete_snapshot
    import_command.import_path = importing.import_path
    code = 0
    for z in zips:
        totals.clear()
        w0, c0 = time.perf_counter(), time.process_time()
        code = max(code, main(["--db", db, "import", z]))
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        print(f"\n{z}: in-process wall {wall:.2f} s, cpu {cpu:.2f} s (exit {code})", file=sys.stderr)
        print(f"{'wall':>8} {'cpu':>8} {'calls':>6}", file=sys.stderr)
        for label, (n, secs, cpu_s) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
            if secs >= 0.005:
                print(f"{secs:7.2f}s {cpu_s:7.2f}s {n:6d}  {label}", file=sys.stderr)
    return code


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(run(sys.argv[1:]))
