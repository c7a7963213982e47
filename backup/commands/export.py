"""`audience export csv|mailing-list|vcard|follows` and `audience optout` (SPEC §4).

Every export links what changed first (so new imports are in it), reads the persons the
shared filters select (``exporters.selection``) in one read transaction, and writes its
file 0600 through a temp file and a rename: a failure leaves the previous file intact.
A one-line summary goes to stdout (``--json``: one JSON document); counts of what was left
out, and why, go to stderr.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import typer

from exporters.selection import (
    AccountOpt,
    Filters,
    KindOpt,
    NotOnOpt,
    PlatformOpt,
    ReachableOnlyOpt,
    TagOpt,
    filters_from,
    read_snapshot,
)

from ..db.engine import write
from ..errors import ConfigError, UsageError
from .common import emit_json, one_line, state, stdout

app = typer.Typer(help="Export persons: a CSV, a mailing list, vCards, follow lists for other platforms.", no_args_is_help=True)

OutputOpt = typer.Option(..., "-o", "--output", metavar="FILE", help="The file to write (created 0600; replaced atomically).")
JsonOpt = typer.Option(False, "--json", help="Print one JSON document describing what was written.")


def ensure_linked(engine) -> None:
    """Link what changed since the last link run, so the export sees every import."""
    from ..people.link import ensure_linked as link_if_changed

    link_if_changed(engine)


@contextlib.contextmanager
def _writing(path: Path):
    """An unwritable target is the user's to fix (exit 4), not a bug."""
    if path.is_dir():
        raise UsageError(f"{path} is a directory", hint="give the file to write, e.g. -o people.csv")
    try:
        yield
    except OSError as exc:
        if exc.filename is None and exc.errno is None:
            raise
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}", hint="check the directory exists and is writable") from None


def _note(message: str) -> None:
    sys.stderr.write(one_line(message) + "\n")


def _summary(what: str, rows: int, path: Path, filters: Filters) -> str:
    """``wrote 42 persons (tag=professional) to FILE``; ``what`` is "person" or "person/persons"."""
    one, _, many = what.partition("/")
    scope = "" if filters.empty else f" ({filters.describe()})"
    return f"wrote {rows:,} {one if rows == 1 else many or one + 's'}{scope} to {path}"


@app.command("csv")
def csv_(
    ctx: typer.Context,
    output: Path = OutputOpt,
    excel: bool = typer.Option(False, "--excel", help="Start the file with a UTF-8 byte order mark, which Excel needs to read UTF-8."),
    workers: int | None = typer.Option(
        None, "--workers", metavar="N", min=1, help="Processes for a large export (default: one per CPU, at most 4; 1: no worker process)."),
    tag: TagOpt = None, platform: PlatformOpt = None, account: AccountOpt = None, kind: KindOpt = None,
    not_on: NotOnOpt = None, reachable_only: ReachableOnlyOpt = False,
    json_: bool = JsonOpt,
) -> None:
    """Everything about the selected persons, one row per person: name, tags, handle and profile
    URL per platform, emails, phones, websites, first seen, which of my accounts they follow."""
    from exporters.csv_export import write_csv

    filters = filters_from(tag, platform, account, kind, not_on, reachable_only)
    engine = state(ctx).engine()
    ensure_linked(engine)
    with _writing(output), read_snapshot(engine) as conn:
        result = write_csv(conn, output, filters, excel=excel, workers=workers)
    if json_:
        emit_json({"path": str(result.path), "rows": result.rows, "filters": filters.describe()})
        return
    stdout().print(one_line(_summary("person", result.rows, result.path, filters)), markup=False)


