"""Identity linking: `audience link` (SPEC §7), also run after every `backup` and `import`.

One run, in one transaction (a run that fails changes nothing, and the next one starts from
the same point), in five steps:

1. **Extraction** (incremental): every profile changed since the last finished run (its
   ``updated_at``, or a contact point an import added to it) is read in key order, in batches
   of ``BATCH`` (flat memory), and its extracted contact points are brought to what
   ``extract`` finds: rows whose source is ``profile:<field>`` or ``self`` (the profile's own
   handles, so that "A names B" is a join on (kind, value)). Contact points an import stored
   (source = the file name or ``api``) are never touched: they carry consent. Large runs
   extract in worker processes.
2. **Evidence** over the whole store, blocked by value: only contact points that share a
   (kind, value) are read (a GROUP BY on the (kind, value) index), plus the Bluesky domain
   handles joined to websites; ``evidence.py`` scores the pairs.
3. **Clusters**: union-find (``clusters.py``), manual merges first, then evidence strongest
   first; split decisions are cannot-link pairs; a person may not grow past ``MAX_CLUSTER``.
4. **Persons**: every profile belongs to exactly one person, and ids stay put: a cluster keeps
   the smallest person id its profiles already had (one id per cluster; a profile split off
   gets a new person). Set-based SQL over temporary tables: a million new profiles get a
   million persons in a few statements, not a million round trips. Links are stored as the
   difference from the last run.
5. **Tag rules**, then the ``LinkRun`` row with the counts.

A run that finds nothing changed since the last one (no profile, import contact or decision)
keeps persons and links as they are and only applies the tag rules. Otherwise steps 2-4 cover
the whole store (evidence refused last time, by a split or the cap, may apply now): linear in
the store, about 40 s per million profiles on a 2-core machine, against 5 s for nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)

from ..db.engine import write
from ..db.models import (
    ContactPoint,
    IdentityDecision,
    IdentityLink,
    LinkRun,
    Person,
    PersonTag,
    Profile,
    Snapshot,
    TagRule,
    UTCDateTime,
    utcnow,
)
from .clusters import Clusters
from .evidence import (
    CONFIDENCE,
    MAX_SHARED,
    SELF,
    Evidence,
    EvidenceBuilder,
    Holder,
    profile_key,
    split_key,
)
from .extract import NAMED_BY_ID, extract, handle_from_url, own_handles

log = logging.getLogger(__name__)

BATCH = 5_000  # profiles extracted per transaction
MAX_CLUSTER = 25  # profiles in one person: a handful of platforms, personal and professional accounts, cards
MAX_REFUSED_SHOWN = 20  # refused values and unions listed in a run's report (all are counted)
FETCH = 10_000  # rows per fetch of a streamed query
EXTRACTED = "profile:"  # source prefix of what extraction found
IMPORT_WEBSITE = "profile:import"  # a handle read from a website an import stored on the profile

_PREFIX = "audience_link_"  # temporary tables


@dataclass
class LinkResult:
    """What one run did and what the store holds afterwards (SPEC §4 `link --json`)."""

    persons: int
    profiles: int
    links_by_evidence: dict[str, int]
    contact_points_by_kind: dict[str, int]
    refused: dict
    profiles_read: int = 0
    full: bool = False
    unchanged: bool = False  # nothing changed since the last run: persons kept as they were
    run_id: int | None = None
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {
            "persons": self.persons, "profiles": self.profiles, "links_by_evidence": self.links_by_evidence,
            "contact_points_by_kind": self.contact_points_by_kind, "refused": self.refused,
            "profiles_read": self.profiles_read, "full": self.full, "unchanged": self.unchanged,
            "run_id": self.run_id, "seconds": round(self.seconds, 3),
        }


def run_link(engine: Engine, *, full: bool = False, region: str | None = None) -> LinkResult:
    """Extract, link and tag, in one transaction; incremental unless ``full`` (or on the
    first run). ``region`` is the phone region for national numbers in bios (None: only
    +numbers; default: the setting `AUDIENCE_PHONE_REGION`). Callers hold the run lock, so
    no import changes profiles meanwhile.
    """
    t0 = time.monotonic()
    if region is None:
        from ..config import phone_region

        region = phone_region()
    with write(engine) as conn, _page_cache(conn) as grow_cache:
        started = utcnow()  # once the write lock is held: nothing changes profiles from here on
        since = None if full else conn.execute(
            select(LinkRun.started_at).where(LinkRun.finished_at.is_not(None)).order_by(LinkRun.id.desc()).limit(1)
        ).scalar()
        run_id = conn.execute(insert(LinkRun).values(started_at=started, created_at=started).returning(LinkRun.id)).scalar_one()
        grow_cache()  # a large store's existing contact points are compared and rewritten
        read = extract_profiles(conn, since, region=region, many=grow_cache)
        grow_cache()  # the run may have made it large
        timings = {"extract": time.monotonic() - t0}
        # Nothing read means nothing can link but decisions: links come from extracted or imported
        # points, whose profiles are read, and stored text is never taken away. So a first run
        # over bare ids (an X archive; each profile has its person from the snapshot) skips it.
        changed = read > 0 or _decided_since(conn, since) or _profiles_without_person(conn) or (
            since is None and conn.execute(select(IdentityLink.a_platform).limit(1)).first() is not None
        )
        if changed:
            links, refused = _link(conn, since, started, timings)
            by_evidence: dict[str, int] = {}
            for kind in links:
                by_evidence[kind] = by_evidence.get(kind, 0) + 1
        else:
            by_evidence = _links_by_evidence(conn)
            refused = _last_refused(conn)
        t = time.monotonic()
        apply_tag_rules(conn)
        timings["tags"] = time.monotonic() - t
        result = LinkResult(
            persons=conn.execute(select(func.count()).select_from(Person)).scalar_one(),
            profiles=conn.execute(select(func.count()).select_from(Profile)).scalar_one(),
            links_by_evidence=dict(sorted(by_evidence.items())),
            contact_points_by_kind=_contact_points_by_kind(conn),
            refused=refused, profiles_read=read, full=since is None, unchanged=not changed, run_id=run_id,
        )
        conn.execute(update(LinkRun).where(LinkRun.id == run_id).values(
            finished_at=utcnow(), profiles_read=read, persons=result.persons,
            links=sum(by_evidence.values()), refused=json.dumps(refused, ensure_ascii=False),
        ))
    result.seconds = time.monotonic() - t0
    log.debug("link run %s: %s", run_id, ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
    return result


# SQLite page cache while linking a large store: the (kind, value) index of contact points,
# the persons and the links are read and written in random order, and a 1M-profile run wrote
# each index page many times over with the 8 MiB default (measured: inserting 415k contact
# points took 5.2 s in batches of 5,000 with commits, 2.4 s in one transaction with 256 MiB).
# Only for a store with that many contact points: linking right after a 1M-follower X archive
# import (ids only, no contact points) takes as long with 8 MiB, in 95 MB instead of 290 MB,
# and that import promises 150 MB (SPEC P2). Restored afterwards.
LINK_CACHE_KIB = 256 * 1024
LARGE_CACHE_MIN = 250_000  # contact points from which the large cache pays
LARGE_READ_MIN = 200_000  # ... or profiles with text to read (a first run over a large store)


@contextlib.contextmanager
def _page_cache(conn: Connection) -> Iterator[Callable[[], None]]:
    """Yields ``grow()``, which gives the connection the large cache when the store is large."""
    if conn.dialect.name != "sqlite":
        yield lambda: None
        return
    raw = conn.connection.driver_connection  # below SQLAlchemy: a PRAGMA is no statement of the transaction
    before = raw.execute("PRAGMA cache_size").fetchone()[0]

    def grow(force: bool = False) -> None:
        if force or (conn.execute(select(func.max(ContactPoint.id))).scalar() or 0) >= LARGE_CACHE_MIN:
            raw.execute(f"PRAGMA cache_size=-{LINK_CACHE_KIB}")

    try:
        yield grow
    finally:
        raw.execute(f"PRAGMA cache_size={int(before)}")


def ensure_linked(engine: Engine) -> LinkResult | None:
    """Before persons are read (exports, reports, campaigns): an incremental run if anything
    changed since the last finished one, else nothing (a cheap check). When another command
    holds the run lock (a nightly backup), the persons are used as they were last linked:
    every profile has one all the same, since a snapshot gives each new profile its own.
    """
    from ..errors import LockBusy
    from ..lock import run_lock

    with engine.connect() as conn:
        if not needs_link(conn):
            return None
    try:
        with run_lock(engine, wait=False):
            return run_link(engine)
    except LockBusy:
        log.info("another command is running: persons as linked by the last run")
        return None


def needs_link(conn: Connection) -> bool:
    """Whether a run could change anything since the last finished one: a profile with text
    changed (bare ids hold nothing to link), an import brought contact points, a decision was
    made, a profile lacks its person, or, when tag rules exist, a snapshot changed who is in
    a relationship. A 1M-follower X archive import skips linking by this check."""
    since = conn.execute(
        select(LinkRun.started_at).where(LinkRun.finished_at.is_not(None)).order_by(LinkRun.id.desc()).limit(1)
    ).scalar()

    def any_(q) -> bool:
        return conn.execute(q.limit(1)).first() is not None

    changed = _readable() if since is None else (Profile.updated_at >= since) & _readable()
    imported = [func.substr(ContactPoint.source, 1, len(EXTRACTED)) != EXTRACTED, ContactPoint.source != SELF]
    if since is not None:
        imported.append(ContactPoint.created_at >= since)
    snapshots = select(Snapshot.id).where(Snapshot.status == "complete")
    return (
        any_(select(Profile.platform).where(changed))
        or any_(select(ContactPoint.id).where(*imported))  # an import's, not what a run extracted
        or _decided_since(conn, since)
        or _profiles_without_person(conn)
        or (any_(select(TagRule.id)) and any_(snapshots if since is None else snapshots.where(Snapshot.finished_at >= since)))
    )


def _readable():
    """Profiles with anything extraction can read: text, or a platform id that names them (a
    Mastodon URI, a Bluesky DID). Not the bare ids of an X archive."""
    return or_(
        *(c.is_not(None) for c in _PROFILE_COLUMNS[2:]), Profile.platform.in_(sorted(NAMED_BY_ID)),
        Profile.platform_id.contains("/"),
    )


def link_after_import(engine: Engine) -> LinkResult | None:
    """The automatic incremental run after `backup` and `import`.

    Their data is committed by then, so a failure here must not fail them: it is logged as a
    warning, and the next run (or `audience link`) picks the same profiles up again, since a
    run that did not finish does not move the incremental starting point.
    """
    try:
        with engine.connect() as conn:
            if not needs_link(conn):
                return None
        result = run_link(engine)
    except Exception as exc:  # whatever broke, the committed import stands  # noqa: BLE001
        log.warning("identity linking failed, the imported data is saved (%s: %s); run `audience link` to retry",
                    type(exc).__name__, exc)
        return None
    log.info("linked: %d persons from %d profiles (%d profiles read)", result.persons, result.profiles, result.profiles_read)
    return result


# -- 1. extraction ------------------------------------------------------------------------------


def extract_profiles(conn: Connection, since: dt.datetime | None, *, region: str | None = None,
                     many: Callable[[bool], None] | None = None) -> int:
    """Replace the extracted contact points of every profile changed since ``since`` (all when
    None), in key order and batches; returns the number of profiles read.

    Extraction is pure CPU (25-45 µs a profile), so a large run hands batches to worker
    processes while this one reads and writes the database: a pipeline ``IN_FLIGHT`` batches
    deep, whose memory does not grow with the store.
    """
    # A profile with no text at all (the bare ids of an X archive) holds nothing to extract,
    # unless its platform id names it (a Mastodon URI, a Bluesky DID) or an import stored a
    # contact point for it (a website can name a profile): not read. Stored text is never taken
    # away again (snapshots keep the last known value), so skipping such a profile leaves no
    # extracted point behind.
    readable = _readable()
    imported = exists().where(
        ContactPoint.platform == Profile.platform, ContactPoint.platform_id == Profile.platform_id,
        func.substr(ContactPoint.source, 1, len(EXTRACTED)) != EXTRACTED, ContactPoint.source != SELF,
    )
    if since is None:
        changed = readable | imported
        expected = conn.execute(select(func.count()).select_from(Profile).where(readable)).scalar_one()
    else:
        changed = ((Profile.updated_at >= since) & readable) | imported.where(ContactPoint.created_at >= since)
        # (profiles with new import contacts only are few)
        expected = conn.execute(select(func.count()).select_from(Profile).where(Profile.updated_at >= since, readable)).scalar_one()
    if many is not None and expected >= LARGE_READ_MIN:
        many(True)  # this many profiles with text will write that many contact points
    with _bulk_index(conn, expected >= BULK_MIN):
        return _extract_batches(conn, changed, region, _workers(expected), whole_range=since is None)


BULK_MIN = 50_000  # profiles to read from which bulk loading pays (see _bulk_index)
PARALLEL_MIN = 50_000  # profiles to read before worker processes pay for their start (~0.5 s)
MAX_WORKERS = 4
IN_FLIGHT = 2  # batches handed out ahead of the one being written


@contextlib.contextmanager
def _bulk_index(conn: Connection, bulk: bool, table=ContactPoint.__table__, name: str = "ix_contact_points_kind_value") -> Iterator[None]:
    """SQLite, many rows: build an index after the rows instead of maintaining it row by row.

    Rows written in key order land at random places of a secondary index: 2M contact points
    took 54 s with the (kind, value) index and a fifth of that without it plus CREATE INDEX
    (which sorts); the same holds for profiles' person ids and links' second profile. Both
    statements are part of the run's transaction, so the schema is the same before and after,
    whatever happens in between; readers (WAL) see the old state meanwhile. PostgreSQL keeps
    its indexes: dropping one would lock the table against readers.
    """
    index = next(i for i in table.indexes if i.name == name)
    if not bulk or conn.dialect.name != "sqlite":
        yield
        return
    index.drop(conn)
    yield
    index.create(conn)


def _extract_batches(conn: Connection, changed, region: str | None, workers: int, *, whole_range: bool) -> int:
    read = 0
    if not workers:
        for rows in _batches(conn, changed):
            _write_extracted(conn, rows, [_extract_rows(rows, region)], whole_range=whole_range)
            read += len(rows)
        return read
    import multiprocessing
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    pending: deque = deque()
    # fork: the workers need nothing but this module, and never touch the database; spawn
    # would re-run the caller's main script in each of them.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        for rows in _batches(conn, changed):
            read += len(rows)
            step = -(-len(rows) // workers)
            pending.append((rows, [pool.submit(_extract_rows, rows[i:i + step], region) for i in range(0, len(rows), step)]))
            if len(pending) > IN_FLIGHT:
                done, futures = pending.popleft()
                _write_extracted(conn, done, [f.result() for f in futures], whole_range=whole_range)
        while pending:
            done, futures = pending.popleft()
            _write_extracted(conn, done, [f.result() for f in futures], whole_range=whole_range)
    return read


def _workers(expected: int) -> int:
    import os
    import sys

    cores = min(os.cpu_count() or 1, MAX_WORKERS)
    if cores < 2 or expected < PARALLEL_MIN or not sys.platform.startswith("linux"):  # fork: only there
        return 0
    return cores


_PROFILE_COLUMNS = (Profile.platform, Profile.platform_id, Profile.handle, Profile.display_name, Profile.url,
                    Profile.bio, Profile.website, Profile.data)


def _batches(conn: Connection, changed) -> Iterator[list[tuple]]:
    """The profiles to read, in key order, BATCH at a time (keyset pagination)."""
    after: tuple[str, str] | None = None
    while True:
        q = select(*_PROFILE_COLUMNS).order_by(Profile.platform, Profile.platform_id).limit(BATCH)
        if after is not None:
            q = q.where(tuple_(Profile.platform, Profile.platform_id) > tuple_(*after))
        if changed is not None:
            q = q.where(changed)
        rows = [tuple(r) for r in conn.execute(q)]
        if not rows:
            return
        yield rows
        if len(rows) < BATCH:
            return
        after = rows[-1][:2]


def _extract_rows(rows: list[tuple], region: str | None) -> list[tuple]:
    """(platform, platform_id, kind, value, source, verified) of each profile: its own handles
    (source ``self``) and what extraction finds. Runs in worker processes: pure."""
    out = []
    for platform, platform_id, handle, display_name, url, bio, website, data in rows:
        own = own_handles(platform, platform_id, handle, url)
        for h in sorted(own):
            out.append((platform, platform_id, "handle", h, SELF, False))
        for f in extract(platform, platform_id, handle, display_name, url, bio, website, data, region=region):
            if f.kind != "handle" or f.value not in own:
                out.append((platform, platform_id, f.kind, f.value, EXTRACTED + f.source, f.verified))
    return out


def _write_extracted(conn: Connection, rows: list[tuple], found: list[list[tuple]], *, whole_range: bool) -> None:
    """Replace the extracted contact points of one batch of profiles by what was found.

    Only the difference is written: a profile whose bio changed a word, or a `--full` run
    over an unchanged store, rewrites nothing (deleting and inserting every row again cost
    more than reading them).
    """
    first, last = rows[0][:2], rows[-1][:2]
    in_range = tuple_(ContactPoint.platform, ContactPoint.platform_id).between(tuple_(*first), tuple_(*last))
    keys = None if whole_range else {r[:2] for r in rows}
    stored = [
        r for r in conn.execute(
            select(ContactPoint.id, ContactPoint.platform, ContactPoint.platform_id, ContactPoint.kind,
                   ContactPoint.value, ContactPoint.source, ContactPoint.verified).where(in_range)
        )
        if keys is None or (r[1], r[2]) in keys  # not an unchanged profile inside the batch's key range
    ]
    new = {(p, pid, kind, value): (source, bool(verified)) for part in found for p, pid, kind, value, source, verified in part}
    # Websites an import stored (a vCard's URL, a CSV's website column) can name a profile.
    for _, platform, platform_id, kind, value, source, _ in stored:
        if kind == "website" and not _extracted(source):
            h = handle_from_url(value)
            key = (platform, platform_id, "handle", h)
            if h and key not in new:
                new[key] = (IMPORT_WEBSITE, False)
    stale = []
    for id_, platform, platform_id, kind, value, source, verified in stored:
        key = (platform, platform_id, kind, value)
        if not _extracted(source):
            new.pop(key, None)  # an import's row holds the value (with its consent): it stays the import's
        elif new.get(key) == (source, bool(verified)):
            del new[key]  # stored as found: nothing to write
        else:
            stale.append(id_)
    if stale:
        conn.execute(delete(ContactPoint).where(ContactPoint.id == bindparam("i")), [{"i": i} for i in stale])
    if new:
        _insert_contacts(conn, [(*key, source, verified) for key, (source, verified) in new.items()])


def _extracted(source: str) -> bool:
    return source == SELF or source.startswith(EXTRACTED)


def _insert_contacts(conn: Connection, out: list[tuple]) -> None:
    """A plain driver executemany: SQLAlchemy's per-row parameter processing was a third of
    the database time of extraction. A value an import already stored on the profile stays
    the import's row (with its consent): ON CONFLICT DO NOTHING."""
    now = UTCDateTime().bind_processor(conn.dialect)(utcnow())
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        "INSERT INTO contact_points (platform, platform_id, kind, value, source, consent, verified, created_at) "
        f"VALUES ({', '.join([mark] * 8)}) ON CONFLICT (platform, platform_id, kind, value) DO NOTHING"
    )
    conn.exec_driver_sql(sql, [(p, pid, kind, value, source, "unknown" if kind == "email" else None, verified, now)
                               for p, pid, kind, value, source, verified in out])


