"""`audience init`: create or upgrade the database and say where it lives."""

from __future__ import annotations

import typer

from ..db.engine import sqlite_path
from ..db.migrate import head_revision
from .common import state, stdout


def init(ctx: typer.Context) -> None:
    """Create or upgrade the database; print where it lives. Safe to run again."""
    st = state(ctx)
    engine = st.engine()
    path = sqlite_path(st.db_url)
    where = str(path) if path else engine.url.render_as_string(hide_password=True)
    stdout().print(f"database: {where} (schema {head_revision()})", markup=False)
