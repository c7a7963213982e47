"""`db verify` and `db backup`: integrity checks and consistent copies of a database in use."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, text

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