# -- 2. evidence --------------------------------------------------------------------------------

# Every contact point whose (kind, value) another one shares: the blocking. The GROUP BY reads
# only the (kind, value) index; display names are read later, for the pairs found (joining
# profiles here tripled the query's time at 1M profiles: random reads of wide rows).
_SHARED_VALUES = """
SELECT c.kind, c.value, c.platform || ':' || c.platform_id, c.platform, c.source, c.verified
FROM (SELECT kind, value FROM contact_points GROUP BY kind, value HAVING COUNT(*) >= 2) g
JOIN contact_points c ON c.kind = g.kind AND c.value = g.value
WHERE c.platform IS NOT NULL
ORDER BY c.kind, c.value
"""
# A Bluesky handle that is a domain (not name.bsky.social, not a DID) against the websites.
_DOMAIN_HANDLES = """
SELECT b.platform || ':' || b.platform_id, b.platform, b.value, w.value, w.platform || ':' || w.platform_id, w.platform,
       w.source, w.verified
FROM contact_points b
JOIN contact_points w ON w.kind = 'website'
     AND w.value IN ('https://' || SUBSTR(b.value, 9), 'https://www.' || SUBSTR(b.value, 9))
WHERE b.kind = 'handle' AND b.source = 'self' AND b.platform = 'bluesky'
  AND SUBSTR(b.value, 1, 8) = 'bluesky:' AND SUBSTR(b.value, 1, 12) <> 'bluesky:did:'
  AND b.value NOT LIKE '%.bsky.social' AND w.platform IS NOT NULL
ORDER BY b.platform, b.platform_id, w.value
"""


