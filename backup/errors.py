"""One exception hierarchy for the whole tool.

Library code raises these and never prints; ``backup.cli.main`` is the single
place where they become an ``error: ...`` line, an optional ``hint: ...`` line
and an exit code (SPEC §4, "Exit codes").
"""

from __future__ import annotations


class AudienceError(Exception):
    """Base class: an expected failure with a one-line message for the user."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class UsageError(AudienceError):
    """The command line asked for something that does not make sense."""

    exit_code = 2


class InputError(AudienceError):
    """A bad input file or record: the message names the file, the record and what to do."""

    exit_code = 3


class ConfigError(AudienceError):
    """Configuration or authentication problem (missing token variable, 401, unknown account)."""

    exit_code = 4


class TransientError(AudienceError):
    """Rate limit or network retries exhausted; progress is saved, run again later."""

    exit_code = 5


class PartialError(AudienceError):
    """Some accounts failed, the others were saved."""

    exit_code = 6


class SuspectSnapshot(AudienceError):
    """A snapshot was held back as `suspect` by the drop guard."""

    exit_code = 7


class AccountSuspended(AudienceError):
    """One of the user's own accounts was found suspended, deactivated or taken down."""

    exit_code = 8


class RepeatedCursor(TransientError):
    """A paginated source returned a cursor it had already returned: stop instead of looping."""


class LockBusy(AudienceError):
    """Another run holds the run lock on this database (not an error: exit 0 without work)."""

    exit_code = 0
