"""SQLite against PostgreSQL on the nights of bench_import.py (SPEC §12 P1–P4; issue 9 asks
PostgreSQL to import a 1M-follower snapshot within 2x of the SQLite time).

Prints figures side by side; asserts nothing about time. The only PASS/FAIL lines are the
exactness checks (snapshot counts and diff sets), on each database.

    /work/venv/bin/python tests/benchmarks/bench_pg.py [--db SERVER_URL] [--followers 1000000]
        [--also-10m] [--workdir DIR] [--keep] [--wait-idle SECONDS]

For each database (a fresh SQLite file; a fresh schema of the PostgreSQL server at --db,
default $AUDIENCE_TEST_PG or postgresql+psycopg://postgres@127.0.0.1:5432/test) it imports the
four nights of bench_import.py (N followers; the same in another order; 1% gone and 1% new;
night 3's members in another order), each in a child process under /usr/bin/time running
profile_import.py, so that one run gives the command's wall time, CPU and peak RSS *and* the
split between the import itself (`import_path`) and the identity linking the command runs
after it. Then `diff` between nights 2 and 3 and between nights 1 and 3, with exactness checks.
With --also-10m: nights 1 (10×N new), 2 (unchanged) and 3 (1% gone, 1% new) of 10×N followers
on both, with the two diffs and their exactness checks.

On PostgreSQL, after night 3 at each size, the read paths are run under EXPLAIN (ANALYZE,
BUFFERS) and printed one line each: the statements `diff` really sends (captured from
`backup.db.queries.iter_diff`, consecutive and across three snapshots), a report's scan of an
account's current audience, and the apply's count of current members. The index plan in the
README ("Moving to PostgreSQL") rests on these lines.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_import as bi
from profile_import import drop_schema, fresh_schema_url

PROFILE = str(Path(__file__).resolve().parent / "profile_import.py")
DEFAULT_SERVER = os.environ.get("AUDIENCE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IMPORT = "phase: import_path (all)"
TARGET_RATIO = 2.0  # issue 9: PostgreSQL within 2x of SQLite


# ---------------------------------------------------------------------------------------------
# One database


class Backend:
    def __init__(self, name: str, url: str, size):
        self.name, self.url, self.size = name, url, size
        self.nights: list[dict] = []
        self.diffs: dict[str, float | None] = {}
        self.checks: list[tuple[str, bool, str]] = []


def sqlite_backend(workdir: Path, tag: str) -> Backend:
    db = workdir / f"pg-bench-{tag}.db"
    for p in workdir.glob(f"pg-bench-{tag}.db*"):
        p.unlink()
    return Backend("SQLite", str(db), lambda: bi.db_bytes(db))


def pg_backend(server: str) -> tuple[Backend, str]:
    from sqlalchemy import create_engine, text

    schema, url = fresh_schema_url(server)
    admin = create_engine(server)

    def size() -> int:  # tables with their indexes and TOAST, in this schema
        with admin.connect() as conn:
            return conn.execute(text(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind = 'r'"
            ), {"s": schema}).scalar_one()

    return Backend("PostgreSQL", url, size), schema


def import_night(backend: Backend, archive: Path, workdir: Path, env: dict) -> dict:
    """One night through profile_import.py in a measured child: the command and its phases."""
    fd, report = tempfile.mkstemp(dir=workdir, suffix=".json")
    os.close(fd)
    before = backend.size()
    run = bi.measure([sys.executable, PROFILE, "--json", report, backend.url, str(archive)], workdir, env).check()
    doc = json.loads(Path(report).read_text())[0]
    os.unlink(report)
    timers = doc["timers"]
    night = {
        "wall": run.seconds, "cpu": run.cpu, "rss": run.rss_mb, "note": run.cpu_note,
        "import": timers.get(IMPORT, {}).get("wall"), "in_process": doc["wall"], "timers": timers,
        "growth": backend.size() - before, "size": backend.size(), "stdout": run.stdout.strip(),
    }
    night["link"] = None if night["import"] is None else doc["wall"] - night["import"]
    # CPU of the whole command: the child's, plus the PostgreSQL backends' (the steadier figure
    # on a busy machine: wall time counts the waits for a CPU, CPU time does not)
    night["server_cpu"] = doc.get("server_cpu")
    night["total_cpu"] = None if run.cpu is None else run.cpu + (night["server_cpu"] or 0.0)
    backend.nights.append(night)
    return night


def check_and_diff(backend: Backend, audience: str, workdir: Path, env: dict, n: int, gone: set[str], new: set[str]) -> None:
    churn = n // 100
    snaps, proc = bi.audience_json(audience, backend.url, "snapshots", bi.ACCOUNT_REF)
    if snaps is None:
        backend.checks.append(("snapshots --json", False, proc.stderr.strip()))
    else:
        got = [(s["status"], s["count"], s["gained"], s["lost"]) for s in snaps if s["kind"] == "follower"]
        ok = len(got) == 3 and got[0][:2] == ("complete", n) and got[1:] == [("complete", n, 0, 0), ("complete", n, churn, churn)]
        backend.checks.append((f"snapshots: night 2 gained=lost=0, night 3 gained=lost={churn:,}", ok, f"got {got}"))
    for label, extra in (("2->3", []), ("1->3", ["--since", bi.NIGHT_DATES[0]])):
        rd = bi.measure([audience, "--db", backend.url, "diff", bi.ACCOUNT_REF, *extra, "--json"], workdir, env)
        backend.diffs[label] = rd.seconds if rd.code == 0 else None
        if rd.code != 0:
            backend.checks.append((f"diff {label}", False, rd.stderr.strip()[-300:]))
            continue
        doc = json.loads(rd.stdout)
        g = {p["platform_id"] for p in doc["gained"]}
        lo = {p["platform_id"] for p in doc["lost"]}
        backend.checks.append((f"diff {label}: exactly the {churn:,} new and the {churn:,} gone ids",
                               g == new and lo == gone, f"gained {len(g):,}, lost {len(lo):,}"))


def explain(url: str, label: str) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the read paths on this database, one line each."""
    from sqlalchemy import event, text

    sys.path.insert(0, str(bi.REPO))
    from backup.db.engine import make_engine
    from backup.db.queries import applied_snapshots, iter_diff

    engine = make_engine(url)
    captured: list[tuple[str, dict]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    out = []
    try:
        with engine.connect() as conn:
            account = conn.execute(text("SELECT id FROM accounts WHERE handle = :h"), {"h": bi.HANDLE}).scalar_one()
            applied = applied_snapshots(conn, account, "follower")
            churned = conn.execute(text(  # night 3: the consecutive diff with changes in it
                "SELECT seq FROM snapshots WHERE account_id = :a AND kind = 'follower' AND seq > 1 "
                "ORDER BY gained + lost DESC, seq LIMIT 1"
            ), {"a": account}).scalar_one()
            at = {s.seq: s for s in applied}
            runs = {"diff consecutive": (at[churned - 1], at[churned]), "diff across 3 snapshots": (applied[0], at[churned])}
            for name, (a, b) in runs.items():
                event.listen(engine, "before_cursor_execute", capture)
                try:
                    gained, lost = iter_diff(conn, account, "follower", a, b)
                    n_gained, n_lost = sum(1 for _ in gained), sum(1 for _ in lost)
                finally:
                    event.remove(engine, "before_cursor_execute", capture)
                for part, (statement, params) in zip(("gained", "lost"), captured[-2:]):
                    out.append(_explained(conn, f"{name}, {part} ({n_gained if part == 'gained' else n_lost:,} rows)", statement, params))
            audience = (
                "SELECT count(*) FROM relationships r JOIN profiles p ON p.platform = r.platform AND p.platform_id = r.platform_id "
                "WHERE r.account_id = %(acc)s AND r.kind = 'follower' AND r.until_snapshot_id IS NULL"
            )
            current = "SELECT count(*) FROM relationships WHERE account_id = %(acc)s AND kind = 'follower' AND until_snapshot_id IS NULL"
            for seqscan in ("on", "off"):
                # One account holds every row here, so a sequential scan is right; with seqscan off
                # the plan is the one an account among hundreds gets (its share of the index).
                conn.exec_driver_sql(f"SET enable_seqscan = {seqscan}")
                note = "" if seqscan == "on" else " [enable_seqscan off: the plan for one account of many]"
                out.append(_explained(conn, f"report: an account's current audience with profiles{note}", audience, {"acc": account}))
                out.append(_explained(conn, f"apply: count of current members{note}", current, {"acc": account}))
            conn.exec_driver_sql("RESET enable_seqscan")
            sizes = conn.exec_driver_sql(
                "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relname IN ('relationships', 'pk_relationships', "
                "'uq_relationships_current', 'ix_relationships_until_snapshot_id', 'ix_relationships_since_snapshot_id', "
                "'profiles', 'pk_profiles') ORDER BY 2 DESC"
            ).all()
            out.append("sizes: " + ", ".join(f"{name} {size / 2**20:,.0f} MB" for name, size in sizes))
    finally:
        engine.dispose()
    print(f"  EXPLAIN at {label} (PostgreSQL):")
    for line in out:
        print(f"    {line}")
    return out


def _explained(conn, name: str, statement: str, params) -> str:
    plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {statement}", params).scalar()
    top = plan[0]
    nodes: list[str] = []

    def walk(node: dict) -> None:
        kind = node["Node Type"]
        if node.get("Index Name"):
            kind += f" {node['Index Name']}"
        elif node.get("Relation Name"):
            kind += f" {node['Relation Name']}"
        if "Scan" in kind or "Join" in kind or "Loop" in kind or kind.startswith(("Sort", "Hash", "Aggregate")):
            nodes.append(kind)
        for child in node.get("Plans", []):
            walk(child)

    walk(top["Plan"])
    buffers = top["Plan"].get("Shared Hit Blocks", 0) + top["Plan"].get("Shared Read Blocks", 0)
    return f"{name}: {top['Execution Time'] / 1000:.3f} s, {buffers:,} buffers; " + " > ".join(nodes)


def top_timers(night: dict, k: int = 8) -> list[str]:
    rows = sorted(night["timers"].items(), key=lambda kv: -kv[1]["wall"])
    return [f"{t['wall']:7.2f} s wall {t['cpu']:6.2f} s cpu {t['calls']:5d}x  {label[:120]}" for label, t in rows[:k]]


# ---------------------------------------------------------------------------------------------
# Output


def server_note(night: dict) -> str:
    return "" if night["server_cpu"] is None else f", server {night['server_cpu']:.2f} cpu-s"


def fmt_s(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f} s"


def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if not a or b is None else f"{b / a:.2f}x"


def side_by_side(lite: Backend, pg: Backend) -> None:
    rows = []
    names = ["night 1: N new", "night 2: unchanged", "night 3: 1% churn", "night 4: unchanged"]
    for i, name in enumerate(names):
        a, b = lite.nights[i], pg.nights[i]
        rows.append((f"{name}, import", fmt_s(a["import"]), fmt_s(b["import"]), ratio(a["import"], b["import"])))
        rows.append((f"{name}, whole command", fmt_s(a["wall"]), fmt_s(b["wall"]), ratio(a["wall"], b["wall"])))
        rows.append((f"{name}, CPU (+ server)", fmt_s(a["total_cpu"]), fmt_s(b["total_cpu"]), ratio(a["total_cpu"], b["total_cpu"])))
        rows.append((f"{name}, peak RSS", bi.fmt_mb(a["rss"]), bi.fmt_mb(b["rss"]), ""))
        rows.append((f"{name}, growth", f"{a['growth'] / 1024:,.0f} KB", f"{b['growth'] / 1024:,.0f} KB", ""))
    for label in ("2->3", "1->3"):
        rows.append((f"diff {label} (with start-up)", fmt_s(lite.diffs.get(label)), fmt_s(pg.diffs.get(label)),
                     ratio(lite.diffs.get(label), pg.diffs.get(label))))
    rows.append(("database size after night 4", f"{lite.nights[-1]['size'] / 2**20:,.0f} MB", f"{pg.nights[-1]['size'] / 2**20:,.0f} MB", ""))
    rows.append(("exact (snapshots, diffs)", "PASS" if all(ok for _, ok, _ in lite.checks) else "FAIL",
                 "PASS" if all(ok for _, ok, _ in pg.checks) else "FAIL", ""))
    w = max(len(r[0]) for r in rows)
    print(f"  {'':<{w}}  {'SQLite':>12}  {'PostgreSQL':>12}  {'PG/SQLite':>9}")
    for label, a, b, r in rows:
        print(f"  {label:<{w}}  {a:>12}  {b:>12}  {r:>9}")


# ---------------------------------------------------------------------------------------------


def archives(workdir: Path, n: int, seed: int) -> tuple[list[Path], set[str], set[str]]:
    """The four nights of bench_import.py (the same files: a --workdir shared with it reuses them)."""
    rng = random.Random(seed)
    night1 = bi.random_ids(rng, n)
    night2 = night1[:]
    rng.shuffle(night2)
    churn = n // 100
    gone = set(night1[:churn])
    new = bi.random_ids(rng, churn, exclude=set(night1))
    night3 = [i for i in night2 if i not in gone] + new
    rng.shuffle(night3)
    night4 = night3[:]
    rng.shuffle(night4)
    zips = [workdir / f"x-archive-v{bi.FORMAT}-{n}-s{seed}-night{k}.zip" for k in (1, 2, 3, 4)]
    for path, ids, date in zip(zips, (night1, night2, night3, night4), bi.NIGHT_DATES):
        if not path.exists():
            bi.write_archive(path, ids, date)
    return zips, gone, set(new)


def ten_x(workdir: Path, n: int, seed: int) -> tuple[list[Path], set[str], set[str]]:
    """Nights 1-3 of 10×N followers (3: 1% gone, 1% new), and the gone and new ids."""
    n10 = 10 * n
    zips = [workdir / f"x-archive-v{bi.FORMAT}-{n10}-s{seed + 10}-night{k}.zip" for k in (1, 2, 3)]
    rng = random.Random(seed + 10)
    ids = bi.random_ids(rng, n10)
    if not zips[0].exists():
        bi.write_archive(zips[0], ids, bi.NIGHT_DATES[0])
    night2 = ids[:]
    rng.shuffle(night2)
    if not zips[1].exists():
        bi.write_archive(zips[1], night2, bi.NIGHT_DATES[1])
    churn = n10 // 100
    gone = set(ids[:churn])
    new = bi.random_ids(rng, churn, exclude=set(ids))
    if not zips[2].exists():
        night3 = [i for i in night2 if i not in gone] + new
        rng.shuffle(night3)
        bi.write_archive(zips[2], night3, bi.NIGHT_DATES[2])
    return zips, gone, set(new)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default=DEFAULT_SERVER, metavar="SERVER_URL", help="the PostgreSQL server (a fresh schema is made in it)")
    ap.add_argument("--followers", type=int, default=1_000_000)
    ap.add_argument("--also-10m", action="store_true", help="also night 1 and an unchanged night of 10×N followers (printed only)")
    ap.add_argument("--workdir", type=Path, help="archives and the SQLite databases (default: a temp dir, removed after)")
    ap.add_argument("--audience", default=str(Path(sys.executable).parent / "audience"), help="the audience CLI (for diff)")
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--keep", action="store_true", help="keep the work dir and the PostgreSQL schemas")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                    help="before each measurement wait up to SECONDS for other processes to stop using the CPUs")
    args = ap.parse_args()
    bi.WAIT_IDLE = args.wait_idle
    n = args.followers
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="audience-bench-pg-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AUDIENCE_HOME": str(workdir / "home")}
    env.pop("AUDIENCE_DB", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    state0, stat0 = bi.git_state()
    from sqlalchemy import create_engine, text

    with create_engine(args.db).connect() as conn:
        server = conn.execute(text("SHOW server_version")).scalar_one()
        settings = dict(conn.execute(text(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
            "('shared_buffers', 'work_mem', 'maintenance_work_mem', 'wal_buffers', 'synchronous_commit', 'max_wal_size')"
        )).all())
        superuser = conn.execute(text("SELECT current_setting('is_superuser')")).scalar_one()
    print(f"audience SQLite vs PostgreSQL: {n:,} followers, {os.cpu_count()} cores, SQLite {__import__('sqlite3').sqlite_version}, "
          f"PostgreSQL {server} ({', '.join(f'{k}={v}' for k, v in sorted(settings.items()))}; superuser {superuser})")
    print(f"repo: {bi.REPO}  ({state0})\n{stat0}\nworkdir: {workdir}\n")

    t0 = time.perf_counter()
    zips, gone, new = archives(workdir, n, args.seed)
    print(f"archives ready in {time.perf_counter() - t0:.1f} s: {', '.join(z.name for z in zips)}\n")

    schemas = []
    try:
        lite = sqlite_backend(workdir, "1x")
        pg, schema = pg_backend(args.db)
        schemas.append(schema)
        for backend in (lite, pg):
            for k, archive in enumerate(zips, start=1):
                night = import_night(backend, archive, workdir, env)
                print(f"{backend.name} night {k}: import {fmt_s(night['import'])}, whole command {night['wall']:.2f} s "
                      f"({night['note']}{server_note(night)}; linking after it {fmt_s(night['link'])}), "
                      f"peak RSS {bi.fmt_mb(night['rss'])}, growth {night['growth'] / 1024:,.0f} KB")
                if k == 3:
                    check_and_diff(backend, args.audience, workdir, env, n, gone, new)
            for name, ok, detail in backend.checks:
                print(f"   {'PASS' if ok else 'FAIL'}  {name} ({detail})")
            print(f"   where night 1's time goes ({backend.name}):")
            for line in top_timers(backend.nights[0]):
                print(f"     {line}")
            if backend is pg:
                explain(pg.url, f"{n:,} followers")
            print()

        print(f"Summary ({n:,} followers; 'import' is the snapshot itself, the whole command adds start-up and linking)")
        side_by_side(lite, pg)
        r1 = pg.nights[0]["import"] / lite.nights[0]["import"]
        r2 = pg.nights[1]["import"] / lite.nights[1]["import"]
        print(f"\n  PostgreSQL / SQLite, import of night 1: {r1:.2f}x, of an unchanged night: {r2:.2f}x "
              f"(target <= {TARGET_RATIO:.0f}x: {'met' if max(r1, r2) <= TARGET_RATIO else 'NOT MET'})")
        if pg.nights[0]["server_cpu"] is not None and lite.nights[0]["total_cpu"]:
            c1 = pg.nights[0]["total_cpu"] / lite.nights[0]["total_cpu"]
            c2 = pg.nights[1]["total_cpu"] / lite.nights[1]["total_cpu"]
            print(f"  CPU seconds of the whole command (PostgreSQL: client + server backends): night 1 {c1:.2f}x, "
                  f"unchanged night {c2:.2f}x")

        if args.also_10m:
            n10 = 10 * n
            print(f"\n{n10:,} followers: nights 1 (new), 2 (unchanged), 3 (1% gone, 1% new)")
            big, gone10, new10 = ten_x(workdir, n, args.seed)
            lite10 = sqlite_backend(workdir, "10x")
            pg10, schema10 = pg_backend(args.db)
            schemas.append(schema10)
            for backend in (lite10, pg10):
                for k, archive in enumerate(big, start=1):
                    night = import_night(backend, archive, workdir, env)
                    print(f"  {backend.name} night {k}: import {fmt_s(night['import'])}, whole command {night['wall']:.2f} s "
                          f"({night['note']}{server_note(night)}; linking {fmt_s(night['link'])}), peak RSS {bi.fmt_mb(night['rss'])}, "
                          f"growth {night['growth'] / 2**20:,.0f} MB, size {night['size'] / 2**20:,.0f} MB")
                check_and_diff(backend, args.audience, workdir, env, n10, gone10, new10)
                for name, ok, detail in backend.checks:
                    print(f"   {'PASS' if ok else 'FAIL'}  {name} ({detail})")
                for label in ("2->3", "1->3"):
                    print(f"   diff {label} (with start-up): {fmt_s(backend.diffs.get(label))}")
                for line in top_timers(backend.nights[0], 6):
                    print(f"     {line}")
                if backend is pg10:
                    explain(pg10.url, f"{n10:,} followers")
                if backend is lite10 and not args.keep:
                    for p in workdir.glob("pg-bench-10x.db*"):
                        p.unlink()
            for k in range(3):
                a, b = lite10.nights[k]["import"], pg10.nights[k]["import"]
                print(f"  night {k + 1} import PostgreSQL / SQLite: {ratio(a, b)}")
    finally:
        if not args.keep:
            for schema in schemas:
                drop_schema(args.db, schema)
    busy = [(c, o, w) for c, o, w in bi.CONTENTION if o > 0.25 * w]
    if busy:
        print("\nWARNING: other processes used the CPUs during these measurements (wall times are inflated; "
              "for PostgreSQL this includes the server's own work, which is expected):")
        for c, o, w in busy:
            print(f"  {c}: {o:.1f} cpu-s of others during {w:.1f} s")
    state1, _ = bi.git_state()
    if state1 != state0:
        print(f"\nWARNING: the working tree changed during the run ({state0} -> {state1}); figures are mixed.")
    if args.workdir is None and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
