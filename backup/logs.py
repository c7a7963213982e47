"""Logging to stderr, with secrets redacted from every line (SPEC §3, §10).

Library code logs; it never prints. Whatever a log line carries (a URL with a token in its
query, a header dump from urllib3 at DEBUG), the filter masks `Authorization` values,
`access_token=`-style parameters and app passwords before anything is written.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from pathlib import Path

REDACTIONS = [
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bearer|basic|token)?\s*[^\s'\",}]+"), r"\1\2 [redacted]"),
    (re.compile(r"(?i)\b((?:access|refresh)_?token|token|password|app_?password|client_secret|api_?key)=([^&\s'\"]+)"), r"\1=[redacted]"),
    # JSON bodies: {"accessJwt": "...", "refreshJwt": "...", "password": "..."} (Bluesky createSession)
    (re.compile(r"(?i)(['\"](?:access|refresh)_?(?:jwt|token)['\"]|['\"](?:app_?)?password['\"])\s*:\s*['\"][^'\"]*['\"]"), r"\1: \"[redacted]\""),
    (re.compile(r"\b[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}\b"), "[redacted-app-password]"),  # Bluesky app password shape
]


def redact(message: str) -> str:
    for pattern, replacement in REDACTIONS:
        message = pattern.sub(replacement, message)
    return message


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname_lower)s: %(message)s"))
    handler.addFilter(_lowercase_level)
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_audience", False):
            root.removeHandler(h)
    handler._audience = True  # type: ignore[attr-defined]
    handler.setLevel(level)  # the console shows what the user asked for; a log file may want more
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("backup").setLevel(logging.DEBUG if verbose else logging.INFO)


def _lowercase_level(record: logging.LogRecord) -> bool:
    record.levelname_lower = record.levelname.lower()
    return True


LOG_FILE = "audience.log"
LOG_MAX_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 5


def file_logging() -> Path:
    """Also log, at INFO, to `logs/audience.log` in the data dir (0600, rotated at 5 MB, 5 kept).

    A nightly job has nobody watching stderr: the file is where the morning's questions are
    answered. The same redaction applies to every line.
    """
    from .config import data_dir
    from .files import ensure_private_dir, ensure_private_file

    directory = ensure_private_dir(data_dir() / "logs")
    path = directory / LOG_FILE
    ensure_private_file(path)
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_audience_file", False):
            root.removeHandler(h)
            h.close()
    handler = _PrivateRotatingFileHandler(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    handler._audience_file = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    return path


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Rotated files are created 0600 too, under any umask."""

    def _open(self):
        from .files import ensure_private_file

        ensure_private_file(Path(self.baseFilename))
        return super()._open()
