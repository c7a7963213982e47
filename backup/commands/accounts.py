"""`audience accounts add | list | remove`: the user's own accounts."""

from __future__ import annotations

from typing import List, Optional

import typer
from rich.table import Table

from .. import accounts as service
from ..db.queries import list_accounts
from ..db.engine import write
from .common import emit_json, state, stdout

app = typer.Typer(help="Register, list and remove your own accounts.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    platform: str = typer.Argument(..., help="x, mastodon, bluesky, github, linkedin, instagram, facebook, tiktok, newsletter, ..."),
    handle: str = typer.Argument(..., help="Your handle there, e.g. ana_pro or ana@mastodon.social."),
    label: Optional[str] = typer.Option(None, "--label", help="A short name to refer to the account by."),
    tag: List[str] = typer.Option([], "--tag", help="A tag such as personal or professional (repeatable)."),
    token_env: Optional[str] = typer.Option(None, "--token-env", metavar="VAR", help="NAME of the environment variable holding the token (the token itself is never stored)."),
    server: Optional[str] = typer.Option(None, "--server", metavar="URL", help="Mastodon instance, or a custom API base."),
) -> None:
    """Register one of your accounts."""
    with write(state(ctx).engine()) as conn:
        account = service.add(conn, platform, handle, label=label, tags=tag, token_env=token_env, server=server)
    stdout().print(f"registered {account.ref} (id {account.id})", markup=False)


@app.command("list")
def list_(ctx: typer.Context, json_: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """List your accounts with their status and last snapshot."""
    with state(ctx).engine().connect() as conn:
        rows = list_accounts(conn)
    if json_:
        emit_json(rows)
        return
    table = Table("id", "account", "label", "tags", "status", "last snapshot")
    for r in rows:
        table.add_row(str(r["id"]), f"{r['platform']}:{r['handle']}", r["label"] or "", ",".join(r["tags"]), r["status"], r["last_snapshot_at"] or "never")
    stdout().print(table if rows else "no accounts yet: `audience accounts add PLATFORM HANDLE` or `audience import`")


@app.command("remove")
def remove(
    ctx: typer.Context,
    account: str = typer.Argument(..., help="platform:handle, id or label."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Remove an account with its snapshots and relationship history."""
    with write(state(ctx).engine()) as conn:
        acc = service.resolve(conn, account)
        if not yes:
            typer.confirm(f"remove {acc.ref} and all its snapshots?", abort=True, err=True)
        service.remove(conn, acc)
    stdout().print(f"removed {acc.ref}", markup=False)
