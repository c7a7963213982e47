"""The suspension recovery report (SPEC §9): the morning an account is gone.

`build_recovery` returns the document every format renders: the JSON of SPEC §4
(``generated_at``, ``account``, ``status``, ``status_since``, ``last_complete_snapshot``,
``audience``, ``tiers``, ``by_channel``, ``reachable_fraction``, ``top_unreachable``,
``exports``) plus the account's history, the other accounts, and the next steps in words.

`write_exports` hands over the means to act, written with the export writers (issue 6) into
one folder beside the report, each file 0600 through ``atomic_write``:

- ``mailing-list.csv``: the account's audience with an opted-in address, in the generic
  format (the consent rules of ``audience export mailing-list``: unsubscribed and suppressed
  addresses never, addresses of unknown consent not on a list);
- ``follow-<platform>.csv`` for each other platform with an importable follow list
  (Mastodon, Bluesky, X) where some of the audience is known;
- ``contacts.vcf`` and ``everyone.csv``: everyone in the audience, with every contact point.

`save_recovery_report` is what ``backup`` calls when it finds an account suspended: link if
needed, build, export, and write the HTML page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine

from backup.accounts import resolve
from backup.db.models import Account, utcnow
from backup.db.queries import iso
from backup.files import ensure_private_dir

from .numbers import (
    AUDIENCE_KINDS,
    DOWN,
    TOP_UNREACHABLE,
    Reach,
    history,
    last_complete_snapshot,
)
from .risk import account_json

log = logging.getLogger(__name__)

FOLLOW_PLATFORMS = ("mastodon", "bluesky", "x")  # platforms with an importable follow list (issue 6)
EXPORT_FILES = {
    "mailing_list": "mailing-list.csv",
    "vcard": "contacts.vcf",
    "csv": "everyone.csv",
}
REPORTS_DIR = "reports"


def build_recovery(conn: Connection, account: Account, *, persons=None, selection: str | None = None,
                   top: int = TOP_UNREACHABLE, now: dt.datetime | None = None) -> dict[str, Any]:
    """The recovery document of one account (exports still empty: `write_exports` fills them)."""
    reach = Reach(conn, persons)
    everyone = reach.accounts()
    points = history(conn, [a.id for a in everyone])
    mine = next((a for a in everyone if a.id == account.id), None)
    if mine is None:  # an address book: it has no audience to lose
        from .numbers import AccountNumbers

        mine = AccountNumbers(account.id, account.platform, account.handle, account.label, account.status, account.status_since)
    last = last_complete_snapshot(conn, account.id)
    top_rows = reach.top_unreachable(account.id, top)
    doc = {
        "generated_at": iso(now or utcnow()),
        "selection": selection or "everyone",
        "account": mine.ref,
        "label": mine.label,
        "platform": mine.platform,
        "status": mine.status,
        "status_since": iso(mine.status_since),
        "down": mine.status in DOWN,
        "last_complete_snapshot": last.as_json() if last else None,
        "audience": mine.audience,
        "tiers": dict(mine.tiers),
        "by_channel": dict(mine.by_channel),
        "reachable_elsewhere": mine.reachable_elsewhere,
        "reachable_fraction": round(mine.reachable_elsewhere / mine.audience, 4) if mine.audience else None,
        "top_unreachable": [m.as_json() for m in top_rows],
        "unreachable_ids_only": mine.unreachable_ids_only,
        "exports": {},
        "export_rows": {},
        "exports_dir": None,
        "history": account_json(mine, points.get(mine.id, []))["history"],
        "other_accounts": [account_json(a, points[a.id]) for a in everyone if a.id != mine.id],
    }
    doc["next_steps"] = next_steps(doc)
    return doc


def exports_dir_for(report: Path) -> Path:
    """The folder of ready exports beside a report file: ``recovery.html`` -> ``recovery-exports/``."""
    return report.with_name(report.stem + "-exports")


def write_exports(conn: Connection, account: Account, doc: dict[str, Any], directory: Path, filters=None) -> dict[str, str]:
    """Write the ready exports of the recovery document into ``directory`` and record them in
    ``doc`` (``exports``: name -> path; ``export_rows``: name -> rows; the next steps are
    rewritten to name the files). ``filters``: the user's own selection (``Filters``)."""
    from exporters.csv_export import write_csv
    from exporters.follows import write_follows
    from exporters.mailing_list import write_mailing_list
    from exporters.selection import Filters
    from exporters.vcard import write_vcard

    chosen = dataclasses.replace(filters or Filters(), accounts=(str(account.id),), kinds=AUDIENCE_KINDS)
    directory = ensure_private_dir(Path(directory))
    exports: dict[str, str] = {}
    rows: dict[str, int] = {}

    result = write_mailing_list(conn, directory / EXPORT_FILES["mailing_list"], fmt="generic", filters=chosen)
    exports["mailing_list"], rows["mailing_list"] = str(result.path), result.rows
    doc["mailing_list_skipped"] = {
        "unconsented": getattr(result, "skipped_unconsented", 0), "suppressed": getattr(result, "skipped_suppressed", 0),
    }
    for platform in FOLLOW_PLATFORMS:
        if platform == account.platform or not doc["by_channel"].get(platform):
            continue
        result = write_follows(conn, directory / f"follow-{platform}.csv", platform=platform, filters=chosen)
        if not result.rows:  # all of them are followed there already: no list to import
            for part in result.paths or [result.path]:
                Path(part).unlink(missing_ok=True)
            continue
        exports[f"follows_{platform}"], rows[f"follows_{platform}"] = str(result.path), result.rows
    result = write_vcard(conn, directory / EXPORT_FILES["vcard"], filters=chosen)
    exports["vcard"], rows["vcard"] = str(result.path), result.rows
    result = write_csv(conn, directory / EXPORT_FILES["csv"], filters=chosen)
    exports["csv"], rows["csv"] = str(result.path), result.rows
    doc["exports"], doc["export_rows"], doc["exports_dir"] = exports, rows, str(directory)
    doc["next_steps"] = next_steps(doc)
    return exports


