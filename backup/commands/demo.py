"""`audience demo`: the newcomer's first run, offline, on the bundled examples."""

from __future__ import annotations

import zipfile
from importlib.resources import files
from pathlib import Path

import typer

from .. import accounts as service
from ..db.engine import make_engine, write
from ..db.migrate import ensure_schema
from ..db.queries import iter_diff, pick_diff_snapshots
from ..files import atomic_write, ensure_private_dir
from ..importers import ImportOptions
from ..importing import import_path
from .common import stdout
from .imports import describe

# Ada's other accounts, registered the way a user would, and the example export of each.
DEMO_ACCOUNTS = (
    ("mastodon", "ada@mastodon.social", "ada-fedi", ["personal"]),
    ("linkedin", "ada-example", "ada-linkedin", ["professional"]),
    ("instagram", "ada.example", None, ["personal"]),
    ("facebook", "ada.example", None, ["personal"]),
    ("tiktok", "ada.example", None, ["personal"]),
    ("newsletter", "ada-letters", "ada-letters", ["professional"]),
)
DEMO_IMPORTS = (
    ("mastodon-followers.csv", "mastodon:ada@mastodon.social"),
    ("mastodon-follows.csv", "mastodon:ada@mastodon.social"),
    ("linkedin-export", "linkedin:ada-example"),
    ("instagram-export", "instagram:ada.example"),
    ("facebook-export", "facebook:ada.example"),
    ("tiktok-export", "tiktok:ada.example"),
    ("newsletter-substack.csv", "newsletter:ada-letters"),
    ("contacts.vcf", None),  # the address book registers itself
)


DEMO_RECOVERY = "x:ada_ex"  # the account whose recovery report the demo writes


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
    from exporters.reports.recovery import exports_dir_for  # loads with the demo only

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
        for platform, handle, label, tags in DEMO_ACCOUNTS:
            service.add(conn, platform, handle, label=label, tags=tags)
    others = [import_path(engine, ex / name, account_ref=ref, options=ImportOptions()) for name, ref in DEMO_IMPORTS]
    for result in (older, newer, *others):
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
    out.print("The X archive holds only numeric ids; each profile's link is derived from its id.\n", markup=False)
    report = _reports(engine, directory, out)
    out.print(
        f"\nThe recovery report of {DEMO_RECOVERY} (as if it were suspended tonight): {report}\n"
        f"with its ready exports in {exports_dir_for(report)}\n\n"
        "Look around:\n"
        f"  audience --db {db} snapshots\n"
        f"  audience --db {db} diff x:ada_ex\n"
        f"  audience --db {db} report recovery linkedin:ada-example\n"
        f"  audience --db {db} accounts list",
        markup=False,
    )
    engine.dispose()


def _reports(engine, directory: Path, out) -> Path:
    """Link, print the risk report, and write the recovery report of the X account (HTML) with
    its ready exports (mailing list, follow lists, vCard, CSV) and a Mastodon follow list into
    the demo directory."""
    from exporters.reports.recovery import (
        build_recovery,
        exports_dir_for,
        write_exports,
    )
    from exporters.reports.render import render_recovery_html, render_risk_terminal
    from exporters.reports.risk import build_risk

    from ..people.link import run_link  # (phonenumbers and email-validator load only here)

    link = run_link(engine)
    out.print(
        f"linked {link.profiles:,} profiles into {link.persons:,} persons "
        f"({', '.join(f'{k} {v}' for k, v in sorted(link.links_by_evidence.items())) or 'no links'})\n",
        markup=False,
    )
    path = directory / f"recovery-{DEMO_RECOVERY.replace(':', '-')}.html"
    with engine.connect() as conn:
        render_risk_terminal(build_risk(conn), out)
        account = service.resolve(conn, DEMO_RECOVERY)
        doc = build_recovery(conn, account)
        write_exports(conn, account, doc, exports_dir_for(path))
    with atomic_write(path) as fh:
        fh.write(render_recovery_html(doc))
    # The other half of taking an audience along: the people known to be on Mastodon (their
    # handle is in a bio, an address book, a LinkedIn profile) who do not follow Ada there yet.
    from exporters.follows import write_follows

    with engine.connect() as conn:
        follows = write_follows(conn, directory / "follow-on-mastodon.csv", "mastodon")
    who = "1 person you know on Mastodon does" if follows.rows == 1 else f"{follows.rows} people you know on Mastodon do"
    out.print(
        f"\n{who} not follow mastodon:ada@mastodon.social yet: {follows.path} imports into Mastodon "
        "(Preferences > Import and export > Import, \"Following list\").",
        markup=False,
    )
    return path