def find_evidence(conn: Connection) -> tuple[list[Evidence], list]:
    """Every scored pair in the store, strongest first, and the values refused as shared."""
    builder = EvidenceBuilder(MAX_SHARED)
    # rows: (kind, value, key, platform, source, verified); r[2:] is a Holder's tuple
    for (kind, value), group in groupby(_stream(conn, _SHARED_VALUES), key=itemgetter(0, 1)):
        builder.add_group(kind, value, [r[2:] for r in group])
    for (key, platform, handle, website), group in groupby(_stream(conn, _DOMAIN_HANDLES), key=itemgetter(0, 1, 2, 3)):
        builder.add_domain_handle(Holder(key, platform, SELF, False), handle, website, [r[4:] for r in group])
    return builder.finish(lambda keys: _display_names(conn, keys)), builder.refused


def _stream(conn: Connection, sql: str) -> Iterator[tuple]:
    """Rows of a large read as plain tuples from the driver, in the run's transaction (a
    million rows through SQLAlchemy's result objects cost seconds); PostgreSQL streams them
    through a server-side cursor."""
    raw = conn.connection.driver_connection
    cursor = raw.cursor(name="audience_link_stream") if conn.dialect.name == "postgresql" else raw.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(FETCH):
            yield from rows
    finally:
        cursor.close()