def _pct(n: int, total: int) -> str:
    return f"{round(100 * n / total)}%" if total else "0%"


def _name(path: str | None, fallback: str) -> str:
    return Path(path).name if path else fallback


def next_steps(doc: dict[str, Any]) -> list[str]:
    """What to do now, in plain words, from the figures (and the files, once written)."""
    ref, audience, tiers, channels = doc["account"], doc["audience"], doc["tiers"], doc["by_channel"]
    exports = doc.get("exports") or {}
    steps: list[str] = []
    if doc["down"]:
        steps.append(
            f"{ref} is {doc['status']}. Appeal through the platform's own form; meanwhile audience keeps its last good "
            "snapshots untouched and goes on backing up your other accounts every night."
        )
    else:
        state = "has not been found suspended" if doc["status"] == "unknown" else f"is {doc['status']}"
        steps.append(
            f"{ref} {state}: nothing is lost yet. These figures are what you would keep if it were suspended "
            "tonight, and the steps below what you would do."
        )
    if audience == 0:
        steps.append(f"{ref} has no audience stored yet: back it up (`audience backup` or `audience import`) to know who follows it.")
        return steps
    if tiers["following_elsewhere"]:
        where = ", ".join(
            f"{p} {n}" for p, n in sorted(channels.items(), key=lambda kv: -kv[1])
            if p not in ("email", "phone", "newsletter") and n
        )
        steps.append(
            f"{tiers['following_elsewhere']} of them already follow you elsewhere or read your newsletter"
            + (f" ({where})" if where else "") + ": tell them there what happened and where to find you now."
        )
    if channels.get("newsletter"):
        steps.append(
            f"Write once to the {channels['newsletter']} opted-in subscribers: import "
            f"{_name(exports.get('mailing_list'), 'the mailing list')} into your email tool."
        )
    others = channels.get("email", 0) - channels.get("newsletter", 0)
    if others > 0:
        steps.append(
            f"{others} more have an email address without a recorded opt-in: write to them one by one "
            f"(they are in {_name(exports.get('csv'), 'the CSV of everyone')}), never as a list."
        )
    for platform in FOLLOW_PLATFORMS:
        key = f"follows_{platform}"
        if key in exports:
            steps.append(
                f"On {platform}, follow the {doc['export_rows'].get(key, channels.get(platform, 0))} people you know there: "
                f"import {_name(exports[key], key)}."
            )
    if "vcard" in exports:
        steps.append(f"Keep everyone at hand: {_name(exports['vcard'], 'the vCard')} opens in any address book.")
    if tiers["unreachable"]:
        steps.append(
            f"{tiers['unreachable']} ({_pct(tiers['unreachable'], audience)}) can only be reached on {doc['platform']}. "
            "The list below starts with those who have the largest audiences of their own: if the account comes back, "
            "invite them first to your newsletter or another platform (`audience campaign create`)."
        )
    anonymous = doc.get("unreachable_ids_only", 0)
    if anonymous:
        steps.append(
            f"{anonymous} of them are known only by their {doc['platform']} id (a data export such as X's archive holds no "
            "names): each link below still opens the profile."
            + ("" if doc["down"] else " An API backup (`audience backup`) fills in their names, bios and websites, "
               "which is what finds people elsewhere: do it while the account works.")
        )
    return steps


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "account"


