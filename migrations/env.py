"""Alembic environment: always runs on a connection handed over by backup.db.migrate.

SQLite gets batch mode (ALTER TABLE by copy) and runs inside the explicit transaction that
backup.db.engine opens, so a failed migration leaves nothing half-made.
"""

from alembic import context

from backup.db.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running the alembic CLI by hand
    raise SystemExit("run migrations with `audience db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
