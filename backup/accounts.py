"""The user's own accounts: registering, finding by the ACCOUNT argument, removing."""

from __future__ import annotations

import re

from sqlalchemy import Connection, delete, select

from .db import orm
from .db.models import Account, utcnow
from .errors import UsageError

PLATFORMS = (
    "x", "mastodon", "bluesky", "github", "linkedin", "instagram", "facebook", "tiktok",
    "youtube", "newsletter", "contacts", "other",
)
ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def normalize_handle(platform: str, handle: str) -> str:
    handle = handle.strip()
    if platform in ("x", "github", "instagram", "tiktok"):
        return handle.lstrip("@").lower()
    if platform in ("mastodon", "bluesky"):
        return handle.lstrip("@").lower()
    return handle


def resolve(conn: Connection, ref: str) -> Account:
    """An ACCOUNT argument: `platform:handle`, a numeric id, or a label."""
    ref = ref.strip()
    account = None
    if ref.isdigit():
        account = orm(conn).execute(select(Account).where(Account.id == int(ref))).scalar()
    if account is None:
        account = orm(conn).execute(select(Account).where(Account.label == ref)).scalar()
    if account is None and ":" in ref:
        platform, _, handle = ref.partition(":")
        platform = platform.lower()
        account = orm(conn).execute(
            select(Account).where(Account.platform == platform, Account.handle == normalize_handle(platform, handle))
        ).scalar()
    if account is None:
        raise UsageError(f"no account {ref!r}", hint="`audience accounts list` shows them; `audience accounts add` registers one")
    return account


def add(
    conn: Connection,
    platform: str,
    handle: str,
    *,
    label: str | None = None,
    tags: list[str] | None = None,
    token_env: str | None = None,
    server: str | None = None,
    platform_id: str | None = None,
) -> Account:
    platform = platform.lower()
    if platform not in PLATFORMS:
        raise UsageError(f"unknown platform {platform!r}", hint=f"platforms: {', '.join(PLATFORMS)}")
    handle = normalize_handle(platform, handle)
    if not handle:
        raise UsageError("the handle is empty")
    if token_env is not None and not ENV_VAR.match(token_env):
        raise UsageError(
            f"--token-env takes the NAME of an environment variable, not a token: {token_env[:4]}… is not a name",
            hint="e.g. --token-env X_TOKEN, after `export X_TOKEN=...`",
        )
    exists = orm(conn).execute(select(Account).where(Account.platform == platform, Account.handle == handle)).scalar()
    if exists:
        raise UsageError(f"{platform}:{handle} is already registered (id {exists.id})")
    if label and conn.execute(select(Account.id).where(Account.label == label)).scalar():
        raise UsageError(f"the label {label!r} is already used by another account")
    account = Account(
        platform=platform, handle=handle, label=label, tags=sorted(set(tags or [])), token_env=token_env,
        server=server, platform_id=platform_id, status="unknown", status_since=utcnow(), created_at=utcnow(),
    )
    session = orm(conn)
    session.add(account)
    session.flush()
    return account


def remove(conn: Connection, account: Account) -> None:
    """Delete an account with its snapshots and relationships (profiles stay: others may share them)."""
    from .db.models import Relationship, Snapshot

    conn.execute(delete(Relationship).where(Relationship.account_id == account.id))
    conn.execute(delete(Snapshot).where(Snapshot.account_id == account.id))
    conn.execute(delete(Account).where(Account.id == account.id))
