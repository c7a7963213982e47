"""Newsletter subscriber exports: Substack, Mailchimp, listmonk, and a plain email list.

Each becomes one ``subscriber`` snapshot of a ``newsletter`` account. An export does not name
its newsletter, so the account is given with ``--account newsletter:NAME`` (registered first
with ``audience accounts add newsletter NAME``). The profile key is the address, lower-cased.

Every record carries its address as a contact point with the consent the export states:
``opted_in`` for an active subscriber, who is a member of the snapshot; ``unsubscribed`` for
everyone else (unsubscribed, cleaned/bounced, blocklisted, disabled), who is kept as a
profile with its contact point but no relationship (``ProfileRecord.member=False``), and
whose address the engine puts on the suppression list.

Substack (Settings → Exports; https://support.substack.com/hc/en-us/articles/360058529871):
    ``email,active_subscription,expiry,email_disabled,created_at`` in ``email_list.<pub>.csv``
    of the export zip (newer exports add ``plan,first_payment_at,prefer_digests``), or the
    dashboard's ``email,expiry,email_disabled,stripe_connected_customer_id,type``. There is no
    name. ``email_disabled=true`` means unsubscribed (inverted). Addresses at
    ``deletion-request.substack.com`` are placeholders for deleted readers and are skipped.
    Columns as read by Ghost's migrator (TryGhost/migrate ``mg-substack-members-csv``).

Mailchimp (Audience → Export audience; https://mailchimp.com/help/view-export-contacts/):
    a zip of ``subscribed_members_export_<id>.csv``, ``unsubscribed_members_export_<id>.csv``
    and ``cleaned_members_export_<id>.csv``, each ``"Email Address","First Name","Last Name",
    ...merge fields..., MEMBER_RATING, OPTIN_TIME, OPTIN_IP, CONFIRM_TIME, CONFIRM_IP, ...,
    LAST_CHANGED, LEID, EUID, NOTES, TAGS``; the unsubscribed file adds ``UNSUB_TIME,
    UNSUB_CAMPAIGN_TITLE, UNSUB_CAMPAIGN_ID, UNSUB_REASON, UNSUB_REASON_OTHER`` and the cleaned
    one ``CLEAN_TIME, CLEAN_CAMPAIGN_TITLE, CLEAN_CAMPAIGN_ID``. Which file is which is read
    from those columns, then from the file name. A ``nonsubscribed_members_export`` file
    (transactional contacts who never opted in; UNCONFIRMED) gives consent ``unknown``.
    Each file alone is accepted too. Without a subscribed file the export says nothing about
    who is subscribed, so it becomes an ``unsubscribed`` snapshot that changes no relationship
    and only records the addresses (and suppresses them).

listmonk (Subscribers → Export; https://listmonk.app/docs/, ``handleExportSubscribers`` in
    knadh/listmonk ``cmd/subscribers.go``): ``uuid,email,name,attributes,status,created_at,
    updated_at``, status ``enabled|disabled|blocklisted``, ``attributes`` a JSON object, times
    in Go's ``2006-01-02 15:04:05.999999 -0700 MST`` layout. Per-list unsubscriptions are not
    in this export (knadh/listmonk#738): an ``enabled`` subscriber counts as subscribed.

A plain email list: any CSV with an email column and optional name, status and date columns
(``email,name,status``). It is recognised on its own when it has a status column (or with
``--kind subscriber``); any CSV with an email column is read as one with ``--platform
newsletter``. Without a status column everyone listed is subscribed.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from ..errors import InputError
from ..snapshot import MAX_TEXT, ProfileRecord
from . import Importer, ImportOptions, Plan, RecordError, Stream, register
from .sources import Source
from .tabular import read_csv

PLATFORM = "newsletter"
KIND = "subscriber"
# A Mailchimp export with no subscribed file: a snapshot that records addresses and changes
# no relationship (an unsubscribed file alone as a `subscriber` snapshot would end them all).
KIND_UNSUBSCRIBED_ONLY = "unsubscribed"
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
# Exports are one to three CSVs. A folder or zip with more is read only through the members
# whose names the platforms use, so a large export of another kind is not scanned header by header.
SCAN_ALL_UP_TO = 8
KNOWN_NAMES = re.compile(r"(^email_list.*|.*members_export.*|^subscribers.*)\.(csv|tsv|txt)$", re.IGNORECASE)
MAX_EMAIL = 254  # RFC 5321 §4.5.3.1.3: a path is at most 256 octets, angle brackets included
NOT_IN_ADDRESS = set(' <>()[]\\,;:"')
DELETED_READER = "deletion-request.substack.com"  # Substack's placeholder domain for deleted readers
MAX_TAGS = 100
MAX_DATA_TEXT = 1024  # a signup date, a tag, a reason: more than this is not one

EMAIL_COLUMNS = ("email", "e-mail", "email address", "e-mail address", "mail", "subscriber email")
NAME_COLUMNS = ("name", "full name", "display name", "subscriber name")
STATUS_COLUMNS = ("status", "subscription status", "subscriber status", "email status", "subscribed")  # not "state": a US state
DATE_COLUMNS = ("subscribed at", "created at", "signup date", "sign up date", "date added", "subscribed on", "created", "date")
OTHER_KEY_COLUMNS = ("username", "handle", "screen name", "user id", "id", "account", "account address", "login")

MAILCHIMP_MARKERS = {"member rating", "optin time", "confirm time", "last changed", "leid", "euid", "unsub time", "clean time"}
MAILCHIMP_STATES = ("subscribed", "nonsubscribed", "unsubscribed", "cleaned")  # also the order files are read in
LISTMONK_ACTIVE, LISTMONK_INACTIVE = {"enabled"}, {"disabled", "blocklisted"}

# Status words of plain lists (lower case, `-`/`_` as space). Pending sign-ups never opted in:
# not members, consent `unknown` (not suppressed: they may still confirm).
ACTIVE = {"active", "subscribed", "confirmed", "opted in", "optin", "opt in", "enabled", "yes", "y", "true", "1", "valid"}
INACTIVE = {
    "unsubscribed", "unsubscribe", "inactive", "cleaned", "bounced", "hard bounce", "blocklisted", "blacklisted",
    "blocked", "disabled", "no", "n", "false", "0", "complained", "spam", "deleted", "removed", "opted out",
    "optout", "opt out", "suppressed", "invalid",
}
PENDING = {"pending", "unconfirmed", "not confirmed", "awaiting confirmation", "double opt in pending"}


def normalize_email(value: str | None) -> str | None:
    """`Ada@Example.ORG ` -> `ada@example.org`; None when the text is not syntactically an address.

    Non-ASCII local parts are kept (Substack has them); whitespace, control and format
    characters (an RTL override), quotes and brackets, a missing or dotless domain are not.
    """
    email = (value or "").strip()
    if email[:7].lower() == "mailto:":
        email = email[7:]
    email = email.lower()
    if not email or len(email) > MAX_EMAIL or email.count("@") != 1:
        return None
    local, _, domain = email.partition("@")
    labels = domain.split(".")
    if not local or len(labels) < 2 or not all(labels):
        return None
    if any(c in NOT_IN_ADDRESS or unicodedata.category(c)[0] in "CZ" for c in email):
        return None
    return email


def _text(value: str | None, limit: int = MAX_DATA_TEXT) -> str | None:
    return value[:limit] if value else None


def parse_time(value: str | None) -> str | None:
    """An export's time as ISO 8601 UTC; the text as written when it is no time we know.

    Substack `2024-02-10T08:15:30.123Z`, Mailchimp `2024-02-10 08:15:30` (UTC), listmonk's Go
    layout `2024-02-10 08:15:30.123456 +0000 UTC`. Times without a zone are taken as UTC.
    """
    if not value:
        return None
    text = value.strip()
    go = re.fullmatch(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d+))? ([+-]\d\d)(\d\d)(?: [A-Za-z0-9+-]+)?", text)
    if go:
        text = f"{go.group(1)}{'.' + go.group(2)[:6] if go.group(2) else ''}{go.group(3)}:{go.group(4)}"
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return _text(value, 64)
    when = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).isoformat()


def _flag(value: str | None) -> bool | None:
    """Substack's booleans: `true`, `false` or empty (None); anything else raises ValueError."""
    word = (value or "").strip().lower()
    if not word:
        return None
    if word in ("true", "t", "yes", "1"):
        return True
    if word in ("false", "f", "no", "0"):
        return False
    raise ValueError(word)


