"""What every export file shares for safety (SPEC §10): formula neutralisation of CSV cells,
clean one-line text, and the private atomic file.

CSV injection (OWASP, "CSV Injection"): a spreadsheet opening a CSV runs a cell that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula (``=HYPERLINK(...)``,
``=cmd|' /C calc'!A0``, DDE). ``neutralize_cell`` puts a single quote in front of such a cell,
which spreadsheets show as text and which keeps the value readable. The full-width forms
(``＝＋－＠``) get the same treatment, since some spreadsheet programs fold them to ASCII, and a
leading line feed too. Quoting the cell itself (commas, quotes, line breaks) is the csv
module's job (RFC 4180, ``QUOTE_MINIMAL``).

Every file with personal data goes through ``backup.files.atomic_write``: 0600, written to
a temp file beside the target and renamed, so a failure leaves the previous file intact.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO

FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"[\r\n\t\u2028\u2029\x85]+")
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def neutralize_cell(value: str) -> str:
    """A CSV cell that no spreadsheet runs as a formula: a value starting with ``= + - @``,
    tab, CR (or LF, or their full-width forms) gets a leading ``'``; NUL bytes are dropped.

    >>> neutralize_cell("=cmd|' /C calc'!A0"), neutralize_cell("+442079460958"), neutralize_cell("Ada")
    ("'=cmd|' /C calc'!A0", "'+442079460958", 'Ada')
    """
    if not value:
        return ""
    if "\x00" in value:
        value = value.replace("\x00", "")
        if not value:
            return ""
    if value[0] in FORMULA_TRIGGERS:
        return "'" + value
    return value


def one_line(value: str | None) -> str:
    """User-supplied text for a single-line field (a name in a mailing list): line breaks and
    tabs become one space, other control characters and bidi overrides go."""
    if not value:
        return ""
    value = _LINE_BREAKS.sub(" ", value)
    value = _CONTROLS.sub("", value)
    return _BIDI.sub("", value).strip()


def csv_writer(fh: IO[str]):
    """A ``csv.writer`` for RFC 4180: comma, double quotes where needed, CRLF. It does NOT
    neutralise: give it cells that went through ``neutralize_cell``, or use SafeCsvWriter."""
    return csv.writer(fh, dialect="excel", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")


class SafeCsvWriter:
    """``csv.writer`` (RFC 4180: comma, double quotes, CRLF) that neutralises every cell."""

    def __init__(self, fh: IO[str]):
        self._writer = csv_writer(fh)

    def writerow(self, row: Iterable[str | None]) -> None:
        # the common case inline (a safe first character, no NUL); the rest through neutralize_cell
        self._writer.writerow([
            c if not c or (c[0] not in FORMULA_TRIGGERS and "\x00" not in c) else neutralize_cell(c) for c in row
        ])

    def writeheader(self, header: Iterable[str]) -> None:
        self._writer.writerow(list(header))
