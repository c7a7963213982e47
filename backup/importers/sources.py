"""What the user hands to `audience import`: a zip, a folder, or a single file.

Every source lists its members as relative POSIX paths and opens them as binary streams.
Zips are read in place, never extracted, and are checked as they are read (SPEC §10):
no absolute or `..` member names, no symlink members, a bounded number of members, and
each member's decompressed size bounded by a ratio to its compressed size and by a total
cap, counted on the bytes actually produced (a forged header cannot lie about them).
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import stat
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..errors import ConfigError, InputError

MAX_RATIO = 100  # SPEC §10: refuse members that expand more than 100:1 ...
RATIO_GRACE_BYTES = 1 << 20  # ... once past 1 MiB (tiny files of spaces legitimately exceed it)
DEFAULT_MAX_TOTAL = 4 << 30  # 4 GiB of decompressed data per archive; AUDIENCE_MAX_ARCHIVE_BYTES overrides
MAX_MEMBERS = 100_000
HASH_CHUNK = 1 << 20
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")  # a member, an empty zip, a spanned zip
# What a damaged member raises while it is opened or read (bad header, bad deflate data, bad CRC).
DAMAGED = (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error, lzma.LZMAError)


def max_total_bytes() -> int:
    value = os.environ.get("AUDIENCE_MAX_ARCHIVE_BYTES", "").strip()
    if not value:
        return DEFAULT_MAX_TOTAL
    if not value.isascii() or not value.isdigit() or int(value) == 0:
        raise ConfigError(
            f"AUDIENCE_MAX_ARCHIVE_BYTES={value[:40]!r} is not a number of bytes",
            hint="set it to a positive whole number, e.g. 8589934592 for 8 GiB, or unset it for the default of 4 GiB",
        )
    return int(value)


class Source:
    """A set of named files. `name` is what messages call it."""

    name: str

    def members(self) -> list[str]:
        raise NotImplementedError

    def open(self, member: str) -> BinaryIO:
        raise NotImplementedError

    def mtime(self, member: str):
        raise NotImplementedError

    def label(self, member: str) -> str:
        """How a message names a member: `archive.zip:data/follower.js`."""
        return f"{self.name}:{member}" if member != self.name else member

    def find(self, basename: str) -> list[str]:
        """Members with this file name at any depth (exports are often one folder deeper)."""
        return sorted(m for m in self.members() if PurePosixPath(m).name.lower() == basename.lower())

    def sha256(self, members: Iterable[str]) -> str:
        h = hashlib.sha256()
        for member in members:
            h.update(member.encode() + b"\0")
            with self.open(member) as fh:
                while chunk := fh.read(HASH_CHUNK):
                    h.update(chunk)
        return h.hexdigest()

    def close(self) -> None:
        pass


class FileSource(Source):
    def __init__(self, path: Path):
        self.path = path
        self.name = path.name

    def members(self) -> list[str]:
        return [self.path.name]

    def open(self, member: str) -> BinaryIO:
        return open(self.path, "rb")

    def mtime(self, member: str) -> float:
        return self.path.stat().st_mtime

    def label(self, member: str) -> str:
        return str(self.path)


class DirSource(Source):
    def __init__(self, path: Path):
        self.path = path
        self.name = str(path)
        self._members: list[str] | None = None

    def members(self) -> list[str]:
        if self._members is None:
            found = []
            for root, dirs, files in os.walk(self.path, followlinks=False):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for f in files:
                    full = Path(root) / f
                    if full.is_symlink():
                        continue
                    found.append(full.relative_to(self.path).as_posix())
                    if len(found) > MAX_MEMBERS:
                        raise InputError(f"{self.path}: more than {MAX_MEMBERS} files; this is not an export folder")
            self._members = sorted(found)
        return self._members

    def open(self, member: str) -> BinaryIO:
        return open(self.path / member, "rb")

    def mtime(self, member: str) -> float:
        return (self.path / member).stat().st_mtime

    def label(self, member: str) -> str:
        return str(self.path / member)


class _GuardedReader(io.RawIOBase):
    """Counts what a zip member really decompresses to and stops a bomb while reading."""

    def __init__(self, archive: "ZipSource", info: zipfile.ZipInfo):
        self.archive, self.info = archive, info
        label = archive.label(info.filename)
        if info.flag_bits & 0x1:
            raise InputError(f"{label}: is encrypted (a password-protected zip)", hint="unzip it yourself and import the folder")
        try:
            self.raw = archive.zip.open(info)
        except NotImplementedError as exc:
            raise InputError(f"{label}: {exc} (compression method {info.compress_type})", hint="unzip it yourself and import the folder") from None
        except DAMAGED as exc:
            raise InputError(f"{label}: the zip is damaged or truncated ({exc})", hint="download the export again") from None
        self.produced = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self.raw.read(len(buffer))
        except DAMAGED as exc:
            raise InputError(
                f"{self.archive.label(self.info.filename)}: the zip is damaged or truncated ({exc})",
                hint="download the export again",
            ) from None
        n = len(data)
        buffer[:n] = data
        self.produced += n
        # The cap is on the archive's decompressed size: a member read twice (hashed, then
        # parsed) counts once, by the furthest any read of it got.
        seen = self.archive.produced.get(self.info.filename, 0)
        if self.produced > seen:
            self.archive.total += self.produced - seen
            self.archive.produced[self.info.filename] = self.produced
        limit = max(RATIO_GRACE_BYTES, MAX_RATIO * max(self.info.compress_size, 1))
        if self.produced > limit:
            raise InputError(
                f"{self.archive.label(self.info.filename)}: expands more than {MAX_RATIO}:1; refusing a possible zip bomb",
                hint="unpack the export yourself and import the folder if you trust it",
            )
        if self.archive.total > self.archive.max_total:
            raise InputError(
                f"{self.archive.name}: more than {self.archive.max_total} bytes once decompressed; refusing it",
                hint="raise AUDIENCE_MAX_ARCHIVE_BYTES if this export is really that large",
            )
        return n

    def close(self) -> None:
        if getattr(self, "raw", None) is not None:  # None when opening the member failed
            self.raw.close()
        super().close()


class ZipSource(Source):
    def __init__(self, path: Path):
        self.path = path
        self.name = str(path)
        self.total = 0
        self.produced: dict[str, int] = {}  # member -> most bytes any read of it produced
        self.max_total = max_total_bytes()
        try:
            self.zip = zipfile.ZipFile(path)
        except (*DAMAGED, NotImplementedError) as exc:  # NotImplementedError: "zip file version 19.4"
            raise InputError(f"{path}: not a readable zip file ({exc})", hint="the download may be truncated: download the export again") from None
        infos = self.zip.infolist()
        if len(infos) > MAX_MEMBERS:
            raise InputError(f"{path}: more than {MAX_MEMBERS} members; this is not an export archive")
        self._infos: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            name = info.filename
            parts = PurePosixPath(name.replace("\\", "/")).parts
            if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                raise InputError(
                    f"{path}: member {name!r} points outside the archive (path traversal); refusing the whole file",
                    hint="this is not an export a platform produced: do not use it",
                )
            if stat.S_ISLNK(info.external_attr >> 16):
                raise InputError(f"{path}: member {name!r} is a symbolic link; refusing the whole file")
            if not info.is_dir():
                self._infos[name] = info

    def members(self) -> list[str]:
        return sorted(self._infos)

    def open(self, member: str) -> BinaryIO:
        return io.BufferedReader(_GuardedReader(self, self._infos[member]), buffer_size=1 << 16)

    def mtime(self, member: str):
        import datetime as dt

        return dt.datetime(*self._infos[member].date_time).timestamp()

    def close(self) -> None:
        self.zip.close()


def open_source(path: Path) -> Source:
    path = Path(path).expanduser()
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_dir():
        return DirSource(path)
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic in ZIP_MAGIC:
        return ZipSource(path)
    return FileSource(path)
