"""`audience demo`: the newcomer's first run, offline, on the bundled examples."""

from __future__ import annotations

import zipfile
from importlib.resources import files
from pathlib import Path

import typer

from .. import accounts as service
from ..db.engine import make_engine
from ..db.engine import write
from ..db.migrate import ensure_schema
from ..db.queries import iter_diff, pick_diff_snapshots
from ..files import atomic_write, ensure_private_dir
from ..importers import ImportOptions
from ..importing import import_path
from .common import stdout
from .imports import describe


def examples_dir() -> Path:
    return Path(str(files("backup.examples")))


def _zip_folder(folder: Path, target: Path) -> Path:
    """Zip an example archive folder, as X hands it out, to show the zip path too."""
    with atomic_write(target, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return target


def demo(
    directory: Path = typer.Option(Path("audience-demo"), "--dir", help="Where to put the demo database and files."),
) -> None:
    """Fill a fresh database from the bundled example exports and show what audience keeps."""
    directory = ensure_private_dir(directory.expanduser().resolve())
    db = directory / "audience.db"
    for leftover in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        leftover.unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    ensure_schema(engine, url)
    ex = examples_dir()
    out = stdout()
    out.print(f"demo database: {db}\n", markup=False)

    older = import_path(engine, ex / "x-archive-2026-10-01")
    newer_zip = _zip_folder(ex / "x-archive-2026-11-01", directory / "twitter-2026-11-01-demo.zip")
    newer = import_path(engine, newer_zip)
    with write(engine) as conn:
        service.add(conn, "mastodon", "ada@mastodon.social", label="ada-fedi", tags=["personal"])
    masto = import_path(engine, ex / "mastodon-followers.csv", account_ref="mastodon:ada@mastodon.social", options=ImportOptions())
    for result in (older, newer, masto):
        out.print(f"imported {Path(result.path).name}:", markup=False)
        for line in describe(result):
            out.print(f"  {line}", markup=False)
    with engine.connect() as conn:
        acc = service.resolve(conn, "x:ada_ex")
        a, b = pick_diff_snapshots(conn, acc.id, "follower", None)
        gained, lost = (list(rows) for rows in iter_diff(conn, acc.id, "follower", a, b))
    out.print(
        f"\nx:ada_ex between {a.as_of:%Y-%m-%d} and {b.as_of:%Y-%m-%d}: {len(gained)} new followers, {len(lost)} left.",
        markup=False,
    )
    out.print(
        "The X archive holds only numeric ids; each is kept with its profile link.\n\n"
        "Look around:\n"
        f"  audience --db {db} snapshots\n"
        f"  audience --db {db} diff x:ada_ex\n"
        f"  audience --db {db} accounts list",
        markup=False,
    )
    engine.dispose()
