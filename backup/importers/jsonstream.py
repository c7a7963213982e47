"""Shared helpers of the JSON export importers (Facebook, Instagram, TikTok).

Meta's mojibake repair, text cleaning, Unix times; BOM-tolerant reading with a nesting-depth
guard; finding which of several known places holds a list; streaming its items with ijson.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from decimal import Decimal
from itertools import accumulate
from typing import BinaryIO

import ijson

from ..errors import InputError
from ..snapshot import MAX_TEXT
from .sources import Source

BOM = b"\xef\xbb\xbf"
HEAD_BYTES = 4096
ITEM_STARTS = ("start_map", "start_array", "string", "number", "boolean", "null")  # ijson events that open an item


# -- text repair -------------------------------------------------------------------------------


def unmojibake(text: str) -> str:
    """Undo Meta's escaping of UTF-8 bytes as characters: "ZoÃ« MÃ¼ller" -> "Zoë Müller".

    Only text made entirely of U+0000..U+00FF characters whose code points form valid UTF-8
    bytes is changed; anything else (already-correct text) comes back unchanged.
    """
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def clean_text(text: str, limit: int = MAX_TEXT) -> str:
    """Text as it may be stored: no NUL, no lone surrogate (unencodable), at most `limit` characters."""
    text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a `\\ud800` escape: not text any database takes
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:limit]


def repaired(value):
    """`value` with every string inside it (in dicts and lists, at any depth) unmojibaked."""
    if isinstance(value, str):
        return unmojibake(value)
    if isinstance(value, list):
        return [repaired(v) for v in value]
    if isinstance(value, dict):
        return {k: repaired(v) for k, v in value.items()}
    return value


def unix_time(value) -> dt.datetime | None:
    """A Unix-seconds JSON number as a UTC time; None for anything else (a string, a bool, year 300000)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        return dt.datetime.fromtimestamp(int(value), dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- streaming JSON ----------------------------------------------------------------------------


# ijson names every event by its path ("item.item.item..."), so its memory grows with the
# square of the nesting depth: 30,000 nested `[` (60 KB of file) take 2 GB. No export nests
# deeper than about 10; JSON deeper than this is refused while it is read.
MAX_JSON_DEPTH = 1000
_BRACKETS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 as signed bytes
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class JsonReader:
    """A member's bytes for ijson: past a UTF-8 BOM (ijson refuses it), with a nesting-depth guard.

    The depth is counted on the bytes as they go by, outside strings, with bytes methods only
    (no Python loop per character), so the guard costs little next to the parse itself.
    """

    def __init__(self, fh: BinaryIO, label: str):
        self.fh, self.label = fh, label
        start = fh.read(len(BOM))
        self.head = b"" if start == BOM else start
        self.depth, self.peak, self.in_string, self.carry = 0, 0, False, b""

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n < 0:
                data, self.head = self.head + self.fh.read(), b""
            else:
                data, self.head = self.head[:n], self.head[n:]
        else:
            data = self.fh.read(n)
        self._count(data)
        return data

    def _count(self, data: bytes) -> None:
        buf, self.carry = self.carry + data, b""
        trailing = len(buf) - len(buf.rstrip(b"\\"))
        if trailing % 2 and data:  # a backslash that escapes the first byte of the next read
            buf, self.carry = buf[:-1], b"\\"
        parts = buf.replace(b"\\\\", b"").replace(b'\\"', b"").split(b'"')
        outside = b"".join(parts[1::2] if self.in_string else parts[0::2])
        if (len(parts) - 1) % 2:
            self.in_string = not self.in_string
        steps = memoryview(outside.translate(_BRACKETS, _NOT_BRACKETS)).cast("b")
        if not steps:
            return
        self.peak = max(self.peak, *accumulate(steps, initial=self.depth))
        if self.peak > MAX_JSON_DEPTH:
            raise InputError(
                f"{self.label}: JSON nested more than {MAX_JSON_DEPTH} levels deep; this is not an export file",
                hint="import the files exactly as the platform delivered them",
            )
        self.depth += sum(steps)


def read_head(source: Source, member: str, size: int = HEAD_BYTES) -> bytes:
    """The first bytes of a member, without a BOM; b"" when the member cannot be read."""
    try:
        with source.open(member) as fh:
            return fh.read(size).removeprefix(BOM)
    except (InputError, OSError):
        return b""


def _json_reason(exc: Exception) -> str:
    """The first line of a parser message, printable and short (yajl adds lines quoting the text)."""
    line = (str(exc).strip().splitlines() or ["parse error"])[0]
    return "".join(c if c.isprintable() else "?" for c in line)[:120]


def find_lists(source: Source, member: str, groups: dict[str, Iterable[str]]) -> dict[str, tuple[str, bool]]:
    """Where the arrays are: for each group of ijson item prefixes (``item``, ``friends_v2.item``),
    the first prefix of it that holds an array in this file, and whether that array has items.

    One pass, which stops as soon as every group is found. Raises InputError when the file is
    not JSON up to there, naming the record of a list it was inside.
    """
    wanted = {
        prefix.removesuffix("item").removesuffix("."): (group, prefix) for group, prefixes in groups.items() for prefix in prefixes
    }
    found: dict[str, tuple[str, bool]] = {}
    inside: str | None = None  # the container of the list being walked through
    item = ""  # the prefix of its items
    n = 0
    label = source.label(member)
    with source.open(member) as fh:
        events = ijson.parse(JsonReader(fh, label))
        try:
            for prefix, event, _ in events:
                if inside is not None:
                    if prefix == item and event in ITEM_STARTS:
                        n += event not in ("start_map", "start_array")  # a scalar item is complete at once
                        found[wanted[inside][0]] = (wanted[inside][1], True)
                        if len(found) == len(groups):
                            return found
                    elif prefix == item and event in ("end_map", "end_array"):
                        n += 1
                    elif prefix == inside and event == "end_array":
                        inside = None
                        if len(found) == len(groups):
                            return found
                    continue
                if event == "start_array" and prefix in wanted and wanted[prefix][0] not in found:
                    found[wanted[prefix][0]] = (wanted[prefix][1], False)
                    inside, item, n = prefix, f"{prefix}.item" if prefix else "item", 0
        except ijson.JSONError as exc:
            where = f"invalid JSON after record {n}" if inside is not None else "not valid JSON"
            raise InputError(
                f"{label}: {where} ({_json_reason(exc)})",
                hint="the file is damaged, truncated or not part of this export: download the export again",
            ) from None
        except UnicodeDecodeError:
            raise InputError(f"{label}: not UTF-8 text", hint="download the export again") from None
    return found


def find_list(source: Source, member: str, prefixes: Iterable[str]) -> tuple[str, bool] | None:
    """`find_lists` for one group: (the prefix that holds an array, whether it has items), or None."""
    return find_lists(source, member, {"list": prefixes}).get("list")


def iter_list(source: Source, member: str, prefix: str) -> Iterator[tuple[int, object]]:
    """(record number from 1, item) for each item of the array at `prefix`, streamed.

    Invalid JSON anywhere in the file (after the last item too: a truncated or damaged file)
    raises InputError naming the file and the last good record.
    """
    label = source.label(member)
    n = 0
    with source.open(member) as fh:
        try:
            for n, item in enumerate(ijson.items(JsonReader(fh, label), prefix), start=1):
                yield n, item
        except ijson.JSONError as exc:
            raise InputError(
                f"{label}: invalid JSON after record {n} ({_json_reason(exc)})",
                hint="the file is damaged or truncated: download the export again",
            ) from None
        except UnicodeDecodeError:
            raise InputError(f"{label}: not UTF-8 text after record {n}", hint="download the export again") from None


def html_export_error(source: Source, member: str, what: str) -> InputError:
    return InputError(
        f"{source.label(member)}: this {what} export is in HTML; audience reads the JSON format",
        hint="request the download again and choose the format JSON instead of HTML",
    )


# -- the importer ------------------------------------------------------------------------------