@app.command("mailing-list")
def mailing_list(
    ctx: typer.Context,
    output: Path = OutputOpt,
    fmt: str = typer.Option("mailchimp", "--format", metavar="FORMAT", help="mailchimp, listmonk or generic: the column layout of the tool that imports it."),
    include_unconsented: bool = typer.Option(
        False, "--include-unconsented",
        help="Also addresses without a recorded opt-in (from bios, address books, LinkedIn), with the target's non-subscribed/unconfirmed status."),
    all_addresses: bool = typer.Option(False, "--all-addresses", help="Every usable address of a person, not only the best one."),
    tag: TagOpt = None, platform: PlatformOpt = None, account: AccountOpt = None, kind: KindOpt = None,
    not_on: NotOnOpt = None, reachable_only: ReachableOnlyOpt = False,
    json_: bool = JsonOpt,
) -> None:
    """A list an email tool can import. Only opted-in addresses unless --include-unconsented;
    unsubscribed and suppressed addresses never."""
    from exporters.mailing_list import write_mailing_list

    filters = filters_from(tag, platform, account, kind, not_on, reachable_only)
    fmt = fmt.strip().lower()
    engine = state(ctx).engine()
    ensure_linked(engine)
    with _writing(output), read_snapshot(engine) as conn:
        result = write_mailing_list(conn, output, fmt, filters, include_unconsented=include_unconsented, all_addresses=all_addresses)
    quiet = state(ctx).quiet
    if include_unconsented and result.included_unconsented:
        status = {"mailchimp": "non-subscribed", "listmonk": "unconfirmed", "generic": "unconfirmed"}[fmt]
        _note(f"{result.included_unconsented:,} of the addresses have no recorded opt-in: they are marked {status}"
              + ("; Mailchimp applies one status per import, so import those rows separately" if fmt == "mailchimp" else ""))
    if not quiet:
        if result.skipped_unconsented:
            _note(f"left out {result.skipped_unconsented:,} addresses without a recorded opt-in "
                  "(--include-unconsented adds them, marked as not subscribed)")
        if result.skipped_suppressed:
            _note(f"left out {result.skipped_suppressed:,} unsubscribed or opted-out addresses (never exported)")
    if json_:
        emit_json({
            "path": str(result.path), "format": fmt, "rows": result.rows, "persons": result.persons,
            "included_unconsented": result.included_unconsented, "skipped_unconsented": result.skipped_unconsented,
            "skipped_suppressed": result.skipped_suppressed, "by_status": result.by_status, "filters": filters.describe(),
        })
        return
    stdout().print(one_line(_summary("address/addresses", result.rows, result.path, filters)) + f" ({fmt})", markup=False)


@app.command("vcard")
def vcard(
    ctx: typer.Context,
    output: Path = OutputOpt,
    tag: TagOpt = None, platform: PlatformOpt = None, account: AccountOpt = None, kind: KindOpt = None,
    not_on: NotOnOpt = None, reachable_only: ReachableOnlyOpt = False,
    json_: bool = JsonOpt,
) -> None:
    """vCard 4.0 (RFC 6350), one card per person, for any address book."""
    from exporters.vcard import write_vcard

    filters = filters_from(tag, platform, account, kind, not_on, reachable_only)
    engine = state(ctx).engine()
    ensure_linked(engine)
    with _writing(output), read_snapshot(engine) as conn:
        result = write_vcard(conn, output, filters)
    if json_:
        emit_json({"path": str(result.path), "rows": result.rows, "filters": filters.describe()})
        return
    stdout().print(one_line(_summary("card", result.rows, result.path, filters)), markup=False)


