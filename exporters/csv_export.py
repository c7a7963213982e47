"""`audience export csv`: one row per person with everything known about them.

Columns, always all of them and always in this order (a spreadsheet or script built on one
export keeps working on the next):

``person_id, name, tags``, then for each platform of ``HANDLE_PLATFORMS`` a handle column
(``x``, ``mastodon``, ...) and a ``<platform>_url`` column, then ``emails, phones, websites``,
``first_seen`` (ISO 8601 UTC, the earliest any of the person's profiles was stored),
``follows`` (my accounts they follow, are connected to or subscribe to now) and
``followed_by`` (my accounts that follow them now).

Several values in one cell are separated by ``"; "``. Addresses and numbers that are
unsubscribed or on the suppression list are left out (the suppression list wins over every
export). RFC 4180: comma-separated, double-quoted where needed, CRLF; UTF-8 (with a BOM for
``excel=True``, which Excel needs to read UTF-8); every cell formula-neutralised.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, text

from backup.files import atomic_write
from backup.logs import redact

from .handles import HANDLE_PLATFORMS, handle_url, mastodon_address
from .safety import FORMULA_TRIGGERS, SafeCsvWriter, csv_writer, neutralize_cell
from .selection import EVERYONE, Filters, PersonView, contact_rank, iter_people

log = logging.getLogger(__name__)

SEP = "; "
FOLLOWS_KINDS = frozenset({"follower", "connection", "subscriber"})
HEADER = (
    "person_id", "name", "tags",
    *[col for p in HANDLE_PLATFORMS for col in (p, f"{p}_url")],
    "emails", "phones", "websites", "first_seen", "follows", "followed_by",
)
_INDEX = {p: 3 + 2 * i for i, p in enumerate(HANDLE_PLATFORMS)}
# Where a profile without a handle is still named by its key (an archive's X id, a DID);
# elsewhere the key can be a URL or a made-up key (a Facebook friend's name and date).
_ID_IS_HANDLE = frozenset({"x", "bluesky"})


@dataclass
class CsvResult:
    path: Path
    rows: int


_ISO: dict = {}  # first_seen -> text: an import gives thousands of profiles one time


def _iso(value) -> str:
    if not value:
        return ""
    text = _ISO.get(value)
    if text is None:
        if len(_ISO) > 100_000:
            _ISO.clear()
        text = _ISO[value] = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return text


_TAIL = len(HEADER) - 6  # emails, phones, websites, first_seen, follows, followed_by


def _safe(value: str) -> str:
    return value if value[0] not in FORMULA_TRIGGERS and "\x00" not in value else neutralize_cell(value)


def person_row(person: PersonView) -> list[str]:
    """The CSV row of one person, every cell already formula-neutralised (a million rows:
    only the cells that hold something go through the check)."""
    row = [""] * len(HEADER)
    row[0] = str(person.id)
    if person.name:
        row[1] = _safe(person.name)
    if person.tags:
        row[2] = _safe(SEP.join(person.tags))
    cells: dict[int, list[str]] = {}  # column -> values, for the handle, URL, phone and website columns
    seen: set[str] | None = None  # platform:handle already written, when handles may repeat
    follows: list[str] = []
    followed_by: list[str] = []
    first = None
    for p in person.profiles:
        if p.first_seen is not None and (first is None or p.first_seen < first):
            first = p.first_seen
        for r in p.relationships:
            if r.until is None:
                if r.kind == "following":
                    if r.account not in followed_by:
                        followed_by.append(r.account)
                elif r.kind in FOLLOWS_KINDS and r.account not in follows:
                    follows.append(r.account)
        i = _INDEX.get(p.platform)
        if i is None:
            continue
        handle = mastodon_address(p) if p.platform == "mastodon" else p.handle
        if handle:
            if handle[0] == "@":
                handle = handle.lstrip("@")
            if seen is None:
                seen = set()
            seen.add(f"{p.platform}:{handle.lower()}")
            cells.setdefault(i, []).append(handle)
        elif p.platform in _ID_IS_HANDLE:
            cells.setdefault(i, []).append(p.platform_id)
        if p.url:
            cells.setdefault(i + 1, []).append(p.url)
    emails = None
    for c in person.contacts:
        if c.suppressed or c.consent == "unsubscribed":
            continue  # in no export
        kind = c.kind
        if kind == "email":
            if emails is None:
                emails = [c]
            else:
                emails.append(c)
        elif kind == "phone":
            cells.setdefault(_TAIL + 1, []).append(c.value)
        elif kind == "website":
            cells.setdefault(_TAIL + 2, []).append(c.value)
        elif kind == "handle":
            i = _INDEX.get(c.platform)
            key = c.value.lower()
            if i is None or (seen is not None and key in seen):
                continue
            if seen is None:
                seen = set()
            seen.add(key)
            ident = c.ident
            cells.setdefault(i, []).append(ident)
            url = handle_url(c.platform, ident)
            if url:
                cells.setdefault(i + 1, []).append(url)
    for i, values in cells.items():
        row[i] = _safe(values[0] if len(values) == 1 else SEP.join(values))
    if emails:
        if len(emails) > 1:
            emails.sort(key=contact_rank)
        row[_TAIL] = _safe(emails[0].value if len(emails) == 1 else SEP.join(c.value for c in emails))
    row[_TAIL + 3] = _iso(first)
    if follows:  # platform:handle of my own accounts: letters first
        row[_TAIL + 4] = SEP.join(follows)
    if followed_by:
        row[_TAIL + 5] = SEP.join(followed_by)
    return row


# Parallel export: a second process writes the second half of the persons. On a 2-core machine
# that halves the time of a large export (the work per person is Python and SQLite reads,
# about 17 s of CPU per million persons); below PARALLEL_MIN starting a process costs more
# than it saves.
PARALLEL_MIN = 200_000
MAX_WORKERS = 4


def _fingerprint(conn: Connection) -> tuple:
    """What changes when persons, their tags, contact points or the suppression list change:
    two SQLite read transactions with the same fingerprint saw the same persons."""
    return tuple(conn.execute(text(
        "SELECT (SELECT MAX(id) FROM link_runs), (SELECT MAX(id) FROM snapshots), (SELECT MAX(id) FROM contact_points), "
        "(SELECT COUNT(*) FROM contact_points), (SELECT COUNT(*) FROM person_tags), (SELECT COUNT(*) FROM suppressions), "
        "(SELECT MAX(id) FROM suppressions), (SELECT COUNT(*) FROM persons), (SELECT MAX(id) FROM persons)"
    )).one())


def _write_rows(conn: Connection, fh, filters: Filters, start: int | None = None, stop: int | None = None) -> int:
    writerow = csv_writer(fh).writerow  # person_row neutralises its cells itself
    rows = 0
    for person in iter_people(conn, filters, start=start, stop=stop):
        writerow(person_row(person))
        rows += 1
    return rows


def _write_part(url: str, filters: Filters, start: int | None, stop: int | None, part: str, snapshot: str | None) -> tuple[int, tuple | None]:
    """In a worker process: the persons with start <= id < stop into the (0600) file ``part``.
    Returns the rows written and the store's fingerprint (SQLite) as this process saw it."""
    from backup.db.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if snapshot is not None:  # PostgreSQL: the parent's exported snapshot, exactly
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                if snapshot is not None:
                    conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                    seen = None
                else:
                    seen = _fingerprint(conn)
                with open(part, "w", encoding="utf-8", newline="") as fh:
                    return _write_rows(conn, fh, filters, start, stop), seen
    finally:
        engine.dispose()