def _tags(value: str | None) -> list[str] | None:
    """Mailchimp's TAGS cell, `"Tag A","Tag B"` (or plain `a, b`), as a list."""
    if not value:
        return None
    try:
        tags = next(csv.reader([value.replace("\n", " ")], skipinitialspace=True))
    except (csv.Error, StopIteration):
        tags = value.split(",")
    tags = [t.strip()[:MAX_DATA_TEXT] for t in tags if t.strip()]
    return tags[:MAX_TAGS] or None


def _first(row: dict[str, str], columns) -> str | None:
    return next((row[c] for c in columns if row.get(c)), None)


def _compact(data: dict) -> dict:
    return {k: v for k, v in data.items() if v not in (None, "", [], {})}


# ---------------------------------------------------------------------------------------------
# Recognising the files


@dataclass(frozen=True)
class ListFile:
    """One subscriber CSV and how to read it."""

    member: str
    format: str  # substack | mailchimp | listmonk | email-list
    state: str | None = None  # Mailchimp: subscribed | nonsubscribed | unsubscribed | cleaned


def _mailchimp_state(member: str, keys: set[str]) -> str:
    if "clean time" in keys:
        return "cleaned"
    if "unsub time" in keys:
        return "unsubscribed"
    name = PurePosixPath(member).name.lower()
    for state in ("nonsubscribed", "unsubscribed", "cleaned"):  # `subscribed_` is a suffix of two of them
        if name.startswith(state + "_"):
            return state
    return "subscribed"


