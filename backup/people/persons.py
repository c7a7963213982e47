"""Persons as the people commands see them: finding one, searching, showing, manual identity
decisions and tags (SPEC §4 `people`, `tag`).

Reads return plain dicts shaped like the JSON documents of SPEC §4; writes take the caller's
connection (inside `backup.db.engine.write`) and never commit or print. Decisions are stored
here and applied by the next `run_link`, which every later run also respects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, delete, func, select, text

from ..accounts import PLATFORMS
from ..accounts import resolve as resolve_account
from ..db.models import (
    RELATIONSHIP_KINDS,
    IdentityDecision,
    Person,
    PersonTag,
    Profile,
    TagRule,
    utcnow,
)
from ..db.queries import iso
from ..errors import UsageError
from ..profiles import profile_url
from .evidence import SELF, profile_key
from .extract import normalize_email, normalize_handle

MAX_TAG = 64  # person_tags.tag is VARCHAR(64)
SEARCH_LIMIT = 100  # persons listed by `people` unless --limit says otherwise
_HIDE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _dialect_insert(conn: Connection):
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    return insert


# -- finding ------------------------------------------------------------------------------------


def _person_ids_of_profiles(conn: Connection, where: str, params: dict) -> set[int]:
    return {r[0] for r in conn.execute(text(
        f"SELECT DISTINCT person_id FROM profiles WHERE person_id IS NOT NULL AND ({where})"), params)}


def find_profiles(conn: Connection, ref: str) -> list[tuple[str, str]]:
    """The profiles a PROFILE argument names: ``platform:platform_id`` or ``platform:handle``
    (``@`` optional; a Mastodon ``user@host``; a Bluesky DID)."""
    platform, colon, rest = ref.strip().partition(":")
    platform = platform.lower()
    rest = rest.strip()
    if not colon or not rest:
        return []
    exact = conn.execute(
        select(Profile.platform, Profile.platform_id).where(Profile.platform == platform, Profile.platform_id == rest)
    ).all()
    if exact:
        return [tuple(r) for r in exact]
    name = rest.lstrip("@")
    found = {
        tuple(r) for r in conn.execute(
            select(Profile.platform, Profile.platform_id).where(
                Profile.platform == platform, func.lower(Profile.handle) == name.lower(),
            )
        )
    }
    own = normalize_handle(f"{platform}:{rest}")
    if own:  # the profile's own handles, as extraction stored them (a Mastodon URI, a DID)
        found |= {tuple(r) for r in conn.execute(text(
            "SELECT platform, platform_id FROM contact_points WHERE kind = 'handle' AND value = :v AND source = :self"
        ), {"v": own, "self": SELF})}
    return sorted(found)


def resolve_person(conn: Connection, ref: str) -> int:
    """A PERSON argument: a person id, ``platform:handle`` (or ``platform:platform_id``), or an
    email address; it must name exactly one person."""
    ref = ref.strip()
    if ref.isdigit():
        if conn.execute(select(Person.id).where(Person.id == int(ref))).first():
            return int(ref)
        raise UsageError(f"no person {ref}", hint="`audience people QUERY` finds persons")
    ids: set[int] = set()
    head = ref.partition(":")[0].lower()
    if ":" in ref and head.isalpha():
        for platform, platform_id in find_profiles(conn, ref):
            ids |= _person_ids_of_profiles(conn, "platform = :p AND platform_id = :pid", {"p": platform, "pid": platform_id})
    elif "@" in ref:
        email = normalize_email(ref)
        if email:
            ids = {r[0] for r in conn.execute(text(
                "SELECT DISTINCT p.person_id FROM contact_points c JOIN profiles p "
                "ON p.platform = c.platform AND p.platform_id = c.platform_id "
                "WHERE c.kind = 'email' AND c.value = :v AND p.person_id IS NOT NULL "
                "UNION SELECT person_id FROM contact_points WHERE kind = 'email' AND value = :v AND person_id IS NOT NULL"
            ), {"v": email})}
    if not ids:
        raise UsageError(
            f"no person matches {ref!r}",
            hint="use a person id, platform:handle or an email; `audience people QUERY` searches (run `audience link` first)",
        )
    if len(ids) > 1:
        raise UsageError(
            f"{ref!r} matches {len(ids)} persons: {', '.join(map(str, sorted(ids)[:10]))}",
            hint="use one of these person ids",
        )
    return ids.pop()


def resolve_profile(conn: Connection, ref: str) -> tuple[str, str]:
    found = find_profiles(conn, ref)
    if not found:
        raise UsageError(f"no profile {ref!r}", hint="use platform:platform_id or platform:handle, as `audience people show` lists them")
    if len(found) > 1:
        raise UsageError(f"{ref!r} matches {len(found)} profiles", hint="use platform:platform_id")
    return found[0]


# -- reading ------------------------------------------------------------------------------------


def _like(query: str) -> str:
    return "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search(conn: Connection, query: str | None = None, *, tag: str | None = None, platform: str | None = None,
           limit: int = SEARCH_LIMIT) -> list[dict]:
    """Persons whose name, a profile's name or handle, or an email or handle matches ``query``
    (case-insensitive substring), with ``tag``, with a profile on ``platform``; by id."""
    conds, params = [], {}
    if query:
        params["q"] = _like(query.strip())
        conds.append(
            "(LOWER(pe.name) LIKE :q ESCAPE '\\' OR EXISTS (SELECT 1 FROM profiles p WHERE p.person_id = pe.id AND ("
            "LOWER(p.display_name) LIKE :q ESCAPE '\\' OR LOWER(p.handle) LIKE :q ESCAPE '\\' OR EXISTS ("
            "SELECT 1 FROM contact_points c WHERE c.platform = p.platform AND c.platform_id = p.platform_id "
            "AND c.kind IN ('email', 'handle') AND c.value LIKE :q ESCAPE '\\'))))"
        )
    if tag:
        params["tag"] = tag
        conds.append("EXISTS (SELECT 1 FROM person_tags t WHERE t.person_id = pe.id AND t.tag = :tag)")
    if platform:
        params["platform"] = platform.lower()
        conds.append("EXISTS (SELECT 1 FROM profiles p WHERE p.person_id = pe.id AND p.platform = :platform)")
    sql = f"SELECT pe.id, pe.name FROM persons pe {'WHERE ' + ' AND '.join(conds) if conds else ''} ORDER BY pe.id"
    if limit > 0:
        sql += f" LIMIT {int(limit)}"
    persons = conn.execute(text(sql), params).all()
    if not persons:
        return []
    ids = [r.id for r in persons]
    out = {r.id: {"id": r.id, "name": r.name, "tags": [], "profiles": [], "emails": []} for r in persons}
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        p = bindparam("ids", expanding=True)
        for person_id, plat, pid, handle, name in conn.execute(text(
            "SELECT person_id, platform, platform_id, handle, display_name FROM profiles "
            "WHERE person_id IN :ids ORDER BY platform, platform_id").bindparams(p), {"ids": chunk}):
            out[person_id]["profiles"].append({"platform": plat, "platform_id": pid, "handle": handle, "display_name": name})
        for person_id, t in conn.execute(text(
            "SELECT person_id, tag FROM person_tags WHERE person_id IN :ids ORDER BY tag").bindparams(p), {"ids": chunk}):
            out[person_id]["tags"].append(t)
        for person_id, email in conn.execute(text(
            "SELECT DISTINCT p.person_id, c.value FROM contact_points c JOIN profiles p "
            "ON p.platform = c.platform AND p.platform_id = c.platform_id "
            "WHERE p.person_id IN :ids AND c.kind = 'email' ORDER BY c.value").bindparams(p), {"ids": chunk}):
            out[person_id]["emails"].append(email)
    return [out[i] for i in ids]


_CONSENT_RANK = {"unsubscribed": 0, "opted_in": 1, "unknown": 2, None: 3}


def show(conn: Connection, person_id: int) -> dict:
    """One person as SPEC §4 `people show --json` has it."""
    person = conn.execute(select(Person.id, Person.name).where(Person.id == person_id)).first()
    if person is None:
        raise UsageError(f"no person {person_id}")
    tags = [r[0] for r in conn.execute(select(PersonTag.tag).where(PersonTag.person_id == person_id).order_by(PersonTag.tag))]
    profiles = []
    by_key: dict[str, dict] = {}
    for r in conn.execute(
        select(Profile.platform, Profile.platform_id, Profile.handle, Profile.display_name, Profile.url)
        .where(Profile.person_id == person_id).order_by(Profile.platform, Profile.platform_id)
    ):
        doc = {
            "platform": r.platform, "platform_id": r.platform_id, "handle": r.handle, "display_name": r.display_name,
            "url": profile_url(r.platform, r.platform_id, r.handle, r.url), "relationships": [],
        }
        profiles.append(doc)
        by_key[profile_key(r.platform, r.platform_id)] = doc
    # Accounts first, so that the relationships' key (account, kind, platform_id) is probed.
    kinds = bindparam("kinds", value=list(RELATIONSHIP_KINDS), expanding=True)
    rels = text(
        "SELECT r.platform, r.platform_id, a.platform AS acc_platform, a.handle AS acc_handle, r.kind, "
        "s1.as_of AS since, s2.as_of AS until FROM accounts a "
        "JOIN relationships r ON r.account_id = a.id AND r.kind IN :kinds AND r.platform_id = :pid "
        "JOIN snapshots s1 ON s1.id = r.since_snapshot_id LEFT JOIN snapshots s2 ON s2.id = r.until_snapshot_id "
        "WHERE a.platform = :p ORDER BY s1.as_of, a.platform, a.handle, r.kind"
    ).bindparams(kinds)
    from ..db.models import UTCDateTime

    as_time = UTCDateTime().process_result_value
    for doc in profiles:
        for r in conn.execute(rels, {"p": doc["platform"], "pid": doc["platform_id"]}):
            doc["relationships"].append({
                "account": f"{r.acc_platform}:{r.acc_handle}", "kind": r.kind,
                "since": iso(as_time(r.since, None)), "until": iso(as_time(r.until, None)),
            })
    contacts: dict[tuple[str, str], dict] = {}
    for kind, value, source, consent, verified, plat, pid in conn.execute(text(
        "SELECT c.kind, c.value, c.source, c.consent, c.verified, c.platform, c.platform_id FROM contact_points c "
        "JOIN profiles p ON p.platform = c.platform AND p.platform_id = c.platform_id "
        "WHERE p.person_id = :id AND c.source <> :self "
        "UNION ALL SELECT kind, value, source, consent, verified, platform, platform_id FROM contact_points "
        "WHERE person_id = :id AND platform IS NULL ORDER BY 1, 2, 6, 7"
    ), {"id": person_id, "self": SELF}):
        found_on = profile_key(plat, pid) if plat else None
        c = contacts.get((kind, value))
        if c is None:
            c = contacts[(kind, value)] = {
                "kind": kind, "value": value, "source": source, "consent": consent, "verified": bool(verified),
                "sources": [],
            }
        elif _CONSENT_RANK.get(consent, 3) < _CONSENT_RANK.get(c["consent"], 3):
            c["consent"] = consent  # an unsubscribe anywhere wins; then a stated opt-in
        c["verified"] = c["verified"] or bool(verified)
        c["sources"].append({"profile": found_on, "source": source})
    links = []
    for r in conn.execute(text(
        "SELECT l.a_platform, l.a_platform_id, l.b_platform, l.b_platform_id, l.evidence, l.matched, l.confidence "
        "FROM identity_links l JOIN profiles p ON p.platform = l.a_platform AND p.platform_id = l.a_platform_id "
        "WHERE p.person_id = :id ORDER BY l.confidence DESC, l.a_platform, l.a_platform_id, l.b_platform, l.b_platform_id"
    ), {"id": person_id}):
        links.append({
            "profile_a": profile_key(r[0], r[1]), "profile_b": profile_key(r[2], r[3]), "evidence": r[4],
            "confidence": r[6], "manual": r[4] == "manual", "matched": json.loads(r[5] or "[]"),
        })
    return {
        "id": person.id, "name": person.name, "tags": tags, "profiles": profiles,
        "contacts": list(contacts.values()), "links": links,
    }


# -- manual decisions ---------------------------------------------------------------------------


def _ordered_pair(x: tuple[str, str], y: tuple[str, str]) -> tuple[tuple[str, str], tuple[str, str]]:
    return (x, y) if x <= y else (y, x)


def profiles_of(conn: Connection, person_id: int) -> list[tuple[str, str]]:
    return [tuple(r) for r in conn.execute(
        select(Profile.platform, Profile.platform_id).where(Profile.person_id == person_id).order_by(Profile.platform, Profile.platform_id)
    )]


def _decide(conn: Connection, kind: str, pairs: Iterable[tuple[tuple[str, str], tuple[str, str]]]) -> int:
    insert = _dialect_insert(conn)
    now = utcnow()
    rows = []
    for x, y in pairs:
        (ap, aid), (bp, bid) = _ordered_pair(x, y)
        rows.append({"kind": kind, "a_platform": ap, "a_platform_id": aid, "b_platform": bp, "b_platform_id": bid, "created_at": now})
    if rows:
        stmt = insert(IdentityDecision)
        stmt = stmt.on_conflict_do_update(
            index_elements=["a_platform", "a_platform_id", "b_platform", "b_platform_id"],
            set_={"kind": stmt.excluded.kind, "created_at": stmt.excluded.created_at},
        )
        conn.execute(stmt, rows)
    return len(rows)


def merge(conn: Connection, person_a: int, person_b: int) -> int:
    """Store that two persons are one: a `merge` decision for each pair of their profiles
    (replacing any `split` between them). Returns the number of decisions stored."""
    if person_a == person_b:
        raise UsageError(f"person {person_a} given twice", hint="name two different persons")
    a, b = profiles_of(conn, person_a), profiles_of(conn, person_b)
    if not a or not b:
        raise UsageError(f"person {person_a if not a else person_b} has no profiles to merge")
    # Every pair, not one: the merge then holds whatever becomes of the evidence inside either person.
    return _decide(conn, "merge", [(x, y) for x in a for y in b])


def split(conn: Connection, person_id: int, profile: tuple[str, str]) -> int:
    """Store that ``profile`` is not the same person as the other profiles of ``person_id``: a
    `split` decision against each of them (replacing any `merge`). Returns the number stored."""
    profiles = profiles_of(conn, person_id)
    if profile not in profiles:
        raise UsageError(f"{profile_key(*profile)} is not a profile of person {person_id}",
                         hint=f"`audience people show {person_id}` lists its profiles")
    others = [p for p in profiles if p != profile]
    if not others:
        raise UsageError(f"person {person_id} has only this profile: there is nothing to split it from")
    return _decide(conn, "split", [(profile, o) for o in others])


# -- tags ---------------------------------------------------------------------------------------


def check_tag(tag: str) -> str:
    tag = tag.strip()
    if not tag or len(tag) > MAX_TAG or _HIDE.search(tag):
        raise UsageError(f"{tag[:MAX_TAG]!r} is not a usable tag", hint=f"1 to {MAX_TAG} visible characters, e.g. professional")
    return tag


def add_tag(conn: Connection, tag: str, person_ids: Iterable[int]) -> int:
    """Tag persons by hand (source ``manual``: rules never take it away)."""
    tag = check_tag(tag)
    insert = _dialect_insert(conn)
    rows = [{"person_id": pid, "tag": tag, "source": "manual", "created_at": utcnow()} for pid in sorted(set(person_ids))]
    stmt = insert(PersonTag)
    conn.execute(stmt.on_conflict_do_update(index_elements=["person_id", "tag"], set_={"source": "manual"}), rows)
    return len(rows)


def remove_tag(conn: Connection, tag: str, person_ids: Iterable[int]) -> list[int]:
    """Remove a tag from persons; returns those whose tag came from a rule (it comes back at
    the next link run while the rule holds)."""
    tag = tag.strip()
    ids = sorted(set(person_ids))
    p = bindparam("ids", expanding=True)
    ruled = [r[0] for r in conn.execute(text(
        "SELECT person_id FROM person_tags WHERE tag = :tag AND person_id IN :ids AND source <> 'manual'"
    ).bindparams(p), {"tag": tag, "ids": ids})]
    conn.execute(delete(PersonTag).where(PersonTag.tag == tag, PersonTag.person_id.in_(ids)))
    return ruled


def list_tags(conn: Connection) -> dict:
    tags = [
        {"tag": t, "persons": n, "manual": m, "by_rule": n - m}
        for t, n, m in conn.execute(text(
            "SELECT tag, COUNT(*), SUM(CASE WHEN source = 'manual' THEN 1 ELSE 0 END) FROM person_tags GROUP BY tag ORDER BY tag"
        ))
    ]
    rules = [
        {"id": r.id, "tag": r.tag, "platform": r.platform, "account": r.account, "kind": r.kind}
        for r in conn.execute(text(
            "SELECT t.id, t.tag, t.platform, t.kind, a.platform || ':' || a.handle AS account FROM tag_rules t "
            "LEFT JOIN accounts a ON a.id = t.account_id ORDER BY t.id"
        ))
    ]
    return {"tags": tags, "rules": rules}


def add_rule(conn: Connection, tag: str, *, platform: str | None = None, account: str | None = None,
             kind: str | None = None) -> int:
    """`tag rule add TAG --platform P | --account A | --kind K`; returns the rule's id."""
    tag = check_tag(tag)
    if sum(x is not None for x in (platform, account, kind)) != 1:
        raise UsageError("a tag rule takes exactly one of --platform, --account, --kind")
    account_id = None
    if platform is not None:
        platform = platform.strip().lower()
        if platform not in PLATFORMS:
            raise UsageError(f"unknown platform {platform!r}", hint=f"platforms: {', '.join(PLATFORMS)}")
    if account is not None:
        account_id = resolve_account(conn, account).id
    if kind is not None:
        kind = kind.strip().lower()
        if kind not in RELATIONSHIP_KINDS:
            raise UsageError(f"unknown kind {kind!r}", hint=f"kinds: {', '.join(RELATIONSHIP_KINDS)}")
    return conn.execute(
        TagRule.__table__.insert().values(tag=tag, platform=platform, account_id=account_id, kind=kind, created_at=utcnow())
        .returning(TagRule.id)
    ).scalar_one()


def remove_rule(conn: Connection, rule_id: int) -> None:
    if conn.execute(delete(TagRule).where(TagRule.id == rule_id)).rowcount == 0:
        raise UsageError(f"no tag rule {rule_id}", hint="`audience tag list` shows the rules")
