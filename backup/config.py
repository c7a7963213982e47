"""Where data lives and how settings are resolved (SPEC §3).

Precedence for every setting: command-line flag > environment variable `AUDIENCE_*` > default.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from .errors import ConfigError
from .files import ensure_private_dir

APP_NAME = "audience"
DB_FILENAME = "audience.db"


def data_dir() -> Path:
    """`$AUDIENCE_HOME` if set, else the platform's user data dir for `audience`."""
    home = os.environ.get("AUDIENCE_HOME")
    if home:
        return Path(home).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def is_url(value: str) -> bool:
    return "://" in value


def resolve_db_url(flag: str | None = None) -> str:
    """The SQLAlchemy URL to use: `--db`, else `AUDIENCE_DB`, else the SQLite file in the data dir.

    A plain path (no `scheme://`) means a SQLite file at that path.
    """
    value = flag or os.environ.get("AUDIENCE_DB")
    if not value:
        directory = ensure_private_dir(data_dir())
        return f"sqlite:///{directory / DB_FILENAME}"
    if is_url(value):
        return value
    path = Path(value).expanduser().resolve()
    if path.is_dir():
        path = path / DB_FILENAME
    ensure_private_dir(path.parent)
    return f"sqlite:///{path}"


def secret_from_env(variable: str) -> str:
    """Read a credential from the environment variable an account names (never from the database)."""
    value = os.environ.get(variable)
    if not value:
        raise ConfigError(
            f"the environment variable {variable} is not set",
            hint=f"export {variable}=... with the token for this account (it is never stored)",
        )
    return value
