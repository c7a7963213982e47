"""The report numbers at scale: `report risk` and the recovery document over 1M relationships.

Not a test (pytest does not collect ``tests/benchmarks``); it prints figures, and checks the
tiers against the numbers the generator planted.

A synthetic store: N followers of ``x:ana`` (one person each, with their own follower count),
of whom every 5th also follows ``mastodon:ana`` (N/5 more relationships), every 10th (+1) is an
opted-in newsletter subscriber (N/10 more), every 10th (+2) has an address in the bio (one in
ten of those suppressed), every 10th (+3) names a Bluesky handle. So for ``x:ana``:
following_elsewhere 0.3 N, contactable 0.09 N, known_elsewhere 0.1 N, unreachable 0.51 N.

    /work/venv/bin/python tests/benchmarks/bench_reports.py                    # 1M, SQLite
    /work/venv/bin/python tests/benchmarks/bench_reports.py --members 200000
    /work/venv/bin/python tests/benchmarks/bench_reports.py --db postgresql+psycopg://postgres@127.0.0.1:5432/test

A database it filled before (``--keep FILE``, or ``--db`` with accounts in it) is measured again
without generating.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from sqlalchemy import text

from backup.accounts import resolve
from backup.db.engine import make_engine, write
from backup.db.migrate import ensure_schema
from exporters.reports.recovery import build_recovery
from exporters.reports.render import render_recovery_html, render_risk_html
from exporters.reports.risk import build_risk

BATCH = 50_000
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def generate(engine, n: int) -> None:
    now = T0.replace(tzinfo=None)
    with write(engine, bulk=True) as conn:
        conn.execute(text(
            "INSERT INTO accounts (id, platform, handle, tags, status, created_at) VALUES "
            "(1, 'x', 'ana', '[]', 'active', :t), (2, 'mastodon', 'ana@social.example', '[]', 'active', :t), "
            "(3, 'newsletter', 'letters', '[]', 'active', :t)"), {"t": now})
        conn.execute(text(
            "INSERT INTO snapshots (id, account_id, kind, source, status, started_at, finished_at, as_of, seq, pages, received, count, bad_records) "
            "VALUES (1, 1, 'follower', 'api', 'complete', :t, :t, :t, 1, 0, 0, :n, 0), "
            "(2, 2, 'follower', 'api', 'complete', :t, :t, :t, 1, 0, 0, :m, 0), "
            "(3, 3, 'subscriber', 'api', 'complete', :t, :t, :t, 1, 0, 0, :s, 0)"), {"t": now, "n": n, "m": n // 5, "s": n // 10})

        def batches(rows):
            chunk = []
            for row in rows:
                chunk.append(row)
                if len(chunk) == BATCH:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk

        ins = {
            "persons": "INSERT INTO persons (id, name, created_at) VALUES (:id, :name, :t)",
            "profiles": "INSERT INTO profiles (platform, platform_id, handle, display_name, followers_count, person_id, "
                        "first_seen_at, updated_at) VALUES (:p, :pid, :h, :name, :fc, :person, :t, :t)",
            "rels": "INSERT INTO relationships (account_id, kind, platform_id, since_snapshot_id, platform) "
                    "VALUES (:a, :k, :pid, :s, :p)",
            "cps": "INSERT INTO contact_points (platform, platform_id, kind, value, source, consent, created_at) "
                   "VALUES (:p, :pid, :k, :v, :src, :c, :t)",
        }
        for chunk in batches({"id": i, "name": f"Person {i}", "t": now} for i in range(1, n + 1)):
            conn.execute(text(ins["persons"]), chunk)

        def profiles():
            for i in range(1, n + 1):
                yield {"p": "x", "pid": str(10**12 + i), "h": f"u{i}", "name": f"User {i}", "fc": (i * 7919) % 100_000,
                       "person": i, "t": now}
                if i % 5 == 0:
                    yield {"p": "mastodon", "pid": f"u{i}@social.example", "h": f"u{i}@social.example", "name": None,
                           "fc": None, "person": i, "t": now}
                if i % 10 == 1:
                    yield {"p": "newsletter", "pid": f"u{i}@letters.example", "h": None, "name": None, "fc": None,
                           "person": i, "t": now}

        for chunk in batches(profiles()):
            conn.execute(text(ins["profiles"]), chunk)

        def rels():
            for i in range(1, n + 1):
                yield {"a": 1, "k": "follower", "pid": str(10**12 + i), "s": 1, "p": "x"}
                if i % 5 == 0:
                    yield {"a": 2, "k": "follower", "pid": f"u{i}@social.example", "s": 2, "p": "mastodon"}
                if i % 10 == 1:
                    yield {"a": 3, "k": "subscriber", "pid": f"u{i}@letters.example", "s": 3, "p": "newsletter"}

        for chunk in batches(rels()):
            conn.execute(text(ins["rels"]), chunk)

        def cps():
            for i in range(1, n + 1):
                if i % 10 == 1:
                    yield {"p": "newsletter", "pid": f"u{i}@letters.example", "k": "email", "v": f"u{i}@letters.example",
                           "src": "letters.csv", "c": "opted_in", "t": now}
                elif i % 10 == 2:
                    yield {"p": "x", "pid": str(10**12 + i), "k": "email", "v": f"u{i}@mail.example", "src": "profile:bio",
                           "c": "unknown", "t": now}
                elif i % 10 == 3:
                    yield {"p": "x", "pid": str(10**12 + i), "k": "handle", "v": f"bluesky:u{i}.bsky.social",
                           "src": "profile:bio", "c": None, "t": now}

        for chunk in batches(cps()):
            conn.execute(text(ins["cps"]), chunk)
        # one in ten bio addresses is suppressed: ids ending in 02 (i % 100 == 2)
        conn.execute(text(
            "INSERT INTO suppressions (kind, value, reason, created_at) SELECT 'email', value, 'manual', :t "
            "FROM contact_points WHERE kind = 'email' AND source = 'profile:bio' AND platform_id LIKE '%02'"
        ), {"t": now})
        if conn.dialect.name == "postgresql":
            for table in ("persons", "contact_points", "suppressions", "accounts", "snapshots"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
            conn.exec_driver_sql("ANALYZE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--db", help="an empty database (default: a temporary SQLite file)")
    ap.add_argument("--keep", metavar="FILE", help="keep the generated SQLite database here (a filled one is used again)")
    args = ap.parse_args()
    n = args.members
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(args.keep or Path(tmp) / 'audience.db').resolve()}"
        engine = make_engine(url)
        ensure_schema(engine, url)
        with engine.connect() as conn:  # a database this script filled before is used again
            reuse = conn.execute(text("SELECT COUNT(*) FROM accounts")).scalar_one() > 0
        if not reuse:
            t = time.perf_counter()
            generate(engine, n)
            print(f"generated {n:,} followers of x:ana (+{n // 5:,} Mastodon, +{n // 10:,} newsletter) in {time.perf_counter() - t:.1f} s")
        if engine.dialect.name == "sqlite":
            with engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
        for run in (1, 2):
            t = time.perf_counter()
            with engine.connect() as conn:
                risk = build_risk(conn)
            t_risk = time.perf_counter() - t
            t = time.perf_counter()
            with engine.connect() as conn:
                recovery = build_recovery(conn, resolve(conn, "x:ana"))
            t_rec = time.perf_counter() - t
            t = time.perf_counter()
            html = render_risk_html(risk) + render_recovery_html(recovery)
            t_html = time.perf_counter() - t
            print(f"run {run}: risk document {t_risk:.2f} s, recovery document {t_rec:.2f} s, both pages rendered {t_html * 1000:.0f} ms "
                  f"({len(html) // 1024} KiB)")
        x = next(a for a in risk["accounts"] if a["account"] == "x:ana")
        expected = {"following_elsewhere": 3 * n // 10, "contactable": 9 * n // 100, "known_elsewhere": n // 10}
        expected["unreachable"] = n - sum(expected.values())
        print(f"x:ana tiers {recovery['tiers']} (planted {expected}); resilience {x['resilience']}, people {risk['people']:,}")
        assert recovery["tiers"] == expected, "the tiers differ from what was planted"
        engine.dispose()


if __name__ == "__main__":
    main()
