"""kill -9 at any moment (reliability checks A.1, A.2; SPEC §5.2, §5.3, §5.6, §10).

Real subprocesses are killed with SIGKILL, either by themselves at a fault point
(`AUDIENCE_FAULT=name[:n]`, see `backup/faults.py`) or by this test after a random delay.
After every kill:

- `audience db verify` exits 0 (integrity_check, foreign keys, domain invariants);
- the database is exactly as before the run or exactly as after a complete run, never a
  mix: the previous complete snapshot, the relationships (SHA-256 of the sorted platform ids
  of current followers, and of every relationship row) and the profiles are compared;
- the next run completes with the exact gains and losses (or says "already imported" when
  the killed run had committed).

Imports (one transaction per PATH) use a 50,000-follower X archive file; the API engine
(`run_api_snapshot`, one transaction per page) is driven by a small script with a
deterministic fake platform of 20 pages, which logs every cursor it is asked for, so the test
can check that the resumed run starts at the first page not yet saved.

SQLite only: the kill tests are about SQLite's WAL recovery and our transaction boundaries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backup.db.engine import make_engine
from backup.db.maintenance import verify
from backup.snapshot import END_OF_PAGES, recover_interrupted

pytestmark = pytest.mark.slow

KILLED = -signal.SIGKILL
TIMEOUT = 120  # seconds; a hung subprocess fails the test instead of hanging the suite

# Imports: night 1, then night 2 with 1% gone and 1% new. 50,000 records are three staging
# batches of INGEST_BATCH (20,000), so "staged:1" and "staged:3" are the first and last batch.
FOLLOWERS = 50_000
CHURN = FOLLOWERS // 100
NIGHT1_AS_OF = "2024-05-01"
NIGHT2_AS_OF = "2024-05-02"
RANDOM_SEEDS = range(5)

# API: 20 pages of 500 profiles; night 2 replaces 100 of them (see DRIVER).
API_PAGES = 20
API_PER_PAGE = 500
API_CHURN = 100
API_RANDOM_SEEDS = range(3)
API_RANDOM_DELAY = 0.03  # seconds per page in the random-kill runs, so kills land between pages too


# ---------------------------------------------------------------------------------------------
# Subprocesses


def _env(home: Path, fault: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AUDIENCE_FAULT", "AUDIENCE_DB", "AUDIENCE_HOME")}
    env["AUDIENCE_HOME"] = str(home)
    if fault:
        env["AUDIENCE_FAULT"] = fault
    return env


def _cli_args(db: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "backup", "--db", str(db), *map(str, args)]


def cli(db: Path, *args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        _cli_args(db, *args), env=_env(db.parent / "home", fault), cwd=db.parent,
        capture_output=True, text=True, timeout=TIMEOUT,
    )


def _output(proc: subprocess.CompletedProcess | subprocess.Popen, out: str = "", err: str = "") -> str:
    out = out or getattr(proc, "stdout", "") or ""
    err = err or getattr(proc, "stderr", "") or ""
    return f"exit {proc.returncode}\n--- stdout\n{out[-3000:]}\n--- stderr\n{err[-3000:]}"


def assert_verify_clean(db: Path) -> None:
    """`audience db verify` in its own process, as a user would run it after a crash."""
    result = cli(db, "db", "verify", "--json")
    assert result.returncode == 0, _output(result)
    report = json.loads(result.stdout)
    assert report["ok"] and not report["problems"], report


def assert_verify_clean_in_process(db: Path) -> None:
    engine = make_engine(f"sqlite:///{db}")
    try:
        report = verify(engine)
    finally:
        engine.dispose()
    assert report.ok, report.problems


def stratified_delay(seed: int, strata: int, duration: float) -> float:
    """A random time in [0, duration), seed k drawn from the k-th of `strata` equal slices.

    Plain uniform draws with 5 seeds often all land in the interpreter's start-up; slices
    spread the kills over start-up, staging, completion and COMMIT.
    """
    k = seed % strata
    return random.Random(seed).uniform(k * duration / strata, (k + 1) * duration / strata)


def copy_db(source: Path, target_dir: Path) -> Path:
    """A consistent copy (SQLite online backup API) of a database no process has open."""
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / "audience.db"
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    os.chmod(target, 0o600)
    return target


# ---------------------------------------------------------------------------------------------
# What the database holds


@dataclasses.dataclass(frozen=True)
class DbState:
    """Everything a run could change, reduced to comparable values."""

    snapshots: tuple  # (id, kind, source, status, seq, count, gained, lost, received, pages, cursor, content_hash)
    current_sha: str  # SHA-256 of the sorted platform ids of current followers
    current_count: int
    relationships_sha: str  # every relationship row, open and closed
    profiles_sha: str
    staging: tuple  # (snapshot_id, rows) of snapshot_items

    def complete(self) -> list[tuple]:
        return [s for s in self.snapshots if s[3] == "complete"]


def _sha(rows) -> str:
    h = hashlib.sha256()
    for row in rows:
        h.update(repr(tuple(row)).encode())
        h.update(b"\n")
    return h.hexdigest()


def kill_after(proc: subprocess.Popen, delay: float, started=None) -> tuple[str, str]:
    """SIGKILL `proc` `delay` seconds after it started (or after `started()` turns true); its output."""
    try:
        deadline = time.monotonic() + TIMEOUT
        while started is not None and not started() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        return proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def db_state(db: Path) -> DbState:
    con = sqlite3.connect(db)
    try:
        snapshots = tuple(con.execute(
            "SELECT id, kind, source, status, seq, count, gained, lost, received, pages, cursor, content_hash "
            "FROM snapshots ORDER BY id"
        ))
        current = sorted(r[0] for r in con.execute(
            "SELECT r.platform_id FROM relationships r "
            "JOIN accounts a ON a.id = r.account_id "
            "WHERE a.platform = 'x' AND a.handle = 'ana' AND r.kind = 'follower' AND r.until_snapshot_id IS NULL"
        ))
        relationships = con.execute(
            "SELECT account_id, kind, platform_id, since_snapshot_id, until_snapshot_id, platform "
            "FROM relationships ORDER BY account_id, kind, platform_id, since_snapshot_id"
        )
        relationships_sha = _sha(relationships)
        profiles_sha = _sha(con.execute(
            "SELECT platform, platform_id, handle, display_name, url, followers_count, following_count, data "
            "FROM profiles ORDER BY platform, platform_id"
        ))
        staging = tuple(con.execute("SELECT snapshot_id, COUNT(*) FROM snapshot_items GROUP BY snapshot_id ORDER BY 1"))
    finally:
        con.close()
    current_sha = hashlib.sha256("\n".join(current).encode()).hexdigest()
    return DbState(snapshots, current_sha, len(current), relationships_sha, profiles_sha, staging)


def snapshots_json(db: Path) -> list[dict]:
    result = cli(db, "snapshots", "--json")
    assert result.returncode == 0, _output(result)
    return json.loads(result.stdout)


def _summary(rows: list[dict]) -> list[tuple]:
    return [(r["id"], r["kind"], r["status"], r["count"], r["gained"], r["lost"], r["as_of"]) for r in rows]


# ---------------------------------------------------------------------------------------------
# Import crash tests


def write_x_follower_file(path: Path, ids: list[str]) -> None:
    """An X archive `follower.js` exactly as X writes it (pretty-printed JavaScript)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = (
        '  {{\n    "follower" : {{\n      "accountId" : "{0}",\n'
        '      "userLink" : "https://twitter.com/intent/user?user_id={0}"\n    }}\n  }}'
    )
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("window.YTD.follower.part0 = [\n")
        fh.write(",\n".join(entry.format(i) for i in ids))
        fh.write("\n]")


