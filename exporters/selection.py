"""Who an export, report or campaign is about: the shared filters (SPEC §4) and the persons
they select, loaded in batches.

``Filters`` holds the options every export, report and campaign command takes (``--tag``,
``--platform``, ``--account``, ``--kind``, ``--not-on``, ``--reachable-only``);
``person_ids_query`` turns them into one ``SELECT persons.id`` (correlated EXISTS clauses, so
it can sit inside ``IN (...)`` or drive a batch loop); ``iter_people`` yields ``PersonView``
objects in id order, a batch at a time with four set-based queries per batch (profiles,
relationships, contact points, tags), never a query per person: a million persons stream
through in flat memory.

The filters combine with AND; the values of one option with OR (``--tag a --tag b``: a person
with either tag). ``--account`` and ``--kind`` given together mean one current relationship
that satisfies both ("followers of x:ana"), not two unrelated ones.

Consent and suppression are reported, not applied, here: every ``ContactView`` carries its
consent (merged over the profiles the address was found on: an unsubscribe anywhere wins,
then an opt-in) and whether the suppression list holds it; the writers and campaigns decide.
A profile whose own handle is on the suppression list is marked ``suppressed``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, NamedTuple

import typer
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.sql.elements import ColumnElement

from backup.accounts import PLATFORMS
from backup.accounts import resolve as resolve_account
from backup.db.models import (
    RELATIONSHIP_KINDS,
    Account,
    ContactPoint,
    Person,
    PersonTag,
    Profile,
    Relationship,
    Snapshot,
    Suppression,
)
from backup.errors import UsageError
from backup.profiles import profile_url

__all__ = [
    "EVERYONE", "AccountOpt", "ContactView", "Filters", "KindOpt", "NotOnOpt", "PersonView", "PlatformOpt", "ProfileView",
    "ReachableOnlyOpt", "RelationshipView", "TagOpt", "contact_rank", "count_people", "filters_from", "is_suppressed", "iter_people",
    "normalize_value", "person_ids", "person_ids_query", "read_snapshot", "suppressed_values",
]

SELF = "self"  # source of a profile's own handles (backup.people.evidence.SELF): not a contact
CONTACT_KINDS = ("email", "phone", "website", "handle")
REACHABLE_KINDS = ("email", "phone")
BATCH = 5_000
MAX_TAG = 64
# Best consent first; None (an address found in a bio) counts as unknown.
CONSENT_ORDER = {"opted_in": 0, "unknown": 1, None: 1, "unsubscribed": 2}
_MERGE_RANK = {"unsubscribed": 0, "opted_in": 1, "unknown": 2, None: 3}  # which consent wins a merge


# -- filters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """SPEC §4 "Filters for exports, reports and campaigns". Empty: everyone."""

    tags: tuple[str, ...] = ()  # --tag T: a person with any of them
    platforms: tuple[str, ...] = ()  # --platform P: has a profile on P
    accounts: tuple[str, ...] = ()  # --account A: a current relationship with that own account
    kinds: tuple[str, ...] = ()  # --kind K: a current relationship of that kind
    not_on: tuple[str, ...] = ()  # --not-on P: no current relationship with any of my accounts on P
    reachable_only: bool = False  # --reachable-only: an usable email/phone, or a current relationship

    @property
    def empty(self) -> bool:
        return not (self.tags or self.platforms or self.accounts or self.kinds or self.not_on or self.reachable_only)

    def describe(self) -> str:
        """``tag=professional, not on mastodon`` for messages and reports; ``everyone`` when empty."""
        parts = []
        if self.tags:
            parts.append("tag=" + " or ".join(self.tags))
        if self.platforms:
            parts.append("on " + " or ".join(self.platforms))
        if self.accounts and self.kinds:
            parts.append(f"{' or '.join(self.kinds)} of " + " or ".join(self.accounts))
        elif self.accounts:
            parts.append("related to " + " or ".join(self.accounts))
        elif self.kinds:
            parts.append("kind=" + " or ".join(self.kinds))
        if self.not_on:
            parts.append("not on " + " or ".join(self.not_on))
        if self.reachable_only:
            parts.append("reachable only")
        return ", ".join(parts) or "everyone"


EVERYONE = Filters()  # no filter: every person (a frozen default argument)


def _clean_list(values: Iterable[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or ():
        for part in str(value).split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def _platforms(values: Iterable[str] | None, option: str) -> tuple[str, ...]:
    found = [v.lower() for v in _clean_list(values)]
    for p in found:
        if p not in PLATFORMS:
            raise UsageError(f"{option}: unknown platform {p!r}", hint=f"platforms: {', '.join(PLATFORMS)}")
    return tuple(found)


def filters_from(
    tag: Sequence[str] | None = None,
    platform: Sequence[str] | None = None,
    account: Sequence[str] | None = None,
    kind: Sequence[str] | None = None,
    not_on: Sequence[str] | None = None,
    reachable_only: bool = False,
) -> Filters:
    """The Filters of the command-line options (repeatable; a comma also separates values).
    Raises UsageError for an unknown platform or kind, or an unusable tag. Accounts are
    resolved when the query runs (they need the database)."""
    tags = []
    for t in _clean_list(tag):
        if len(t) > MAX_TAG:
            raise UsageError(f"--tag: {t[:MAX_TAG]!r}… is longer than {MAX_TAG} characters")
        tags.append(t)
    kinds = [k.lower() for k in _clean_list(kind)]
    for k in kinds:
        if k not in RELATIONSHIP_KINDS:
            raise UsageError(f"--kind: unknown kind {k!r}", hint=f"kinds: {', '.join(RELATIONSHIP_KINDS)}")
    return Filters(
        tags=tuple(tags), platforms=_platforms(platform, "--platform"), accounts=tuple(_clean_list(account)),
        kinds=tuple(kinds), not_on=_platforms(not_on, "--not-on"), reachable_only=bool(reachable_only),
    )


# Typer option types: one definition, used by every export, report and campaign command.
TagOpt = Annotated[list[str] | None, typer.Option(
    "--tag", metavar="TAG", help="Only persons with this tag (repeatable: any of them).")]
PlatformOpt = Annotated[list[str] | None, typer.Option(
    "--platform", metavar="PLATFORM", help="Only persons with a profile on this platform (repeatable).")]
AccountOpt = Annotated[list[str] | None, typer.Option(
    "--account", metavar="ACCOUNT",
    help="Only persons in a current relationship with this account of mine (platform:handle, id or label; repeatable).")]
KindOpt = Annotated[list[str] | None, typer.Option(
    "--kind", metavar="KIND",
    help="Only persons in a current relationship of this kind: follower, following, connection, subscriber (repeatable).")]
NotOnOpt = Annotated[list[str] | None, typer.Option(
    "--not-on", metavar="PLATFORM",
    help="Only persons with no current relationship with any of my accounts on this platform (repeatable).")]
ReachableOnlyOpt = Annotated[bool, typer.Option(
    "--reachable-only",
    help="Only persons I can reach: an email or phone that is not suppressed or unsubscribed, "
         "or a current relationship with one of my accounts.")]


# -- the query ----------------------------------------------------------------------------------

_persons = Person.__table__
_profiles = Profile.__table__
_rels = Relationship.__table__
_accounts = Account.__table__
_contacts = ContactPoint.__table__
_tags = PersonTag.__table__
_supp = Suppression.__table__


def _current_relationship(person_id: ColumnElement, *, account_ids: Sequence[int] | None = None,
                          kinds: Sequence[str] | None = None, platforms: Sequence[str] | None = None) -> ColumnElement:
    """EXISTS a current relationship between one of my accounts and a profile of the person.

    Accounts first, so the relationships' key (account_id, kind, platform_id) is probed for
    each profile: a handful of accounts, never a scan of the relationships."""
    p = _profiles.alias("sel_p")
    a = _accounts.alias("sel_a")
    r = _rels.alias("sel_r")
    conds = [
        p.c.person_id == person_id, a.c.platform == p.c.platform, r.c.account_id == a.c.id,
        r.c.kind.in_(list(kinds or RELATIONSHIP_KINDS)), r.c.platform_id == p.c.platform_id,
        r.c.until_snapshot_id.is_(None),
    ]
    if account_ids is not None:
        conds.append(a.c.id.in_(list(account_ids)))
    if platforms is not None:
        conds.append(a.c.platform.in_(list(platforms)))
    return exists().where(*conds)


def _usable_contact(person_id: ColumnElement) -> ColumnElement:
    """EXISTS an email or phone of the person that no one unsubscribed and that is not suppressed."""

    def usable(c) -> list[ColumnElement]:
        other = _contacts.alias("sel_c2")
        s = _supp.alias("sel_s")
        return [
            c.c.kind.in_(REACHABLE_KINDS),
            or_(c.c.consent.is_(None), c.c.consent != "unsubscribed"),
            ~exists().where(s.c.kind == c.c.kind, s.c.value == c.c.value),
            ~exists().where(other.c.kind == c.c.kind, other.c.value == c.c.value, other.c.consent == "unsubscribed"),
        ]

    p = _profiles.alias("sel_cp")
    c = _contacts.alias("sel_c")
    on_profile = exists().where(p.c.person_id == person_id, c.c.platform == p.c.platform,
                                c.c.platform_id == p.c.platform_id, *usable(c))
    c1 = _contacts.alias("sel_c1")
    on_person = exists().where(c1.c.person_id == person_id, c1.c.platform.is_(None), *usable(c1))
    return or_(on_profile, on_person)


def _conditions(conn: Connection, filters: Filters, person_id: ColumnElement) -> list[ColumnElement]:
    conds: list[ColumnElement] = []
    if filters.tags:
        conds.append(exists().where(_tags.c.person_id == person_id, _tags.c.tag.in_(list(filters.tags))))
    if filters.platforms:
        p = _profiles.alias("sel_pp")
        conds.append(exists().where(p.c.person_id == person_id, p.c.platform.in_(list(filters.platforms))))
    if filters.accounts or filters.kinds:
        ids = sorted({resolve_account(conn, ref).id for ref in filters.accounts}) if filters.accounts else None
        conds.append(_current_relationship(person_id, account_ids=ids, kinds=filters.kinds or None))
    if filters.not_on:
        conds.append(~_current_relationship(person_id, platforms=filters.not_on))
    if filters.reachable_only:
        conds.append(or_(_usable_contact(person_id), _current_relationship(person_id)))
    return conds


def person_ids_query(conn: Connection, filters: Filters = EVERYONE) -> Select:
    """``SELECT persons.id`` of the persons the filters select (no order: for ``IN (...)``).

    Raises UsageError for an ``--account`` that names no account."""
    conds = _conditions(conn, filters, _persons.c.id)
    return select(_persons.c.id).where(and_(true(), *conds))


def person_ids(conn: Connection, filters: Filters = EVERYONE) -> list[int]:
    """The same, materialised, ascending."""
    return list(conn.execute(person_ids_query(conn, filters).order_by(_persons.c.id)).scalars())


# -- views --------------------------------------------------------------------------------------


class RelationshipView(NamedTuple):
    account: str  # platform:handle of my account
    kind: str  # follower | following | connection | subscriber
    since: dt.datetime | None
    until: dt.datetime | None  # None while current

    @property
    def current(self) -> bool:
        return self.until is None


@dataclass(slots=True)
class ProfileView:
    platform: str
    platform_id: str
    handle: str | None
    display_name: str | None
    url: str | None  # profile_url(): the stored address, else the one the key implies
    followers_count: int | None
    relationships: list[RelationshipView] = field(default_factory=list)
    first_seen: dt.datetime | None = None
    suppressed: bool = False  # the profile's own handle is on the suppression list

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.platform_id}"


@dataclass(slots=True)
class ContactView:
    kind: str  # email | phone | website | handle
    value: str  # normalized; a handle is platform:identifier (mastodon:ana@social.example)
    platform: str | None  # for handles: the platform of the handle
    consent: str | None  # opted_in | unknown | unsubscribed | None (merged: an unsubscribe anywhere wins)
    source: str  # where it came from (the file, or profile:<field>); for a merged consent, that consent's source
    verified: bool
    suppressed: bool

    @property
    def ident(self) -> str:
        """A handle without its platform (``ana@social.example``); other values as they are."""
        return self.value.partition(":")[2] if self.kind == "handle" else self.value

    @property
    def usable(self) -> bool:
        """Not suppressed and not unsubscribed: may go to a mailing list or get a message."""
        return not self.suppressed and self.consent != "unsubscribed"


def contact_rank(c: ContactView) -> tuple:
    """Sort key, best address first: opted in, then unknown; verified; from an import (a
    newsletter, an address book) before one read from a bio; then the value."""
    return (CONSENT_ORDER.get(c.consent, 1), not c.verified, c.source.startswith("profile:"), c.value)


@dataclass(slots=True)
class PersonView:
    """Everything an export, report or campaign needs about one person."""

    id: int
    name: str | None
    tags: list[str]
    profiles: list[ProfileView]
    contacts: list[ContactView]

    @property
    def label(self) -> str:
        """The name to show: the person's, else a profile's display name or handle, else ``person N``."""
        if self.name and self.name.strip():
            return self.name
        for p in self.profiles:
            if p.display_name and p.display_name.strip():
                return p.display_name
        for p in self.profiles:
            if p.handle:
                return p.handle
        return f"person {self.id}"

    @property
    def first_seen(self) -> dt.datetime | None:
        seen = [p.first_seen for p in self.profiles if p.first_seen is not None]
        return min(seen) if seen else None

    def contacts_of(self, kind: str) -> list[ContactView]:
        """Contact points of one kind, best first (see ``contact_rank``)."""
        return sorted((c for c in self.contacts if c.kind == kind), key=contact_rank)

    def emails(self, *, include_unconsented: bool = False) -> list[ContactView]:
        """Addresses that may receive mail, best first: opted in (and unknown with
        ``include_unconsented``); never unsubscribed or suppressed."""
        allowed = {"opted_in", "unknown", None} if include_unconsented else {"opted_in"}
        return [c for c in self.contacts_of("email") if c.usable and c.consent in allowed]

    def best_email(self, *, include_unconsented: bool = False) -> ContactView | None:
        found = self.emails(include_unconsented=include_unconsented)
        return found[0] if found else None

    def handles_on(self, platform: str) -> list[ContactView]:
        return [c for c in self.contacts_of("handle") if c.platform == platform]

    def current_relationships(self) -> list[RelationshipView]:
        return [r for p in self.profiles for r in p.relationships if r.current]


# -- loading ------------------------------------------------------------------------------------


def _as_utc(value) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite through text(): the stored naive UTC text
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def suppressed_values(conn: Connection) -> set[tuple[str, str]]:
    """Everything on the suppression list, as (kind, normalized value)."""
    return {(k, v) for k, v in conn.execute(select(_supp.c.kind, _supp.c.value))}


def normalize_value(kind: str, value: str) -> str:
    """A contact value in the form contact points and the suppression list store it."""
    from backup.people.extract import normalize_email, normalize_handle, normalize_phone

    value = (value or "").strip()
    if kind == "email":
        return normalize_email(value) or value.lower()
    if kind == "phone":
        return normalize_phone(value) or value
    if kind == "handle":
        if value.startswith("@") and value.count("@") == 2:  # @user@host: a fediverse address
            value = "mastodon:" + value
        return normalize_handle(value) or value.lower()
    return value


def is_suppressed(conn: Connection, kind: str, value: str) -> bool:
    """Is this email, phone or handle (``platform:handle``) on the suppression list?"""
    value = normalize_value(kind, value)
    return conn.execute(select(_supp.c.id).where(_supp.c.kind == kind, _supp.c.value == value).limit(1)).first() is not None


def _suppressed_profiles(conn: Connection) -> set[tuple[str, str]]:
    """Profiles whose own handle (as linking stores it, source ``self``) is suppressed."""
    rows = conn.execute(text(
        "SELECT c.platform, c.platform_id FROM suppressions s JOIN contact_points c "
        "ON c.kind = 'handle' AND c.value = s.value WHERE s.kind = 'handle' AND c.source = :self"
    ), {"self": SELF})
    return {(p, pid) for p, pid in rows}


def _in_batch(column: str, ids: list[int]) -> tuple[str, dict]:
    """A predicate selecting the batch: a range when the ids are dense (an index range scan),
    else an IN list."""
    lo, hi = ids[0], ids[-1]
    if hi - lo + 1 <= 2 * len(ids):
        return f"{column} BETWEEN :lo AND :hi", {"lo": lo, "hi": hi}
    names = [f"id{i}" for i in range(len(ids))]
    return f"{column} IN ({', '.join(':' + n for n in names)})", dict(zip(names, ids, strict=True))


_NAMED = re.compile(r"(?<![:\w]):(\w+)")


class _Raw:
    """Batch reads straight from the DBAPI cursor, in the connection's transaction: plain
    tuples, no per-row result processing (a million persons are several million rows).
    SQL is written with ``:name`` parameters, which psycopg spells ``%(name)s``."""

    def __init__(self, conn: Connection):
        self.dbapi = conn.connection.driver_connection
        self.pyformat = conn.dialect.name != "sqlite"
        self._sql: dict[str, str] = {}

    def all(self, sql: str, params: dict) -> list[tuple]:
        if self.pyformat:
            sql = self._sql.get(sql) or self._sql.setdefault(sql, _NAMED.sub(r"%(\1)s", sql.replace("%", "%%")))
        cur = self.dbapi.cursor()
        try:
            cur.execute(sql, params)
            return cur.fetchall()
        finally:
            cur.close()


_X_INTENT = "https://twitter.com/intent/user?user_id="  # backup.profiles: an X id's own link


class _Loader:
    """What stays the same for a whole iteration: accounts, snapshot times, the suppression list."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.raw = _Raw(conn)
        self.accounts = {i: f"{p}:{h}" for i, p, h in conn.execute(select(_accounts.c.id, _accounts.c.platform, _accounts.c.handle))}
        self.as_of = {i: _as_utc(t) for i, t in conn.execute(select(Snapshot.id, Snapshot.as_of).where(Snapshot.seq.is_not(None)))}
        self.suppressed = suppressed_values(conn)
        self.suppressed_profiles = _suppressed_profiles(conn) if any(k == "handle" for k, _ in self.suppressed) else set()
        self.times: dict = {}  # stored time -> aware datetime (an import gives many profiles one time)
        kinds = list(RELATIONSHIP_KINDS)
        self.kind_params = {f"k{i}": k for i, k in enumerate(kinds)}
        self.kinds_in = ", ".join(f":k{i}" for i in range(len(kinds)))

    def _time(self, value) -> dt.datetime | None:
        if value is None:
            return None
        got = self.times.get(value)
        if got is None:
            if len(self.times) > 100_000:
                self.times.clear()
            got = self.times[value] = _as_utc(value)
        return got

    def load(self, persons: list[tuple[int, str | None]]) -> list[PersonView]:
        ids = [i for i, _ in persons]
        views = {i: PersonView(i, name, [], [], []) for i, name in persons}
        where, params = _in_batch("person_id", ids)
        sup_profiles = self.suppressed_profiles
        times, time_of = self.times, self._time
        get = views.get
        # Profiles with their relationships in one pass over the person_id index: a profile
        # comes once per relationship (or once with NULLs), in key order. (Hot loop: a million
        # rows for a million persons.)
        accounts, as_of = self.accounts, self.as_of
        rels: dict = {}  # (account_id, kind, since, until) -> RelationshipView: shared, they are immutable
        several: list[ProfileView] = []  # profiles with more than one relationship, to sort
        view = None
        for pid, plat, key, handle, name, url, followers, first_seen, account_id, kind, since, until in self.raw.all(
            "SELECT p.person_id, p.platform, p.platform_id, p.handle, p.display_name, p.url, p.followers_count, "
            "p.first_seen_at, r.account_id, r.kind, r.since_snapshot_id, r.until_snapshot_id FROM profiles p "
            "LEFT JOIN accounts a ON a.platform = p.platform "
            f"LEFT JOIN relationships r ON r.account_id = a.id AND r.kind IN ({self.kinds_in}) AND r.platform_id = p.platform_id "
            f"WHERE {where.replace('person_id', 'p.person_id')} ORDER BY p.person_id, p.platform, p.platform_id",
            {**params, **self.kind_params},
        ):
            if view is None or view.platform_id != key or view.platform != plat:
                person = get(pid)
                if person is None:
                    view = None
                    continue
                if not url:
                    url = _X_INTENT + key if plat == "x" and key.isdigit() else profile_url(plat, key, handle, None)
                seen = times.get(first_seen) if first_seen is not None else None
                if seen is None and first_seen is not None:
                    seen = time_of(first_seen)
                view = ProfileView(plat, key, handle, name, url, followers, [], seen,
                                   (plat, key) in sup_profiles if sup_profiles else False)
                person.profiles.append(view)
            if account_id is None:
                continue
            rel = rels.get((account_id, kind, since, until))
            if rel is None:
                rel = rels[(account_id, kind, since, until)] = RelationshipView(
                    accounts.get(account_id, str(account_id)), kind, as_of.get(since), as_of.get(until))
            if view.relationships:
                several.append(view)
            view.relationships.append(rel)
        for v in several:
            v.relationships.sort(key=_relationship_order)
        self._contacts(where, params, views)
        for pid, tag in self.raw.all(f"SELECT person_id, tag FROM person_tags WHERE {where} ORDER BY person_id, tag", params):
            person = get(pid)
            if person is not None:
                person.tags.append(tag)
        return [views[i] for i in ids]

    def _contacts(self, where: str, params: dict, views: dict[int, PersonView]) -> None:
        pwhere = where.replace("person_id", "p.person_id")
        rows = self.raw.all(
            "SELECT p.person_id, c.kind, c.value, c.source, c.consent, c.verified FROM profiles p "
            "JOIN contact_points c ON c.platform = p.platform AND c.platform_id = p.platform_id "
            f"WHERE {pwhere} AND c.source <> :self "
            "UNION ALL SELECT person_id, kind, value, source, consent, verified FROM contact_points "
            f"WHERE {where} AND platform IS NULL", {**params, "self": SELF})
        merged: dict[int, dict[tuple[str, str], ContactView]] = {}
        suppressed = self.suppressed
        for pid, kind, value, source, consent, verified in rows:
            if pid not in views:
                continue
            mine = merged.get(pid)
            if mine is None:
                mine = merged[pid] = {}
            c = mine.get((kind, value))
            if c is None:
                platform = value.partition(":")[0] if kind == "handle" else None
                mine[(kind, value)] = ContactView(kind, value, platform, consent, source, bool(verified),
                                                  (kind, value) in suppressed if suppressed else False)
                continue
            if _MERGE_RANK.get(consent, 3) < _MERGE_RANK.get(c.consent, 3):
                c.consent, c.source = consent, source  # an unsubscribe anywhere wins; then a stated opt-in
            c.verified = c.verified or bool(verified)
        for pid, mine in merged.items():
            contacts = list(mine.values())
            if len(contacts) > 1:
                contacts.sort(key=_contact_order)
            views[pid].contacts = contacts