def _bounds(conn: Connection, parts: int) -> list[int] | None:
    total = conn.execute(text("SELECT COUNT(*) FROM persons")).scalar_one()
    if parts < 2 or total < PARALLEL_MIN:
        return None
    out = []
    for k in range(1, parts):
        b = conn.execute(text("SELECT id FROM persons ORDER BY id LIMIT 1 OFFSET :o"), {"o": total * k // parts}).scalar()
        if b is not None and (not out or b > out[-1]):
            out.append(b)
    return out or None


def _workers(requested: int | None) -> int:
    if requested is not None:
        return max(1, min(requested, MAX_WORKERS))
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, MAX_WORKERS))


def _parallel_url(conn: Connection) -> str | None:
    url = conn.engine.url
    if url.get_backend_name() == "sqlite" and (not url.database or url.database == ":memory:"):
        return None  # nothing else can see an in-memory database
    return url.render_as_string(hide_password=False)


def write_csv(conn: Connection, path: Path, filters: Filters = EVERYONE, *, excel: bool = False,
              workers: int | None = None) -> CsvResult:
    """Write the selected persons to ``path`` (0600, atomically); returns how many rows.

    Read ``conn`` inside ``read_snapshot`` for one consistent view. A large store is split by
    person id between ``workers`` processes (default: the CPUs, at most 4), each writing a
    private part file that is appended in order; they read the same snapshot (PostgreSQL:
    ``pg_export_snapshot``; SQLite: each checks the store did not change between the parent's
    read and its own, else the export runs again in one process)."""
    path = Path(path)
    url = _parallel_url(conn)
    bounds = _bounds(conn, _workers(workers)) if url else None
    with atomic_write(path, "w", encoding="utf-8-sig" if excel else "utf-8", newline="") as fh:
        SafeCsvWriter(fh).writeheader(HEADER)
        if not bounds:
            return CsvResult(path, _write_rows(conn, fh, filters))
        rows = _parallel(conn, url, fh, path, filters, bounds)
        if rows is None:  # the store changed under the workers: once more, in one process
            fh.seek(0)
            fh.truncate()
            SafeCsvWriter(fh).writeheader(HEADER)
            rows = _write_rows(conn, fh, filters)
    return CsvResult(path, rows)