@dataclasses.dataclass
class ImportWorld:
    root: Path
    night1: Path
    night2: Path
    base_db: Path  # night 1 imported; never opened by a test directly, only copied
    before: DbState  # the state of base_db
    after: DbState  # the state after an uninterrupted night-2 import
    after_rows: list[tuple]  # `snapshots --json` after it (without timestamps)
    duration: float  # seconds of an uninterrupted night-2 import subprocess

    def fresh_db(self, name: str) -> Path:
        return copy_db(self.base_db, self.root / name)


def import_night2(night2: Path, db: Path, *, fault: str | None = None) -> subprocess.CompletedProcess:
    return cli(db, "import", night2, "--account", "x:ana", "--as-of", NIGHT2_AS_OF, "--json", fault=fault)


@pytest.fixture(scope="module")
def import_world(tmp_path_factory: pytest.TempPathFactory) -> ImportWorld:
    root = tmp_path_factory.mktemp("crash-import")
    rng = random.Random(20240501)
    night1_ids = [str(i) for i in rng.sample(range(10**17, 9 * 10**18), FOLLOWERS)]  # beyond 2**53, as on X
    gone = set(rng.sample(night1_ids, CHURN))
    taken = set(night1_ids)
    new: list[str] = []
    while len(new) < CHURN:
        candidate = str(rng.randrange(10**17, 9 * 10**18))
        if candidate not in taken:
            taken.add(candidate)
            new.append(candidate)
    night2_ids = [i for i in night1_ids if i not in gone]
    for i in new:  # the new followers anywhere in the file, not only at the end
        night2_ids.insert(rng.randrange(len(night2_ids) + 1), i)
    night1, night2 = root / "night1" / "follower.js", root / "night2" / "follower.js"
    write_x_follower_file(night1, night1_ids)
    write_x_follower_file(night2, night2_ids)

    base_dir = root / "base"
    base_dir.mkdir()
    base_db = base_dir / "audience.db"
    added = cli(base_db, "accounts", "add", "x", "ana")
    assert added.returncode == 0, _output(added)
    first = cli(base_db, "import", night1, "--account", "x:ana", "--as-of", NIGHT1_AS_OF, "--json")
    assert first.returncode == 0, _output(first)
    [snap] = json.loads(first.stdout)[0]["snapshots"]
    assert (snap["status"], snap["count"], snap["gained"], snap["lost"]) == ("complete", FOLLOWERS, FOLLOWERS, 0)
    before = db_state(base_db)
    expected_sha = hashlib.sha256("\n".join(sorted(night1_ids)).encode()).hexdigest()
    assert before.current_sha == expected_sha and before.current_count == FOLLOWERS
    assert not before.staging

    # The reference: an uninterrupted night-2 import, timed (the window for random kills).
    ref = copy_db(base_db, root / "reference")
    start = time.monotonic()
    second = import_night2(night2, ref)
    duration = time.monotonic() - start
    assert second.returncode == 0, _output(second)
    [snap] = json.loads(second.stdout)[0]["snapshots"]
    assert (snap["status"], snap["count"], snap["gained"], snap["lost"]) == ("complete", FOLLOWERS, CHURN, CHURN)
    after = db_state(ref)
    assert after.current_sha == hashlib.sha256("\n".join(sorted(night2_ids)).encode()).hexdigest()
    assert not after.staging
    after_rows = _summary(snapshots_json(ref))
    assert [r[2:6] for r in after_rows] == [
        ("complete", FOLLOWERS, FOLLOWERS, 0), ("complete", FOLLOWERS, CHURN, CHURN),
    ]
    return ImportWorld(root, night1, night2, base_db, before, after, after_rows, duration)


