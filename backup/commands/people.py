"""`audience link`, `audience people ...` and `audience tag ...`: persons, identity, segments."""

from __future__ import annotations

import re
from typing import List, Optional

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy import select, text

from ..db.engine import write
from ..errors import LockBusy
from ..lock import run_lock
from .common import DefaultGroup, emit_json, state, stdout

LOCK_WAIT_SECONDS = 60  # merge/split wait this long for a running import before leaving it to the next run
SHOWN = 60  # characters of a name or handle in a table cell
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")  # controls, bidi overrides


def _cell(value: object, width: int = SHOWN) -> Text:
    """User-supplied text for the terminal: no markup, no controls or bidi overrides, bounded."""
    s = _UNSAFE.sub("", "" if value is None else str(value))
    return Text(s if len(s) <= width else s[: width - 1] + "…")


def _line(*parts: object) -> Text:
    return Text.assemble(*(p if isinstance(p, Text) else _cell(p, 300) for p in parts))


# -- link ---------------------------------------------------------------------------------------


def link(
    ctx: typer.Context,
    full: bool = typer.Option(False, "--full", help="Re-read every profile, not only those changed since the last run."),
    wait: bool = typer.Option(False, "--wait", help="Wait for another run on this database instead of exiting."),
    phone_region: str | None = typer.Option(
        None, "--phone-region", metavar="CC",
        help="Read national phone numbers in bios as this country's (e.g. DE; default AUDIENCE_PHONE_REGION, else only +numbers). Use with --full to re-read stored bios.",
    ),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Link profiles into persons: extract contact points, weigh the evidence, apply tag rules.

    Runs by itself after every backup and import (only changed profiles are re-read); prints
    the counts by evidence kind and what was refused as shared or oversized.
    """
    from ..config import phone_region as region_setting
    from ..people.link import run_link

    region = region_setting(phone_region)
    engine = state(ctx).engine()
    with run_lock(engine, wait=wait):
        result = run_link(engine, full=full, region=region)
    if json_:
        emit_json(result.as_json())
        return
    out = stdout()
    how = "full run" if result.full else "nothing changed" if result.unchanged else "changed profiles only"
    out.print(f"{result.profiles:,} profiles in {result.persons:,} persons ({result.profiles_read:,} profiles read; {how})", markup=False)
    links = ", ".join(f"{k} {n:,}" for k, n in sorted(result.links_by_evidence.items(), key=lambda kv: -kv[1])) or "none"
    out.print(f"links: {links}", markup=False)
    contacts = ", ".join(f"{k} {n:,}" for k, n in result.contact_points_by_kind.items()) or "none"
    out.print(f"contact points: {contacts}", markup=False)
    refused = result.refused
    if refused.get("shared_values") or refused.get("clusters"):
        out.print(
            f"refused: {refused.get('shared_values', 0):,} values shared by more than {refused.get('max_shared')} profiles, "
            f"{refused.get('clusters', 0):,} links that would make a person of more than {refused.get('max_cluster')} profiles "
            "(details: audience link --json)",
            markup=False,
        )


# -- people -------------------------------------------------------------------------------------

app = typer.Typer(cls=DefaultGroup, help="Search and show persons; merge and split them by hand.", no_args_is_help=False)


@app.command("list")
def list_(
    ctx: typer.Context,
    query: Optional[str] = typer.Argument(None, help="Part of a name, handle or email (case-insensitive)."),
    tag: Optional[str] = typer.Option(None, "--tag", help="Only persons with this tag."),
    platform: Optional[str] = typer.Option(None, "--platform", help="Only persons with a profile on this platform."),
    limit: int = typer.Option(100, "--limit", metavar="N", help="At most N persons (0: all)."),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Search persons by name, handle or email; with no QUERY, list them."""
    from ..people.persons import search

    with state(ctx).engine().connect() as conn:
        rows = search(conn, query, tag=tag, platform=platform, limit=limit)
    if json_:
        emit_json(rows)
        return
    if not rows:
        stdout().print("no persons match" if query or tag or platform else "no persons yet: import or back up first, then `audience link`")
        return
    table = Table("id", "name", "profiles", "emails", "tags")
    for r in rows:
        profiles = ", ".join(f"{p['platform']}:{p['handle'] or p['platform_id']}" for p in r["profiles"])
        table.add_row(str(r["id"]), _cell(r["name"]), _cell(profiles, 120), _cell(", ".join(r["emails"]), 80), _cell(", ".join(r["tags"])))
    stdout().print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    person: str = typer.Argument(..., metavar="PERSON", help="A person id, platform:handle, or an email."),
    json_: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """One person: profiles with relationships, contact points, tags, and the evidence of each link."""
    from ..people.persons import resolve_person
    from ..people.persons import show as read_person

    with state(ctx).engine().connect() as conn:
        doc = read_person(conn, resolve_person(conn, person))
    if json_:
        emit_json(doc)
        return
    _render_person(doc)


def _render_person(doc: dict) -> None:
    out = stdout()
    out.print(_line(f"person {doc['id']}: ", doc["name"] or "(no name)", f"   tags: {', '.join(doc['tags']) or '-'}"))
    label = {f"{p['platform']}:{p['platform_id']}": f"{p['platform']}:{p['handle'] or p['platform_id']}" for p in doc["profiles"]}
    out.print("\nprofiles", markup=False)
    for p in doc["profiles"]:
        out.print(_line("  ", label[f"{p['platform']}:{p['platform_id']}"], "  ", _cell(p["display_name"]), "  ", p["url"] or ""))
        for r in p["relationships"]:
            when = f"since {(r['since'] or '')[:10]}" + (f" until {r['until'][:10]}" if r["until"] else "")
            out.print(_line(f"      {r['kind']} of ", r["account"], f" {when}"))
    out.print("\ncontact points", markup=False)
    for c in doc["contacts"]:
        consent = f" ({c['consent']})" if c["consent"] else ""
        verified = " verified" if c["verified"] else ""
        sources = ", ".join(sorted({s["source"] for s in c["sources"]}))
        out.print(_line(f"  {c['kind']} ", c["value"], f"{consent}{verified}  from ", sources))
    if not doc["contacts"]:
        out.print("  none", markup=False)
    out.print("\nlinks", markup=False)
    for link_ in doc["links"]:
        a = label.get(link_["profile_a"], link_["profile_a"])
        b = label.get(link_["profile_b"], link_["profile_b"])
        matched = f"  ({', '.join(link_['matched'])})" if link_["matched"] else ""
        out.print(_line("  ", a, " = ", b, f"  {link_['evidence']} {link_['confidence']:.2f}", matched))
    if not doc["links"]:
        out.print("  none (one profile)" if len(doc["profiles"]) < 2 else "  none", markup=False)


def _apply_decision(engine) -> bool:
    """Run linking now so the decision shows; False when another run holds the lock."""
    from ..people.link import run_link

    try:
        with run_lock(engine, wait=True, timeout=LOCK_WAIT_SECONDS):
            run_link(engine)
    except LockBusy:
        return False
    return True


@app.command("merge")
def merge(
    ctx: typer.Context,
    first: str = typer.Argument(..., metavar="PERSON", help="A person id, platform:handle, or an email."),
    second: str = typer.Argument(..., metavar="PERSON", help="The other person."),
) -> None:
    """Merge two persons into one; the decision is kept and every later link run respects it."""
    from ..people.persons import merge as store_merge
    from ..people.persons import profiles_of, resolve_person

    engine = state(ctx).engine()
    with write(engine) as conn:
        a, b = resolve_person(conn, first), resolve_person(conn, second)
        store_merge(conn, a, b)
        anchor = profiles_of(conn, a)[0]
    _after_decision(engine, anchor, f"merged persons {a} and {b}")


@app.command("split")
def split(
    ctx: typer.Context,
    person: str = typer.Argument(..., metavar="PERSON", help="A person id, platform:handle, or an email."),
    profile: str = typer.Argument(..., metavar="PROFILE", help="The profile to take out: platform:platform_id or platform:handle."),
) -> None:
    """Take a profile out of a person; the decision is kept and every later link run respects it."""
    from ..people.persons import resolve_person, resolve_profile
    from ..people.persons import split as store_split

    engine = state(ctx).engine()
    with write(engine) as conn:
        person_id = resolve_person(conn, person)
        key = resolve_profile(conn, profile)
        store_split(conn, person_id, key)
    _after_decision(engine, key, f"split {key[0]}:{key[1]} from person {person_id}")


def _after_decision(engine, profile: tuple[str, str], what: str) -> None:
    from ..db.models import Profile

    if not _apply_decision(engine):
        stdout().print(_line(what, ": stored; another run holds the database, so it applies at the next `audience link`"))
        return
    with engine.connect() as conn:
        now = conn.execute(select(Profile.person_id).where(Profile.platform == profile[0], Profile.platform_id == profile[1])).scalar()
    stdout().print(_line(what, f": now person {now}"))


# -- tags ---------------------------------------------------------------------------------------

tag_app = typer.Typer(help="Segments: tag persons by hand or by rule.", no_args_is_help=True)
rule_app = typer.Typer(help="Tag rules, applied on every link run.", no_args_is_help=True)
tag_app.add_typer(rule_app, name="rule")


def _persons(conn, refs: list[str]) -> list[int]:
    from ..people.persons import resolve_person

    return [resolve_person(conn, r) for r in refs]


@tag_app.command("add")
def tag_add(
    ctx: typer.Context,
    tag: str = typer.Argument(..., help="The tag, e.g. professional."),
    persons: List[str] = typer.Argument(..., metavar="PERSON...", help="Person ids, platform:handle or emails."),
) -> None:
    """Tag persons by hand (rules never remove a tag set by hand)."""
    from ..people.persons import add_tag

    with write(state(ctx).engine()) as conn:
        n = add_tag(conn, tag, _persons(conn, persons))
    stdout().print(_line(f"tagged {n} person{'s' if n != 1 else ''} ", tag.strip()))


@tag_app.command("remove")
def tag_remove(
    ctx: typer.Context,
    tag: str = typer.Argument(..., help="The tag."),
    persons: List[str] = typer.Argument(..., metavar="PERSON...", help="Person ids, platform:handle or emails."),
) -> None:
    """Remove a tag from persons (a tag a rule gave comes back while the rule holds)."""
    from ..people.persons import remove_tag

    with write(state(ctx).engine()) as conn:
        ruled = remove_tag(conn, tag, _persons(conn, persons))
    out = stdout()
    out.print(_line("removed ", tag.strip()))
    if ruled:
        out.print(_line(f"note: a rule gave it to person {', '.join(map(str, ruled))}; it returns at the next link run "
                        "unless the rule goes (`audience tag rule remove ID`)"))


@tag_app.command("list")
def tag_list(ctx: typer.Context, json_: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """Tags with their number of persons (by hand and by rule), and the tag rules."""
    from ..people.persons import list_tags

    with state(ctx).engine().connect() as conn:
        doc = list_tags(conn)
    if json_:
        emit_json(doc)
        return
    out = stdout()
    if not doc["tags"] and not doc["rules"]:
        out.print("no tags yet: `audience tag add TAG PERSON` or `audience tag rule add TAG --platform P`")
        return
    table = Table("tag", "persons", "by hand", "by rule")
    for t in doc["tags"]:
        table.add_row(_cell(t["tag"]), f"{t['persons']:,}", f"{t['manual']:,}", f"{t['by_rule']:,}")
    out.print(table)
    if doc["rules"]:
        rules = Table("rule", "tag", "when")
        for r in doc["rules"]:
            when = (f"platform {r['platform']}" if r["platform"] else f"account {r['account']}" if r["account"]
                    else f"kind {r['kind']}")
            rules.add_row(str(r["id"]), _cell(r["tag"]), _cell(when))
        out.print(rules)


@rule_app.command("add")
def rule_add(
    ctx: typer.Context,
    tag: str = typer.Argument(..., help="The tag the rule gives."),
    platform: Optional[str] = typer.Option(None, "--platform", help="Persons with a profile on this platform."),
    account: Optional[str] = typer.Option(None, "--account", help="Persons in a current relationship with this account (platform:handle, id or label)."),
    kind: Optional[str] = typer.Option(None, "--kind", help="Persons in a current relationship of this kind: follower, following, connection, subscriber."),
) -> None:
    """Add a tag rule (exactly one of --platform, --account, --kind); applied now and on every link run."""
    from ..people.link import apply_tag_rules
    from ..people.persons import add_rule

    with write(state(ctx).engine()) as conn:
        rule_id = add_rule(conn, tag, platform=platform, account=account, kind=kind)
        apply_tag_rules(conn)
        n = conn.execute(text("SELECT COUNT(*) FROM person_tags WHERE tag = :t"), {"t": tag.strip()}).scalar_one()
    stdout().print(_line(f"rule {rule_id} added; {n:,} person{'s' if n != 1 else ''} tagged ", tag.strip()))


@rule_app.command("remove")
def rule_remove(ctx: typer.Context, rule_id: int = typer.Argument(..., metavar="ID", help="The rule's id (`audience tag list`).")) -> None:
    """Remove a tag rule and the tags only it gave (tags set by hand stay)."""
    from ..people.link import apply_tag_rules
    from ..people.persons import remove_rule

    with write(state(ctx).engine()) as conn:
        remove_rule(conn, rule_id)
        apply_tag_rules(conn)
    stdout().print(f"rule {rule_id} removed", markup=False)