def _display_names(conn: Connection, keys: set[str]) -> dict[str, str | None]:
    """Display names of these profiles: one sequential read of the profiles when there are
    many (random lookups of wide rows cost more), lookups by key when there are few."""
    names: dict[str, str | None] = {}
    if len(keys) > NAME_LOOKUPS:
        sql = "SELECT platform || ':' || platform_id, display_name FROM profiles WHERE display_name IS NOT NULL"
        return {key: name for key, name in _stream(conn, sql) if key in keys}
    pairs = [split_key(k) for k in keys]
    for chunk in _chunks(pairs, 500):
        for platform, platform_id, name in conn.execute(
            select(Profile.platform, Profile.platform_id, Profile.display_name)
            .where(tuple_(Profile.platform, Profile.platform_id).in_(chunk))
        ):
            names[f"{platform}:{platform_id}"] = name
    return names


NAME_LOOKUPS = 20_000  # profiles whose names are looked up one by one; more: one sequential read


# -- 3. clusters --------------------------------------------------------------------------------


@dataclass
class _Clustered:
    clusters: Clusters
    applied: list[Evidence]
    refused_unions: list[dict] = field(default_factory=list)
    blocked_by_split: int = 0


def cluster(decisions: Iterable[tuple[str, str, str]], evidence: list[Evidence], cap: int = MAX_CLUSTER) -> _Clustered:
    """Union-find: manual merges, then evidence strongest first; splits block; the cap refuses.

    ``decisions`` are (kind, key_a, key_b); ``evidence`` comes sorted strongest first. The
    links kept are the manual merges and every piece of evidence whose two profiles end up in
    one person (redundant evidence included: it is what `people show` explains).
    """
    c = Clusters(cap)
    merges = []
    for kind, a, b in decisions:
        if kind == "split":
            c.forbid(a, b)
        elif kind == "merge":
            merges.append((a, b))
    out = _Clustered(c, [])
    for a, b in merges:
        if c.union(a, b, capped=False) == "split":
            out.blocked_by_split += 1
    for e in evidence:
        why = c.union(e.a, e.b)
        if why == "split":
            out.blocked_by_split += 1
        elif why == "cap":
            out.refused_unions.append({
                "profiles": [e.a, e.b], "evidence": e.kind, "confidence": e.confidence,
                "size": c.size_of(e.a) + c.size_of(e.b),
            })
    for a, b in merges:
        if c.same(a, b):
            out.applied.append(Evidence(a, b, "manual", [], CONFIDENCE["manual"]))
    out.applied.extend(e for e in evidence if c.same(e.a, e.b))
    return out