def assert_untouched(world: ImportWorld, db: Path) -> None:
    """Night 1 is the only complete snapshot and nothing of night 2 is stored."""
    state = db_state(db)
    assert [s[0] for s in state.complete()] == [s[0] for s in world.before.complete()]
    assert state.current_sha == world.before.current_sha, "current followers changed by a killed import"
    assert state == world.before


def assert_fully_applied(world: ImportWorld, db: Path, *, via_cli: bool = True) -> None:
    assert db_state(db) == world.after  # snapshot rows (with gained/lost), relationships, profiles
    if via_cli:
        assert _summary(snapshots_json(db)) == world.after_rows


def assert_next_run_completes(world: ImportWorld, db: Path, *, via_cli: bool = True) -> None:
    again = import_night2(world.night2, db)
    assert again.returncode == 0, _output(again)
    [snap] = json.loads(again.stdout)[0]["snapshots"]
    assert (snap["status"], snap["count"], snap["gained"], snap["lost"]) == ("complete", FOLLOWERS, CHURN, CHURN), snap
    assert_fully_applied(world, db, via_cli=via_cli)
    assert_verify_clean_in_process(db)


def assert_next_run_already_imported(world: ImportWorld, db: Path, *, as_text: bool = False, via_cli: bool = True) -> None:
    if as_text:  # what the user reads
        again = cli(db, "import", world.night2, "--account", "x:ana", "--as-of", NIGHT2_AS_OF)
        assert again.returncode == 0, _output(again)
        assert f"already imported as snapshot {world.after.snapshots[-1][0]}" in again.stdout, _output(again)
    else:
        again = import_night2(world.night2, db)
        assert again.returncode == 0, _output(again)
        [snap] = json.loads(again.stdout)[0]["snapshots"]
        assert snap["status"] == "already-imported", snap
        assert snap["id"] == world.after.snapshots[-1][0]
    assert_fully_applied(world, db, via_cli=via_cli)
    assert_verify_clean_in_process(db)


