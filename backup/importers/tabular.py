"""Reading CSV files the way users really hand them over.

Exports get re-saved by spreadsheets: a BOM, UTF-16, cp1252, `;` or tab delimiters, CRLF or
CR-only line ends, header case changed. ``read_csv`` accepts all of these, streams rows with
their line numbers, and names the file and line when something cannot be read.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import InputError
from .sources import Source

SNIFF_BYTES = 1 << 20
MAX_FIELD_CHARS = 16 << 20  # csv's default of 131,072 would make one long bio a fatal error
DELIMITERS = ",;\t|"
LINE_BREAK = re.compile(rb"\r\n|\r|\n")


def _encoding(head: bytes) -> tuple[str, int]:
    """(codec, bytes of BOM to skip) from the first bytes of a file."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", 0  # the utf-16 codec reads and drops the BOM itself
    try:
        head.decode("utf-8")
        return "utf-8", 0
    except UnicodeDecodeError as exc:
        if len(head) == SNIFF_BYTES and exc.reason == "unexpected end of data":  # a character cut by the sniff window
            return "utf-8", 0
        return "cp1252", 0


def normalize_header(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").replace("_", " ").strip().lower().split())


@dataclass
class CsvFile:
    header: list[str]  # as written in the file
    keys: list[str]  # normalized: lower case, single spaces, `_` as space
    encoding: str
    delimiter: str


def undecodable_line(source: Source, member: str, encoding: str, skip: int) -> int | None:
    """The line of the first byte `encoding` cannot decode (only on the error path: it re-reads the file).

    The text layer decodes ahead of the csv reader, so the reader's own line number can be
    thousands of lines short of the bad byte. Line breaks are counted as the reader counts them.
    """
    if codecs.lookup(encoding).name not in ("utf-8", "cp1252"):  # one-byte line breaks only
        return None
    line, carry = 1, b""
    with source.open(member) as fh:
        fh.read(skip)
        while True:
            chunk = fh.read(SNIFF_BYTES)
            data = carry + chunk
            try:
                data.decode(encoding)
                end = len(data)
            except UnicodeDecodeError as exc:
                if not (chunk and exc.reason == "unexpected end of data"):
                    return line + len(LINE_BREAK.findall(data, 0, exc.start))
                end = exc.start  # a character cut by the chunk: finish it with the next one
            if chunk and data[end - 1:end] == b"\r":  # and a CRLF cut in two
                end -= 1
            line += len(LINE_BREAK.findall(data, 0, end))
            carry = data[end:]
            if not chunk:
                return None


def sniff(source: Source, member: str) -> tuple[str, int, str]:
    with source.open(member) as fh:
        head = fh.read(SNIFF_BYTES)
    encoding, skip = _encoding(head)
    text = head[skip:].decode(encoding, errors="replace")
    sample = "\n".join(re.split(r"\r\n|\r|\n", text)[:50])  # not splitlines(): it also breaks at \x1e, \x85, U+2028...
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = ","
    return encoding, skip, delimiter


def read_csv(source: Source, member: str, header_at: int = 0) -> tuple[CsvFile, Iterator[tuple[int, dict[str, str]]]]:
    """Open a CSV member; returns its header and an iterator of (line number, {key: value}).

    `header_at` skips that many records before the header (LinkedIn's `Notes:` preamble).
    """
    encoding, skip, delimiter = sniff(source, member)
    label = source.label(member)
    csv.field_size_limit(MAX_FIELD_CHARS)
    raw = source.open(member)
    raw.read(skip)
    stream = io.TextIOWrapper(raw, encoding=encoding, newline="")
    reader = csv.reader(stream, delimiter=delimiter)
    try:
        header: list[str] | None = []
        for _ in range(header_at + 1):  # blank lines (`[]` from csv, or only spaces) are not records
            header = next(reader, None)
            while header is not None and not any(c.strip() for c in header):
                header = next(reader, None)
    except UnicodeDecodeError:  # decoding runs ahead of the header: the bad byte may be further down
        raw.close()
        line = undecodable_line(source, member, encoding, skip) or reader.line_num + 1
        raise InputError(f"{label} line {line}: not {encoding} text", hint="save the file as CSV (UTF-8) and import it again") from None
    except csv.Error as exc:
        raw.close()
        raise InputError(f"{label}: cannot read the header ({exc})", hint="save the file as CSV (UTF-8) and try again") from None
    if not header:
        raw.close()
        raise InputError(f"{label}: the file is empty", hint="export the list again")
    keys = [normalize_header(h) for h in header]
    info = CsvFile(header=header, keys=keys, encoding=encoding, delimiter=delimiter)

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        with raw:
            try:
                for row in reader:
                    if not any(c.strip() for c in row):
                        continue
                    yield reader.line_num, dict(zip(keys, (c.replace("\x00", "").strip() for c in row)))  # NUL is never text
            except UnicodeDecodeError:
                line = undecodable_line(source, member, encoding, skip) or reader.line_num + 1
                raise InputError(
                    f"{label} line {line}: not {encoding} text",
                    hint="save the file as CSV (UTF-8) and import it again",
                ) from None
            except csv.Error as exc:
                raise InputError(f"{label} line {reader.line_num}: {exc}", hint="check the quoting on that line") from None

    return info, rows()