@app.command("follows")
def follows(
    ctx: typer.Context,
    target: str = typer.Option(..., "--platform", metavar="PLATFORM", help="mastodon, bluesky or x: the platform to follow them on."),
    output: Path = OutputOpt,
    create_list: str | None = typer.Option(
        None, "--create-list", metavar="NAME", help="Bluesky: also create (or complete) a list of them on my Bluesky account."),
    starter_pack: bool = typer.Option(False, "--starter-pack", help="Bluesky, with --create-list: also make a starter pack of the list."),
    as_account: str | None = typer.Option(
        None, "--as", metavar="ACCOUNT", help="The Bluesky account to create the list on (default: the only one with an app password)."),
    tag: TagOpt = None, account: AccountOpt = None, kind: KindOpt = None,
    not_on: NotOnOpt = None, reachable_only: ReachableOnlyOpt = False,
    json_: bool = JsonOpt,
) -> None:
    """The people known on a platform who are not yet connected with my accounts there: Mastodon's
    own follow-import CSV (split every 20,000 rows), Bluesky handles and DIDs, X handles with links."""
    from exporters.follows import PLATFORMS, write_follows

    target = target.strip().lower()
    if target not in PLATFORMS:
        raise UsageError(f"--platform {target!r}: follow lists are for {', '.join(PLATFORMS)}")
    if (create_list or starter_pack or as_account) and target != "bluesky":
        raise UsageError("--create-list, --starter-pack and --as are for --platform bluesky")
    if starter_pack and not create_list:
        raise UsageError("--starter-pack needs --create-list NAME (a starter pack points at a list)")
    filters = filters_from(tag, None, account, kind, not_on, reachable_only)
    st = state(ctx)
    engine = st.engine()
    ensure_linked(engine)
    bsky_account = None
    with _writing(output), read_snapshot(engine) as conn:
        if create_list:
            bsky_account = _bluesky_account(conn, as_account)
        result = write_follows(conn, output, target, filters)
    listed = None
    if create_list:
        from exporters.bluesky_list import create_list as make_list

        listed = make_list(bsky_account, create_list, result.entries, starter_pack=starter_pack)
    if result.skipped_suppressed and not st.quiet:
        _note(f"left out {result.skipped_suppressed:,} opted-out handles")
    if listed and listed.unresolved and not st.quiet:
        _note(f"{len(listed.unresolved):,} Bluesky handles did not resolve to an account and are not in the list")
    if json_:
        doc = {"path": str(result.path), "paths": [str(p) for p in result.paths], "platform": target, "rows": result.rows,
               "persons": result.persons, "skipped_suppressed": result.skipped_suppressed, "filters": filters.describe()}
        if listed:
            doc["list"] = {"uri": listed.list_uri, "url": listed.list_url, "created": listed.created, "added": listed.added,
                           "already": listed.already, "unresolved": len(listed.unresolved),
                           "starter_pack": listed.starter_pack_uri, "starter_pack_url": listed.starter_pack_url}
        emit_json(doc)
        return
    out = stdout()
    where = ", ".join(str(p) for p in result.paths)
    scope = "" if filters.empty else f" ({filters.describe()})"
    out.print(one_line(f"wrote {result.rows:,} {target} account{'' if result.rows == 1 else 's'} to follow{scope} to {where}"), markup=False)
    if len(result.paths) > 1:
        out.print(f"Mastodon imports at most 20,000 rows per file: import the {len(result.paths)} files one after another", markup=False)
    if listed:
        verb = "created" if listed.created else "completed"
        out.print(one_line(f"{verb} the Bluesky list {listed.list_url}: {listed.added:,} added, {listed.already:,} already in it"), markup=False)
        if listed.starter_pack_url:
            out.print(one_line(f"starter pack: {listed.starter_pack_url}"), markup=False)


def _bluesky_account(conn, ref: str | None):
    from sqlalchemy import select

    from ..accounts import resolve
    from ..db.models import Account

    if ref:
        return resolve(conn, ref)
    from ..db import orm

    found = orm(conn).execute(select(Account).where(Account.platform == "bluesky", Account.token_env.is_not(None))).scalars().all()
    if len(found) == 1:
        return found[0]
    if not found:
        raise UsageError(
            "--create-list needs one of my Bluesky accounts with an app password",
            hint="audience accounts add bluesky HANDLE --token-env BLUESKY_APP_PASSWORD",
        )
    raise UsageError(f"{len(found)} Bluesky accounts have an app password", hint="choose one with --as bluesky:HANDLE")


def optout(
    ctx: typer.Context,
    target: str = typer.Argument(..., metavar="ADDRESS_OR_HANDLE", help="An email, an international phone number, platform:handle or @user@host."),
    reason: str | None = typer.Option(None, "--reason", metavar="R", help="Why (kept with the entry)."),
) -> None:
    """Put an address or handle on the suppression list: never exported, never messaged."""
    from exporters.optout import add_optout

    with write(state(ctx).engine()) as conn:
        done = add_optout(conn, target, reason)
    what = "already on the suppression list" if not done.added else "added to the suppression list"
    persons = f"; {done.persons} person{' holds' if done.persons == 1 else 's hold'} it" if done.persons else ""
    stdout().print(one_line(f"{done.kind} {done.value}: {what}: never exported to a mailing list, never messaged{persons}"), markup=False)
