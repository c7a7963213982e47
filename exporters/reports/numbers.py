"""The numbers behind every report (SPEC §9): one module, shared by the terminal, Markdown,
JSON and HTML forms, so the four can never disagree.

For each of my accounts, its **audience** is its current followers, connections and
subscribers (relationships with ``until_snapshot_id IS NULL``; people I follow are not an
audience). Each member gets the best **tier** that applies to their person (a person is
``persons.id`` through ``profiles.person_id``, so a member is reachable through any profile
or contact point identity linking put under the same person):

1. ``following_elsewhere``: the person is in the audience of another of my accounts that is
   not itself suspended or deactivated, or holds an opted-in newsletter address;
2. ``contactable``: an email address or phone number is known;
3. ``known_elsewhere``: a profile or a handle on another platform is known;
4. ``unreachable``: none of these.

An address on the suppression list, or one that any source marks ``unsubscribed`` (an
unsubscribe anywhere wins over an opt-in elsewhere, as in ``exporters.selection``), makes
nobody contactable or opted in; a suppressed handle (or a profile whose own handle is
suppressed) makes nobody known elsewhere. Newsletters and address books are channels through their
addresses, not platforms.

``reachable_elsewhere`` is the first three tiers together, ``only_here`` the last, and
``resilience = reachable_elsewhere / audience`` (None for an empty audience).

Everything is set-based: the audience of every account and the reach of every person in it
go into a few temporary tables (a handful of statements, whatever the audience size), and
each figure is one GROUP BY over them. The tables live in the reading transaction of the
connection given and vanish with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Select, column, insert, table, text

from backup.db.models import UTCDateTime
from backup.db.queries import iso
from backup.profiles import profile_url

AUDIENCE_KINDS = ("follower", "connection", "subscriber")
DOWN = ("suspended", "deactivated")  # an account in this state reaches nobody (backup.nightly.DOWN)
# Reached through their addresses (the email and phone channels), not as platforms.
NOT_CHANNELS = ("newsletter", "contacts")
TIERS = ("following_elsewhere", "contactable", "known_elsewhere", "unreachable")
TOP_UNREACHABLE = 20
BIO_CHARS = 280  # a bio in a report is a reminder of who someone is, not the whole text

_T = "audience_rpt_"  # temporary tables of this module


@dataclass
class AccountNumbers:
    """One account's audience in tiers and channels."""

    id: int
    platform: str
    handle: str
    label: str | None
    status: str
    status_since: dt.datetime | None
    audience: int = 0
    tiers: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TIERS, 0))
    by_channel: dict[str, int] = field(default_factory=dict)
    unreachable_ids_only: int = 0  # unreachable members known by their id alone (an X archive holds no names)

    @property
    def ref(self) -> str:
        return f"{self.platform}:{self.handle}"

    @property
    def reachable_elsewhere(self) -> int:
        return self.audience - self.tiers["unreachable"]

    @property
    def only_here(self) -> int:
        return self.tiers["unreachable"]

    @property
    def resilience(self) -> float | None:
        return self.reachable_elsewhere / self.audience if self.audience else None


@dataclass
class Member:
    """A member of an audience, as the reports show one (the P of SPEC §4, plus a little)."""

    platform: str
    platform_id: str
    handle: str | None
    display_name: str | None
    url: str | None
    followers_count: int | None
    bio: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform, "platform_id": self.platform_id, "handle": self.handle,
            "display_name": self.display_name, "url": self.url, "followers_count": self.followers_count,
            "bio": self.bio,
        }


@dataclass
class HistoryPoint:
    snapshot_id: int
    kind: str
    as_of: dt.datetime
    count: int


@dataclass
class SnapshotInfo:
    id: int
    kind: str
    as_of: dt.datetime
    finished_at: dt.datetime | None
    count: int

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "finished_at": iso(self.finished_at), "as_of": iso(self.as_of), "count": self.count}


def _in(values: Iterable[str]) -> str:
    """A literal IN list of our own constants (never user input)."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _prefix(conn: Connection, column: str) -> str:
    """The platform of a handle contact point (`platform:ident`) in this dialect's SQL."""
    if conn.dialect.name == "postgresql":
        return f"split_part({column}, ':', 1)"
    return f"substr({column}, 1, instr({column}, ':') - 1)"


