"""X (Twitter) data archive: "Settings → Your account → Download an archive of your data".

https://help.x.com/en/managing-your-account/how-to-download-your-x-archive

The archive is JavaScript, not JSON: each data file assigns an array to a global,
``window.YTD.follower.part0 = [ {"follower": {"accountId": "…", "userLink": "…"}}, … ]``.
It holds only numeric ids (strings; they exceed 2**53), no handles, names or dates, so the
intent link is kept as the profile URL. ``account.js`` names the archive's own account and
``manifest.js`` (``window.__THAR_CONFIG = {…}``) lists the files of each data type, including
the ``*-partN.js`` parts of large types, and the archive's generation date.

Older archives put ``= [ {`` on the first line, newer ones ``[`` alone on the next line; both
are read by skipping to the first ``=`` and streaming the rest entry by entry (a 1M-follower
file is 150 MB: never ``json.loads`` it whole), see ``_JsArray``.

The ``userLink`` of an entry is the intent link of its own id, which ``profile_url`` derives
from the id, so it is not stored: it was half of the bytes of a million profiles. Any other
link is kept as it is.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import BinaryIO

from ..errors import InputError
from ..snapshot import MAX_HANDLE, ProfileRecord
from . import AccountHint, Importer, ImportOptions, Plan, RecordError, Stream, register
from .sources import Source

KINDS = ("follower", "following")
PREFIX = re.compile(rb"^\s*window\.YTD\.([A-Za-z0-9_]+)\.part(\d+)\s*=\s*")
CONFIG_PREFIX = re.compile(rb"^\s*window\.__THAR_CONFIG\s*=\s*")
PART_FILE = re.compile(r"^(follower|following)(?:-part(\d+))?\.js$", re.IGNORECASE)
HEAD_BYTES = 4096
INTENT_LINK = "https://twitter.com/intent/user?user_id={}"
# Ids above 2**53 written as JSON numbers have passed through a float somewhere (a
# JavaScript tool re-saving the file): the digits may be wrong, so such a record is refused.
MAX_SAFE_INTEGER = 2**53
BOM = b"\xef\xbb\xbf"


class _Chained:
    """A file-like that returns `head` first and then the rest of `fh` (zip members cannot seek)."""

    def __init__(self, head: bytes, fh: BinaryIO):
        self.head, self.fh = head, fh

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n < 0:
                data, self.head = self.head + self.fh.read(), b""
                return data
            data, self.head = self.head[:n], self.head[n:]
            return data
        return self.fh.read(n)


def _strip_prefix(source: Source, member: str, fh: BinaryIO, pattern: re.Pattern, expected: str) -> tuple[re.Match, _Chained]:
    head = fh.read(HEAD_BYTES)
    head = head.removeprefix(BOM)
    match = pattern.match(head)
    if not match:
        raise InputError(
            f"{source.label(member)}: does not start with `{expected} =`; this is not a file of an X archive as X writes it",
            hint="import the archive's zip or its data/ folder unchanged",
        )
    return match, _Chained(head[match.end():], fh)


def _parse_time(value) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _read_small_js(source: Source, member: str, pattern: re.Pattern, expected: str):
    with source.open(member) as fh:
        _, rest = _strip_prefix(source, member, fh, pattern, expected)
        try:
            return json.loads(rest.read().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError(f"{source.label(member)}: invalid JSON ({exc})", hint="download the archive again") from None


def _part_number(member: str) -> int:
    m = PART_FILE.match(PurePosixPath(member).name)
    return int(m.group(2) or 0) if m else 0


@register
class XArchive(Importer):
    name = "x-archive"
    description = "X (Twitter) archive: zip, folder, or follower.js / following.js / account.js"

    def detect(self, source: Source, options: ImportOptions) -> bool:
        names = {PurePosixPath(m).name.lower() for m in source.members()}
        if names & {"account.js", "manifest.js"} or any(PART_FILE.match(n) for n in names):
            return True
        members = source.members()
        if len(members) == 1:
            with source.open(members[0]) as fh:
                head = fh.read(64).removeprefix(BOM)
            return head.lstrip().startswith(b"window.YTD.")
        return False

    def plan(self, source: Source, options: ImportOptions) -> Plan:
        manifest = self._manifest(source)
        account = self._account(source, manifest)
        streams = [s for kind in KINDS if (s := self._stream(source, kind, manifest))]
        if len(source.members()) == 1 and not streams:
            streams = self._single_file_stream(source)
        if not streams:
            raise InputError(
                f"{source.name}: this X archive has no follower.js or following.js",
                hint="X puts them in the data/ folder of the archive; import the whole zip",
            )
        as_of = _parse_time((manifest or {}).get("archiveInfo", {}).get("generationDate"))
        if as_of is None:
            newest = max(source.mtime(f) for s in streams for f in s.files)
            as_of = dt.datetime.fromtimestamp(newest, dt.UTC)
        return Plan(platform="x", streams=streams, account=account, as_of=as_of)

    # -- the parts of a plan --------------------------------------------------------------

    def _manifest(self, source: Source) -> dict | None:
        found = source.find("manifest.js")
        if not found:
            return None
        data = _read_small_js(source, found[0], CONFIG_PREFIX, "window.__THAR_CONFIG")
        return data if isinstance(data, dict) else None

    def _account(self, source: Source, manifest: dict | None) -> AccountHint | None:
        found = source.find("account.js")
        if found:
            data = _read_small_js(source, found[0], PREFIX, "window.YTD.account.part0")
            try:
                acc = data[0]["account"]
                return AccountHint("x", acc["username"], str(acc["accountId"]), acc.get("accountDisplayName"))
            except (KeyError, IndexError, TypeError):
                raise InputError(f"{source.label(found[0])}: no account entry with username and accountId") from None
        info = (manifest or {}).get("userInfo") or {}
        if info.get("userName"):
            return AccountHint("x", info["userName"], info.get("accountId"), info.get("displayName"))
        return None

    def _stream(self, source: Source, kind: str, manifest: dict | None) -> Stream | None:
        files: list[str] = []
        listed = (((manifest or {}).get("dataTypes") or {}).get(kind) or {}).get("files") or []
        members = source.members()
        for entry in listed:
            name = str(entry.get("fileName", "")) if isinstance(entry, dict) else ""
            files += [m for m in members if name and (m == name or m.endswith("/" + name))][:1]
        if not files:  # no manifest, or one that does not list this type: go by file names
            files = sorted(
                (m for m in members if (p := PART_FILE.match(PurePosixPath(m).name)) and p.group(1).lower() == kind),
                key=_part_number,
            )
        if not files:
            return None
        return Stream(kind=kind, files=files, read=lambda: self._read(source, kind, files))

    def _single_file_stream(self, source: Source) -> list[Stream]:
        member = source.members()[0]
        with source.open(member) as fh:
            match, _ = _strip_prefix(source, member, fh, PREFIX, "window.YTD.follower.part0")
        kind = match.group(1).decode()
        if kind not in KINDS:
            raise InputError(f"{source.label(member)}: holds X {kind!r} data, not followers or following")
        return [Stream(kind=kind, files=[member], read=lambda: self._read(source, kind, [member]))]

    # -- reading --------------------------------------------------------------------------

    def _read(self, source: Source, kind: str, files: list[str]) -> Iterator[ProfileRecord | RecordError]:
        for member in files:
            yield from self._read_file(source, kind, member)

    def _read_file(self, source: Source, kind: str, member: str) -> Iterator[ProfileRecord | RecordError]:
        label = source.label(member)
        n = 0
        with source.open(member) as fh:
            match, rest = _strip_prefix(source, member, fh, PREFIX, f"window.YTD.{kind}.part0")
            if match.group(1).decode() != kind:
                raise InputError(f"{label}: holds X {match.group(1).decode()!r} data where {kind!r} was expected")
            try:
                for n, item in enumerate(_JsArray(rest, kind), start=1):
                    if type(item) is str:  # the fast path: an entry in X's own layout, already checked
                        yield ProfileRecord(platform_id=item)
                    else:
                        yield _record(item, kind, f"{label} record {n}")
            except UnicodeDecodeError:
                raise InputError(f"{label}: not UTF-8 text after record {n}", hint="download the archive again") from None
            except RecursionError:  # the stdlib decoder's answer to `[[[[...` thousands deep: no X entry is
                raise InputError(
                    f"{label}: record {n + 1} is nested thousands of levels deep; this is not an X archive entry",
                    hint="import the archive X made, unchanged",
                ) from None
            except ValueError as exc:  # json.JSONDecodeError, or _JsArray's own complaint
                reason = (str(exc).strip().splitlines() or ["parse error"])[0]
                raise InputError(
                    f"{label}: invalid JSON after record {n} ({reason[:120]})",
                    hint="the file is damaged or truncated: download the archive again",
                ) from None


def _record(item, kind: str, where: str) -> ProfileRecord | RecordError:
    """One decoded entry, `{"follower": {"accountId": "…", "userLink": "…"}}`, checked."""
    entry = item.get(kind) if isinstance(item, dict) else None
    if not isinstance(entry, dict):
        return RecordError(where, f"not a {kind!r} entry")
    account_id = entry.get("accountId")
    if isinstance(account_id, str) and account_id.isascii() and account_id.isdigit() and len(account_id) <= MAX_HANDLE:
        pid = account_id
    elif type(account_id) is int and 0 < account_id <= MAX_SAFE_INTEGER:
        pid = str(account_id)
    elif isinstance(account_id, int | float):
        return RecordError(
            where,
            "accountId is a JSON number too large to be exact: the file was re-saved by a tool that "
            "rounds numbers; import the original archive",
        )
    else:
        return RecordError(where, "accountId is missing or not a numeric id")
    link = entry.get("userLink")
    # The id's own intent link is not stored: `profile_url` derives it (see the module docstring).
    return ProfileRecord(platform_id=pid, url=link if isinstance(link, str) and link != INTENT_LINK.format(pid) else None)


def _not_json(name: str):
    raise ValueError(f"{name} is not JSON")


def _entry_patterns(kind: str) -> tuple[re.Pattern, re.Pattern]:
    """For an entry whose link is the intent link of its own id: (in X's exact layout and followed
    by a comma, as all but the last entry are; in any layout)."""
    k, link = re.escape(kind), re.escape(INTENT_LINK.format(""))
    exact = re.compile(
        r'\n  \{\n    "' + k + r'" : \{\n      "accountId" : "([0-9]{1,30})",\n'
        r'      "userLink" : "' + link + r'\1"\n    \}\n  \},'
    )
    ws = "[ \t\n\r]*"  # JSON's whitespace; `\s` would also take U+00A0 and U+2028
    loose = re.compile(
        ws + r'\{' + ws + '"' + k + '"' + ws + ':' + ws + r'\{' + ws + '"accountId"' + ws + ':' + ws
        + '"([0-9]{1,30})"' + ws + ',' + ws + '"userLink"' + ws + ':' + ws + '"' + link + r'\1"' + ws + r'\}' + ws + r'\}'
    )
    return exact, loose


class _JsArray:
    """The entries of the array after `window.YTD.<kind>.part0 =`, streamed in flat memory.

    An entry in the layout X writes (two-space indent, `" : "`, the intent link of the entry's
    own id) is recognised by a regular expression and yielded as its id string: a third of the
    time of a streaming JSON parser, and by construction only ever valid JSON of that shape.
    Any other entry (another layout, escapes, extra keys, a damaged record) goes through the
    standard library's JSON decoder and is yielded decoded, so the values are what a JSON parser
    gives. Invalid JSON raises ValueError; bytes that are not UTF-8 raise UnicodeDecodeError.
    """

    CHUNK = 1 << 20
    LOOKAHEAD = 1 << 16  # an entry shorter than this is always whole in the buffer
    MAX_ENTRY = 64 << 20  # an entry longer than this is not an X archive entry
    _space = re.compile(r"[ \t\n\r]*")

    def __init__(self, fh: BinaryIO, kind: str):
        self.fh, self.decoder = fh, codecs.getincrementaldecoder("utf-8")()
        self.buf, self.pos, self.eof = "", 0, False
        self.exact, self.loose = _entry_patterns(kind)

    def _fill(self, need: int) -> bool:
        """Make sure `need` characters follow `pos` (unless the file ends); False at the end of the file."""
        while len(self.buf) - self.pos < need and not self.eof:
            data = self.fh.read(max(self.CHUNK, need))
            self.eof = not data
            self.buf = self.buf[self.pos:] + self.decoder.decode(data, final=self.eof)
            self.pos = 0
        return len(self.buf) > self.pos

    def _skip_space(self) -> str:
        while True:
            self._fill(self.LOOKAHEAD)
            self.pos = self._space.match(self.buf, self.pos).end()
            if self.pos < len(self.buf) or self.eof:
                return self.buf[self.pos:self.pos + 1]

    def _decode_one(self):
        decode = json.JSONDecoder(parse_constant=_not_json).raw_decode
        need = self.LOOKAHEAD
        while True:
            try:
                value, end = decode(self.buf, self.pos)
            except json.JSONDecodeError:
                if self.eof or need > self.MAX_ENTRY:
                    raise
                need *= 4  # perhaps only cut off by the end of the buffer: read more and try again
                self._fill(need)
                continue
            self.pos = end
            return value

    def __iter__(self):
        if self._skip_space() != "[":
            raise ValueError("the data does not start with `[`")
        self.pos += 1
        first = True
        fast, loose = self.exact.match, self.loose.match
        while True:
            if len(self.buf) - self.pos < self.LOOKAHEAD:
                self._fill(self.LOOKAHEAD)
            m = fast(self.buf, self.pos)  # an entry in X's layout and the comma after it: one match
            if m is not None:
                self.pos = m.end()
                first = False
                yield m.group(1)
                continue
            m = loose(self.buf, self.pos)
            if m is not None:
                self.pos = m.end()
                yield m.group(1)
            else:
                c = self._skip_space()
                if c == "]" and first:
                    self.pos += 1
                    break
                if not c:
                    raise ValueError("the file ends in the middle of the list")
                yield self._decode_one()
            first = False
            c = self._skip_space()
            self.pos += 1
            if c == "]":
                break
            if c != ",":
                raise ValueError(f"expected `,` or `]` between entries, found {c!r}" if c else "the file ends in the middle of the list")
        if self._skip_space() == ";":
            self.pos += 1
        if self._skip_space():
            raise ValueError("text after the end of the list")
