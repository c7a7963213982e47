"""Importers for data-export files, one module per format, in one registry.

An importer says only how to recognise its format and how to read it (STYLE §1):

- ``detect(source, options) -> bool``: look at member names, the first bytes, CSV headers;
- ``plan(source, options) -> Plan``: which relationship kinds the source holds (one
  ``Stream`` each, with the member files that make it up), the account it names, its date;
- ``Stream.read()`` yields ``ProfileRecord`` or ``RecordError`` values, never raising for
  one bad record (HPI's errors-as-values); a fatal problem raises ``InputError``.

No loops over pages, no commits, no printing here: ``backup.importing`` drives them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..snapshot import ProfileRecord
from .sources import Source


@dataclass(frozen=True)
class RecordError:
    """One bad record: where it is and why it was skipped."""

    where: str  # file and record/line, e.g. "data/follower.js record 17"
    reason: str


@dataclass
class AccountHint:
    """The user's own account as an export names it (X `account.js`)."""

    platform: str
    handle: str
    platform_id: str | None = None
    display_name: str | None = None
    # A name the importer makes up (an address book has no owner in the file), not one the
    # export states: an explicit --account of the same platform wins over it.
    suggested: bool = False


@dataclass
class Stream:
    kind: str
    files: list[str]  # source members; their bytes make the content hash
    read: Callable[[], Iterator[ProfileRecord | RecordError]]


@dataclass
class Plan:
    platform: str | None
    streams: list[Stream]
    account: AccountHint | None = None
    as_of: dt.datetime | None = None


@dataclass
class ImportOptions:
    platform: str | None = None
    kind: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    account_platform: str | None = None  # the platform of --account, when one was given


class Importer:
    name: str = ""
    description: str = ""

    def detect(self, source: Source, options: ImportOptions) -> bool:
        raise NotImplementedError

    def plan(self, source: Source, options: ImportOptions) -> Plan:
        raise NotImplementedError


REGISTRY: dict[str, Importer] = {}


def register(cls: type[Importer]) -> type[Importer]:
    """Class decorator: built-in and future importers come in through this one door."""
    REGISTRY[cls.name] = cls()
    return cls


def load_builtin() -> dict[str, Importer]:
    """Import every format module of this package; each registers itself with @register."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        if module.name not in _NOT_FORMATS:
            importlib.import_module(f"{__name__}.{module.name}")
    return REGISTRY


# Helper modules of this package that hold no format.
_NOT_FORMATS = {"sources", "tabular", "jsonstream"}
