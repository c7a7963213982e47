"""`audience import`: detect the format, then ingest each relationship kind as one snapshot.

One PATH is one transaction: a fatal error anywhere in it (a damaged zip, invalid JSON in
the middle of a file, more than 1% bad records) rolls everything back, so the database is
exactly as it was. Bad records inside an otherwise good file are skipped, counted and
reported with file, record number and reason (SPEC §5.6).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, delete, select, update

from . import accounts, faults
from .db import orm
from .db.engine import write
from .db.models import Account, Snapshot
from .errors import InputError, UsageError
from .importers import REGISTRY, AccountHint, Importer, ImportOptions, Plan, RecordError, Stream, load_builtin
from .importers.sources import Source, open_source
from .snapshot import IMPORT_STAGING, ProfileRecord, complete_snapshot, ingest, last_applied_as_of, start_snapshot

log = logging.getLogger(__name__)

# SPEC §5.6: the import fails (exit 3) when more than 1% of its records are bad.
MAX_BAD_FRACTION = 0.01
KEEP_BAD_EXAMPLES = 1000


@dataclass
class StreamResult:
    kind: str
    files: list[str]
    snapshot_id: int
    status: str  # complete | suspect | already-imported
    count: int = 0
    gained: int = 0
    lost: int = 0
    previous_count: int | None = None
    bad: int = 0
    bad_examples: list[RecordError] = field(default_factory=list)
    not_members: int = 0  # records kept as profiles and contacts only (unsubscribed readers, vCards)


@dataclass
class ImportResult:
    path: str
    importer: str
    account: str
    created_account: bool
    as_of: dt.datetime
    streams: list[StreamResult]


def detect(source: Source, options: ImportOptions) -> Importer:
    importers = sorted(load_builtin().values(), key=lambda i: -getattr(i, "priority", 0))
    if options.platform:  # --platform narrows detection to that platform's formats
        own = [i for i in importers if getattr(i, "platform", None) == options.platform]
        for importer in own:
            if importer.detect(source, options):
                return importer
        if options.mapping and "csv" in REGISTRY:
            return REGISTRY["csv"]  # `--platform P --map ...`: any CSV of people, for an account on P
        if own:
            return own[0]  # none recognises the file: its importer explains what is wrong
    for importer in importers:
        if importer.detect(source, options):
            return importer
    raise InputError(
        f"{source.name}: not an export audience can read",
        hint="supported: " + "; ".join(i.description for i in importers) + ". Use --platform and --map for other CSVs",
    )


def _account_for(conn: Connection, plan: Plan, account_ref: str | None) -> tuple[Account, bool]:
    hint: AccountHint | None = plan.account
    if account_ref:
        account = accounts.resolve(conn, account_ref)
        if hint and hint.suggested:  # a made-up name (an address book): only the platform must agree
            other = account.platform != hint.platform
        elif hint and hint.platform_id and account.platform_id:  # ids survive renames: compare them when both are known
            other = account.platform != hint.platform or account.platform_id != hint.platform_id
        else:  # else the handle is all there is (an account registered by handle only)
            other = bool(hint) and (account.platform != hint.platform or account.handle != accounts.normalize_handle(hint.platform, hint.handle))
        if other:
            raise UsageError(
                f"this export belongs to {hint.platform}:{hint.handle}, not {account.ref}",
                hint="leave out --account: the account is taken from the export",
            )
    elif hint:
        session = orm(conn)
        account = None
        if hint.platform_id:
            account = session.execute(select(Account).where(Account.platform == hint.platform, Account.platform_id == hint.platform_id)).scalar()
        if account is None:
            account = session.execute(
                select(Account).where(Account.platform == hint.platform, Account.handle == accounts.normalize_handle(hint.platform, hint.handle))
            ).scalar()
        if account is None:
            return accounts.add(conn, hint.platform, hint.handle, platform_id=hint.platform_id), True
        if hint.platform_id and not account.platform_id:
            conn.execute(update(Account).where(Account.id == account.id).values(platform_id=hint.platform_id))
    elif plan.platform:
        raise UsageError(
            f"this {plan.platform} export does not say whose it is",
            hint=f"name the account: --account {plan.platform}:NAME (register it first: audience accounts add {plan.platform} NAME)",
        )
    else:
        raise UsageError(
            "this export does not say whose it is",
            hint="name the account: --account platform:handle (register it first with `audience accounts add`)",
        )
    if plan.platform and account.platform != plan.platform:
        raise UsageError(f"this is a {plan.platform} export, but {account.ref} is a {account.platform} account")
    return account, False


def _good_records(stream: Stream, result: StreamResult) -> Iterator[ProfileRecord]:
    for item in stream.read():
        if isinstance(item, RecordError):
            result.bad += 1
            if len(result.bad_examples) < KEEP_BAD_EXAMPLES:
                result.bad_examples.append(item)
            continue
        if not item.member:
            result.not_members += 1
        yield item


def _already_imported(conn: Connection, account: Account, stream: Stream, content_hash: str) -> StreamResult | None:
    done = conn.execute(
        select(Snapshot.id).where(
            Snapshot.account_id == account.id, Snapshot.kind == stream.kind, Snapshot.content_hash == content_hash,
            Snapshot.status.in_(("complete", "suspect")),
        )
    ).first()
    return StreamResult(stream.kind, stream.files, done.id, "already-imported") if done else None


class _BackgroundHash:
    """`source.sha256(files)` on a thread; `result()` waits for it and re-raises its error."""

    def __init__(self, source: Source, files: list[str]):
        self._value: str | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(source, files), name="audience-hash", daemon=True)
        self._thread.start()

    def _run(self, source: Source, files: list[str]) -> None:
        try:
            self._value = source.sha256(files)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def done(self) -> bool:
        self._thread.join(0.02)  # a small file is hashed in well under this
        return not self._thread.is_alive()

    def result(self, wait_only: bool = False) -> str:
        self._thread.join()
        if wait_only:
            return ""
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


# Called with a line of status while a file is read, e.g. "x:ana follower: 20,000 records read".
Progress = Callable[[str], None]


def _ingest_stream(
    conn: Connection, source: Source, account: Account, stream: Stream, as_of: dt.datetime, source_name: str,
    progress: Progress | None = None,
) -> StreamResult:
    # The content hash is computed on the other core while the records are read (inflating and
    # hashing release the GIL): a third of a second of a 1M import. A re-import of the same file
    # is found when the hash is ready, and its staged records are then dropped unused.
    hashing = _BackgroundHash(source, stream.files)
    last = last_applied_as_of(conn, account.id, stream.kind)
    if last and as_of < last[1]:
        done = _already_imported(conn, account, stream, hashing.result())
        if done:
            return done
        raise InputError(
            f"{source.name}: this export is from {as_of:%Y-%m-%d %H:%M}, older than snapshot {last[0]} "
            f"({last[1]:%Y-%m-%d %H:%M}) of {account.ref} {stream.kind}s",
            hint="import older exports first, oldest to newest (or pass --as-of if the date is wrong)",
        )
    if hashing.done():  # a small file: hashed already, no records need reading to know
        done = _already_imported(conn, account, stream, hashing.result())
        if done:
            return done
    snapshot_id = start_snapshot(conn, account, stream.kind, source_name, as_of)
    result = StreamResult(stream.kind, stream.files, snapshot_id, "running")
    what = f"{account.ref} {stream.kind}"
    report = (lambda n: progress(f"{what}: {n:,} records read")) if progress else None
    filled: set[str] = set()
    try:
        staged = ingest(conn, snapshot_id, _good_records(stream, result), report, filled)
    except BaseException:
        hashing.result(wait_only=True)
        raise
    content_hash = hashing.result()
    done = _already_imported(conn, account, stream, content_hash)
    if done:
        conn.exec_driver_sql(f"DROP TABLE {IMPORT_STAGING}")
        conn.execute(delete(Snapshot).where(Snapshot.id == snapshot_id))
        return done
    conn.execute(update(Snapshot).where(Snapshot.id == snapshot_id).values(content_hash=content_hash))
    if progress:
        progress(f"{what}: {staged:,} records read; saving")
    total = staged + result.bad
    where = ", ".join(source.label(f) for f in stream.files)
    if total == 0:
        raise InputError(f"{where}: no records at all", hint="this export is empty; nothing was imported")
    if result.bad > total * MAX_BAD_FRACTION:
        first = result.bad_examples[0]
        raise InputError(
            f"{where}: {result.bad} of {total} records are bad (more than {MAX_BAD_FRACTION:.0%}), "
            f"e.g. {first.where}: {first.reason}",
            hint="nothing was imported; fix or re-download the export",
        )
    conn.execute(update(Snapshot).where(Snapshot.id == snapshot_id).values(bad_records=result.bad))
    outcome = complete_snapshot(conn, snapshot_id, staging=IMPORT_STAGING, filled=filled)
    result.status, result.count, result.gained, result.lost = outcome.status, outcome.count, outcome.gained, outcome.lost
    result.previous_count = outcome.previous_count
    return result


def import_path(
    engine: Engine,
    path: Path,
    *,
    account_ref: str | None = None,
    options: ImportOptions | None = None,
    as_of: dt.datetime | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import one zip, folder or file, atomically."""
    options = options or ImportOptions()
    if account_ref and not options.account_platform:
        with engine.connect() as conn:  # `--account newsletter:NAME` tells detection what to look for
            options = dataclasses.replace(options, account_platform=accounts.resolve(conn, account_ref).platform)
    source = open_source(path)
    try:
        importer = detect(source, options)
        plan = importer.plan(source, options)
        when = as_of or plan.as_of or dt.datetime.fromtimestamp(Path(path).stat().st_mtime, dt.timezone.utc)
        with write(engine, bulk=True) as conn:
            account, created = _account_for(conn, plan, account_ref)
            results = [_ingest_stream(conn, source, account, s, when, Path(path).name, progress) for s in plan.streams]
            faults.hit("before-commit")
        faults.hit("committed")
        return ImportResult(str(path), importer.name, account.ref, created, when, results)
    finally:
        source.close()
