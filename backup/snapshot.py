"""The snapshot engine (SPEC §5): the one module that decides when a snapshot is complete.

Life of a snapshot:

1. ``start_snapshot`` creates a row in status ``running``.
2. ``save_page`` appends records to the staging table ``snapshot_items`` under a sequential
   key (no random index inserts) and, in the same transaction, stores the cursor of the next
   page. Memory stays flat: a page is written and forgotten.
3. ``complete_snapshot`` applies the staged member set in one transaction: profiles are
   upserted (only changed rows are written), people no longer present get ``until``, new ones
   get an interval, the staging rows are deleted. Before that, the drop guard may hold the
   snapshot back as ``suspect`` (nothing changes until ``accept_snapshot``).

Only ``complete_snapshot`` (and ``accept_snapshot``) ever touch ``relationships``; a partial,
failed or suspect snapshot can never mark anyone as lost.

API connectors go through ``run_api_snapshot`` (one transaction per page, resumable from the
stored cursor); importers go through ``ingest`` inside a single transaction (atomic: a bad
file changes nothing, a killed import leaves nothing), staging in a TEMP table instead of
``snapshot_items`` (``IMPORT_STAGING``), since nothing of it has to outlive the transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from operator import attrgetter

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    delete,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from . import faults
from .db.engine import write
from .db.maintenance import skip_foreign_key_checks
from .db.models import Account, ContactPoint, Snapshot, Suppression, UTCDateTime, utcnow
from .errors import RepeatedCursor, TransientError, UsageError

# Drop guard (SPEC §5.4): a complete snapshot below half of the previous complete one of the
# same account and kind, when that one had at least 20, is held back as `suspect`.
DROP_GUARD_RATIO = 0.5
DROP_GUARD_MIN_PREVIOUS = 20
# Pagination guard (STYLE §2): X's 1M followers are 1,000 pages of 1,000; Mastodon's 80 per
# page make 12,500 pages for 1M. No real audience needs more than this.
MAX_PAGES = 200_000
# Rows per executemany batch when ingesting a file.
INGEST_BATCH = 20_000
# Where records wait until their snapshot is applied. API snapshots stage in the persistent
# table (they resume after a crash); an import is one transaction, so it stages in a TEMP
# table instead: no WAL traffic, no million-row DELETE, no free pages left in the database.
STAGING = "snapshot_items"
IMPORT_STAGING = "audience_import_items"
# Stored in `cursor` once the last page is saved: a resumed run goes straight to completion.
END_OF_PAGES = "audience:end-of-pages"  # no platform cursor looks like this
# Hostile profiles (SPEC §10) carry NUL bytes and 100k-character bios. PostgreSQL text cannot
# hold U+0000 at all, so NULs are dropped on both databases (the same stored value either way),
# and free text is cut at MAX_TEXT characters: no real name, bio or link needs more, and it
# bounds what every export, report and template later has to carry.
MAX_TEXT = 4096
MAX_HANDLE = 512  # the width of the VARCHAR(512) handle columns; PostgreSQL refuses longer values
_TEXT_LIMITS = {"handle": MAX_HANDLE, "display_name": MAX_TEXT, "url": MAX_TEXT, "bio": MAX_TEXT, "website": MAX_TEXT}


@dataclass(slots=True)
class ProfileRecord:
    """One member of a snapshot as a source sees it; only `platform_id` is required.

    Example (Mastodon follower)::

        ProfileRecord(platform_id="https://social.example/users/ada", handle="ada@social.example",
                      display_name="Ada", url="https://social.example/@ada", followers_count=310)
    """

    platform_id: str
    handle: str | None = None
    display_name: str | None = None
    url: str | None = None
    bio: str | None = None
    website: str | None = None
    followers_count: int | None = None
    following_count: int | None = None
    data: dict | None = None
    contacts: list[tuple[str, str, str | None]] | None = None  # (kind, value, consent)
    # False: not a member of the snapshot, only a profile with contacts to keep (an unsubscribed
    # newsletter reader, a vCard). Its email with consent `unsubscribed` is suppressed.
    member: bool = True


@dataclass
class Page:
    """What a connector returns for one request: the profiles and the cursor of the next page."""

    profiles: list[ProfileRecord]
    next_cursor: str | None


@dataclass
class Outcome:
    snapshot_id: int
    kind: str
    status: str
    count: int
    gained: int = 0
    lost: int = 0
    previous_count: int | None = None


# ---------------------------------------------------------------------------------------------
# Staging


def start_snapshot(conn: Connection, account: Account, kind: str, source: str, as_of: dt.datetime, content_hash: str | None = None) -> int:
    now = utcnow()
    return conn.execute(
        insert(Snapshot).values(
            account_id=account.id, kind=kind, source=source, status="running", started_at=now,
            as_of=as_of, pages=0, received=0, bad_records=0, content_hash=content_hash,
        ).returning(Snapshot.id)
    ).scalar_one()


_ITEM_FIELDS = (
    "platform_id", "handle", "display_name", "url", "bio", "website", "followers_count", "following_count", "data", "contacts",
    "member",
)
_PLACEHOLDER = {"sqlite": "?", "postgresql": "%s"}


def _clean_text(value: str | None, limit: int) -> str | None:
    """A text field as stored: without NUL characters, at most `limit` characters."""
    return value.replace("\x00", "")[:limit] if value else value


def _item_value(record: ProfileRecord, name: str):
    value = getattr(record, name)
    if name == "member":
        return None if value else False  # NULL marks a member: nothing to write in the common case
    if name in ("data", "contacts") and value:
        return json.dumps(value, ensure_ascii=False, sort_keys=name == "data")  # JSON escapes NUL as \u0000
    if name in _TEXT_LIMITS:
        return _clean_text(value, _TEXT_LIMITS[name])
    return value


def stage(
    conn: Connection, snapshot_id: int, first_seq: int, records: list[ProfileRecord], table: str = STAGING,
    filled: set[str] | None = None,
) -> int:
    """Append records to the staging table; returns how many were written.

    `filled`, if given, collects the names of the columns this batch filled (see `complete_snapshot`).

    Only the fields this batch fills are written (an X archive fills 2 of 10): binding costs
    SQLite's executemany more than the insert itself at a million rows, and so does
    SQLAlchemy's per-row parameter processing, hence the plain DBAPI cursor. On PostgreSQL the
    rows go through COPY instead (`_stage_by_copy`).
    """
    if not records:
        return 0
    fields = ["platform_id", *(f for f in _ITEM_FIELDS[1:-1] if _any_value(records, f))]
    if not all(map(attrgetter("member"), records)):
        fields.append("member")
    if filled is not None:
        filled.update(fields)
    postgresql = conn.dialect.name == "postgresql"
    if len(fields) == 1 and not postgresql and _stage_ids_as_json(conn, table, snapshot_id, first_seq, records):
        faults.hit("staged")
        return len(records)
    if len(fields) == 1:
        rows = ((snapshot_id, seq, r.platform_id) for seq, r in enumerate(records, start=first_seq))
    else:
        rows = (
            (snapshot_id, seq, *(_item_value(r, f) for f in fields)) for seq, r in enumerate(records, start=first_seq)
        )
    if postgresql:
        _stage_by_copy(conn, table, fields, rows)
        faults.hit("staged")
        return len(records)
    mark = _PLACEHOLDER[conn.dialect.name]
    sql = (
        f"INSERT INTO {table} (snapshot_id, seq, {', '.join(fields)}) "
        f"VALUES ({', '.join([mark] * (len(fields) + 2))})"
    )
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.executemany(sql, list(rows))
    finally:
        cursor.close()
    faults.hit("staged")
    return len(records)


def _any_value(records: list[ProfileRecord], name: str) -> bool:
    """Whether any record of the batch fills `name`. A count of 0 is a value: a batch whose
    counts are all 0 once stored them as NULL, which kept a stale count on the profile."""
    if any(map(attrgetter(name), records)):  # C speed, and stops at the first value
        return True
    return name in ("followers_count", "following_count") and set(map(attrgetter(name), records)) != {None}


_COPY_TYPES: dict[str, str] = {}


def _stage_by_copy(conn: Connection, table: str, fields: list[str], rows: Iterable[tuple]) -> None:
    """PostgreSQL: the rows through one binary `COPY ... FROM STDIN` per batch (psycopg 3).

    Measured on a 1M-follower X archive: 1.3 s, where executemany took 15 s (12 s of it the
    driver's per-row work). Binary COPY needs no escaping and takes each value as the column's
    own type, named here from the model (the TEMP import table is a copy of `snapshot_items`).
    Values are the ones executemany bound (`_item_value`), so the stored text is the same; a
    NUL that reaches PostgreSQL is refused either way.
    """
    if not _COPY_TYPES:
        from sqlalchemy.dialects import postgresql

        from .db.models import SnapshotItem

        dialect = postgresql.dialect()
        for column in SnapshotItem.__table__.columns:  # "VARCHAR(512)" -> "varchar", which psycopg knows
            _COPY_TYPES[column.name] = column.type.compile(dialect=dialect).split("(")[0].lower()
    columns = ["snapshot_id", "seq", *fields]
    cursor = conn.connection.driver_connection.cursor()
    try:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types([_COPY_TYPES[c] for c in columns])
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


def _stage_ids_as_json(conn: Connection, table: str, snapshot_id: int, first_seq: int, records: list[ProfileRecord]) -> bool:
    """Ids only (an X archive), the biggest imports: one statement per batch, the ids as one
    JSON array that SQLite's json_each unpacks. A third of the time of binding them row by row
    with executemany (0.35 s against 0.9 s for a million). False where SQLite lacks JSON."""
    try:
        conn.connection.driver_connection.execute(
            f"INSERT INTO {table} (snapshot_id, seq, platform_id) SELECT ?, ? + key, value FROM json_each(?)",
            (snapshot_id, first_seq, json.dumps([r.platform_id for r in records])),
        )
    except sqlite3.OperationalError as exc:
        if "json_each" not in str(exc):
            raise
        return False
    return True


def save_page(conn: Connection, snapshot_id: int, records: list[ProfileRecord], next_cursor: str | None) -> None:
    """Stage one page and checkpoint the cursor in the same transaction (SPEC §5.2)."""
    received = conn.execute(select(Snapshot.received).where(Snapshot.id == snapshot_id)).scalar_one()
    n = stage(conn, snapshot_id, received, records)
    conn.execute(
        update(Snapshot).where(Snapshot.id == snapshot_id).values(
            received=received + n, pages=Snapshot.pages + 1,
            cursor=END_OF_PAGES if next_cursor is None else next_cursor,
        )
    )


# ---------------------------------------------------------------------------------------------
# Completion


def _last_applied(conn: Connection, account_id: int, kind: str):
    return conn.execute(
        select(Snapshot.id, Snapshot.seq, Snapshot.count, Snapshot.as_of)
        .where(Snapshot.account_id == account_id, Snapshot.kind == kind, Snapshot.seq.is_not(None))
        .order_by(Snapshot.seq.desc()).limit(1)
    ).first()


def last_applied_as_of(conn: Connection, account_id: int, kind: str) -> tuple[int, dt.datetime] | None:
    row = _last_applied(conn, account_id, kind)
    return (row.id, row.as_of) if row else None


def complete_snapshot(
    conn: Connection, snapshot_id: int, *, force: bool = False, as_of: dt.datetime | None = None, staging: str = STAGING,
    filled: set[str] | None = None,
) -> Outcome:
    """All pages are in: apply the snapshot, or hold it back as `suspect` (drop guard).

    `filled` names the staged columns that hold any value (what `ingest` collected); without it
    they are found by one pass over the staged rows. Only those are carried through the sort:
    the ids of an X archive sort in half the time of ids with eight empty columns beside them.
    """
    snap = conn.execute(select(Snapshot.__table__).where(Snapshot.id == snapshot_id)).one()
    account = conn.execute(select(Account.__table__).where(Account.id == snap.account_id)).one()
    prev = _last_applied(conn, snap.account_id, snap.kind)
    now = utcnow()
    as_of = as_of or snap.as_of
    if filled is None:
        filled = _filled_columns(conn, snapshot_id, staging)
    received = snap.received  # records staged; duplicates (rare) only make the guard more lenient
    if "member" in filled:  # records that are not members must not hide a drop of the members
        received = conn.execute(
            text(f"SELECT COUNT(*) FROM {staging} WHERE snapshot_id = :sid AND member IS NULL"), {"sid": snapshot_id}
        ).scalar_one()
    prev_count = prev.count if prev else None
    if (
        not force
        and prev_count is not None
        and prev_count >= DROP_GUARD_MIN_PREVIOUS
        and received < prev_count * DROP_GUARD_RATIO
    ):
        conn.execute(
            update(Snapshot).where(Snapshot.id == snapshot_id).values(
                status="suspect", finished_at=now, as_of=as_of, count=received, cursor=END_OF_PAGES,
            )
        )
        _save_contacts(conn, snapshot_id, account.id, account.platform, snap.source, staging, opt_outs_only=True)
        if staging != STAGING:  # kept for `snapshots accept`, which may come days later
            conn.exec_driver_sql(f"INSERT INTO {STAGING} SELECT * FROM {staging}")
            conn.exec_driver_sql(f"DROP TABLE {staging}")
        return Outcome(snapshot_id, snap.kind, "suspect", received, previous_count=prev_count)

    faults.hit("before-apply")
    skip_foreign_key_checks(conn)  # PostgreSQL, when the role may: what `bulk=True` does on SQLite
    q = _ApplySQL(conn.dialect.name, staging, filled)
    params = {"sid": snapshot_id, "acc": account.id, "kind": snap.kind, "platform": account.platform, "now": now}
    q.fill_ids(conn, params)
    q.upsert(conn, params)
    current = conn.execute(q.count_current, params).scalar_one()
    lost = conn.execute(q.close_lost, params).rowcount if current else 0
    gained = conn.execute(q.open_gained, params).rowcount
    count = current - lost + gained
    _analyze_if_changed(conn, gained + lost)
    conn.exec_driver_sql(f"DROP TABLE {q.ids}")
    _save_contacts(conn, snapshot_id, account.id, account.platform, snap.source, staging)
    if staging == STAGING:
        conn.execute(text(f"DELETE FROM {STAGING} WHERE snapshot_id = :sid"), params)
    else:
        conn.exec_driver_sql(f"DROP TABLE {staging}")
    # Older suspect snapshots can no longer be accepted once a newer one is applied.
    conn.execute(text(
        "DELETE FROM snapshot_items WHERE snapshot_id IN (SELECT id FROM snapshots "
        "WHERE account_id = :acc AND kind = :kind AND status = 'suspect' AND id < :sid)"
    ), params)
    conn.execute(
        update(Snapshot).where(Snapshot.id == snapshot_id).values(
            status="complete", finished_at=snap.finished_at or now, as_of=as_of, count=count, gained=gained,
            lost=lost, seq=(prev.seq + 1) if prev else 1, cursor=None,
        )
    )
    faults.hit("applied")
    return Outcome(snapshot_id, snap.kind, "complete", count, gained, lost, previous_count=prev_count)


def _analyze_if_changed(conn: Connection, changed: int) -> None:
    """PostgreSQL: fresh planner statistics after a change autovacuum would analyze anyway.

    Without them, a `diff` run right after a big import plans against the table's old size:
    at 20,000 followers, a `diff --since` over three snapshots took 10 s on a fresh schema
    (nested loops over "1 row") instead of 0.9 s. Autovacuum's own rule (50 rows + 10%)
    decides; ANALYZE samples 30,000 rows, 0.1 s per table at 1M. Run in the apply transaction,
    it counts the rows this transaction wrote; its lock (until commit) only makes another
    ANALYZE of the same table wait, never a reader or a writer.
    """
    if conn.dialect.name != "postgresql":
        return
    known = conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE oid = 'relationships'::regclass").scalar()
    if changed > 50 + 0.1 * max(known or 0, 0):
        conn.exec_driver_sql("ANALYZE relationships")
        conn.exec_driver_sql("ANALYZE profiles")


def _filled_columns(conn: Connection, snapshot_id: int, staging: str) -> set[str]:
    names = [*_ApplySQL.fields, "member"]
    counts = conn.execute(
        text(f"SELECT {', '.join(f'COUNT({n})' for n in names)} FROM {staging} WHERE snapshot_id = :sid"), {"sid": snapshot_id}
    ).one()
    return {n for n, c in zip(names, counts, strict=True) if c}


class _ApplySQL:
    """The set-based statements of completion, in the two dialects we support.

    Staged rows are deduplicated by platform id (the last one seen wins) into one temporary
    table keyed by platform id and filled in key order: the only sort of the snapshot. From it
    profiles are upserted in key order (only changed profiles are written), and the interval
    changes are two anti-joins on the natural key (account, kind, platform_id): current
    intervals whose id is not a staged member get `until`, staged members without a current
    interval get a new one, inserted in key order. Nothing maps ids to surrogate keys.
    Columns no staged record filled are left out of every statement.
    """

    fields = ("handle", "display_name", "url", "bio", "website", "followers_count", "following_count", "data")
    ids = "audience_snapshot_ids"

    def __init__(self, dialect: str, staging: str, filled: set[str]):
        sqlite = dialect == "sqlite"
        present = [f for f in self.fields if f in filled]
        carried = ", ".join(["platform_id", *present, *(["member"] if "member" in filled else [])])
        self.create_ids = (
            f"CREATE TEMP TABLE {self.ids} (platform_id VARCHAR(512) PRIMARY KEY, handle VARCHAR(512), "
            "display_name TEXT, url TEXT, bio TEXT, website TEXT, followers_count BIGINT, following_count BIGINT, "
            f"data TEXT, member BOOLEAN){' WITHOUT ROWID' if sqlite else ''}"
        )
        if sqlite:
            # Sorted by (id, seq) and inserted in that order, a later row of the same id replaces
            # the earlier one: the last one seen wins, in one sort (an aggregate took 50% longer).
            self.fill = text(
                f"INSERT OR REPLACE INTO {self.ids} ({carried}) SELECT {carried} FROM {staging} "
                "WHERE snapshot_id = :sid ORDER BY platform_id, seq"
            )
        else:
            self.fill = text(
                f"INSERT INTO {self.ids} ({carried}) SELECT DISTINCT ON (platform_id) {carried} "
                f"FROM {staging} WHERE snapshot_id = :sid ORDER BY platform_id, seq DESC"
            )
        cols = "".join(f", {f}" for f in present)
        now = ":now" if sqlite else "CAST(:now AS TIMESTAMP)"  # SQLite's CAST to TIMESTAMP makes a number of it
        if present:
            distinct = "IS NOT" if sqlite else "IS DISTINCT FROM"
            sets = ", ".join(f"{f} = COALESCE(excluded.{f}, profiles.{f})" for f in present)
            changed = " OR ".join(f"profiles.{f} {distinct} COALESCE(excluded.{f}, profiles.{f})" for f in present)
            on_conflict = f"DO UPDATE SET {sets}, updated_at = excluded.updated_at WHERE {changed}"
        else:
            on_conflict = "DO NOTHING"  # nothing but ids (an X archive): a known profile has nothing new
        # Every new profile gets a person of its own in the same transaction (identity linking
        # later merges persons on evidence): readers and exports can count on a person per
        # profile right after an import, and linking need not touch the million bare ids of an
        # X archive. The new ids are found by one anti-join into `new` (keyed like `ids`, so
        # the joins below are merges), which also spares the profile insert its conflict
        # probes when the records carry ids only: on PostgreSQL ON CONFLICT probes row by
        # row (3.1 s for 1M known ids, 1.5 s with the anti-join).
        self.new = "audience_snapshot_new"
        self.create_new = (
            f"CREATE TEMP TABLE {self.new} (platform_id VARCHAR(512) PRIMARY KEY, person_id BIGINT NOT NULL) WITHOUT ROWID"
            if sqlite else  # PostgreSQL reads it whole (in order, or by hash): a key cost 0.6 s at 1M
            f"CREATE TEMP TABLE {self.new} (platform_id VARCHAR(512) NOT NULL, person_id BIGINT NOT NULL)"
        )
        # Numbered 1..n here; the ids are :offset + that number, a block reserved in `upsert`.
        self.fill_new = text(
            f"INSERT INTO {self.new} (platform_id, person_id) SELECT i.platform_id, ROW_NUMBER() OVER (ORDER BY i.platform_id) "
            f"FROM {self.ids} i WHERE NOT EXISTS "
            "(SELECT 1 FROM profiles p WHERE p.platform = :platform AND p.platform_id = i.platform_id) ORDER BY i.platform_id"
        )
        offset = ":offset" if sqlite else "CAST(:offset AS BIGINT)"
        self.insert_persons = _typed(f"INSERT INTO persons (id, created_at) SELECT person_id + {offset}, {now} FROM {self.new}")
        columns = f"INSERT INTO profiles (platform, platform_id{cols}, person_id, first_seen_at, updated_at) "
        values = (f"SELECT CAST(:platform AS VARCHAR(32)), i.platform_id{''.join(f', i.{f}' for f in present)}, "
                  f"n.person_id + {offset}, {now}, {now} ")
        if present:
            # known profiles updated, new ones inserted with their person: one pass
            self.write_profiles = _typed(
                f"{columns}{values}FROM {self.ids} i LEFT JOIN {self.new} n ON n.platform_id = i.platform_id "
                f"WHERE true ON CONFLICT (platform, platform_id) {on_conflict}"  # `WHERE true`: SQLite's upsert needs it after a SELECT
            )
        else:  # ids only (an X archive): a known profile has nothing new, so only the new ones
            self.write_profiles = _typed(f"{columns}{values.replace('i.platform_id', 'n.platform_id')}FROM {self.new} n")
        # Without persons, for the rare race below.
        self.upsert_profiles = _typed(
            f"INSERT INTO profiles (platform, platform_id{cols}, first_seen_at, updated_at) "
            f"SELECT CAST(:platform AS VARCHAR(32)), platform_id{cols}, {now}, {now} FROM {self.ids} WHERE true "
            f"ON CONFLICT (platform, platform_id) {on_conflict}"
        )
        current = "account_id = :acc AND kind = :kind AND until_snapshot_id IS NULL"
        self.count_current = text(f"SELECT COUNT(*) FROM relationships WHERE {current}")
        # Both anti-joins walk their driving side in platform_id order against an index on
        # platform_id: a merge in effect, where staging order would be a million random probes.
        # A record that is not a member (member = false) has a profile but no interval.
        self.close_lost = text(
            f"UPDATE relationships SET until_snapshot_id = :sid WHERE {current} AND NOT EXISTS "
            f"(SELECT 1 FROM {self.ids} i WHERE i.platform_id = relationships.platform_id AND i.member IS NULL)"
        )
        self.open_gained = text(
            "INSERT INTO relationships (account_id, kind, platform_id, since_snapshot_id, platform) "
            "SELECT CAST(:acc AS INTEGER), CAST(:kind AS VARCHAR(16)), i.platform_id, CAST(:sid AS INTEGER), "
            f"CAST(:platform AS VARCHAR(32)) FROM {self.ids} i WHERE i.member IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM relationships r WHERE r.account_id = :acc AND r.kind = :kind "
            "AND r.platform_id = i.platform_id AND r.until_snapshot_id IS NULL) ORDER BY i.platform_id"
        )
        self.sqlite = sqlite

    def upsert(self, conn: Connection, params: dict) -> None:
        """Profiles upserted, each new one with a new person of its own.

        On PostgreSQL another writer (a worker whose account shares followers) may add one of
        the new profiles between the anti-join and the insert: the insert then fails on the
        primary key, everything since the savepoint is undone, and a plain upsert runs instead,
        leaving those new profiles to the next identity-linking run, which gives each one a person.
        """
        def write_with_persons() -> None:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.new}")
            conn.exec_driver_sql(self.create_new)
            count = conn.execute(self.fill_new, params).rowcount
            faults.hit("new-profiles-found")
            ids = {**params, "offset": self._reserve_person_ids(conn, count)}
            conn.execute(self.insert_persons, ids)
            conn.execute(self.write_profiles, ids)
            conn.exec_driver_sql(f"DROP TABLE {self.new}")

        if self.sqlite:
            write_with_persons()
            return
        try:
            with conn.begin_nested():
                write_with_persons()
        except IntegrityError:
            conn.execute(self.upsert_profiles, params)

    def _reserve_person_ids(self, conn: Connection, count: int) -> int:
        """The offset after which `count` person ids are free for this transaction.

        SQLite has one writer at a time: the ids after the highest. PostgreSQL: a block of the
        sequence, taken with one nextval and one setval (a nextval per row cost 3.4 s of a
        1M-follower import). Sequence calls are outside transactions, so other workers see the
        block taken at once; the two calls run under a session advisory lock, released right
        after, so that two workers never take overlapping blocks. (Should anything else take an
        id of the block meanwhile, the insert fails on the key and `upsert` falls back.)
        """
        if self.sqlite:
            return conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM persons")).scalar_one()
        if count == 0:
            return 0
        seq = "pg_get_serial_sequence('persons', 'id')"
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PG_PERSON_IDS_LOCK})
        try:
            first = conn.execute(text(f"SELECT nextval({seq})")).scalar_one()
            if count > 1:
                conn.execute(text(f"SELECT setval({seq}, :last, true)"), {"last": first + count - 1})
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_PERSON_IDS_LOCK})
        return first - 1

    def fill_ids(self, conn: Connection, params: dict) -> None:
        """The staged records, one per platform id (the last one seen), in a temporary table in key order."""
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.ids}")
        conn.exec_driver_sql(self.create_ids)
        conn.execute(self.fill, params)
        if not self.sqlite:
            conn.exec_driver_sql(f"ANALYZE {self.ids}")


# PostgreSQL session advisory lock around reserving a block of person ids (see _reserve_person_ids).
PG_PERSON_IDS_LOCK = 0x617564_706964  # "aud" "pid", like the run and migration locks


def _typed(sql: str):
    """A text() statement whose time parameters bind as UTC datetimes on both dialects."""
    return text(sql).bindparams(*(bindparam(p, type_=UTCDateTime()) for p in ("now", "as_of") if f":{p}" in sql))


def _save_contacts(
    conn: Connection, snapshot_id: int, account_id: int, platform: str, source: str, staging: str,
    *, opt_outs_only: bool = False,
) -> None:
    """Contact points carried by staged records (emails in a CSV, a newsletter's subscribers).

    A consent the source states (`opted_in`, `unsubscribed`: a newsletter export) replaces the
    stored one, since snapshots are applied in order; `unknown` never overwrites a stated one.
    Unsubscribed addresses go to the suppression list; one this newsletter's own earlier export
    put there is lifted when this export lists the address as subscribed again.

    `opt_outs_only`: for a snapshot the drop guard holds back. Its unsubscribes are honoured at
    once all the same (the suppression list only grows; nothing else changes until it is
    accepted): an opt-out must never wait for someone to confirm a drop.
    """
    rows = conn.execute(
        text(f"SELECT platform_id, contacts FROM {staging} WHERE snapshot_id = :sid AND contacts IS NOT NULL"),
        {"sid": snapshot_id},
    )
    values = {}
    normalize = _contact_normalizer()
    for platform_id, contacts in rows:
        for kind, value, consent in json.loads(contacts):
            value = _clean_text(value, MAX_TEXT)  # staged as JSON, which keeps NULs: clean like other text
            value = normalize(kind, value)
            seen = values.get((platform_id, kind, value))
            if seen is not None and seen["consent"] == "unsubscribed":
                continue  # listed twice in one export, once as unsubscribed: the safe reading wins
            values[(platform_id, kind, value)] = {
                "platform": platform, "platform_id": platform_id, "kind": kind, "value": value,
                "consent": consent, "source": source,
            }
    if not values:
        return
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    if opt_outs_only:
        values = {k: v for k, v in values.items() if v["consent"] == "unsubscribed"}
        _suppress(conn, dialect_insert, values, account_id, source, lift=False)
        return
    stmt = dialect_insert(ContactPoint)
    stated = (stmt.excluded.consent == literal_column("'opted_in'")) | (stmt.excluded.consent == literal_column("'unsubscribed'"))
    stmt = stmt.on_conflict_do_update(
        index_elements=["platform", "platform_id", "kind", "value"],
        set_={"consent": stmt.excluded.consent},
        where=stated & (ContactPoint.consent.is_(None) | (ContactPoint.consent != stmt.excluded.consent)),
    )
    for chunk in batched(values.values(), INGEST_BATCH):
        conn.execute(stmt, chunk)
    _suppress(conn, dialect_insert, values, account_id, source, lift=True)


def _contact_normalizer() -> Callable[[str, str], str]:
    """Contact values in the one form identity linking and the suppression list compare:
    emails lower-cased with IDN domains in one form, phones in E.164, websites without trackers.
    A value the normalizer cannot read (a national number without a country) is kept as given.
    """
    from .people.extract import normalize_email, normalize_phone, normalize_url  # only imports with contacts pay for it

    by_kind = {"email": normalize_email, "phone": normalize_phone, "website": normalize_url}

    def normalize(kind: str, value: str) -> str:
        fn = by_kind.get(kind)
        if fn is None or not value:
            return value
        return fn(value) or (value.lower() if kind == "email" else value)

    return normalize


def _suppress(conn: Connection, dialect_insert, values: dict, account_id: int, source: str, *, lift: bool) -> None:
    """Unsubscribed emails onto the suppression list; with `lift`, this newsletter's own entries off it for re-subscribers."""
    emails = {"unsubscribed": set(), "opted_in": set()}
    for row in values.values():
        if row["kind"] == "email" and row["consent"] in emails:
            emails[row["consent"]].add(row["value"].lower())
    emails["opted_in"] -= emails["unsubscribed"]  # listed both ways in one export: the safe reading
    if lift and emails["opted_in"]:
        for chunk in batched(sorted(emails["opted_in"]), 500):
            conn.execute(delete(Suppression).where(
                Suppression.kind == "email", Suppression.value.in_(chunk),
                Suppression.account_id == account_id, Suppression.reason == "unsubscribed",
            ))
    if emails["unsubscribed"]:
        now = utcnow()
        stmt = dialect_insert(Suppression).on_conflict_do_nothing(index_elements=["kind", "value"])
        rows = [
            {"kind": "email", "value": v, "reason": "unsubscribed", "source": source, "account_id": account_id, "created_at": now}
            for v in sorted(emails["unsubscribed"])
        ]
        for chunk in batched(rows, INGEST_BATCH):
            conn.execute(stmt, chunk)


# ---------------------------------------------------------------------------------------------
# Accepting a suspect snapshot, recovering interrupted ones


def accept_snapshot(engine: Engine, snapshot_id: int) -> Outcome:
    """Apply a snapshot the drop guard held back (SPEC §4 `snapshots accept`)."""
    with write(engine, bulk=True) as conn:
        snap = conn.execute(select(Snapshot.__table__).where(Snapshot.id == snapshot_id)).first()
        if snap is None:
            raise UsageError(f"there is no snapshot {snapshot_id}", hint="`audience snapshots` lists them")
        if snap.status != "suspect":
            raise UsageError(f"snapshot {snapshot_id} is {snap.status}, not suspect: there is nothing to accept")
        newer = conn.execute(
            select(Snapshot.id).where(
                Snapshot.account_id == snap.account_id, Snapshot.kind == snap.kind,
                Snapshot.seq.is_not(None), Snapshot.id > snap.id,
            ).limit(1)
        ).scalar()
        if newer is not None:
            raise UsageError(
                f"snapshot {snapshot_id} is older than the applied snapshot {newer}; accepting it would rewrite history",
                hint="run the backup or import again to take a fresh snapshot",
            )
        return complete_snapshot(conn, snapshot_id, force=True)


def recover_interrupted(conn: Connection) -> int:
    """Called while holding the run lock: a `running` snapshot belongs to a dead run, so it is `partial`."""
    return conn.execute(
        update(Snapshot).where(Snapshot.status == "running").values(status="partial")
    ).rowcount


# ---------------------------------------------------------------------------------------------
# The two drivers: API page loop (per-page transactions) and file ingestion (one transaction)


def run_api_snapshot(
    engine: Engine,
    account: Account,
    kind: str,
    fetch_page: Callable[[str, str | None], Page],
    *,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    max_pages: int = MAX_PAGES,
) -> Outcome:
    """Fetch every page of `kind` for `account`, resuming a partial snapshot from its cursor.

    Each page and its cursor are committed together; an exception leaves the snapshot
    `partial` with the cursor of the first page not yet saved, and is re-raised.
    """
    with write(engine) as conn:
        resumable = conn.execute(
            select(Snapshot.id, Snapshot.cursor).where(
                Snapshot.account_id == account.id, Snapshot.kind == kind, Snapshot.source == "api",
                Snapshot.status.in_(("running", "partial")),
            ).order_by(Snapshot.id.desc()).limit(1)
        ).first()
        if resumable:
            snapshot_id, cursor = resumable
            conn.execute(update(Snapshot).where(Snapshot.id == snapshot_id).values(status="running"))
        else:
            snapshot_id, cursor = start_snapshot(conn, account, kind, "api", utcnow()), None
    seen: set[str] = set()
    pages = 0
    try:
        while cursor != END_OF_PAGES:
            if deadline is not None and clock() > deadline:
                raise TransientError(
                    f"{account.ref} {kind}: the run's time limit passed; the snapshot is partial and resumes next run"
                )
            if cursor is not None:
                seen.add(cursor)
            page = fetch_page(kind, cursor)
            if page.next_cursor is not None and page.next_cursor in seen:
                raise RepeatedCursor(
                    f"{account.ref} {kind}: the platform returned the same page cursor twice; stopped instead of looping",
                    hint="run again later; the pages fetched so far are kept",
                )
            pages += 1
            if pages > max_pages:
                raise TransientError(f"{account.ref} {kind}: more than {max_pages} pages; stopped")
            faults.hit("page-fetched")
            with write(engine) as conn:
                save_page(conn, snapshot_id, page.profiles, page.next_cursor)
            faults.hit("page-committed")
            cursor = END_OF_PAGES if page.next_cursor is None else page.next_cursor
        with write(engine, bulk=True) as conn:
            return complete_snapshot(conn, snapshot_id, as_of=utcnow())
    except BaseException:
        with write(engine) as conn:
            conn.execute(update(Snapshot).where(Snapshot.id == snapshot_id, Snapshot.status == "running").values(status="partial"))
        raise


def batched(iterable: Iterable, n: int) -> Iterator[list]:
    it = iter(iterable)
    while chunk := list(islice(it, n)):
        yield chunk


def ingest(
    conn: Connection, snapshot_id: int, records: Iterable[ProfileRecord], progress: Callable[[int], None] | None = None,
    filled: set[str] | None = None,
) -> int:
    """Stage a stream of records in IMPORT_STAGING, inside the caller's transaction, in flat memory.

    The caller then applies them with ``complete_snapshot(..., staging=IMPORT_STAGING)``.
    `progress`, if given, is called with the number of records staged so far after each batch;
    `filled` collects the names of the columns any record filled, for ``complete_snapshot``.
    """
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {IMPORT_STAGING}")
    # Same columns as the persistent staging table, by construction, on both dialects.
    conn.exec_driver_sql(f"CREATE TEMP TABLE {IMPORT_STAGING} AS SELECT * FROM {STAGING} WHERE 1 = 0")
    staged = 0
    for chunk in batched(records, INGEST_BATCH):
        staged += stage(conn, snapshot_id, staged, chunk, IMPORT_STAGING, filled)
        if progress:
            progress(staged)
    conn.execute(update(Snapshot).where(Snapshot.id == snapshot_id).values(received=staged, pages=1, cursor=END_OF_PAGES))
    return staged