def _decisions(conn: Connection) -> list[tuple[str, str, str]]:
    t = IdentityDecision
    return [
        (kind, profile_key(ap, aid), profile_key(bp, bid))
        for kind, ap, aid, bp, bid in conn.execute(
            select(t.kind, t.a_platform, t.a_platform_id, t.b_platform, t.b_platform_id).order_by(t.id)
        )
    ]


def _link(conn: Connection, since: dt.datetime | None, now: dt.datetime, timings: dict) -> tuple[list[str], dict]:
    """Steps 2-4; returns the evidence kind of every stored link, and what was refused."""
    t = time.monotonic()
    evidence, refused_values = find_evidence(conn)
    timings["evidence"] = time.monotonic() - t
    t = time.monotonic()
    done = cluster(_decisions(conn), evidence)
    timings["clusters"] = time.monotonic() - t
    t = time.monotonic()
    assign_persons(conn, list(done.clusters.components()), since, now)
    timings["persons"] = time.monotonic() - t
    t = time.monotonic()
    store_links(conn, done.applied, now)
    timings["links"] = time.monotonic() - t
    refused_values.sort(key=lambda r: (-r.profiles, r.kind, r.value))
    refused = {
        "shared_values": len(refused_values),
        "shared_value_examples": [
            {"kind": r.kind, "value": r.value, "profiles": r.profiles} for r in refused_values[:MAX_REFUSED_SHOWN]
        ],
        "clusters": len(done.refused_unions),
        "cluster_examples": done.refused_unions[:MAX_REFUSED_SHOWN],
        "blocked_by_split": done.blocked_by_split,
        "max_shared": MAX_SHARED,
        "max_cluster": MAX_CLUSTER,
    }
    return [e.kind for e in done.applied], refused


def _chunks(items: list, n: int) -> Iterator[list]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def store_links(conn: Connection, applied: list[Evidence], now: dt.datetime) -> None:
    """Make identity_links hold exactly ``applied``, writing only the difference (a run that
    changes nothing rewrites nothing; links keep their first ``created_at``)."""
    want = {(e.a, e.b, e.kind): (json.dumps(e.matched, ensure_ascii=False), e.confidence) for e in applied}
    stale = []
    for id_, ap, aid, bp, bid, kind, matched, confidence in conn.execute(select(
        IdentityLink.id, IdentityLink.a_platform, IdentityLink.a_platform_id, IdentityLink.b_platform,
        IdentityLink.b_platform_id, IdentityLink.evidence, IdentityLink.matched, IdentityLink.confidence,
    )).yield_per(FETCH):
        key = (profile_key(ap, aid), profile_key(bp, bid), kind)
        if want.get(key) == (matched, confidence):
            del want[key]
        else:
            stale.append(id_)
    for chunk in _chunks(stale, FETCH):
        conn.execute(delete(IdentityLink).where(IdentityLink.id.in_(chunk)))
    if not want:
        return
    created = UTCDateTime().bind_processor(conn.dialect)(now)
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    # in key order, so that the unique index is appended to rather than written at random
    rows = sorted((*split_key(a), *split_key(b), kind, matched, confidence, created) for (a, b, kind), (matched, confidence) in want.items())
    with _bulk_index(conn, len(rows) >= BULK_MIN, IdentityLink.__table__, "ix_identity_links_b"):
        conn.exec_driver_sql(
            "INSERT INTO identity_links (a_platform, a_platform_id, b_platform, b_platform_id, evidence, matched, "
            f"confidence, created_at) VALUES ({', '.join([mark] * 8)})", rows,
        )


