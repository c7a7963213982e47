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

from sqlalchemy import Connection, bindparam, func, select, text

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
# Is profile c.platform_id a member at the snapshot applied as number {seq}? One probe of
# pk_relationships (account, kind, platform_id) per candidate.
_MEMBER_AT = """EXISTS (
    SELECT 1 FROM relationships r
    JOIN snapshots s1 ON s1.id = r.since_snapshot_id
    LEFT JOIN snapshots s2 ON s2.id = r.until_snapshot_id
    WHERE r.account_id = :acc AND r.kind = :kind AND r.platform_id = c.platform_id
      AND s1.seq <= {seq} AND (r.until_snapshot_id IS NULL OR s2.seq > {seq}){fence})"""
# Only a profile whose interval opened or closed in a snapshot after a, up to b, can differ.
_CANDIDATES = """
    SELECT platform_id FROM relationships
    WHERE account_id = :acc AND kind = :kind AND since_snapshot_id IN :between
    UNION
    SELECT platform_id FROM relationships
    WHERE until_snapshot_id IS NOT NULL AND until_snapshot_id IN :between AND account_id = :acc AND kind = :kind
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
        statements = text(gained_sql), text(lost_sql)
    else:
        # Written so that PostgreSQL, too, reads only the changes (SQLite does with any form).
        # Left to itself it turned the candidates and each membership EXISTS into hash or merge
        # joins over all the account's intervals and profiles. Hence:
        # - the snapshots in between are looked up first and passed as values, so the planner
        #   knows from its statistics how few intervals they opened and closed and reads them by
        #   index (from a subquery, even `= ANY(ARRAY(SELECT ...))`, it expects the whole
        #   account and merge-joins along all of pk_profiles: 4x slower at 1M, 10x at 10M);
        # - each EXISTS is fenced with OFFSET 0 on PostgreSQL (which never turns a subquery with
        #   an OFFSET into a join; SQLite does not need it and wants a LIMIT before an OFFSET):
        #   one pk_relationships probe per candidate;
        # - the profiles are joined by key, with the account's platform as a value.
        params["between"] = list(conn.execute(
            select(Snapshot.id).where(Snapshot.account_id == account_id, Snapshot.kind == kind,
                                      Snapshot.seq > a.seq, Snapshot.seq <= b.seq)
        ).scalars())
        params["platform"] = conn.execute(select(Account.platform).where(Account.id == account_id)).scalar_one()
        fence = " OFFSET 0" if conn.dialect.name == "postgresql" else ""
        at_a, at_b = _MEMBER_AT.format(seq=":a", fence=fence), _MEMBER_AT.format(seq=":b", fence=fence)
        pick = (
            f"SELECT {_PROFILE_COLS} FROM ({_CANDIDATES}) c "
            "JOIN profiles p ON p.platform = :platform AND p.platform_id = c.platform_id WHERE "
        )
        statements = tuple(
            text(f"{pick} {sql} ORDER BY p.platform_id").bindparams(bindparam("between", expanding=True))
            for sql in (f"{at_b} AND NOT {at_a}", f"{at_a} AND NOT {at_b}")
        )

    def rows(statement) -> Iterator[dict]:
        for r in conn.execute(statement, params):
            yield {
                "platform": r.platform, "platform_id": r.platform_id, "handle": r.handle, "display_name": r.display_name,
                "url": profile_url(r.platform, r.platform_id, r.handle, r.url),
            }

    return rows(statements[0]), rows(statements[1])


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