class Reach:
    """The temporary tables of one reading transaction, and the figures read from them.

    - ``aud``: every current audience membership of every account (an account's reach
      elsewhere depends on all the others);
    - ``plat``: (person, platform) for every platform other than the one of their only profile
      where a person can be found: each profile of a person with several, and each handle
      named in a bio (a profile or handle on the suppression list does not count);
    - ``reach``: one row per person in any audience, from one GROUP BY over their memberships,
      platforms and contact points together: the smallest and largest id of the standing
      accounts that have them, the first and last platform they can be found on (two values
      are enough to tell whether there is one other than a given account's, without a set per
      person), and whether an opted-in address, a usable address or a phone is known.

    Each figure is then one pass over ``aud``. The person index of ``profiles`` holds each
    profile's key, so the platforms come from one streaming pass over it, in person order.

    ``persons``: an optional ``SELECT persons.id`` (``exporters.selection.person_ids_query``)
    restricting whose membership is counted; their reach still comes from everything stored.
    """

    def __init__(self, conn: Connection, persons: Select | None = None):
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self._build(persons)

    # -- building ---------------------------------------------------------------------------

    def _temp(self, name: str, columns: str, key: str | None = None) -> str:
        """A temporary table. SQLite gets the `key` as its primary key: its joins are index
        lookups, and every table here is filled in key order. PostgreSQL gets none (a key
        maintained row by row costs more than the hash joins that read these tables)."""
        table_ = _T + name
        if self.sqlite:
            self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{table_}")
            self.conn.exec_driver_sql(f"CREATE TEMP TABLE {table_} ({columns}{f', PRIMARY KEY ({key})' if key else ''})")
        else:
            self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS pg_temp.{table_}")
            self.conn.exec_driver_sql(f"CREATE TEMP TABLE {table_} ({columns}) ON COMMIT DROP")
        return table_

    def _filled(self, table_: str) -> None:
        """PostgreSQL has no statistics of a temporary table until it is analysed, and plans
        for a small one otherwise (nested loops over a million rows)."""
        if not self.sqlite:
            self.conn.exec_driver_sql(f"ANALYZE {table_}")

    def _build(self, persons: Select | None) -> None:
        c = self.conn
        where = ""
        if persons is not None:  # materialised once: the selection may be a query of its own joins
            chosen = self._temp("chosen", "person_id BIGINT NOT NULL", key="person_id")
            c.execute(insert(table(chosen, column("person_id"))).from_select(["person_id"], persons))
            self._filled(chosen)
            where = f" AND p.person_id IN (SELECT person_id FROM {chosen})"
        # A profile in two audience kinds of one account (a follower and a subscriber) counts
        # once: only accounts with applied snapshots of several audience kinds need the check.
        several = [r[0] for r in c.exec_driver_sql(
            f"SELECT account_id FROM snapshots WHERE seq IS NOT NULL AND kind IN {_in(AUDIENCE_KINDS)} "
            "GROUP BY account_id HAVING COUNT(DISTINCT kind) > 1"
        )]
        once = ""
        if several:
            once = (
                f" AND (r.account_id NOT IN ({', '.join(map(str, several))}) OR NOT EXISTS (SELECT 1 FROM relationships r2 "
                "WHERE r2.account_id = r.account_id AND r2.kind < r.kind AND r2.platform_id = r.platform_id "
                f"AND r2.until_snapshot_id IS NULL AND r2.kind IN {_in(AUDIENCE_KINDS)}))"
            )
        self.aud = self._temp(
            "aud", "account_id INTEGER NOT NULL, platform_id VARCHAR(512) NOT NULL, platform VARCHAR(32) NOT NULL, "
            "person_id BIGINT, followers_count BIGINT, anonymous INTEGER NOT NULL", key="account_id, platform_id",
        )
        # (Read in the relationships' key order, so SQLite's key of `aud` grows as rows arrive.)
        c.exec_driver_sql(
            f"INSERT INTO {self.aud} (account_id, platform_id, platform, person_id, followers_count, anonymous) "
            "SELECT r.account_id, r.platform_id, r.platform, p.person_id, p.followers_count, "
            "CASE WHEN p.handle IS NULL AND p.display_name IS NULL THEN 1 ELSE 0 END "
            "FROM relationships r JOIN profiles p ON p.platform = r.platform AND p.platform_id = r.platform_id "
            f"WHERE r.until_snapshot_id IS NULL AND r.kind IN {_in(AUDIENCE_KINDS)}{where}{once}"
        )
        self._filled(self.aud)
        suppressed = "EXISTS (SELECT 1 FROM suppressions s WHERE s.kind = x.kind AND s.value = x.value)"
        # Profiles whose own handle is on the suppression list (rare): not a place to find anyone.
        muted = self._temp("muted", "platform VARCHAR(32) NOT NULL, platform_id VARCHAR(512) NOT NULL", key="platform, platform_id")
        c.exec_driver_sql(
            f"INSERT INTO {muted} (platform, platform_id) SELECT DISTINCT own.platform, own.platform_id "
            "FROM suppressions s JOIN contact_points own ON own.kind = 'handle' AND own.value = s.value "
            "WHERE s.kind = 'handle' AND own.source = 'self' AND own.platform IS NOT NULL"
        )
        not_muted = (f" AND NOT EXISTS (SELECT 1 FROM {muted} m WHERE m.platform = pr.platform AND m.platform_id = pr.platform_id)"
                     if c.exec_driver_sql(f"SELECT 1 FROM {muted} LIMIT 1").first() is not None else "")
        # Where each person can be found, but for the platform of their only profile: the
        # profiles of persons with several (the person index holds each profile's key, so
        # this is a streaming pass in person order), and the handles their bios name. A
        # profile's own handles (source `self`) add nothing its profile does not.
        handle_platform = _prefix(c, "x.value")
        handles = (
            "SELECT {person} AS person_id, " + handle_platform + " AS platform FROM contact_points x {join} "
            "WHERE x.kind = 'handle' AND x.source <> 'self' AND {extra} "
            f"AND {handle_platform} NOT IN {_in(NOT_CHANNELS)} AND {handle_platform} <> '' AND NOT {suppressed}"
        )
        self.plat = self._temp("plat", "person_id BIGINT NOT NULL, platform VARCHAR(64) NOT NULL", key="person_id, platform")
        c.exec_driver_sql(
            f"INSERT INTO {self.plat} (person_id, platform) "
            f"SELECT pr.person_id, pr.platform FROM profiles pr WHERE pr.person_id IN ("
            "  SELECT person_id FROM profiles WHERE person_id IS NOT NULL GROUP BY person_id HAVING COUNT(*) > 1"
            f") AND pr.platform NOT IN {_in(NOT_CHANNELS)}{not_muted} "
            "UNION "
            + handles.format(person="pr.person_id", join="JOIN profiles pr ON pr.platform = x.platform AND pr.platform_id = x.platform_id",
                             extra="pr.person_id IS NOT NULL")
            + " UNION "
            + handles.format(person="x.person_id", join="", extra="x.platform IS NULL AND x.person_id IS NOT NULL")
        )
        self._filled(self.plat)
        # An unsubscribe anywhere wins over an opt-in elsewhere (as the exports decide).
        unsubscribed = "EXISTS (SELECT 1 FROM contact_points u WHERE u.kind = x.kind AND u.value = x.value AND u.consent = 'unsubscribed')"
        usable = f"(x.consent IS NULL OR x.consent <> 'unsubscribed') AND NOT {suppressed} AND NOT {unsubscribed}"
        # Addresses and phones of a person (found on one of their profiles, or held by the
        # person alone), as flags: 1 a usable opted-in address, 2 another usable address, 4 a
        # usable phone. Distinct powers of two, so their distinct sum is their union.
        contact = (
            "SELECT {person} AS person_id, "
            f"CASE WHEN NOT ({usable}) THEN 0 WHEN x.kind = 'phone' THEN 4 WHEN x.consent = 'opted_in' THEN 1 ELSE 2 END AS code "
            "FROM contact_points x {join} WHERE x.kind IN ('email', 'phone') AND {extra}"
        )
        self.cinfo = self._temp("cinfo", "person_id BIGINT NOT NULL, flags INTEGER NOT NULL", key="person_id")
        c.exec_driver_sql(
            f"INSERT INTO {self.cinfo} (person_id, flags) SELECT person_id, SUM(DISTINCT code) FROM ("
            + contact.format(person="pr.person_id", join="JOIN profiles pr ON pr.platform = x.platform AND pr.platform_id = x.platform_id",
                             extra="pr.person_id IS NOT NULL")
            + " UNION ALL "
            + contact.format(person="x.person_id", join="", extra="x.platform IS NULL AND x.person_id IS NOT NULL")
            + ") y GROUP BY person_id HAVING SUM(DISTINCT code) > 0"
        )
        self._filled(self.cinfo)
        down = [r[0] for r in c.exec_driver_sql(f"SELECT id FROM accounts WHERE status IN {_in(DOWN)}")]
        live = f"CASE WHEN a.account_id IN ({', '.join(map(str, down))}) THEN NULL ELSE a.account_id END" if down else "a.account_id"
        facts = " UNION ALL ".join((
            (f"SELECT a.person_id AS person_id, 1 AS member, {live} AS live, CAST(NULL AS INTEGER) AS flags, "
             "CAST(NULL AS VARCHAR(64)) AS pmin, CAST(NULL AS VARCHAR(64)) AS pmax "
             f"FROM {self.aud} a WHERE a.person_id IS NOT NULL"),
            f"SELECT person_id, NULL, NULL, NULL, MIN(platform), MAX(platform) FROM {self.plat} GROUP BY person_id",
            f"SELECT person_id, NULL, NULL, flags, NULL, NULL FROM {self.cinfo}",
        ))
        self.reach = self._temp(
            "reach", "person_id BIGINT NOT NULL, live_min INTEGER, live_max INTEGER, pmin VARCHAR(64), pmax VARCHAR(64), "
            "opted_in INTEGER NOT NULL, email INTEGER NOT NULL, phone INTEGER NOT NULL", key="person_id",
        )
        flags = "COALESCE(MAX(flags), 0)"
        c.exec_driver_sql(
            f"INSERT INTO {self.reach} (person_id, live_min, live_max, pmin, pmax, opted_in, email, phone) "
            f"SELECT person_id, MIN(live), MAX(live), MIN(pmin), MAX(pmax), "
            f"CASE WHEN ({flags} & 1) <> 0 THEN 1 ELSE 0 END, CASE WHEN ({flags} & 3) <> 0 THEN 1 ELSE 0 END, "
            f"CASE WHEN ({flags} & 4) <> 0 THEN 1 ELSE 0 END "
            f"FROM ({facts}) f GROUP BY person_id HAVING MAX(member) = 1"
        )
        self._filled(self.reach)

    # -- reading ----------------------------------------------------------------------------

    @staticmethod
    def _tier_sql() -> str:
        """The member's tier number (1..4, as in TIERS) for the row of `a` (audience), `acc`, `r` (reach):
        another standing account has them (their smallest or largest is not this one), or an
        opt-in; a usable address or phone; a platform other than this account's."""
        return (
            "CASE "
            "WHEN r.live_min <> a.account_id OR r.live_max <> a.account_id OR r.opted_in = 1 THEN 1 "
            "WHEN r.email = 1 OR r.phone = 1 THEN 2 "
            "WHEN r.pmin <> acc.platform OR r.pmax <> acc.platform THEN 3 "
            "ELSE 4 END"
        )

    def accounts(self, account_ids: list[int] | None = None) -> list[AccountNumbers]:
        """Every account (but address books), or those given, with tiers and channels."""
        rows = self.conn.execute(text(
            "SELECT id, platform, handle, label, status, status_since FROM accounts WHERE platform <> 'contacts' ORDER BY id"
        )).all()
        conv = UTCDateTime().process_result_value
        out = {
            r.id: AccountNumbers(r.id, r.platform, r.handle, r.label, r.status, conv(r.status_since, None))
            for r in rows if account_ids is None or r.id in account_ids
        }
        if not out:
            return []
        tier = self._tier_sql()
        for row in self.conn.execute(text(
            f"SELECT a.account_id, {tier} AS tier, COUNT(*), SUM(a.anonymous), SUM(r.email), SUM(r.opted_in), SUM(r.phone) "
            f"FROM {self.aud} a JOIN accounts acc ON acc.id = a.account_id LEFT JOIN {self.reach} r ON r.person_id = a.person_id "
            f"GROUP BY a.account_id, {tier}"
        )):
            numbers = out.get(row[0])
            if numbers is None:
                continue
            numbers.tiers[TIERS[row[1] - 1]] += row[2]
            numbers.audience += row[2]
            if row[1] == 4:
                numbers.unreachable_ids_only += int(row[3] or 0)
            for key, n in zip(("email", "newsletter", "phone"), row[4:]):
                numbers.by_channel[key] = numbers.by_channel.get(key, 0) + int(n or 0)
        for numbers in out.values():
            for key in ("email", "newsletter", "phone"):
                numbers.by_channel.setdefault(key, 0)
        for account_id, platform, n in self.conn.execute(text(
            f"SELECT a.account_id, pl.platform, COUNT(*) FROM {self.aud} a JOIN accounts acc ON acc.id = a.account_id "
            f"JOIN {self.plat} pl ON pl.person_id = a.person_id WHERE pl.platform <> acc.platform "
            "GROUP BY a.account_id, pl.platform ORDER BY a.account_id, pl.platform"
        )):
            if account_id in out:
                out[account_id].by_channel[platform] = n
        return list(out.values())

    def people(self) -> int:
        """Distinct persons in the audience of any account (a profile without a person counts as one)."""
        linked = self.conn.execute(text(f"SELECT COUNT(*) FROM {self.reach}")).scalar_one()
        unlinked = self.conn.execute(text(f"SELECT COUNT(*) FROM {self.aud} WHERE person_id IS NULL")).scalar_one()
        return linked + unlinked

    def top_unreachable(self, account_id: int, limit: int = TOP_UNREACHABLE) -> list[Member]:
        """The unreachable members with the largest audiences of their own (unknown counts last)."""
        rows = self.conn.execute(text(
            "SELECT p.platform, p.platform_id, p.handle, p.display_name, p.url, p.followers_count, p.bio FROM ("
            f"  SELECT a.platform, a.platform_id, a.followers_count FROM {self.aud} a JOIN accounts acc ON acc.id = a.account_id "
            f"  LEFT JOIN {self.reach} r ON r.person_id = a.person_id WHERE a.account_id = :acc AND {self._tier_sql()} = 4 "
            "  ORDER BY CASE WHEN a.followers_count IS NULL THEN 1 ELSE 0 END, a.followers_count DESC, a.platform_id LIMIT :limit"
            ") t JOIN profiles p ON p.platform = t.platform AND p.platform_id = t.platform_id "
            "ORDER BY CASE WHEN t.followers_count IS NULL THEN 1 ELSE 0 END, t.followers_count DESC, t.platform_id"
        ), {"acc": account_id, "limit": limit})
        return [
            Member(
                r.platform, r.platform_id, r.handle, r.display_name, profile_url(r.platform, r.platform_id, r.handle, r.url),
                r.followers_count, r.bio[:BIO_CHARS] if r.bio else r.bio,
            )
            for r in rows
        ]