def report_path(reports_dir: Path, account: Account, when: dt.datetime | None = None) -> Path:
    """``reports/recovery-<platform>-<handle>-<date>.html``. For an account that is down, the
    date is the day it went down: one report per suspension, refreshed by every backup that
    finds it still down. Otherwise the day of the report."""
    down_since = account.status_since if account.status in DOWN else None
    day = (down_since or when or utcnow()).astimezone(dt.UTC).strftime("%Y-%m-%d")
    return Path(reports_dir) / f"recovery-{_slug(account.platform)}-{_slug(account.handle)}-{day}.html"


def save_recovery_report(engine: Engine, account_ref: str, reports_dir: Path) -> Path:
    """Link if needed, then write the HTML recovery report of the account and its exports into
    ``reports_dir``; returns the report's path."""
    from backup.files import atomic_write

    from .render import render_recovery_html

    ensure_people(engine)
    with engine.connect() as conn:
        account = resolve(conn, account_ref)
        path = report_path(ensure_private_dir(Path(reports_dir)), account)
        doc = build_recovery(conn, account)
        write_exports(conn, account, doc, exports_dir_for(path))
        html = render_recovery_html(doc)
    with atomic_write(path) as fh:
        fh.write(html)
    return path


def ensure_people(engine: Engine) -> None:
    """Every profile has its person before the figures are read (``ensure_linked`` when the
    store has it: a link run only when profiles changed since the last one)."""
    from backup.people import link

    ensure = getattr(link, "ensure_linked", None)
    if ensure is not None:
        ensure(engine)
    else:  # pragma: no cover - until ensure_linked lands
        link.run_link(engine)


def write_reports_for_down(engine: Engine, results: list, reports_dir: Path | None = None) -> None:
    """After a backup: the recovery report of every account found suspended or deactivated
    (SPEC §5.7), its path kept on the account's result (``report``). A report that cannot be
    written never fails the backup: the reason is logged and kept on the result instead."""
    from backup.config import data_dir

    for r in results:
        if r.status not in DOWN:
            continue
        try:
            r.report = str(save_recovery_report(engine, r.account, reports_dir or data_dir() / REPORTS_DIR))
        except Exception as exc:  # the backup's own outcome stands whatever broke here  # noqa: BLE001
            log.warning("%s: the recovery report could not be written (%s: %s); run `audience report recovery %s`",
                        r.account, type(exc).__name__, exc, r.account)
