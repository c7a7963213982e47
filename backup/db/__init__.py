"""Storage: models, engines, migrations and the read-side queries exporters use."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.orm import Session


def orm(conn: Connection) -> Session:
    """An ORM session on the caller's connection and transaction (it never commits by itself)."""
    return Session(bind=conn, expire_on_commit=False, join_transaction_mode="rollback_only")
