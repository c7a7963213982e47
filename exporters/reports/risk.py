"""The risk report (SPEC §9): how much of each account's audience would survive losing it.

`build_risk` reads the numbers (``numbers.Reach``) and returns the one document every format
renders: the JSON of SPEC §4 (``generated_at``, ``accounts`` with ``account``, ``audience``,
``reachable_elsewhere``, ``only_here``, ``resilience``; ``people``; ``overall_resilience``)
plus what the terminal and the HTML page show beside it (tiers, channels, status, history).

``overall_resilience`` is the share of all audience memberships that would survive the loss
of their account: the sum of ``reachable_elsewhere`` over the sum of ``audience`` (each
account weighs by its audience). ``people`` counts distinct persons over all audiences.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, Select

from backup.db.models import utcnow
from backup.db.queries import iso

from .numbers import AccountNumbers, HistoryPoint, Reach, history


def account_json(a: AccountNumbers, points: list[HistoryPoint]) -> dict[str, Any]:
    return {
        "account": a.ref, "id": a.id, "platform": a.platform, "label": a.label, "status": a.status,
        "status_since": iso(a.status_since), "audience": a.audience, "reachable_elsewhere": a.reachable_elsewhere,
        "only_here": a.only_here, "resilience": _ratio(a.resilience), "tiers": dict(a.tiers), "by_channel": dict(a.by_channel),
        "history": [{"snapshot": p.snapshot_id, "kind": p.kind, "as_of": iso(p.as_of), "count": p.count} for p in points],
    }


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def build_risk(conn: Connection, *, persons: Select | None = None, selection: str | None = None,
               now: dt.datetime | None = None) -> dict[str, Any]:
    """The risk document. ``persons`` restricts the audiences to a selection (``selection``
    describes it in words)."""
    reach = Reach(conn, persons)
    accounts = reach.accounts()
    points = history(conn, [a.id for a in accounts])
    audience = sum(a.audience for a in accounts)
    reachable = sum(a.reachable_elsewhere for a in accounts)
    return {
        "generated_at": iso(now or utcnow()),
        "selection": selection or "everyone",
        "accounts": [account_json(a, points[a.id]) for a in accounts],
        "people": reach.people(),
        "audience": audience,
        "reachable_elsewhere": reachable,
        "overall_resilience": _ratio(reachable / audience) if audience else None,
    }