@pytest.mark.parametrize("fault", ["staged:1", "staged:3", "before-apply", "applied", "before-commit"])
def test_import_killed_before_commit_changes_nothing_and_next_run_completes(import_world: ImportWorld, fault: str):
    db = import_world.fresh_db(f"fault-{fault.replace(':', '-')}")
    killed = import_night2(import_world.night2, db, fault=fault)
    assert killed.returncode == KILLED, _output(killed)
    assert_verify_clean(db)
    assert_untouched(import_world, db)
    assert_next_run_completes(import_world, db)


def test_import_killed_after_commit_is_already_imported(import_world: ImportWorld):
    db = import_world.fresh_db("fault-committed")
    killed = import_night2(import_world.night2, db, fault="committed")
    assert killed.returncode == KILLED, _output(killed)
    assert_verify_clean(db)
    assert_fully_applied(import_world, db)
    assert_next_run_already_imported(import_world, db, as_text=True)


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_import_killed_at_a_random_time_is_all_or_nothing(import_world: ImportWorld, seed: int):
    db = import_world.fresh_db(f"random-{seed}")
    delay = stratified_delay(seed, len(RANDOM_SEEDS), import_world.duration)
    args = _cli_args(db, "import", import_world.night2, "--account", "x:ana", "--as-of", NIGHT2_AS_OF, "--json")
    proc = subprocess.Popen(args, env=_env(db.parent / "home"), cwd=db.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = kill_after(proc, delay)
    assert proc.returncode in (KILLED, 0), _output(proc, out, err)
    assert_verify_clean(db)
    state = db_state(db)
    print(f"seed {seed}: kill after {delay:.2f}s, exit {proc.returncode}, {'before' if state == import_world.before else 'after'}")
    if state == import_world.before:
        assert proc.returncode == KILLED, _output(proc, out, err)
        assert_next_run_completes(import_world, db, via_cli=False)
    else:
        # Not "before", so it must be exactly "after": never a mix.
        assert state == import_world.after, f"killed after {delay:.2f}s: neither night 1 nor night 2 ({state.snapshots})"
        assert_next_run_already_imported(import_world, db, via_cli=False)


# ---------------------------------------------------------------------------------------------
# API crash and resume


DRIVER = r'''
"""Run one API follower snapshot of x:ana against a deterministic fake platform.

usage: driver.py DB NIGHT CURSOR_LOG MODE DELAY
MODE: run | recover (recover_interrupted first, as `backup` does under the run lock)
Every requested cursor is appended to CURSOR_LOG ("-" for the first page) before the page
is returned; the outcome is printed as JSON.
"""
import dataclasses
import json
import os
import sys
import time

from backup import accounts
from backup.db.engine import make_engine
from backup.db.migrate import ensure_schema
from backup.snapshot import Page, ProfileRecord, recover_interrupted, run_api_snapshot

PAGES, PER_PAGE, CHURN = %(pages)d, %(per_page)d, %(churn)d


def members(night):
    ids = [str(1_000_000 + i) for i in range(PAGES * PER_PAGE)]
    if night == "night2":
        gone = set(ids[7::PAGES * PER_PAGE // CHURN])
        ids = [i for i in ids if i not in gone]
        for n in range(CHURN):  # new followers spread over the pages
            ids.insert(n * (PAGES * PER_PAGE // CHURN) + 3, str(2_000_000 + n))
    assert len(ids) == PAGES * PER_PAGE
    return ids


def main():
    db, night, cursor_log, mode, delay = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
    url = "sqlite:///" + db
    engine = make_engine(url)
    ensure_schema(engine, url)
    with engine.begin() as conn:
        account = accounts.resolve(conn, "x:ana")
        if mode == "recover":
            recover_interrupted(conn)
    ids = members(night)
    log_fd = os.open(cursor_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def fetch_page(kind, cursor):
        assert kind == "follower"
        os.write(log_fd, ((cursor or "-") + "\n").encode())  # unbuffered: survives SIGKILL
        p = 0 if cursor is None else int(cursor)
        if delay:
            time.sleep(delay)
        page = ids[p * PER_PAGE:(p + 1) * PER_PAGE]
        profiles = [ProfileRecord(platform_id=i, handle="u" + i, followers_count=int(i) %% 997) for i in page]
        return Page(profiles, None if p + 1 == PAGES else str(p + 1))

    outcome = run_api_snapshot(engine, account, "follower", fetch_page)
    print(json.dumps(dataclasses.asdict(outcome)))


main()
''' % {"pages": API_PAGES, "per_page": API_PER_PAGE, "churn": API_CHURN}


@dataclasses.dataclass
class ApiWorld:
    root: Path
    driver: Path
    base_db: Path  # x:ana with one complete API snapshot (night 1)
    before: DbState
    reference: DbState  # after an uninterrupted night-2 run
    reference_outcome: dict

    def fresh_db(self, name: str) -> Path:
        return copy_db(self.base_db, self.root / name)


def run_driver(driver: Path, db: Path, night: str, log: Path, *, mode: str = "run",
               fault: str | None = None, delay: float = 0.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(driver), str(db), night, str(log), mode, str(delay)],
        env=_env(db.parent / "home", fault), cwd=db.parent, capture_output=True, text=True, timeout=TIMEOUT,
    )