def classify(member: str, keys: list[str], *, any_email_list: bool) -> ListFile | None:
    """Which subscriber list a CSV header makes this, if any.

    `any_email_list`: a CSV with an email column is a plain list even without a status column
    (the user said so with --platform newsletter or --kind subscriber).
    """
    k = set(keys)
    if "email" in k and "email disabled" in k:
        return ListFile(member, "substack")
    if "email address" in k and k & MAILCHIMP_MARKERS:
        return ListFile(member, "mailchimp", _mailchimp_state(member, k))
    if {"uuid", "email", "status"} <= k:
        return ListFile(member, "listmonk")
    has_status = any(c in k for c in STATUS_COLUMNS) and not any(c in k for c in OTHER_KEY_COLUMNS)
    if any(c in k for c in EMAIL_COLUMNS) and (any_email_list or has_status):
        return ListFile(member, "email-list")
    return None


def _candidates(source: Source) -> list[str]:
    members = [m for m in source.members() if PurePosixPath(m).suffix.lower() in CSV_SUFFIXES]
    if len(members) <= SCAN_ALL_UP_TO:
        return members
    return [m for m in members if KNOWN_NAMES.match(PurePosixPath(m).name)]


def _header(source: Source, member: str) -> list[str]:
    info, rows = read_csv(source, member)
    rows.close()
    return info.keys


def find_lists(source: Source, options: ImportOptions, *, strict: bool) -> list[ListFile]:
    """The subscriber lists in a source. `strict` (plan): a lone CSV that cannot be read raises instead of not matching."""
    candidates = _candidates(source)
    # `--account newsletter:NAME` alone makes an `email,name` CSV a subscriber list.
    any_email_list = PLATFORM in (options.platform, options.account_platform) or options.kind == KIND
    found = []
    for member in candidates:
        try:
            keys = _header(source, member)
        except InputError:
            if strict and len(candidates) == 1:  # the file the user named: say what is wrong with it
                raise
            continue
        listed = classify(member, keys, any_email_list=any_email_list)
        # A plain email list is a whole source on its own, never one CSV among others of a bigger export.
        if listed and (listed.format != "email-list" or len(candidates) == 1):
            found.append(listed)
    return found


# ---------------------------------------------------------------------------------------------
# Reading the rows


