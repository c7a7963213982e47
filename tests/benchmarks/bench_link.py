"""Identity linking: quality against a known truth, and P5 (SPEC §12).

Not a test (pytest does not collect ``tests/benchmarks``); it prints figures and asserts no
time.

1. **Quality.** A synthetic audience from ``tests/people_truth.py`` (people on 1-4 of X,
   Mastodon, Bluesky, GitHub, Instagram, with planted evidence and decoys) is linked, and the
   stored links are checked against the truth: precision by evidence kind, recall of each
   planted kind (did its two profiles end up in one person), pairwise precision and recall
   of the persons, and the false links (the "my cat: instagram.com/…" hazard).
2. **P5.** 1M profiles over 3 platforms (X, Mastodon, Bluesky) are written into a fresh
   database, then ``audience link`` runs in a child process: wall time and peak RSS (target
   <= 90 s, <= 1.5 GB); then an incremental run with nothing changed, and one after 1% of the
   profiles changed.

    /work/venv/bin/python tests/benchmarks/bench_link.py                       # both, SQLite
    /work/venv/bin/python tests/benchmarks/bench_link.py --profiles 0          # quality only
    /work/venv/bin/python tests/benchmarks/bench_link.py --quality-people 0 --profiles 200000
    /work/venv/bin/python tests/benchmarks/bench_link.py --db postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import people_truth as pt
from sqlalchemy import text

from backup.db.engine import make_engine, write
from backup.db.migrate import ensure_schema

P5_PLATFORMS = ("x", "mastodon", "bluesky")


def fresh(url: str | None, workdir: Path, name: str):
    if url is None:
        db = workdir / f"{name}.db"
        for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            f.unlink(missing_ok=True)
        url = f"sqlite:///{db}"
    else:
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    engine = make_engine(url)
    ensure_schema(engine, url)
    return url, engine


def quality(args, workdir: Path) -> None:
    from backup.people.link import run_link

    _, engine = fresh(args.db, workdir, "quality")
    profiles = list(pt.generate(args.quality_people, seed=args.seed))
    planted = [(kind, p.key, other) for p in profiles for kind, other in p.planted]
    with write(engine) as conn:
        truth = pt.load(conn, profiles)
    t = time.perf_counter()
    result = run_link(engine)
    seconds = time.perf_counter() - t
    twins = {frozenset((p.person, p.twin_of)) for p in profiles if p.twin_of is not None}
    with engine.connect() as conn:
        s = pt.score(conn, truth, planted)
        twin_links = sum(
            1 for ap, aid, bp, bid in conn.execute(text(
                "SELECT a_platform, a_platform_id, b_platform, b_platform_id FROM identity_links"))
            if frozenset((truth[f"{ap}:{aid}"], truth[f"{bp}:{bid}"])) in twins
        )
    engine.dispose()
    print(f"quality: {args.quality_people:,} people, {len(profiles):,} profiles on {', '.join(pt.PLATFORMS)} "
          f"({len(twins)} people with a name twin), seed {args.seed}; linked in {seconds:.2f} s")
    print(f"{'evidence':<16}{'links':>8}{'correct':>9}{'precision':>11}{'planted':>10}{'found':>8}{'recall':>8}")
    explicit_n = explicit_ok = 0
    for kind in sorted(set(s.links) | set(s.planted)):
        n, ok = s.links.get(kind, (0, 0))
        pn, pok = s.planted.get(kind, (0, 0))
        if kind != "mentions":
            explicit_n, explicit_ok = explicit_n + n, explicit_ok + ok
        print(f"{kind:<16}{n:>8,}{ok:>9,}{(ok / n if n else 1):>11.4f}{pn:>10,}{pok:>8,}{(pok / pn if pn else 0):>8.3f}")
    total_n = sum(n for n, _ in s.links.values())
    total_ok = sum(ok for _, ok in s.links.values())
    print(f"{'all':<16}{total_n:>8,}{total_ok:>9,}{(total_ok / total_n if total_n else 1):>11.4f}")
    print(f"explicit evidence (all but one-way mentions): precision {explicit_ok / explicit_n if explicit_n else 1:.4f}")
    print(f"persons: {s.persons:,} found for {s.true_persons:,} true; pairs of profiles in one person: "
          f"precision {s.pair_precision:.4f}, recall {s.pair_recall:.4f} (planted 'none' pairs cannot be found)")
    examples = ", ".join(f"{r['value']} x{r['profiles']}" for r in result.refused["shared_value_examples"][:5])
    print(f"refused: {result.refused['shared_values']} shared values ({examples}), "
          f"{result.refused['clusters']} oversized clusters")
    print(f"links between name twins (decoys): {twin_links}")
    print(f"false links: {len(s.false_links)} shown of {total_n - total_ok}; by kind: "
          f"{ {k: n - ok for k, (n, ok) in s.links.items() if n != ok} }")
    for kind, a, b in s.false_links[:5]:
        print(f"  {kind}: {a} ~ {b}")


CHILD = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from backup.db.engine import make_engine
from backup.people.link import run_link
engine = make_engine({url!r})
t = time.perf_counter()
r = run_link(engine, full={full})
print(json.dumps({{"seconds": time.perf_counter() - t, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                   "result": r.as_json()}}))
"""