def requested(log: Path) -> list[str | None]:
    if not log.exists():
        return []
    return [None if line == "-" else line for line in log.read_text().splitlines()]


def cursors_from(first_page: int) -> list[str | None]:
    """The cursors a run asks for when it starts at page `first_page` (0-based) and goes to the end."""
    return [None if p == 0 else str(p) for p in range(first_page, API_PAGES)]


@pytest.fixture(scope="module")
def api_world(tmp_path_factory: pytest.TempPathFactory) -> ApiWorld:
    root = tmp_path_factory.mktemp("crash-api")
    driver = root / "driver.py"
    driver.write_text(DRIVER)
    base_dir = root / "base"
    base_dir.mkdir()
    base_db = base_dir / "audience.db"
    added = cli(base_db, "accounts", "add", "x", "ana")
    assert added.returncode == 0, _output(added)
    first = run_driver(driver, base_db, "night1", base_dir / "cursors.log")
    assert first.returncode == 0, _output(first)
    outcome = json.loads(first.stdout)
    total = API_PAGES * API_PER_PAGE
    assert (outcome["status"], outcome["count"], outcome["gained"], outcome["lost"]) == ("complete", total, total, 0)
    assert requested(base_dir / "cursors.log") == cursors_from(0)
    before = db_state(base_db)

    ref = copy_db(base_db, root / "reference")
    second = run_driver(driver, ref, "night2", ref.parent / "cursors.log")
    assert second.returncode == 0, _output(second)
    ref_outcome = json.loads(second.stdout)
    assert (ref_outcome["status"], ref_outcome["count"], ref_outcome["gained"], ref_outcome["lost"]) == (
        "complete", total, API_CHURN, API_CHURN,
    )
    assert requested(ref.parent / "cursors.log") == cursors_from(0)
    reference = db_state(ref)
    assert reference.current_sha != before.current_sha and not reference.staging
    assert_verify_clean_in_process(ref)
    return ApiWorld(root, driver, base_db, before, reference, ref_outcome)