_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


def _relationship_order(r: RelationshipView) -> tuple:
    return (r.since or _EPOCH, r.account, r.kind)


def _contact_order(c: ContactView) -> tuple:
    return (CONTACT_KINDS.index(c.kind) if c.kind in CONTACT_KINDS else 9, c.value)


def iter_people(
    conn: Connection, filters: Filters = EVERYONE, *, batch: int = BATCH, start: int | None = None, stop: int | None = None,
) -> Iterator[PersonView]:
    """The selected persons in id order, as PersonView, loaded ``batch`` at a time (a few
    set-based queries per batch, never one per person); ``start``/``stop`` bound the person
    ids (``start <= id < stop``), for exports that split the work. For one consistent view of
    the store, read inside ``read_snapshot(engine)``."""
    loader = _Loader(conn)
    conds = _conditions(conn, filters, _persons.c.id)
    if stop is not None:
        conds.append(_persons.c.id < stop)
    # one statement for every batch (compiled once): the next `batch` ids after :last
    q = (select(_persons.c.id, _persons.c.name).where(and_(true(), *conds), _persons.c.id > bindparam("last"))
         .order_by(_persons.c.id).limit(batch))
    last = -(2**62) if start is None else start - 1
    while True:
        rows = conn.execute(q, {"last": last}).all()
        if not rows:
            return
        yield from loader.load(rows)
        last = rows[-1][0]
        if len(rows) < batch:
            return


@contextlib.contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see one moment of the store, whatever commits meanwhile:
    one read transaction (SQLite in WAL mode never blocks a writer for it); on PostgreSQL at
    REPEATABLE READ, where READ COMMITTED would let each batch see a different store."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def count_people(conn: Connection, filters: Filters = EVERYONE) -> int:
    """How many persons the filters select."""
    return conn.execute(select(func.count()).select_from(person_ids_query(conn, filters).subquery())).scalar_one()