_WORKER = "import exporters.csv_export as m; m._worker_main()"


def _worker_main() -> None:
    """A worker process: its task as JSON on stdin (the database URL may hold a password: never
    on a command line), its result as JSON on stdout."""
    task = json.loads(sys.stdin.read())
    filters = Filters(**{k: tuple(v) if isinstance(v, list) else v for k, v in task["filters"].items()})
    rows, seen = _write_part(task["url"], filters, task["start"], task["stop"], task["part"], task["snapshot"])
    sys.stdout.write(json.dumps({"rows": rows, "seen": _plain(seen)}))


def _plain(fingerprint: tuple | None) -> list | None:
    return json.loads(json.dumps(list(fingerprint), default=str)) if fingerprint is not None else None


def _parallel(conn: Connection, url: str, fh, path: Path, filters: Filters, bounds: list[int]) -> int | None:
    """This process writes the first range into ``fh`` while worker processes (plain
    ``python -c``: a clean interpreter, never a fork of a process holding database connections,
    and no re-run of the caller's main module) write the others into private part files,
    appended in order. None when a worker failed or saw another store: the caller redoes it."""
    import dataclasses
    import shutil
    import subprocess
    import tempfile

    pg = conn.dialect.name == "postgresql"
    snapshot = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar() if pg else None
    mine = None if pg else _plain(_fingerprint(conn))
    ranges = list(zip([None, *bounds], [*bounds, None], strict=True))
    parts: list[str] = []
    procs: list[tuple[subprocess.Popen, IO]] = []
    try:
        for lo, hi in ranges[1:]:
            fd, part = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
            os.fchmod(fd, 0o600)
            os.close(fd)
            parts.append(part)
            errors = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed in finally
            proc = subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=errors, text=True, encoding="utf-8")
            procs.append((proc, errors))
            task = {"url": url, "filters": dataclasses.asdict(filters), "start": lo, "stop": hi, "part": part, "snapshot": snapshot}
            proc.stdin.write(json.dumps(task))
            proc.stdin.close()
        rows = _write_rows(conn, fh, filters, *ranges[0])
        results = []
        for proc, errors in procs:
            out = proc.stdout.read()
            if proc.wait() != 0:
                errors.seek(0)
                last = (errors.read().strip().splitlines() or ["no message"])[-1]
                log.warning("a worker process of the export failed (%s); exporting in one process", redact(last)[:300])
                return None
            results.append(json.loads(out))
        if not pg and any(r["seen"] != mine for r in results):
            log.info("the store changed while the export ran in parallel; exporting again in one process")
            return None
        fh.flush()
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, fh.buffer, 1 << 20)
        return rows + sum(r["rows"] for r in results)
    finally:
        for proc, errors in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            with contextlib.suppress(OSError):
                proc.stdout.close()
            errors.close()
        for part in parts:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