def _night2_row(state: DbState, before: DbState):
    new = [s for s in state.snapshots if s not in before.snapshots]
    assert len(new) <= 1, new
    return new[0] if new else None


def assert_interrupted_changed_no_relationship(world: ApiWorld, db: Path) -> None:
    """Only staging and the interrupted snapshot's own row may differ from before the run."""
    state = db_state(db)
    assert state.current_sha == world.before.current_sha, "an interrupted API snapshot changed the current followers"
    assert state.relationships_sha == world.before.relationships_sha, "an interrupted API snapshot touched relationships"
    assert state.profiles_sha == world.before.profiles_sha
    assert state.complete() == world.before.complete()


def resume_and_check(world: ApiWorld, db: Path, *, saved_pages: int, mode: str) -> None:
    """The next run resumes at the first page not yet saved and ends with the uninterrupted result."""
    log = db.parent / "resumed.log"
    resumed = run_driver(world.driver, db, "night2", log, mode=mode)
    assert resumed.returncode == 0, _output(resumed)
    outcome = json.loads(resumed.stdout)
    asked = requested(log)
    remaining = API_PAGES - saved_pages
    assert asked == cursors_from(saved_pages), asked
    assert len(asked) <= remaining + 1
    assert {k: outcome[k] for k in ("kind", "status", "count", "gained", "lost", "previous_count")} == {
        k: world.reference_outcome[k] for k in ("kind", "status", "count", "gained", "lost", "previous_count")
    }
    state = db_state(db)
    assert state.current_sha == world.reference.current_sha
    assert state.current_count == world.reference.current_count
    assert not state.staging
    assert [s[3] for s in state.snapshots] == ["complete", "complete"], state.snapshots  # resumed, not restarted
    assert_verify_clean_in_process(db)


# fault -> (pages saved when killed, cursors the killed run asked for)
API_FAULTS = {
    "page-committed:7": (7, cursors_from(0)[:7]),  # page 7 (index 6) committed, then killed
    "page-fetched:7": (6, cursors_from(0)[:7]),  # the 7th page fetched, killed before saving it
    "staged:7": (6, cursors_from(0)[:7]),  # the 7th page's rows inserted, killed before COMMIT
    "before-apply": (API_PAGES, cursors_from(0)),  # every page saved, killed as completion starts
    "applied": (API_PAGES, cursors_from(0)),  # completion done inside its transaction, not committed
}


# Every fault with `recover_interrupted` first (what `backup` does under the run lock: the
# snapshot becomes partial), and the two page faults also resumed directly from `running`.
API_CASES = [pytest.param(f, "recover", id=f"{f}-recover_interrupted-first") for f in API_FAULTS] + [
    pytest.param(f, "run", id=f"{f}-next-run-directly") for f in ("page-committed:7", "page-fetched:7")
]