# -- 4. persons ---------------------------------------------------------------------------------

# The person's name: a display name of its profiles. Platforms that ask for a real name come
# first (LinkedIn, an address book, Facebook), then names of a sane length, then the longest.
_NAME_OF = """(
    SELECT pr.display_name FROM profiles pr
    WHERE pr.person_id = persons.id AND pr.display_name IS NOT NULL AND TRIM(pr.display_name) <> ''
    ORDER BY CASE pr.platform WHEN 'linkedin' THEN 0 WHEN 'contacts' THEN 1 WHEN 'facebook' THEN 2 ELSE 3 END,
             CASE WHEN LENGTH(pr.display_name) <= 64 THEN 0 ELSE 1 END,
             LENGTH(pr.display_name) DESC, pr.platform, pr.platform_id
    LIMIT 1)"""


def _sql(sql: str):
    return text(sql).bindparams(*(bindparam(p, type_=UTCDateTime()) for p in ("now", "since") if f":{p}" in sql))


def _temp(conn: Connection, name: str, columns: str) -> str:
    """A temporary table; on SQLite WITHOUT ROWID, so that a scan follows the primary key
    (and an UPDATE ... FROM it visits profiles in key order, not at random)."""
    table = _PREFIX + name
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{table}")
        conn.exec_driver_sql(f"CREATE TEMP TABLE {table} ({columns}){' WITHOUT ROWID' if 'PRIMARY KEY' in columns else ''}")
    else:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        conn.exec_driver_sql(f"CREATE TEMP TABLE {table} ({columns}) ON COMMIT DROP")
    return table


def _next_person_id(conn: Connection) -> int:
    """The first id free for a new person (PostgreSQL: also past its sequence, so ids of
    deleted persons are not handed out again)."""
    top = conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM persons")).scalar_one()
    if conn.dialect.name == "postgresql":
        seq = conn.execute(text("SELECT pg_get_serial_sequence('persons', 'id')")).scalar()
        if seq:
            last, called = conn.execute(text(f"SELECT last_value, is_called FROM {seq}")).one()
            top = max(top, last if called else last - 1)
    return top + 1


def _sync_sequence(conn: Connection, highest: int) -> None:
    if conn.dialect.name == "postgresql" and highest > 0:
        conn.execute(text("SELECT setval(pg_get_serial_sequence('persons', 'id'), :v, true)"), {"v": highest})