def history(conn: Connection, account_ids: list[int]) -> dict[int, list[HistoryPoint]]:
    """Each account's audience over time: its applied (complete or accepted) audience snapshots."""
    out: dict[int, list[HistoryPoint]] = {a: [] for a in account_ids}
    if not account_ids:
        return out
    conv = UTCDateTime().process_result_value
    rows = conn.execute(text(
        "SELECT account_id, id, kind, as_of, count FROM snapshots "
        f"WHERE seq IS NOT NULL AND kind IN {_in(AUDIENCE_KINDS)} ORDER BY account_id, kind, seq"
    ))
    for r in rows:
        if r.account_id in out:
            out[r.account_id].append(HistoryPoint(r.id, r.kind, conv(r.as_of, None), int(r.count or 0)))
    return out


def last_complete_snapshot(conn: Connection, account_id: int) -> SnapshotInfo | None:
    """The newest applied audience snapshot of the account: what the report's figures stand on."""
    r = conn.execute(text(
        "SELECT id, kind, as_of, finished_at, count FROM snapshots "
        f"WHERE account_id = :acc AND seq IS NOT NULL AND kind IN {_in(AUDIENCE_KINDS)} "
        "ORDER BY as_of DESC, id DESC LIMIT 1"
    ), {"acc": account_id}).first()
    if r is None:
        return None
    conv = UTCDateTime().process_result_value
    return SnapshotInfo(r.id, r.kind, conv(r.as_of, None), conv(r.finished_at, None), int(r.count or 0))
