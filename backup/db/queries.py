"""The read side: what commands and exporters ask of the store. Nothing here writes.

Membership at a snapshot S (applied as number `seq` of its account and kind) is every
relationship interval with since.seq <= S.seq and (no until, or until.seq > S.seq). A diff
between two applied snapshots is then two anti-joins; between consecutive snapshots it is
simply "intervals opened by B" and "intervals closed by B", which the indexes on
since_snapshot_id / until_snapshot_id answer directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, func, select, text

from ..errors import UsageError
from ..profiles import profile_url
from .models import Account, Snapshot


def iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def list_accounts(conn: Connection) -> list[dict]:
    last = (
        select(Snapshot.account_id, func.max(Snapshot.finished_at).label("last"))
        .where(Snapshot.status == "complete").group_by(Snapshot.account_id).subquery()
    )
    rows = conn.execute(
        select(Account.__table__, last.c.last).outerjoin(last, last.c.account_id == Account.id).order_by(Account.id)
    )
    from .models import UTCDateTime

    conv = UTCDateTime().process_result_value
    return [
        {
            "id": r.id, "platform": r.platform, "handle": r.handle, "label": r.label, "tags": list(r.tags or []),
            "status": r.status, "status_since": iso(r.status_since), "last_snapshot_at": iso(conv(r.last, None)),
        }
        for r in rows
    ]


def list_snapshots(conn: Connection, account_id: int | None = None) -> list[dict]:
    q = (
        select(Snapshot.__table__, Account.platform, Account.handle)
        .join(Account, Account.id == Snapshot.account_id).order_by(Snapshot.id)
    )
    if account_id is not None:
        q = q.where(Snapshot.account_id == account_id)
    return [
        {
            "id": r.id, "account": f"{r.platform}:{r.handle}", "platform": r.platform, "kind": r.kind,
            "source": r.source, "started_at": iso(r.started_at), "finished_at": iso(r.finished_at),
            "as_of": iso(r.as_of), "status": r.status, "count": r.count if r.count is not None else r.received,
            "gained": r.gained, "lost": r.lost, "bad_records": r.bad_records,
        }
        for r in conn.execute(q)
    ]


@dataclass
class AppliedSnapshot:
    id: int
    seq: int
    as_of: dt.datetime
    count: int


def applied_snapshots(conn: Connection, account_id: int, kind: str) -> list[AppliedSnapshot]:
    rows = conn.execute(
        select(Snapshot.id, Snapshot.seq, Snapshot.as_of, Snapshot.count)
        .where(Snapshot.account_id == account_id, Snapshot.kind == kind, Snapshot.seq.is_not(None))
        .order_by(Snapshot.seq)
    )
    return [AppliedSnapshot(*r) for r in rows]


def kinds_of(conn: Connection, account_id: int) -> list[str]:
    return list(conn.execute(
        select(Snapshot.kind).where(Snapshot.account_id == account_id, Snapshot.seq.is_not(None)).distinct().order_by(Snapshot.kind)
    ).scalars())


_PROFILE_COLS = "p.platform, p.platform_id, p.handle, p.display_name, p.url"
# Is profile c.platform_id a member at the snapshot applied as number {seq}?
_MEMBER_AT = """EXISTS (
    SELECT 1 FROM relationships r
    JOIN snapshots s1 ON s1.id = r.since_snapshot_id
    LEFT JOIN snapshots s2 ON s2.id = r.until_snapshot_id
    WHERE r.account_id = :acc AND r.kind = :kind AND r.platform_id = c.platform_id
      AND s1.seq <= {seq} AND (r.until_snapshot_id IS NULL OR s2.seq > {seq}))"""
# Only a profile whose interval opened or closed in a snapshot after a, up to b, can differ.
_CANDIDATES = """
    WITH between_ AS (SELECT id FROM snapshots WHERE account_id = :acc AND kind = :kind AND seq > :a AND seq <= :b),
    c AS (
        SELECT platform_id FROM relationships
        WHERE account_id = :acc AND kind = :kind AND since_snapshot_id IN (SELECT id FROM between_)
        UNION
        SELECT platform_id FROM relationships
        WHERE until_snapshot_id IS NOT NULL AND until_snapshot_id IN (SELECT id FROM between_)
          AND account_id = :acc AND kind = :kind
    )
"""


def iter_diff(conn: Connection, account_id: int, kind: str, a: AppliedSnapshot, b: AppliedSnapshot) -> tuple[Iterator[dict], Iterator[dict]]:
    """(gained, lost) profiles between applied snapshots a (earlier) and b (later).

    Consecutive snapshots: the intervals b opened and closed. Otherwise: the profiles touched
    by any snapshot in between, each checked for membership at a and at b. Either way the
    cost follows the number of changes, not the size of the audience.
    """
    params = {"acc": account_id, "kind": kind, "a": a.seq, "b": b.seq, "bid": b.id}
    join = "JOIN profiles p ON p.platform = r.platform AND p.platform_id = r.platform_id"
    if b.seq == a.seq + 1:
        gained_sql = (
            f"SELECT {_PROFILE_COLS} FROM relationships r {join} "
            "WHERE r.since_snapshot_id = :bid AND r.account_id = :acc AND r.kind = :kind ORDER BY p.platform_id"
        )
        lost_sql = gained_sql.replace("r.since_snapshot_id = :bid", "r.until_snapshot_id IS NOT NULL AND r.until_snapshot_id = :bid")
    else:
        at_a, at_b = _MEMBER_AT.format(seq=":a"), _MEMBER_AT.format(seq=":b")
        pick = (
            f"{_CANDIDATES} SELECT {_PROFILE_COLS} FROM c JOIN accounts acc ON acc.id = :acc "
            "JOIN profiles p ON p.platform = acc.platform AND p.platform_id = c.platform_id WHERE "
        )
        gained_sql = f"{pick} {at_b} AND NOT {at_a} ORDER BY p.platform_id"
        lost_sql = f"{pick} {at_a} AND NOT {at_b} ORDER BY p.platform_id"

    def rows(sql: str) -> Iterator[dict]:
        for r in conn.execute(text(sql), params):
            yield {
                "platform": r.platform, "platform_id": r.platform_id, "handle": r.handle, "display_name": r.display_name,
                "url": profile_url(r.platform, r.platform_id, r.handle, r.url),
            }

    return rows(gained_sql), rows(lost_sql)


def pick_diff_snapshots(conn: Connection, account_id: int, kind: str, since: dt.datetime | None) -> tuple[AppliedSnapshot, AppliedSnapshot]:
    applied = applied_snapshots(conn, account_id, kind)
    if len(applied) < 2 and since is None:
        raise UsageError(
            f"a diff needs two complete {kind} snapshots; there {'is' if len(applied) == 1 else 'are'} {len(applied)}",
            hint="run `audience backup` or import another export first",
        )
    if not applied:
        raise UsageError(f"there is no complete {kind} snapshot yet")
    b = applied[-1]
    if since is None:
        return applied[-2], b
    before = [s for s in applied if s.as_of <= since]
    if not before:
        raise UsageError(
            f"no complete {kind} snapshot as old as {since:%Y-%m-%d}; the oldest is from {applied[0].as_of:%Y-%m-%d}",
            hint="use a later --since date",
        )
    return before[-1], b