def assign_persons(conn: Connection, components: list[list[str]], since: dt.datetime | None, now: dt.datetime) -> None:
    """Give every profile exactly one person, keeping ids stable (see the module docstring).

    Only what changed is written: a cluster whose profiles all have its person already, and
    no other profile has it, is left alone, so a run after a quiet night costs reads.
    """
    sqlite = conn.dialect.name == "sqlite"
    at_now = ":now" if sqlite else "CAST(:now AS TIMESTAMP)"
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    members = _temp(conn, "members", "platform VARCHAR(32) NOT NULL, platform_id VARCHAR(512) NOT NULL, "
                    "cluster INTEGER NOT NULL, PRIMARY KEY (platform, platform_id)")
    assigned = _temp(conn, "assign", "cluster INTEGER PRIMARY KEY, person_id BIGINT NOT NULL, changed INTEGER NOT NULL")
    # Persons of more than one profile before this run: the only ones that can lose a profile.
    shared = _temp(conn, "shared", "person_id BIGINT PRIMARY KEY, size INTEGER NOT NULL")
    touched = _temp(conn, "touched", "person_id BIGINT PRIMARY KEY")  # persons to name again
    conn.execute(text(
        f"INSERT INTO {shared} (person_id, size) SELECT person_id, COUNT(*) FROM profiles WHERE person_id IS NOT NULL "
        "GROUP BY person_id HAVING COUNT(*) > 1"
    ))
    rows = sorted((*split_key(key), n) for n, keys in enumerate(components) for key in keys)
    for chunk in _chunks(rows, FETCH):
        conn.exec_driver_sql(f"INSERT INTO {members} (platform, platform_id, cluster) VALUES ({mark}, {mark}, {mark})", chunk)
    del rows

    # Each cluster keeps the smallest person id its profiles already have that no larger
    # cluster took first; a profile split off from a person therefore gets a new one.
    held: dict[int, dict[int, int]] = {}
    for n, person_id, count in _stream(conn, (
        f"SELECT m.cluster, p.person_id, COUNT(*) FROM {members} m JOIN profiles p "
        "ON p.platform = m.platform AND p.platform_id = m.platform_id WHERE p.person_id IS NOT NULL "
        "GROUP BY m.cluster, p.person_id"
    )):
        held.setdefault(n, {})[person_id] = count
    sizes = dict(_stream(conn, f"SELECT person_id, size FROM {shared}"))
    first_new = next_id = _next_person_id(conn)
    taken: set[int] = set()
    choice: dict[int, int] = {}
    first_key = [min(keys) for keys in components]
    for n in sorted(held, key=lambda n: (-len(components[n]), first_key[n])):
        person_id = next((i for i in sorted(held[n]) if i not in taken), None)
        if person_id is not None:
            taken.add(person_id)
            choice[n] = person_id
    # New persons are numbered in profile key order: their index entries then go in order too.
    for n in sorted((n for n in range(len(components)) if n not in choice), key=first_key.__getitem__):
        choice[n], next_id = next_id, next_id + 1
    lost: set[int] = set()  # persons that lose profiles to a cluster
    out = []
    for n, person_id in sorted(choice.items()):
        mine = held.get(n, {})
        same = mine == {person_id: len(components[n])} and sizes.get(person_id) == len(components[n])
        out.append((n, person_id, 0 if same else 1))
        if not same:
            lost.update(mine)
            lost.add(person_id)
    lost |= set(sizes) - taken  # persons whose profiles are all outside clusters now
    for chunk in _chunks(out, FETCH):
        conn.exec_driver_sql(f"INSERT INTO {assigned} (cluster, person_id, changed) VALUES ({mark}, {mark}, {mark})", chunk)
    for chunk in _chunks(sorted((i,) for i in lost if i < first_new), FETCH):
        conn.exec_driver_sql(f"INSERT INTO {touched} (person_id) VALUES ({mark})", chunk)
    conn.execute(_sql(f"INSERT INTO persons (id, created_at) SELECT person_id, {at_now} FROM {assigned} WHERE person_id >= :first"),
                 {"now": now, "first": first_new})

    changed_members = (f"SELECT m.platform, m.platform_id FROM {members} m JOIN {assigned} a "
                       "ON a.cluster = m.cluster WHERE a.changed = 1")
    moving = sum(len(components[n]) for n, _, changed in out if changed)
    # Manual tags follow a profile into the person it joins (a merged-away person is deleted).
    if conn.execute(select(PersonTag.person_id).where(PersonTag.source == "manual").limit(1)).first():
        conn.execute(_sql(
            "INSERT INTO person_tags (person_id, tag, source, created_at) "
            f"SELECT DISTINCT a.person_id, t.tag, 'manual', {at_now} "
            f"FROM {members} m JOIN {assigned} a ON a.cluster = m.cluster AND a.changed = 1 "
            "JOIN profiles p ON p.platform = m.platform AND p.platform_id = m.platform_id "
            "JOIN person_tags t ON t.person_id = p.person_id "
            "WHERE t.source = 'manual' AND p.person_id <> a.person_id "
            "ON CONFLICT (person_id, tag) DO UPDATE SET source = 'manual'"
        ), {"now": now})
    without = conn.execute(select(func.count()).select_from(Profile).where(Profile.person_id.is_(None))).scalar_one()
    with _bulk_index(conn, moving + without >= BULK_MIN, Profile.__table__, "ix_profiles_person_id"):
        next_id = _move_profiles(conn, members, assigned, shared, changed_members, first_new, next_id, now)
    _sync_sequence(conn, next_id - 1)
    # Persons left without profiles (merged into another, or whose profiles were deleted);
    # a person that only holds contact points of its own is kept.
    conn.execute(text(
        "DELETE FROM persons WHERE NOT EXISTS (SELECT 1 FROM profiles p WHERE p.person_id = persons.id) "
        "AND NOT EXISTS (SELECT 1 FROM contact_points c WHERE c.person_id = persons.id)"
    ))
    # Names of the persons whose profiles changed; new single-profile persons got theirs above.
    # A name comes from a display name, and stored text is never taken away: a person none of
    # whose profiles has one (the bare ids of an X archive) keeps its name NULL unread.
    named = "SELECT person_id FROM profiles WHERE display_name IS NOT NULL"
    if since is None:
        where, params = f"id < :first AND (name IS NOT NULL OR id IN ({named}))", {"first": first_new}
    else:
        where, params = f"id IN ({named} AND updated_at >= :since)", {"since": since}
    conn.execute(_sql(
        f"UPDATE persons SET name = {_NAME_OF} WHERE {where} "
        f"OR id IN (SELECT person_id FROM {assigned} WHERE changed = 1) OR id IN (SELECT person_id FROM {touched})"
    ), params)
    if sqlite:
        for name in (members, assigned, shared, touched):
            conn.exec_driver_sql(f"DROP TABLE temp.{name}")


