"""Where data lives and how settings are resolved (SPEC §3).

Precedence for every setting: command-line flag > environment variable `AUDIENCE_*` > default.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import platformdirs

from .errors import ConfigError
from .files import ensure_private_dir

APP_NAME = "audience"
# A whole nightly backup stops starting new waits after this long (SPEC §4 exit 5: what was
# fetched is kept and the next run resumes). Six hours: a 1M-follower X account at 15
# requests per 15 minutes needs about 17 hours, so it takes three nights, page by page.
DEFAULT_RUN_SECONDS = 6 * 3600
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


def phone_region(flag: str | None = None) -> str | None:
    """The region national phone numbers in bios belong to (`+49 …` needs none; `030 …` does):
    `--phone-region` > `AUDIENCE_PHONE_REGION` > none, in which case only international
    numbers are read. An ISO 3166 code phonenumbers knows, e.g. DE, US, GB."""
    value = (flag or os.environ.get("AUDIENCE_PHONE_REGION") or "").strip().upper()
    if not value:
        return None
    import phonenumbers

    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f"unknown phone region {value!r} (--phone-region or AUDIENCE_PHONE_REGION)",
            hint="use a two-letter country code such as DE, US or GB",
        )
    return value


SECRETS_FILENAME = "secrets.toml"


def secret(variable: str) -> str:
    """The credential an account names by `variable` (never stored in the database; SPEC §3).

    From the environment variable of that name, else from `secrets.toml` in the data dir, a
    file of `VARIABLE = "value"` lines that must be private (mode 0600): a nightly job started
    by systemd or cron does not see the variables of the user's shell.
    """
    value = os.environ.get(variable)
    if value:
        return value
    path = data_dir() / SECRETS_FILENAME
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise ConfigError(
                f"{path} can be read by other users; audience does not read secrets from it",
                hint=f"chmod 600 {path}",
            )
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            # The message of a TOML error quotes no values, only where the problem is.
            raise ConfigError(f"{path}: not valid TOML ({str(exc).splitlines()[0][:80]})", hint='write lines like MASTODON_TOKEN = "..."') from None
        found = table.get(variable)
        if isinstance(found, str) and found:
            return found
    raise ConfigError(
        f"the environment variable {variable} is not set",
        hint=f"export {variable}=... with the token for this account, or put {variable} = \"...\" in {path} (chmod 600)",
    )


