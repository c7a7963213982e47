"""Private files: everything written with personal data is 0600 and appears atomically.

SPEC §10: exports, reports, the database, `db backup` copies and pre-migration copies
are created 0600 whatever the umask, written to a temp file and renamed into place.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) if needed; a directory we create is 0700."""
    path = Path(path)
    if not path.exists():
        path.mkdir(parents=True, mode=PRIVATE_DIR, exist_ok=True)
        os.chmod(path, PRIVATE_DIR)  # mkdir's mode is filtered by the umask
    return path


def ensure_private_file(path: Path) -> None:
    """Create an empty 0600 file if it does not exist, and tighten an existing one."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_FILE)
    os.close(fd)
    os.chmod(path, PRIVATE_FILE)


@contextlib.contextmanager
def atomic_write(path: Path, mode: str = "w", encoding: str | None = "utf-8", newline: str | None = None) -> Iterator[IO]:
    """Write to a 0600 temp file beside `path`, fsync, then rename over it.

    A crash leaves either the old file or the new complete one, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        if "b" in mode:
            fh = os.fdopen(fd, mode)
        else:
            fh = os.fdopen(fd, mode, encoding=encoding, newline=newline)
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def private_temp_path(target: Path) -> Path:
    """A fresh 0600 temp file path beside `target`, for writers that need a path (sqlite backup)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{Path(target).name}.", suffix=".tmp", dir=Path(target).parent)
    os.fchmod(fd, PRIVATE_FILE)
    os.close(fd)
    return Path(tmp)
