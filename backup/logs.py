"""Logging to stderr, with secrets redacted from every line (SPEC §3, §10).

Library code logs; it never prints. Whatever a log line carries (a URL with a token in its
query, a header dump from urllib3 at DEBUG), the filter masks `Authorization` values,
`access_token=`-style parameters and app passwords before anything is written.
"""

from __future__ import annotations

import logging
import re
import sys

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
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("backup").setLevel(logging.INFO if verbose else level)


def _lowercase_level(record: logging.LogRecord) -> bool:
    record.levelname_lower = record.levelname.lower()
    return True