@pytest.mark.parametrize(("fault", "mode"), API_CASES)
def test_api_snapshot_killed_resumes_from_stored_cursor(api_world: ApiWorld, fault: str, mode: str):
    saved_pages, asked_before_kill = API_FAULTS[fault]
    db = api_world.fresh_db(f"api-{fault.replace(':', '-')}-{mode}")
    log = db.parent / "killed.log"
    killed = run_driver(api_world.driver, db, "night2", log, fault=fault)
    assert killed.returncode == KILLED, _output(killed)
    assert requested(log) == asked_before_kill
    assert_verify_clean(db)

    row = _night2_row(db_state(db), api_world.before)
    assert row is not None
    # (id, kind, source, status, seq, count, gained, lost, received, pages, cursor, content_hash)
    assert row[3] == "running" and row[4] is None, row  # killed: nobody marked it partial
    assert row[9] == saved_pages and row[8] == saved_pages * API_PER_PAGE, row
    expected_cursor = END_OF_PAGES if saved_pages == API_PAGES else str(saved_pages)
    assert row[10] == expected_cursor, row
    assert dict(db_state(db).staging) == {row[0]: saved_pages * API_PER_PAGE}
    assert_interrupted_changed_no_relationship(api_world, db)

    if mode == "recover":  # what `backup` does first, under the run lock
        engine = make_engine(f"sqlite:///{db}")
        try:
            with engine.begin() as conn:
                assert recover_interrupted(conn) == 1
        finally:
            engine.dispose()
        row_after = _night2_row(db_state(db), api_world.before)
        assert row_after[3] == "partial" and row_after[10] == expected_cursor, row_after
        assert_interrupted_changed_no_relationship(api_world, db)
        assert_verify_clean_in_process(db)
    resume_and_check(api_world, db, saved_pages=saved_pages, mode=mode)
    assert _night2_row(db_state(db), api_world.before)[0] == row[0]


@pytest.mark.parametrize("seed", API_RANDOM_SEEDS)
def test_api_snapshot_killed_at_a_random_time_resumes(api_world: ApiWorld, seed: int):
    db = api_world.fresh_db(f"api-random-{seed}")
    log = db.parent / "killed.log"
    # The kill lands in the page loop or its completion: a random time after the first request.
    delay = stratified_delay(seed, len(API_RANDOM_SEEDS), API_PAGES * API_RANDOM_DELAY * 1.25)
    args = [sys.executable, str(api_world.driver), str(db), "night2", str(log), "run", str(API_RANDOM_DELAY)]
    proc = subprocess.Popen(args, env=_env(db.parent / "home"), cwd=db.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = kill_after(proc, delay, started=lambda: requested(log))
    assert proc.returncode in (KILLED, 0), _output(proc, out, err)
    assert_verify_clean(db)
    state = db_state(db)
    row = _night2_row(state, api_world.before)
    if row is not None and row[3] == "complete":  # it finished (or died after the last COMMIT)
        print(f"seed {seed}: kill after {delay:.2f}s, exit {proc.returncode}, complete")
        assert row[5:8] == tuple(api_world.reference_outcome[k] for k in ("count", "gained", "lost")), row
        assert state.current_sha == api_world.reference.current_sha and not state.staging
        assert_verify_clean_in_process(db)
        return
    assert proc.returncode == KILLED, _output(proc, out, err)
    assert_interrupted_changed_no_relationship(api_world, db)
    saved_pages = 0 if row is None else row[9]
    print(f"seed {seed}: kill after {delay:.2f}s, {saved_pages} pages saved")
    if row is not None:
        assert row[3] == "running" and row[8] == saved_pages * API_PER_PAGE, row
        assert row[10] == (END_OF_PAGES if saved_pages == API_PAGES else (str(saved_pages) if saved_pages else None)), row
        assert dict(state.staging) == ({row[0]: saved_pages * API_PER_PAGE} if saved_pages else {})
    # Every page saved was asked for; the killed run asked for at most one page more.
    assert len(requested(log)) in (saved_pages, saved_pages + 1)
    resume_and_check(api_world, db, saved_pages=saved_pages, mode="recover")
