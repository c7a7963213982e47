"""`db verify` and `db backup`: integrity checks and consistent copies of a database in use.

Also the PostgreSQL counterpart of SQLite's `foreign_keys=OFF` for bulk writes
(`skip_foreign_key_checks`): what it skips, `verify` checks.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from ..errors import UsageError
from ..files import private_temp_path
from .engine import is_sqlite, sqlite_path


def backup_sqlite(engine: Engine, target: Path) -> Path:
    """Copy a SQLite database with the online backup API (consistent while in use), 0600, atomically."""
    source = sqlite_path(str(engine.url))
    if source is None:
        raise UsageError(
            "db backup copies SQLite databases only",
            hint="for PostgreSQL use pg_dump, which makes a consistent copy of a live database",
        )
    target = Path(target).expanduser().resolve()
    if target.exists() and target.is_dir():
        raise UsageError(f"{target} is a directory", hint="give a file name for the copy")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = private_temp_path(target)
    try:
        src = sqlite3.connect(str(source), timeout=10)
        dst = sqlite3.connect(str(tmp))
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # a backup is one self-contained file
        finally:
            dst.close()
            src.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def skip_foreign_key_checks(conn: Connection) -> bool:
    """PostgreSQL: no per-row foreign-key checks for the rest of this transaction, if the role may.

    For bulk statements that keep the foreign keys by construction (applying a snapshot, `db
    copy`), as `write(engine, bulk=True)` does on SQLite. PostgreSQL checks each inserted row's
    parents with a trigger: three lookups per relationship, 15 of the 20 s that inserting 1M
    relationships took (measured with `tests/benchmarks/bench_pg.py`). Setting
    `session_replication_role = replica` turns those triggers off until the transaction ends;
    only a superuser may, or (PostgreSQL 15+) a role granted it:
    `GRANT SET ON PARAMETER session_replication_role TO audience`. Other roles keep the checks
    (slower, as correct). Returns whether the checks are off. `verify` checks every foreign key.
    """
    if conn.dialect.name != "postgresql":
        return False
    allowed = "current_setting('is_superuser') = 'on'"
    if conn.dialect.server_version_info >= (15,):
        allowed += " OR has_parameter_privilege('session_replication_role', 'SET')"
    if not conn.exec_driver_sql(f"SELECT {allowed}").scalar():
        return False
    conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    return True


def orphan_queries() -> dict[str, str]:
    """For each foreign key of the schema: SQL counting child rows whose parent is missing."""
    from .models import Base

    queries = {}
    for table in Base.metadata.sorted_tables:
        for fk in sorted(table.foreign_key_constraints, key=lambda c: c.name or ""):
            child = [e.parent.name for e in fk.elements]
            parent = [e.column.name for e in fk.elements]
            target = fk.elements[0].column.table.name
            present = " AND ".join(f"c.{c} IS NOT NULL" for c in child)
            match = " AND ".join(f"p.{p} = c.{c}" for c, p in zip(child, parent, strict=True))
            queries[f"{table.name}({', '.join(child)}) -> {target}"] = (
                f"SELECT COUNT(*) FROM {table.name} c WHERE {present} AND NOT EXISTS (SELECT 1 FROM {target} p WHERE {match})"
            )
    return queries


@dataclass
class VerifyReport:
    checks: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# Domain invariants, as SQL returning offending rows; each is cheap with the schema's indexes.
INVARIANTS = {
    "staging rows of applied or failed snapshots": """
        SELECT s.id FROM snapshots s
        WHERE s.status IN ('complete', 'failed')
          AND EXISTS (SELECT 1 FROM snapshot_items i WHERE i.snapshot_id = s.id)
    """,
    "more than one running or partial snapshot per account and kind": """
        SELECT account_id FROM snapshots WHERE status IN ('running', 'partial')
        GROUP BY account_id, kind HAVING COUNT(*) > 1
    """,
    "latest complete snapshot count differs from current relationships": """
        SELECT s.id FROM snapshots s
        WHERE s.status = 'complete'
          AND s.seq = (SELECT MAX(s2.seq) FROM snapshots s2
                       WHERE s2.account_id = s.account_id AND s2.kind = s.kind)
          AND s.count != (SELECT COUNT(*) FROM relationships r
                          WHERE r.account_id = s.account_id AND r.kind = s.kind
                            AND r.until_snapshot_id IS NULL)
    """,
    "relationship intervals ending before they start": """
        SELECT r.platform_id FROM relationships r
        JOIN snapshots a ON a.id = r.since_snapshot_id
        JOIN snapshots b ON b.id = r.until_snapshot_id
        WHERE b.seq <= a.seq
    """,
}


def verify(engine: Engine) -> VerifyReport:
    """Integrity check, foreign keys and the domain invariants of the snapshot store."""
    report = VerifyReport()
    with engine.connect() as conn:
        if is_sqlite(engine):
            rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
            report.checks["integrity_check"] = "ok" if rows == ["ok"] else "; ".join(rows[:5])
            if rows != ["ok"]:
                report.problems.append("integrity_check: " + "; ".join(rows[:5]))
            fk = list(conn.exec_driver_sql("PRAGMA foreign_key_check"))
            report.checks["foreign_key_check"] = "ok" if not fk else f"{len(fk)} violations"
            if fk:
                report.problems.append(f"foreign_key_check: {len(fk)} rows point at missing parents, e.g. {tuple(fk[0])}")
        else:  # PostgreSQL enforces them, except where `skip_foreign_key_checks` turned the checks off
            orphans = {name: conn.exec_driver_sql(sql).scalar() for name, sql in orphan_queries().items()}
            bad = {name: n for name, n in orphans.items() if n}
            report.checks["foreign_key_check"] = "ok" if not bad else f"{sum(bad.values())} violations"
            if bad:
                name, n = next(iter(bad.items()))
                report.problems.append(f"foreign_key_check: {sum(bad.values())} rows point at missing parents, e.g. {n} in {name}")
        # Not a problem, but worth knowing after a crash: these resume on the next run.
        interrupted = [r[0] for r in conn.execute(text(
            "SELECT id FROM snapshots WHERE status IN ('running', 'partial') ORDER BY id"
        ))]
        report.checks["interrupted snapshots (they resume on the next run)"] = (
            "none" if not interrupted else f"{len(interrupted)}: ids {', '.join(map(str, interrupted[:10]))}"
        )
        for name, sql in INVARIANTS.items():
            bad = list(conn.execute(text(sql)))
            report.checks[name] = "ok" if not bad else f"{len(bad)} found"
            if bad:
                report.problems.append(f"{name}: {len(bad)} (e.g. id {bad[0][0]})")
    return report
