"""Benchmark of SPEC §12 (P1–P4) on synthetic X archives in the real format.

Prints figures; asserts nothing about time. The only PASS/FAIL lines are correctness checks
(P3: snapshot counts and diff sets must be exact).

    /work/venv/bin/python tests/benchmarks/bench_import.py [--followers 1000000] [--also-5m]
        [--workdir DIR] [--twitter-to-sqlite PATH] [--audience PATH] [--keep]

What it does (see README.md in this folder):

1. Writes three nightly archives of one account `bench` (zip: data/manifest.js, data/account.js,
   data/follower.js): night 1 with N random 18–19 digit ids; night 2 with the same members in
   another order and a later generationDate (other bytes, same membership); night 3 with 1% of
   night 1 gone and 1% new.
2. Runs `audience --db FRESH.db import ZIP` as a child process under `/usr/bin/time -v` (or a
   getrusage wrapper) for wall time and peak RSS, next to a bare stdlib sqlite3 executemany of
   the same rows (parsed with ijson from the same zip member) and twitter-to-sqlite's `import`.
3. Prints the figures, the exactness checks and a table against the targets.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HANDLE = "bench"
ACCOUNT_ID = "1480000000000000042"
ACCOUNT_REF = f"x:{HANDLE}"
INTENT = "https://twitter.com/intent/user?user_id="
NIGHT_DATES = (
    "2026-01-01T06:00:00.000Z", "2026-01-02T06:00:00.000Z", "2026-01-03T06:00:00.000Z", "2026-01-04T06:00:00.000Z",
)
TIME_BIN = "/usr/bin/time"
CHUNK = 10_000  # entries per write() while generating
FORMAT = 2  # in the archive file names: bump when the generator changes, so kept archives are not reused

TARGETS = {
    "p1_seconds": 12.0,
    "p1_vs_bare": 1.6,
    "p1_vs_t2s": 5.0,
    "p2_mb": 150.0,
    "p2_5m_extra_mb": 50.0,
    "p3_unchanged_kb": 64.0,
    "p4_diff_seconds": 2.0,
}


# ---------------------------------------------------------------------------------------------
# Archives


def random_ids(rng: random.Random, n: int, exclude: set[str] = frozenset()) -> list[str]:
    """n distinct decimal ids of 18 or 19 digits (as X's snowflake ids are today).

    Deterministic for a seed (a dict keeps insertion order; a set's order changes with the
    per-process string hash seed): archives kept in --workdir are reused by later runs, which
    recompute the expected diff from the seed.
    """
    out: dict[str, None] = {}
    lo, hi = 10**17, 10**19 - 1
    while len(out) < n:
        for _ in range(n - len(out)):
            s = str(rng.randint(lo, hi))
            if s not in exclude:
                out[s] = None
    return list(out)


def _manifest(n: int, generation_date: str, follower_bytes: int) -> str:
    config = {
        "userInfo": {"accountId": ACCOUNT_ID, "userName": HANDLE, "displayName": "Bench"},
        "archiveInfo": {
            "sizeBytes": str(follower_bytes + 4096),
            "generationDate": generation_date,
            "isPartialArchive": False,
            "maxPartSizeBytes": "53687091200",
        },
        "readmeInfo": {"fileName": "data/README.txt", "directory": "data/", "name": "README.txt"},
        "dataTypes": {
            "account": {"files": [{"fileName": "data/account.js", "globalName": "YTD.account.part0", "count": "1"}]},
            "follower": {"files": [{"fileName": "data/follower.js", "globalName": "YTD.follower.part0", "count": str(n)}]},
            "following": {"files": []},
        },
    }
    return "window.__THAR_CONFIG = " + json.dumps(config, indent=2, separators=(",", " : ")) + "\n"


def _account_js() -> str:
    account = [{"account": {
        "email": "bench@example.org", "createdVia": "web", "username": HANDLE, "accountId": ACCOUNT_ID,
        "createdAt": "2015-01-01T00:00:00.000Z", "accountDisplayName": "Bench",
    }}]
    return "window.YTD.account.part0 = " + json.dumps(account, indent=2, separators=(",", " : ")) + "\n"


def _entry(pid: str) -> str:
    return (
        '  {\n    "follower" : {\n      "accountId" : "' + pid + '",\n'
        '      "userLink" : "' + INTENT + pid + '"\n    }\n  }'
    )


def write_archive(path: Path, ids: list[str], generation_date: str) -> float:
    """Write an X archive zip; follower.js is streamed into the zip. Returns seconds taken."""
    t0 = time.perf_counter()
    tmp = path.with_suffix(".zip.tmp")
    follower_bytes = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("data/follower.js", "w", force_zip64=True) as fh:
            head = b"window.YTD.follower.part0 = [\n"
            fh.write(head)
            follower_bytes += len(head)
            for i in range(0, len(ids), CHUNK):
                part = ",\n".join(_entry(pid) for pid in ids[i:i + CHUNK])
                data = (part if i == 0 else ",\n" + part).encode("ascii")
                fh.write(data)
                follower_bytes += len(data)
            fh.write(b"\n]")
            follower_bytes += 2
        zf.writestr("data/account.js", _account_js())
        zf.writestr("data/manifest.js", _manifest(len(ids), generation_date, follower_bytes))
    tmp.replace(path)
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------
# Measuring child processes


class Run:
    def __init__(self, argv: list[str], seconds: float, rss_kb: int | None, code: int, stdout: str, stderr: str,
                 cpu: float | None = None):
        self.argv, self.seconds, self.rss_kb, self.code, self.stdout, self.stderr = argv, seconds, rss_kb, code, stdout, stderr
        self.cpu = cpu  # user + system seconds of the child
        self.others: float | None = None  # CPU seconds used by other processes meanwhile

    @property
    def cpu_note(self) -> str:
        cpu = "cpu n/a" if self.cpu is None else f"cpu {self.cpu:.2f} s"
        return cpu if self.others is None else f"{cpu}, other processes {self.others:.1f} cpu-s"

    @property
    def rss_mb(self) -> float | None:
        return None if self.rss_kb is None else self.rss_kb / 1024

    def check(self) -> "Run":
        if self.code != 0:
            sys.stderr.write(f"command failed ({self.code}): {' '.join(self.argv)}\n{self.stdout}\n{self.stderr}\n")
            raise SystemExit(1)
        return self


_RUSAGE_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(f'{u.ru_maxrss} {u.ru_utime + u.ru_stime}')\n"
    "sys.exit(code)\n"
)


WAIT_IDLE = 0.0  # --wait-idle: seconds to wait, before each measurement, for the other processes to calm down


def wait_idle(limit: float, threshold: float = 0.25, window: float = 2.0) -> None:
    """Wait (at most `limit` s) until other processes use less than `threshold` of a core."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        b0 = busy_cpu_seconds()
        if b0 is None:
            return
        time.sleep(window)
        if (busy_cpu_seconds() - b0) / window < threshold:
            return


def measure(argv: list[str], workdir: Path, env: dict | None = None) -> Run:
    """Wall time, CPU time and peak RSS (of the child, KB) of one command, in a fresh child."""
    if WAIT_IDLE:
        wait_idle(WAIT_IDLE)
    fd, stats = tempfile.mkstemp(dir=workdir, suffix=".rusage")
    os.close(fd)
    if os.access(TIME_BIN, os.X_OK):
        full = [TIME_BIN, "-v", "-o", stats, *argv]
    else:
        full = [sys.executable, "-c", _RUSAGE_WRAPPER, stats, *argv]
    busy0 = busy_cpu_seconds()
    t0 = time.perf_counter()
    proc = subprocess.run(full, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    busy1 = busy_cpu_seconds()
    text = Path(stats).read_text(errors="replace")
    os.unlink(stats)
    rss = cpu = None
    if full[0] == TIME_BIN:
        for line in text.splitlines():
            if "Maximum resident set size" in line:
                rss = int(line.rsplit(":", 1)[1])
            elif "User time (seconds)" in line or "System time (seconds)" in line:
                cpu = (cpu or 0.0) + float(line.rsplit(":", 1)[1])
    elif text.strip():
        rss_text, cpu_text = text.split()
        rss, cpu = int(rss_text), float(cpu_text)
    run = Run(argv, seconds, rss, proc.returncode, proc.stdout, proc.stderr, cpu)
    if busy0 is not None and busy1 is not None and cpu is not None:
        run.others = max(0.0, busy1 - busy0 - cpu)
        CONTENTION.append((" ".join(Path(a).name for a in argv[:4]), run.others, seconds))
    return run


CONTENTION: list[tuple[str, float, float]] = []  # (command, others' cpu-s, wall s) of every measurement


def busy_cpu_seconds() -> float | None:
    """CPU seconds all processes on the machine have used since boot (Linux /proc/stat)."""
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())


def db_pages(db: Path) -> tuple[int, int]:
    """(page_count, freelist_count) of a database no one is writing: where growth went."""
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("PRAGMA page_count").fetchone()[0], con.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        con.close()


def growth_note(before: tuple[int, int], after: tuple[int, int]) -> str:
    return (f"{after[0] - before[0]:+,} pages, of which {after[1] - before[1]:+,} on the freelist; "
            f"now {after[0]:,} pages, {after[1]:,} free")


# ---------------------------------------------------------------------------------------------
# The bare sqlite3 baseline (runs in a child: `bench_import.py --_bare ZIP DB`)


def bare_child(zip_path: str, db_path: str, cache_kib: int) -> None:
    import sqlite3

    import ijson

    from backup.importers.x_archive import _Chained  # the same "skip to =" stream adapter

    t0 = time.perf_counter()
    rows = []
    with zipfile.ZipFile(zip_path) as zf, zf.open("data/follower.js") as fh:
        head = fh.read(4096)
        rest = _Chained(head[head.index(b"=") + 1:], fh)
        for item in ijson.items(rest, "item"):
            f = item["follower"]
            rows.append((1, f["accountId"], f["userLink"]))
    t1 = time.perf_counter()
    con = sqlite3.connect(db_path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    if cache_kib:
        con.execute(f"PRAGMA cache_size=-{cache_kib}")
    con.execute(
        "CREATE TABLE followers (account_id INTEGER NOT NULL, follower_id TEXT NOT NULL, url TEXT, "
        "PRIMARY KEY (account_id, follower_id))"
    )
    t2 = time.perf_counter()
    con.execute("BEGIN")
    con.executemany("INSERT INTO followers (account_id, follower_id, url) VALUES (?, ?, ?)", rows)
    con.execute("COMMIT")
    t3 = time.perf_counter()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    t4 = time.perf_counter()
    print(json.dumps({"rows": len(rows), "parse": t1 - t0, "insert": t3 - t2, "checkpoint": t4 - t3}))


# ---------------------------------------------------------------------------------------------
# Helpers


def git_state() -> tuple[str, str]:
    stat = subprocess.run(["git", "-C", str(REPO), "diff", "--stat"], capture_output=True, text=True).stdout.strip()
    full = subprocess.run(["git", "-C", str(REPO), "diff"], capture_output=True).stdout
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return f"HEAD {head}, diff sha256 {hashlib.sha256(full).hexdigest()[:12]}", stat or "(clean)"


def fmt_mb(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f} MB"


def mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT MET")


def find_t2s(arg: str | None) -> str | None:
    if arg:
        return arg
    default = "/tmp/t2s-venv/bin/twitter-to-sqlite"
    return default if os.access(default, os.X_OK) else None


def audience_json(audience: str, db: Path, *args: str):
    proc = subprocess.run([audience, "--db", str(db), *args, "--json"], capture_output=True, text=True)
    if proc.returncode != 0:
        return None, proc
    return json.loads(proc.stdout), proc


# ---------------------------------------------------------------------------------------------
# Main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--followers", type=int, default=1_000_000)
    ap.add_argument("--also-5m", action="store_true", help="also import a 5,000,000-follower archive (P2 flatness)")
    ap.add_argument("--workdir", type=Path, help="where archives and databases go (default: a temp dir, removed after)")
    ap.add_argument("--twitter-to-sqlite", dest="t2s", help="path of twitter-to-sqlite (default: /tmp/t2s-venv/bin/twitter-to-sqlite if present)")
    ap.add_argument("--audience", default=str(Path(sys.executable).parent / "audience"), help="the audience CLI to measure")
    ap.add_argument("--seed", type=int, default=20260101)
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                    help="before each measurement wait up to SECONDS for other processes to stop using the CPUs")
    ap.add_argument("--_bare", nargs=3, metavar=("ZIP", "DB", "CACHE_KIB"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._bare:
        bare_child(args._bare[0], args._bare[1], int(args._bare[2]))
        return 0

    global WAIT_IDLE
    WAIT_IDLE = args.wait_idle
    n = args.followers
    churn = n // 100
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="audience-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    audience = args.audience
    env = {**os.environ, "AUDIENCE_HOME": str(workdir / "home")}
    env.pop("AUDIENCE_DB", None)
    # Measure audience as installed: pip compiles its modules, but an editable checkout under
    # PYTHONDONTWRITEBYTECODE=1 would recompile them on every start (+0.4 s per command).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    results: dict = {}
    state0, stat0 = git_state()
    print(f"audience benchmark: {n:,} followers, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"SQLite {__import__('sqlite3').sqlite_version}")
    print(f"repo: {REPO}  ({state0})\n{stat0}")
    print(f"workdir: {workdir}\n")

    # -- archives -----------------------------------------------------------------------------
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    night1 = random_ids(rng, n)
    night2 = night1[:]
    rng.shuffle(night2)
    gone = set(night1[:churn])
    new = random_ids(rng, churn, exclude=set(night1))
    night3 = [i for i in night2 if i not in gone] + new
    rng.shuffle(night3)
    night4 = night3[:]  # unchanged again, after a night with churn
    rng.shuffle(night4)
    zips = [workdir / f"x-archive-v{FORMAT}-{n}-s{args.seed}-night{k}.zip" for k in (1, 2, 3, 4)]
    for path, ids, date in zip(zips, (night1, night2, night3, night4), NIGHT_DATES):
        if not path.exists():
            write_archive(path, ids, date)
    del night2, night3, night4
    print(f"archives written in {time.perf_counter() - t0:.1f} s: "
          + ", ".join(f"{p.name} {p.stat().st_size / 2**20:.0f} MB" for p in zips))
    with zipfile.ZipFile(zips[0]) as zf:
        print(f"  follower.js uncompressed: {zf.getinfo('data/follower.js').file_size / 2**20:.0f} MB\n")

    startup = measure([audience, "--version"], workdir, env).check()
    print(f"audience --version (interpreter + import startup): {startup.seconds:.2f} s, {fmt_mb(startup.rss_mb)} "
          f"({startup.cpu_note})\n")

    # -- P1 / P2: night 1 into a fresh database --------------------------------------------------
    db = workdir / "audience.db"
    for p in workdir.glob("audience.db*"):
        p.unlink()
    r1 = measure([audience, "--db", str(db), "import", str(zips[0])], workdir, env).check()
    size1 = db_bytes(db)
    pages1 = db_pages(db)
    results["p1"] = r1.seconds
    results["p1_cpu"] = r1.cpu or float("nan")
    results["p2"] = r1.rss_mb
    print(f"P1 audience import night 1: {r1.seconds:.2f} s ({r1.cpu_note}), peak RSS {fmt_mb(r1.rss_mb)}, "
          f"db {size1 / 2**20:.1f} MB ({size1 / n:.0f} B/follower; {pages1[0]:,} pages, {pages1[1]:,} of them free)")
    print("   " + r1.stdout.strip().replace("\n", "\n   "))

    bare = {}
    for label, cache in (("bare", 0), ("bare+16MiB cache", 16 * 1024)):
        bdb = workdir / f"bare-{cache}.db"
        for p in workdir.glob(f"bare-{cache}.db*"):
            p.unlink()
        rb = measure([sys.executable, __file__, "--_bare", str(zips[0]), str(bdb), str(cache)], workdir).check()
        fig = json.loads(rb.stdout)
        fig.update(wall=rb.seconds, rss=rb.rss_mb, size=db_bytes(bdb))
        bare[label] = fig
        print(f"P1 {label} sqlite3 (cache {'default' if not cache else f'{cache // 1024} MiB'}): "
              f"ijson parse {fig['parse']:.2f} s + executemany {fig['insert']:.2f} s "
              f"= {fig['parse'] + fig['insert']:.2f} s (child wall {fig['wall']:.2f} s, {rb.cpu_note}, peak RSS {fmt_mb(fig['rss'])}, "
              f"db {fig['size'] / 2**20:.1f} MB)")
    b = bare["bare"]
    results["vs_bare_insert"] = r1.seconds / b["insert"]
    results["vs_bare_total"] = r1.seconds / (b["parse"] + b["insert"])
    print(f"   ratio audience / bare: {results['vs_bare_insert']:.2f}x (insert only), "
          f"{results['vs_bare_total']:.2f}x (parse + insert), {r1.seconds / b['wall']:.2f}x (whole child process "
          f"vs whole child process)")

    t2s = find_t2s(args.t2s)
    results["t2s"] = None
    if t2s:
        tdb = workdir / "t2s.db"
        for p in workdir.glob("t2s.db*"):
            p.unlink()
        rt = measure([t2s, "import", str(tdb), str(zips[0])], workdir)
        if rt.code == 0:
            results["t2s"] = rt.seconds
            results["t2s_rss"] = rt.rss_mb
            print(f"P1 twitter-to-sqlite import: {rt.seconds:.2f} s ({rt.cpu_note}), peak RSS {fmt_mb(rt.rss_mb)}, "
                  f"db {db_bytes(tdb) / 2**20:.1f} MB; speed ratio t2s / audience {rt.seconds / r1.seconds:.2f}x")
        else:
            print(f"P1 twitter-to-sqlite failed ({rt.code}): {rt.stderr.strip()[-500:]}")
        for p in workdir.glob("t2s.db*"):
            p.unlink()
    else:
        print("P1 twitter-to-sqlite: not found (pass --twitter-to-sqlite PATH, "
              "or: python3 -m venv /tmp/t2s-venv && /tmp/t2s-venv/bin/pip install twitter-to-sqlite)")
    print()

    # -- P3: unchanged night, 1% churn night ---------------------------------------------------
    def import_night(archive):
        """Import one night's archive; the measurement, then the database's size in bytes and pages."""
        result = measure([audience, "--db", str(db), "import", str(archive)], workdir, env).check()
        return result, db_bytes(db), db_pages(db)

    r2, size2, pages2 = import_night(zips[1])
    results["p3_unchanged_kb"] = (size2 - size1) / 1024
    print(f"P3 night 2 (same members, other order): import {r2.seconds:.2f} s ({r2.cpu_note}), peak RSS {fmt_mb(r2.rss_mb)}, "
          f"db growth {(size2 - size1) / 1024:.1f} KB ({growth_note(pages1, pages2)})")
    print("   " + r2.stdout.strip().replace("\n", "\n   "))
    r3, size3, pages3 = import_night(zips[2])
    results["p3_churn_kb"] = (size3 - size2) / 1024
    print(f"P3 night 3 (1% left, 1% new = {churn:,} + {churn:,}): import {r3.seconds:.2f} s ({r3.cpu_note}), peak RSS {fmt_mb(r3.rss_mb)}, "
          f"db growth {(size3 - size2) / 1024:.1f} KB ({(size3 - size2) / (2 * churn):.0f} B per changed follower; "
          f"night-1 db was {size1 / n:.0f} B per follower; {growth_note(pages2, pages3)})")
    print("   " + r3.stdout.strip().replace("\n", "\n   "))

    checks: list[tuple[str, bool, str]] = []
    snaps, proc = audience_json(audience, db, "snapshots", ACCOUNT_REF)
    if snaps is None:
        checks.append(("snapshots --json", False, proc.stderr.strip()))
    else:
        fol = [s for s in snaps if s["kind"] == "follower"]
        want = [("complete", n, None, None), ("complete", n, 0, 0), ("complete", n, churn, churn)]
        got = [(s["status"], s["count"], s["gained"], s["lost"]) for s in fol]
        # night 1 may report gained = n (or None); only its status and count are checked
        ok = len(got) == 3 and got[0][:2] == want[0][:2] and got[1:] == want[1:]
        checks.append(("snapshots --json: 3 complete follower snapshots; night 2 gained=lost=0; "
                       f"night 3 gained=lost={churn:,}", ok, f"got (status, count, gained, lost) {got}"))

    gone_set, new_set = gone, set(new)
    timed_diffs = {}
    for label, extra in (("2->3", []), ("1->3", ["--since", NIGHT_DATES[0]])):
        argv = [audience, "--db", str(db), "diff", ACCOUNT_REF, *extra, "--json"]
        rd = measure(argv, workdir, env)
        timed_diffs[label] = rd
        if rd.code != 0:
            checks.append((f"diff {label} --json", False, rd.stderr.strip()))
            continue
        doc = json.loads(rd.stdout)
        g = {p["platform_id"] for p in doc["gained"]}
        lo = {p["platform_id"] for p in doc["lost"]}
        ok = g == new_set and lo == gone_set and len(doc["gained"]) == churn and len(doc["lost"]) == churn
        checks.append((f"diff {label} --json: gained == the {churn:,} new ids, lost == the {churn:,} gone ids", ok,
                       f"gained {len(doc['gained']):,} (missing {len(new_set - g)}, extra {len(g - new_set)}), "
                       f"lost {len(doc['lost']):,} (missing {len(gone_set - lo)}, extra {len(lo - gone_set)}); "
                       f"snapshots {doc['from_snapshot']} -> {doc['to_snapshot']}"))
    for name, ok, detail in checks:
        print(f"   {'PASS' if ok else 'FAIL'}  {name}\n         {detail}")
    results["exact"] = all(ok for _, ok, _ in checks)
    print()

    # -- P4 ---------------------------------------------------------------------------------------
    for label, rd in timed_diffs.items():
        if rd.code == 0:
            print(f"P4 diff {label} ({'consecutive' if label == '2->3' else '--since night 1'}): "
                  f"{rd.seconds:.2f} s wall ({rd.cpu_note}; incl. ~{startup.seconds:.2f} s startup), peak RSS {fmt_mb(rd.rss_mb)}, "
                  f"stdout {len(rd.stdout) / 2**20:.1f} MB")
    results["p4"] = {k: (v.seconds if v.code == 0 else None) for k, v in timed_diffs.items()}
    print("P4 export csv: not implemented yet\n")

    # -- P3 again: an unchanged night after the churn night (is the growth a one-off?) -------------
    r4, size4, pages4 = import_night(zips[3])
    results["p3_unchanged_again_kb"] = (size4 - size3) / 1024
    print(f"P3 night 4 (night 3's members, other order): import {r4.seconds:.2f} s ({r4.cpu_note}), "
          f"peak RSS {fmt_mb(r4.rss_mb)}, db growth {(size4 - size3) / 1024:.1f} KB ({growth_note(pages3, pages4)})")
    print("   " + r4.stdout.strip().replace("\n", "\n   ") + "\n")

    # -- P2 at 5M ---------------------------------------------------------------------------------
    results["p2_5m"] = None
    if args.also_5m:
        n5 = 5 * n
        z5 = workdir / f"x-archive-v{FORMAT}-{n5}-s{args.seed + 5}.zip"
        if not z5.exists():
            ids5 = random_ids(random.Random(args.seed + 5), n5)
            t5 = write_archive(z5, ids5, NIGHT_DATES[0])
            del ids5
            print(f"archive of {n5:,} followers written in {t5:.1f} s ({z5.stat().st_size / 2**20:.0f} MB)")
        db5 = workdir / "audience-5x.db"
        for p in workdir.glob("audience-5x.db*"):
            p.unlink()
        r5 = measure([audience, "--db", str(db5), "import", str(z5)], workdir, env).check()
        results["p2_5m"] = r5.rss_mb
        print(f"P2 audience import of {n5:,}: {r5.seconds:.2f} s ({r5.cpu_note}), peak RSS {fmt_mb(r5.rss_mb)} "
              f"({r5.rss_mb - r1.rss_mb:+.0f} MB vs {n:,}), db {db_bytes(db5) / 2**20:.1f} MB\n")
        for p in workdir.glob("audience-5x.db*"):
            p.unlink()

    # -- summary ----------------------------------------------------------------------------------
    T = TARGETS
    rows = [
        ("P1 import time", f"{results['p1']:.2f} s (cpu {results['p1_cpu']:.1f})", f"<= {T['p1_seconds']:.0f} s", results["p1"] <= T["p1_seconds"]),
        ("P1 vs bare (insert only)", f"{results['vs_bare_insert']:.2f}x", f"<= {T['p1_vs_bare']}x",
         results["vs_bare_insert"] <= T["p1_vs_bare"]),
        ("P1 vs bare (parse+insert)", f"{results['vs_bare_total']:.2f}x", f"<= {T['p1_vs_bare']}x",
         results["vs_bare_total"] <= T["p1_vs_bare"]),
        ("P1 speed vs twitter-to-sqlite",
         "n/a" if results["t2s"] is None else f"{results['t2s'] / results['p1']:.2f}x faster",
         f">= {T['p1_vs_t2s']:.0f}x", None if results["t2s"] is None else results["t2s"] / results["p1"] >= T["p1_vs_t2s"]),
        ("P2 peak RSS (N)", fmt_mb(results["p2"]), f"<= {T['p2_mb']:.0f} MB",
         None if results["p2"] is None else results["p2"] <= T["p2_mb"]),
        ("P2 5N - N peak RSS",
         "n/a (--also-5m)" if results["p2_5m"] is None else f"{results['p2_5m'] - results['p2']:+.0f} MB",
         f"<= +{T['p2_5m_extra_mb']:.0f} MB",
         None if results["p2_5m"] is None else results["p2_5m"] - results["p2"] <= T["p2_5m_extra_mb"]),
        ("P3 growth, unchanged night", f"{results['p3_unchanged_kb']:.1f} KB", f"<= {T['p3_unchanged_kb']:.0f} KB",
         results["p3_unchanged_kb"] <= T["p3_unchanged_kb"]),
        ("P3 growth, unchanged night 4", f"{results['p3_unchanged_again_kb']:.1f} KB", f"<= {T['p3_unchanged_kb']:.0f} KB",
         results["p3_unchanged_again_kb"] <= T["p3_unchanged_kb"]),
        ("P3 growth, 1% churn", f"{results['p3_churn_kb']:.0f} KB", "proportional", None),
        ("P3 snapshots/diff exact", "PASS" if results["exact"] else "FAIL", "exact", results["exact"]),
    ]
    for label, secs in results["p4"].items():
        rows.append((f"P4 diff {label}", "failed" if secs is None else f"{secs:.2f} s", f"<= {T['p4_diff_seconds']:.0f} s",
                     None if secs is None else secs <= T["p4_diff_seconds"]))
    rows.append(("P4 export csv", "not implemented yet", "<= 15 s", None))
    print(f"Summary ({n:,} followers)")
    w = max(len(r[0]) for r in rows)
    for label, value, target, ok in rows:
        print(f"  {label:<{w}}  {value:>20}  {target:>14}  {mark(ok)}")

    busy = [(c, o, w) for c, o, w in CONTENTION if o > 0.25 * w]
    if busy:
        print("\nWARNING: other processes used the CPUs during these measurements (wall times are inflated; "
              "cpu times are the steadier figure):")
        for c, o, w in busy:
            print(f"  {c}: {o:.1f} cpu-s of others during {w:.1f} s")
    state1, _ = git_state()
    if state1 != state0:
        print(f"\nWARNING: the working tree changed during the run ({state0} -> {state1}); figures are mixed.")
    if args.workdir is None and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
