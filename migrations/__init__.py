"""Alembic migrations, shipped inside the installed package (configured in code by backup.db.migrate)."""