def child_link(url: str, full: bool = False) -> dict:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD.format(repo=str(REPO), url=url, full=full)],
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"link failed with exit {proc.returncode}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall"] = wall
    return out


def p5(args, workdir: Path) -> None:
    url, engine = fresh(args.db, workdir, "p5")
    people = int(args.profiles / 1.9)  # 40% on one platform, the rest on 2-3: 1.9 profiles a person
    t = time.perf_counter()
    n = 0
    with write(engine) as conn:
        batch = []
        for p in pt.generate(people, seed=args.seed, platforms=P5_PLATFORMS):
            batch.append(p)
            n += 1
            if len(batch) >= 20_000:
                pt.load(conn, batch)
                batch = []
            if n >= args.profiles:
                break
        pt.load(conn, batch)
    engine.dispose()
    print(f"\nP5: {n:,} profiles on {', '.join(P5_PLATFORMS)} written in {time.perf_counter() - t:.1f} s ({url.split('@')[-1]})")
    first = child_link(url)
    r = first["result"]
    print(f"  first run (every profile):  {first['seconds']:.1f} s in link ({first['wall']:.1f} s with start-up), "
          f"peak RSS {first['rss_mb']:.0f} MB   [target <= 90 s, <= 1,536 MB]")
    print(f"    {r['persons']:,} persons, links {r['links_by_evidence']}, contact points {r['contact_points_by_kind']}, "
          f"refused {r['refused']['shared_values']} shared values")
    again = child_link(url)
    print(f"  nothing changed:            {again['seconds']:.2f} s, peak RSS {again['rss_mb']:.0f} MB")
    engine = make_engine(url)
    with write(engine) as conn:  # 1% of the profiles change their bio
        conn.execute(text(
            "UPDATE profiles SET bio = COALESCE(bio, '') || ' (edited)', updated_at = :now WHERE platform = 'x' "
            "AND platform_id IN (SELECT platform_id FROM profiles WHERE platform = 'x' ORDER BY platform_id LIMIT :n)"
        ), {"now": time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(time.time() + 1)), "n": n // 100})
    engine.dispose()
    changed = child_link(url)
    print(f"  1% of profiles changed:     {changed['seconds']:.1f} s ({changed['result']['profiles_read']:,} read), "
          f"peak RSS {changed['rss_mb']:.0f} MB")
    if args.full_again:
        full = child_link(url, full=True)
        print(f"  --full over a linked store: {full['seconds']:.1f} s, peak RSS {full['rss_mb']:.0f} MB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quality-people", type=int, default=20_000, help="people in the quality audience (0: skip)")
    ap.add_argument("--profiles", type=int, default=1_000_000, help="profiles for P5 (0: skip)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--db", help="a PostgreSQL URL whose public schema is wiped and used (default: SQLite files)")
    ap.add_argument("--workdir", type=Path, help="where the SQLite files go (default: a temporary directory)")
    ap.add_argument("--full-again", action="store_true", help="P5: also time a --full run over the linked store")
    args = ap.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="audience-link-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"bench_link: {os.cpu_count()} cores, Python {sys.version.split()[0]}, workdir {workdir}")
    if args.quality_people:
        quality(args, workdir)
    if args.profiles:
        p5(args, workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
