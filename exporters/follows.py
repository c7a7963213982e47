"""`audience export follows --platform mastodon|bluesky|x`: the people I can find on a platform
(a handle known there) who are not in a current relationship with any of my accounts there
(``--not-on`` that platform is implied), as a file that platform, or a person, can use.

- ``mastodon``: Mastodon's own follow-import CSV (Preferences → Import and export → Import,
  type "Following"): the header ``Account address,Show boosts,Notify on new posts,Languages``
  (the header of Mastodon's own ``following_accounts.csv`` export, which its importer
  recognises), full ``user@host`` addresses, booleans ``true``/``false``, no BOM (Mastodon
  reads the file as plain UTF-8: a BOM would hide the header). Mastodon refuses a file of
  more than 20,000 rows (``Form::Import::ROWS_PROCESSING_LIMIT``), so longer lists are split:
  ``FILE``, then ``FILE-2.csv``, ``FILE-3.csv``, ... (parts a larger earlier export left
  behind are removed). File names starting with ``follows`` are auto-detected by Mastodon.
- ``bluesky``: ``handle,did,url,name``; the DID is the stable key (listitem records need
  it); a handle only seen in a bio has no DID until it is resolved (``--create-list`` does).
- ``x``: ``handle,user_id,url,name``; X has no follow import, so this is a list to work
  through by hand, with profile links (an archive-only follower has only an id, whose link
  opens the profile).

A profile whose own handle is on the suppression list is left out.
"""

from __future__ import annotations

import contextlib
import csv
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import Connection

from backup.errors import UsageError
from backup.files import atomic_write

from .handles import Handle, handles_on
from .safety import SafeCsvWriter, one_line
from .selection import EVERYONE, Filters, PersonView, iter_people

PLATFORMS = ("mastodon", "bluesky", "x")
MASTODON_MAX_ROWS = 20_000  # mastodon/mastodon app/models/form/import.rb ROWS_PROCESSING_LIMIT
HEADERS = {
    "mastodon": ("Account address", "Show boosts", "Notify on new posts", "Languages"),
    "bluesky": ("handle", "did", "url", "name"),
    "x": ("handle", "user_id", "url", "name"),
}


@dataclass
class Follow:
    person_id: int
    handle: str | None
    platform_id: str | None  # Bluesky DID / X user id, when known
    url: str | None
    name: str


@dataclass
class FollowsResult:
    path: Path
    rows: int
    platform: str
    paths: list[Path] = field(default_factory=list)
    persons: int = 0
    skipped_suppressed: int = 0
    entries: list[Follow] = field(default_factory=list)  # what was written (Bluesky: for --create-list)


def part_path(path: Path, n: int) -> Path:
    """``follows.csv`` -> ``follows-2.csv`` for the second part (n >= 2)."""
    return path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix or '.csv'}")


def _key(platform: str, h: Handle) -> str:
    return (h.platform_id if platform == "bluesky" and h.platform_id else (h.handle or h.platform_id or "")).lower()


def _follows_of(person: PersonView, platform: str, seen: set[str]) -> tuple[list[Follow], int]:
    out, suppressed = [], 0
    name = one_line(person.name) or ""
    for h in handles_on(person, platform):
        if h.suppressed:
            suppressed += 1
            continue
        if platform == "mastodon" and (not h.handle or "@" not in h.handle):
            continue  # Mastodon's importer needs user@host
        key = _key(platform, h)
        if not key or key in seen:
            continue
        seen.add(key)
        out.append(Follow(person.id, h.handle, h.platform_id, h.url, one_line(h.name) or name))
    return out, suppressed


def _row(platform: str, f: Follow) -> list[str]:
    if platform == "mastodon":
        return [f.handle or "", "true", "false", ""]
    return [f.handle or "", f.platform_id or "", f.url or "", f.name]


def _remove_stale_parts(path: Path, first_unused: int) -> None:
    """Parts of an earlier, longer export (``FILE-N.csv`` with Mastodon's header) go."""
    n = first_unused
    while True:
        stale = part_path(path, n)
        if not stale.exists():
            return
        try:
            with open(stale, encoding="utf-8", newline="") as fh:
                header = next(csv.reader(fh), [])
        except (OSError, UnicodeDecodeError, csv.Error):
            return
        if tuple(header) != HEADERS["mastodon"]:
            return
        stale.unlink()
        n += 1


def write_follows(conn: Connection, path: Path, platform: str = "mastodon", filters: Filters = EVERYONE) -> FollowsResult:
    """Write the follow list (0600, atomically; all parts appear together or none)."""
    if platform not in PLATFORMS:
        raise UsageError(f"follow lists are for {', '.join(PLATFORMS)}, not {platform!r}")
    if platform not in filters.not_on:
        filters = replace(filters, not_on=(*filters.not_on, platform))
    path = Path(path)
    result = FollowsResult(path, 0, platform)
    seen: set[str] = set()
    limit = MASTODON_MAX_ROWS if platform == "mastodon" else None
    with contextlib.ExitStack() as stack:
        writer = None
        in_part = 0

        def next_part() -> SafeCsvWriter:
            target = part_path(path, len(result.paths) + 1)
            fh = stack.enter_context(atomic_write(target, "w", encoding="utf-8", newline=""))
            result.paths.append(target)
            w = SafeCsvWriter(fh)
            w.writeheader(HEADERS[platform])
            return w

        writer = next_part()
        for person in iter_people(conn, filters):
            follows, suppressed = _follows_of(person, platform, seen)
            result.skipped_suppressed += suppressed
            if not follows:
                continue
            result.persons += 1
            for f in follows:
                if limit is not None and in_part >= limit:
                    writer, in_part = next_part(), 0
                writer.writerow(_row(platform, f))
                in_part += 1
                result.rows += 1
                if platform == "bluesky":
                    result.entries.append(f)
    if platform == "mastodon":
        _remove_stale_parts(path, len(result.paths) + 1)
    return result