def _move_profiles(conn: Connection, members: str, assigned: str, shared: str, changed_members: str,
                   first_new: int, next_id: int, now: dt.datetime) -> int:
    """Write the new person of every profile that changes; returns the next free person id."""
    at_now = ":now" if conn.dialect.name == "sqlite" else "CAST(:now AS TIMESTAMP)"
    conn.execute(text(
        f"UPDATE profiles SET person_id = (SELECT a.person_id FROM {members} m JOIN {assigned} a ON a.cluster = m.cluster "
        "WHERE m.platform = profiles.platform AND m.platform_id = profiles.platform_id) "
        f"WHERE (platform, platform_id) IN ({changed_members})"
    ))
    not_member = (f"NOT EXISTS (SELECT 1 FROM {members} m WHERE m.platform = profiles.platform "
                  "AND m.platform_id = profiles.platform_id)")
    # A profile outside every cluster whose person a cluster kept: split off, a new person.
    conn.execute(text(
        f"UPDATE profiles SET person_id = NULL WHERE person_id IN (SELECT person_id FROM {assigned} "
        f"WHERE changed = 1 AND person_id < :first) AND {not_member}"
    ), {"first": first_new})
    # Profiles outside clusters that still share a person (their link is gone): the first in
    # key order keeps it, the others get new persons. (One pass: the person_id index may be
    # dropped for a bulk run, see _bulk_index.)
    loose = _temp(conn, "loose", "platform VARCHAR(32) NOT NULL, platform_id VARCHAR(512) NOT NULL, "
                  "PRIMARY KEY (platform, platform_id)")
    conn.execute(text(
        f"INSERT INTO {loose} (platform, platform_id) SELECT platform, platform_id FROM ("
        "  SELECT p.platform, p.platform_id, "
        "  ROW_NUMBER() OVER (PARTITION BY p.person_id ORDER BY p.platform, p.platform_id) AS n "
        f"  FROM profiles p JOIN {shared} s ON s.person_id = p.person_id "
        f"  WHERE p.person_id NOT IN (SELECT person_id FROM {assigned})) ranked WHERE n > 1"
    ))
    conn.execute(text(f"UPDATE profiles SET person_id = NULL WHERE (platform, platform_id) IN (SELECT platform, platform_id FROM {loose})"))
    # Profiles without a person (new ones, split-off ones): one new person each, in bulk.
    fresh = _temp(conn, "fresh", "platform VARCHAR(32) NOT NULL, platform_id VARCHAR(512) NOT NULL, "
                  "person_id BIGINT NOT NULL, PRIMARY KEY (platform, platform_id)")
    conn.execute(text(
        f"INSERT INTO {fresh} (platform, platform_id, person_id) "
        "SELECT platform, platform_id, :base + ROW_NUMBER() OVER (ORDER BY platform, platform_id) "
        "FROM profiles WHERE person_id IS NULL"
    ), {"base": next_id - 1})
    count = conn.execute(text(f"SELECT COUNT(*) FROM {fresh}")).scalar_one()
    if count:
        conn.execute(_sql(
            "INSERT INTO persons (id, name, created_at) SELECT f.person_id, "
            f"CASE WHEN TRIM(p.display_name) <> '' THEN p.display_name END, {at_now} "
            f"FROM {fresh} f JOIN profiles p ON p.platform = f.platform AND p.platform_id = f.platform_id"
        ), {"now": now})
        conn.execute(text(
            f"UPDATE profiles SET person_id = (SELECT f.person_id FROM {fresh} f WHERE f.platform = profiles.platform "
            "AND f.platform_id = profiles.platform_id) WHERE person_id IS NULL"
        ))
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(f"DROP TABLE temp.{fresh}")
        conn.exec_driver_sql(f"DROP TABLE temp.{loose}")
    return next_id + count


# -- 5. tags ------------------------------------------------------------------------------------


def apply_tag_rules(conn: Connection) -> None:
    """Give each person the tags its rules earn it (source ``rule:<id>``) and take away rule
    tags no longer earned; manual tags are never touched (a manual tag also wins over a rule)."""
    sqlite = conn.dialect.name == "sqlite"
    earned = _temp(conn, "earned", "person_id BIGINT NOT NULL, tag VARCHAR(64) NOT NULL, rule_id INTEGER NOT NULL")
    rules = conn.execute(text("SELECT id, tag, platform, account_id, kind FROM tag_rules ORDER BY id")).all()
    for rule_id, tag, platform, account_id, kind in rules:
        if platform is not None:
            sql = "SELECT DISTINCT person_id FROM profiles WHERE platform = :platform AND person_id IS NOT NULL"
        else:
            conds = ["r.until_snapshot_id IS NULL", "p.person_id IS NOT NULL"]
            if account_id is not None:
                conds.append("r.account_id = :account")
            if kind is not None:
                conds.append("r.kind = :kind")
            sql = ("SELECT DISTINCT p.person_id FROM relationships r JOIN profiles p "
                   "ON p.platform = r.platform AND p.platform_id = r.platform_id WHERE " + " AND ".join(conds))
        conn.execute(
            text(f"INSERT INTO {earned} (person_id, tag, rule_id) SELECT person_id, :tag, :rule FROM ({sql}) s"),
            {"tag": tag, "rule": rule_id, "platform": platform, "account": account_id, "kind": kind},
        )
    conn.execute(text(
        "DELETE FROM person_tags WHERE SUBSTR(source, 1, 5) = 'rule:' AND NOT EXISTS ("
        f"SELECT 1 FROM {earned} e WHERE e.person_id = person_tags.person_id AND e.tag = person_tags.tag)"
    ))
    conn.execute(_sql(
        "INSERT INTO person_tags (person_id, tag, source, created_at) "
        f"SELECT person_id, tag, 'rule:' || CAST(MIN(rule_id) AS VARCHAR(12)), {':now' if sqlite else 'CAST(:now AS TIMESTAMP)'} "
        f"FROM {earned} WHERE true GROUP BY person_id, tag ON CONFLICT (person_id, tag) DO NOTHING"
    ), {"now": utcnow()})
    if sqlite:
        conn.exec_driver_sql(f"DROP TABLE temp.{earned}")


# -- counts -------------------------------------------------------------------------------------


def _decided_since(conn: Connection, since: dt.datetime | None) -> bool:
    """Decisions made since ``since`` (None: any decision at all)."""
    q = select(IdentityDecision.id).limit(1)
    return conn.execute(q if since is None else q.where(IdentityDecision.created_at >= since)).first() is not None


def _profiles_without_person(conn: Connection) -> bool:
    return conn.execute(select(Profile.platform).where(Profile.person_id.is_(None)).limit(1)).first() is not None


def _links_by_evidence(conn: Connection) -> dict[str, int]:
    return dict(conn.execute(select(IdentityLink.evidence, func.count()).group_by(IdentityLink.evidence)).all())


def _contact_points_by_kind(conn: Connection) -> dict[str, int]:
    """Contact points by kind; a profile's own handles (source ``self``) are not contacts."""
    rows = conn.execute(
        select(ContactPoint.kind, func.count()).where(ContactPoint.source != SELF).group_by(ContactPoint.kind)
    ).all()
    return dict(sorted(rows))


def _last_refused(conn: Connection) -> dict:
    stored = conn.execute(
        select(LinkRun.refused).where(LinkRun.finished_at.is_not(None), LinkRun.refused.is_not(None))
        .order_by(LinkRun.id.desc()).limit(1)
    ).scalar()
    return json.loads(stored) if stored else {}