def _record(email: str, status: str, name: str | None, data: dict) -> ProfileRecord:
    """`status`: active (a member, opted in), inactive (unsubscribed) or pending (never opted in)."""
    consent = {"active": "opted_in", "inactive": "unsubscribed", "pending": "unknown"}[status]
    return ProfileRecord(
        platform_id=email, display_name=name or None, data=_compact(data) or None,
        contacts=[("email", email, consent)], member=status == "active",
    )


def _substack(row: dict[str, str]) -> tuple[str, str | None, dict]:
    disabled = _flag(row.get("email disabled"))  # raises ValueError for a word that is no boolean
    try:
        paid = _flag(row.get("active subscription"))
    except ValueError:
        paid = None  # an optional detail: not worth a bad record
    data = {
        "format": "substack", "paid": paid, "expiry": parse_time(row.get("expiry")),
        "subscribed_at": parse_time(row.get("created at")), "plan": _text(row.get("plan")),
        "type": _text(row.get("type")), "first_payment_at": parse_time(row.get("first payment at")),
        "email_disabled": disabled,
    }
    return ("inactive" if disabled else "active"), None, data


def _mailchimp(row: dict[str, str], state: str) -> tuple[str, str | None, dict]:
    first, last = row.get("first name"), row.get("last name")
    name = " ".join(p for p in (first, last) if p) or _first(row, ("name", "full name"))
    rating = row.get("member rating") or ""
    data = {
        "format": "mailchimp", "status": state, "first_name": _text(first, MAX_TEXT), "last_name": _text(last, MAX_TEXT),
        "member_rating": int(rating) if rating.isascii() and rating.isdigit() and len(rating) < 3 else None,
        "subscribed_at": parse_time(row.get("optin time")), "confirmed_at": parse_time(row.get("confirm time")),
        "last_changed": parse_time(row.get("last changed")), "unsubscribed_at": parse_time(row.get("unsub time")),
        "unsubscribe_reason": _text(row.get("unsub reason")), "cleaned_at": parse_time(row.get("clean time")),
        "tags": _tags(row.get("tags")), "country": _text(row.get("cc"), 8), "timezone": _text(row.get("timezone"), 64),
    }
    status = {"subscribed": "active", "nonsubscribed": "pending"}.get(state, "inactive")
    return status, name, data


def _listmonk(row: dict[str, str]) -> tuple[str, str | None, dict]:
    status = (row.get("status") or "").lower()
    if status not in LISTMONK_ACTIVE | LISTMONK_INACTIVE:
        raise ValueError(f"status {status[:40]!r} is not enabled, disabled or blocklisted")
    raw = row.get("attributes") or ""
    attributes = None
    if raw and len(raw) <= MAX_TEXT:
        try:
            attributes = json.loads(raw)
        except ValueError:
            attributes = None
    data = {
        "format": "listmonk", "status": status, "uuid": _text(row.get("uuid"), 64),
        "subscribed_at": parse_time(row.get("created at")), "updated_at": parse_time(row.get("updated at")),
        "attributes": attributes if isinstance(attributes, dict) else _text(raw, MAX_TEXT),
    }
    return ("active" if status in LISTMONK_ACTIVE else "inactive"), row.get("name"), data


def _email_list(row: dict[str, str]) -> tuple[str, str | None, dict]:
    raw = _first(row, STATUS_COLUMNS) or ""
    word = " ".join(raw.lower().replace("-", " ").replace("_", " ").split())
    if not word or word in ACTIVE:
        status = "active"
    elif word in INACTIVE:
        status = "inactive"
    elif word in PENDING:
        status = "pending"
    else:
        raise ValueError(f"status {raw[:40]!r} is not one this tool knows (subscribed, unsubscribed, pending, ...)")
    first, last = row.get("first name"), row.get("last name")
    name = _first(row, NAME_COLUMNS) or " ".join(p for p in (first, last) if p)
    data = {
        "format": "email-list", "status": _text(raw, 64), "subscribed_at": parse_time(_first(row, DATE_COLUMNS)),
        "tags": _tags(row.get("tags")),
    }
    return status, name, data


