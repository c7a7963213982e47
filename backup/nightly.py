"""`audience backup`: the nightly job over every API account (SPEC §4, §5.7, §6).

For each account: build its connector (one per account per run), ask the platform for the
account's own standing and record any change of status with its time, then walk every kind
the connector supports through ``run_api_snapshot`` (resumable, one transaction per page).
A failure of one account never stops the others; the run's exit code is the highest of what
happened (SPEC §4): 4 configuration or authentication, 5 transient (progress saved), 6 some
accounts failed while others were saved, 7 a snapshot held back by the drop guard, 8 an own
account suspended or deactivated.

No printing here: the command renders the results; progress goes through a callback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select, update

from . import connectors
from .config import DEFAULT_RUN_SECONDS, secret
from .db import orm
from .db.engine import write
from .db.models import Account, utcnow
from .connectors.http import AuthFailed
from .errors import AccountSuspended, AudienceError, ConfigError, PartialError, SuspectSnapshot, UsageError
from .snapshot import Outcome, run_api_snapshot

log = logging.getLogger(__name__)

DOWN = ("suspended", "deactivated")  # statuses that mean the audience is out of reach (exit 8)


@dataclass
class AccountResult:
    account: str
    status: str  # the account's health after this run (SPEC §2)
    snapshots: list[Outcome] = field(default_factory=list)
    error: str | None = None
    hint: str | None = None
    exit_code: int = 0
    status_changed: bool = False
    detail: str | None = None
    report: str | None = None  # the recovery report written for an account found down


@dataclass
class RunResult:
    accounts: list[AccountResult]
    exit_code: int


def api_accounts(engine: Engine, refs: list[str] | None) -> list[Account]:
    """The accounts to back up: those named, else every account of a platform with a connector."""
    from . import accounts as service

    with engine.connect() as conn:
        if refs:
            chosen = [service.resolve(conn, ref) for ref in refs]
            for account in chosen:
                if not connectors.available(account.platform):
                    raise UsageError(
                        f"{account.ref}: {account.platform} has no API that audience can read",
                        hint=f"download your {account.platform} data export and run `audience import FILE --account {account.ref}`",
                    )
            return chosen
        every = orm(conn).execute(select(Account).order_by(Account.id)).scalars().all()
        return [a for a in every if connectors.available(a.platform)]


def run_backup(
    engine: Engine,
    accounts: list[Account],
    *,
    deadline: float | None = None,
    client_options: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RunResult:
    """Back up each account; never raises for one account's failure."""
    if deadline is None:
        deadline = clock() + DEFAULT_RUN_SECONDS
    results = [_backup_one(engine, a, deadline, client_options or {}, progress, clock) for a in accounts]
    return RunResult(results, exit_code(results))


def exit_code(results: list[AccountResult]) -> int:
    codes = [r.exit_code for r in results]
    failed = [c for c in codes if c not in (0, SuspectSnapshot.exit_code, AccountSuspended.exit_code)]
    if failed and len(failed) < len(codes):
        codes.append(PartialError.exit_code)  # some accounts failed, the others were saved
    return max(codes, default=0)


def _backup_one(
    engine: Engine, account: Account, deadline: float, client_options: dict, progress, clock
) -> AccountResult:
    result = AccountResult(account.ref, account.status)
    try:
        token = secret(account.token_env) if account.token_env else None
        connector = connectors.get(account.platform)(
            handle=account.handle, platform_id=account.platform_id, server=account.server, secret=token,
            client_options={"deadline": deadline, **client_options},
        )
        if progress:
            progress(f"{account.ref}: checking the account")
        own = connector.own_account()
        _record_status(engine, account, own.status, own.platform_id, result)
        result.detail = own.detail
        if own.status in DOWN:
            raise AccountSuspended(
                f"{account.ref} is {own.status}" + (f" ({own.detail})" if own.detail else ""),
                hint="its last good snapshots are kept; `audience report recovery "
                f"{account.ref}` shows who you can still reach",
            )
        if own.status == "auth_failed":
            raise ConfigError(
                f"{account.ref}: the platform refused the credentials" + (f" ({own.detail})" if own.detail else ""),
                hint=f"renew the token and export {account.token_env or 'its variable'} again",
            )
        for kind in connector.kinds:
            if progress:
                progress(f"{account.ref}: reading {kind}s")
            outcome = run_api_snapshot(
                engine, account, kind, _counting(connector.fetch_page, progress, f"{account.ref}: reading {kind}s"),
                deadline=deadline, clock=clock,
            )
            result.snapshots.append(outcome)
            if outcome.status == "suspect":
                result.exit_code = max(result.exit_code, SuspectSnapshot.exit_code)
    except AccountSuspended as exc:
        if result.status not in DOWN:  # found out mid-walk: the status is news
            _record_status(engine, account, getattr(exc, "status", None) or "suspended", None, result)
        _failed(result, exc)
    except AuthFailed as exc:  # a token refused in the middle of the walk (revoked tonight)
        _record_status(engine, account, "auth_failed", None, result)
        _failed(result, exc)
    except AudienceError as exc:
        _failed(result, exc)
    return result


def _failed(result: AccountResult, exc: AudienceError) -> None:
    result.error, result.hint = exc.message, exc.hint
    result.exit_code = max(result.exit_code, exc.exit_code)
    log.info("%s: %s", result.account, exc.message)


def _counting(fetch_page, progress, what: str):
    """fetch_page, reporting the running count of profiles read to `progress`."""
    if progress is None:
        return fetch_page
    seen = 0

    def fetch(kind, cursor):
        nonlocal seen
        page = fetch_page(kind, cursor)
        seen += len(page.profiles)
        progress(f"{what}: {seen:,}")
        return page

    return fetch


def _record_status(engine: Engine, account: Account, status: str, platform_id: str | None, result: AccountResult) -> None:
    """Store a change of the account's health with its time (and an id learned on the way)."""
    values: dict = {}
    if status != account.status:
        values.update(status=status, status_since=utcnow())
        result.status_changed = True
        level = logging.INFO if status == "active" else logging.WARNING  # good news needs no warning
        log.log(level, "%s: status %s -> %s", account.ref, account.status, status)
    if platform_id and not account.platform_id:
        values["platform_id"] = platform_id
    if values:
        with write(engine) as conn:
            conn.execute(update(Account).where(Account.id == account.id).values(**values))
        for key, value in values.items():
            setattr(account, key, value)
    result.status = status