def read_list(source: Source, listed: ListFile) -> Iterator[ProfileRecord | RecordError]:
    """The records of one subscriber CSV: one per address, or a RecordError for a bad line."""
    label = source.label(listed.member)
    info, rows = read_csv(source, listed.member)
    keys = set(info.keys)
    email_column = "email address" if listed.format == "mailchimp" else next((c for c in EMAIL_COLUMNS if c in keys), None)
    if email_column is None:
        rows.close()
        raise InputError(f"{label}: no email column", hint="a subscriber list needs a column named email")
    for line, row in rows:
        where = f"{label} line {line}"
        written = row.get(email_column)
        if not written:
            yield RecordError(where, "no email address on this line")
            continue
        email = normalize_email(written)
        if email is None:
            yield RecordError(where, f"{written[:80]!r} is not an email address")
            continue
        if listed.format == "substack" and email.endswith("@" + DELETED_READER):
            continue  # a reader who asked Substack to delete their data: nothing of them to keep
        try:
            if listed.format == "substack":
                status, name, data = _substack(row)
            elif listed.format == "mailchimp":
                status, name, data = _mailchimp(row, listed.state or "subscribed")
            elif listed.format == "listmonk":
                status, name, data = _listmonk(row)
            else:
                status, name, data = _email_list(row)
        except ValueError as exc:
            reason = str(exc) if listed.format != "substack" else f"email_disabled is {str(exc)[:40]!r}, not true or false"
            yield RecordError(where, reason)
            continue
        yield _record(email, status, name, data)


# ---------------------------------------------------------------------------------------------
# The importer


@register
class Newsletter(Importer):
    name = "newsletter"
    platform = PLATFORM
    description = "newsletter subscribers: Substack, Mailchimp, listmonk or a CSV email list (--account newsletter:NAME)"
    priority = 10  # above the generic CSV, which would take an email list for followers

    def detect(self, source: Source, options: ImportOptions) -> bool:
        return bool(find_lists(source, options, strict=False))

    def plan(self, source: Source, options: ImportOptions) -> Plan:
        found = find_lists(source, options, strict=True)
        if not found:
            candidates = _candidates(source)
            if len(candidates) == 1:
                header = read_csv(source, candidates[0])
                header[1].close()
                shown = ", ".join(h[:40] if h.isprintable() else repr(h[:40]) for h in header[0].header[:20])
                raise InputError(
                    f"{source.label(candidates[0])}: no newsletter subscriber list: there is no email column",
                    hint=f"a subscriber list needs a column named email; the columns are: {shown}",
                )
            raise InputError(
                f"{source.name}: no newsletter subscriber list in it",
                hint="import a Substack email_list CSV, a Mailchimp audience export, a listmonk subscribers "
                "export, or a CSV with an email column",
            )
        formats = sorted({f.format for f in found})
        if len(formats) > 1:
            raise InputError(
                f"{source.name}: holds subscriber lists of different kinds ({', '.join(formats)})",
                hint="import one newsletter's export at a time",
            )
        if formats == ["mailchimp"]:
            found.sort(key=lambda f: MAILCHIMP_STATES.index(f.state or "subscribed"))
            states = [f.state for f in found]
            if len(set(states)) < len(states):
                raise InputError(
                    f"{source.name}: holds the exports of more than one Mailchimp audience",
                    hint="import each audience's files (subscribed, unsubscribed, cleaned) on their own",
                )
            kind = KIND if "subscribed" in states else KIND_UNSUBSCRIBED_ONLY
        else:
            if len(found) > 1:
                raise InputError(
                    f"{source.name}: holds {len(found)} subscriber lists ({', '.join(f.member for f in found)[:200]})",
                    hint="import one list at a time, each with its own --account newsletter:NAME",
                )
            kind = KIND
        files = [f.member for f in found]

        def read() -> Iterator[ProfileRecord | RecordError]:
            for listed in found:
                yield from read_list(source, listed)

        newest = max(source.mtime(m) for m in files)
        return Plan(
            platform=PLATFORM,
            streams=[Stream(kind=kind, files=files, read=read)],
            as_of=dt.datetime.fromtimestamp(newest, dt.timezone.utc),
        )
