"""The report documents (``risk.build_risk``, ``recovery.build_recovery``) in three forms:
the terminal (Rich, readable at 80 columns), Markdown, and one self-contained HTML page.

Every user-supplied string (names, handles, bios, account names, URLs) is hostile until shown
otherwise (SPEC §10):

- ``clean`` drops control characters (NUL, the terminal's ESC sequences, line breaks) and the
  bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069, U+200E/U+200F, U+061C)
  that would reorder the text around a name, and cuts long strings. Right-to-left scripts
  themselves are kept; in HTML each user string also sits in its own ``<bdi>``.
- ``safe_url`` keeps only absolute http, https and mailto links without spaces, controls or
  quotes; anything else (``javascript:``, ``data:``, relative paths) is shown as no link.
- Terminal: strings go in as ``rich.text.Text``, never as markup.
- Markdown: HTML and Markdown punctuation are escaped, so a name cannot open a link, an image
  or an HTML tag in a renderer that allows inline HTML.
- HTML: Jinja2 with autoescape everywhere; a strict Content-Security-Policy allows no script,
  no request of any kind, and only the page's own stylesheet (by its hash); the charts are
  inline SVG (``charts.py``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import unicodedata
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup, escape
from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from . import charts
from .html_page import CSS, RECOVERY_TEMPLATE, RISK_TEMPLATE
from .numbers import DOWN

NAME_CHARS = 60
BIO_SHOWN = 160
URL_CHARS = 2048
TIER_LABELS = {
    "following_elsewhere": "following elsewhere",
    "contactable": "contactable",
    "known_elsewhere": "known elsewhere",
    "unreachable": "unreachable",
}
TIER_MEANING = {
    "following_elsewhere": "follow another of your accounts, or subscribed to your newsletter",
    "contactable": "an email address or phone number is known",
    "known_elsewhere": "a profile or handle on another platform is known",
    "unreachable": "only reachable on this platform",
}
TIER_STYLES = {"following_elsewhere": "green", "contactable": "blue", "known_elsewhere": "yellow", "unreachable": "red"}
EXPORT_WORDS = {
    "mailing_list": "mailing list: the opted-in addresses, for your email tool",
    "follows_mastodon": "follow list to import on Mastodon",
    "follows_bluesky": "follow list for Bluesky",
    "follows_x": "follow list for X (handles and links)",
    "vcard": "vCard: everyone, for an address book",
    "csv": "CSV: everyone, with every contact point",
}
KIND_WORDS = {"follower": "followers", "connection": "connections", "subscriber": "subscribers"}

# -- hostile strings ----------------------------------------------------------------------------

_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_DROP = dict.fromkeys(map(ord, _BIDI), None)


def clean(value: Any, limit: int = NAME_CHARS) -> str:
    """A user-supplied string made safe to show on one line: no controls, no bidi overrides,
    whitespace collapsed, at most `limit` characters (an ellipsis marks the cut)."""
    if value is None:
        return ""
    s = str(value)[: limit * 4 + 64].translate(_DROP)  # bound the work on a 100k-character name
    s = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs") else ch for ch in s)
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def safe_url(value: Any) -> str | None:
    """The link if it is an absolute http(s) or mailto URL that cannot break out of an
    attribute or hide its target; otherwise None."""
    if not isinstance(value, str) or not value or len(value) > URL_CHARS:
        return None
    if any(ch in value for ch in "\"'<>`\\") or any(unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp") for ch in value):
        return None
    scheme, colon, rest = value.partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in ("http", "https", "mailto"):
        return None
    if scheme == "mailto":
        return value if "@" in rest else None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.netloc and rest.startswith("//") else None


def member_name(m: dict) -> str:
    """Who a member is, in one short string: the display name, else the handle, else the id."""
    return clean(m.get("display_name")) or clean(m.get("handle")) or f"{m['platform']} id {clean(m['platform_id'], 40)}"


def member_handle(m: dict) -> str:
    """The handle as the platform writes it (``@name``), or "" when only the id is known."""
    handle = clean(m.get("handle"), 48)
    if handle:
        return handle if handle.startswith("@") or m["platform"] in ("linkedin", "newsletter") else f"@{handle}"
    return ""


def pct(value: float | None) -> str:
    return "–" if value is None else f"{round(100 * value)}%"


def date(value: str | dt.datetime | None, fmt: str = "%Y-%m-%d") -> str:
    if not value:
        return "–"
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return when.astimezone(dt.UTC).strftime(fmt)


def kind_words(kind: str | None) -> str:
    return KIND_WORDS.get(kind or "", kind or "audience")


def keep_sentence(a: dict) -> str:
    """The number to make visible every day."""
    if not a["audience"]:
        return f"{clean(a['account'])} has no audience stored yet."
    if a["status"] in DOWN:
        return (f"{clean(a['account'])} is {a['status']}: you can still reach {a['reachable_elsewhere']:,} "
                f"of {a['audience']:,} ({pct(a['resilience'])}).")
    return (f"If you lost {clean(a['account'])} tonight, you would keep {a['reachable_elsewhere']:,} "
            f"of {a['audience']:,} ({pct(a['resilience'])}).")


def status_words(status: str, since: str | None) -> str:
    if status == "unknown":
        return "not checked (no API backup has asked the platform)"
    return f"{status} since {date(since)}" if since else status


# -- terminal -----------------------------------------------------------------------------------


def _bar(fraction: float | None, width: int = 6) -> Text:
    f = 0.0 if fraction is None else max(0.0, min(1.0, fraction))
    full = round(f * width)
    style = "green" if f >= 0.6 else "yellow" if f >= 0.3 else "red"
    return Text("█" * full, style=style) + Text("░" * (width - full), style="dim") + Text(f" {pct(fraction):>4}")


def render_risk_terminal(doc: dict, console: Console) -> None:
    console.print(Text(f"Audience risk, {date(doc['generated_at'], '%Y-%m-%d %H:%M')} UTC", style="bold"))
    if doc.get("selection", "everyone") != "everyone":
        console.print(Text(f"selection: {clean(doc['selection'], 200)}", style="dim"))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("account", overflow="fold", ratio=1, min_width=14)
    table.add_column("audience", justify="right", no_wrap=True)
    table.add_column("elsewhere", justify="right", no_wrap=True)
    table.add_column("only here", justify="right", no_wrap=True)
    table.add_column("resilience", no_wrap=True)
    for a in doc["accounts"]:
        name = Text(clean(a["account"]))
        if a["status"] not in ("active", "unknown"):
            name.append(f" ({a['status']})", style="bold red")
        table.add_row(name, f"{a['audience']:,}", f"{a['reachable_elsewhere']:,}", f"{a['only_here']:,}", _bar(a["resilience"]))
    if not doc["accounts"]:
        console.print("No accounts yet: `audience accounts add` or `audience import` first.")
        return
    console.print(table)
    for a in doc["accounts"]:
        if a["audience"]:
            console.print(Text(keep_sentence(a)))
    if doc["overall_resilience"] is not None:
        console.print(Text(
            f"\nOverall: {doc['reachable_elsewhere']:,} of {doc['audience']:,} ({pct(doc['overall_resilience'])}) "
            f"would survive the loss of their account; {doc['people']:,} people in all.", style="bold",
        ))


def render_recovery_terminal(doc: dict, console: Console) -> None:
    console.print(Text(f"Recovery report: {clean(doc['account'])}", style="bold"))
    console.print(Text("status: " + status_words(doc["status"], doc["status_since"]), style="bold red" if doc["down"] else "dim"))
    last = doc["last_complete_snapshot"]
    if last:
        console.print(Text(
            f"last complete snapshot: #{last['id']}, {last['count']:,} {kind_words(last['kind'])} as of {date(last['as_of'])}"
        ))
    else:
        console.print(Text("no complete snapshot of its audience"))
    audience = doc["audience"]
    console.print(Text(
        f"\nYou can still reach {doc['reachable_elsewhere']:,} of {audience:,} ({pct(doc['reachable_fraction'])}).", style="bold",
    ))
    tiers = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    tiers.add_column("tier", no_wrap=True)
    tiers.add_column("people", justify="right", no_wrap=True)
    tiers.add_column("share", justify="right", no_wrap=True)
    tiers.add_column("meaning", ratio=1)
    for key, label in TIER_LABELS.items():
        n = doc["tiers"][key]
        tiers.add_row(Text(label, style=TIER_STYLES[key]), f"{n:,}", pct(n / audience if audience else None), TIER_MEANING[key])
    console.print(tiers)
    channels = [f"{k} {v:,}" for k, v in doc["by_channel"].items() if v]
    console.print(Text("by channel: " + (", ".join(channels) if channels else "none")))
    if doc["top_unreachable"]:
        console.print(Text(f"\nOnly on {doc['platform']}, largest audiences first:", style="bold"))
        top = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        top.add_column("name", ratio=2, overflow="fold")
        top.add_column("handle", ratio=2, overflow="fold")
        top.add_column("followers", justify="right", no_wrap=True)
        for m in doc["top_unreachable"]:
            count = m.get("followers_count")
            top.add_row(Text(member_name(m)), Text(member_handle(m)), "?" if count is None else f"{count:,}")
        console.print(top)
    if doc["exports"]:
        console.print(Text("\nReady exports:", style="bold"))
        for name, path in doc["exports"].items():
            rows = doc["export_rows"].get(name)
            console.print(Text(f"  {name}: {path}" + (f" ({rows:,} rows)" if rows is not None else "")))
    console.print(Text("\nNext steps:", style="bold"))
    for n, step in enumerate(doc["next_steps"], start=1):
        console.print(Padding(Text(f"{n}. {step}"), (0, 0, 0, 2)))


# -- Markdown -----------------------------------------------------------------------------------

# What Markdown reads as markup anywhere in a line (user strings never start one here).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#!|~])")


def md(value: Any, limit: int = NAME_CHARS) -> str:
    """A user string as inert Markdown text: HTML neutralised, punctuation escaped."""
    s = clean(value, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", s)


def md_link(text: str, url: Any) -> str:
    """``[text](url)`` for a safe URL (parentheses and spaces percent-encoded), else the text."""
    link = safe_url(url)
    if not link:
        return text
    link = link.replace("(", "%28").replace(")", "%29")
    return f"[{text}]({link})"


def _md_table(header: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def render_risk_markdown(doc: dict) -> str:
    lines = ["# Audience risk", "", (f"Generated {date(doc['generated_at'], '%Y-%m-%d %H:%M')} UTC"
             + (f" · selection: {md(doc['selection'], 200)}" if doc.get("selection", "everyone") != "everyone" else "")), ""]
    if doc["overall_resilience"] is not None:
        lines += [(f"**Overall resilience {pct(doc['overall_resilience'])}**: {doc['reachable_elsewhere']:,} of "
                   f"{doc['audience']:,} followers, connections and subscribers can be reached elsewhere "
                   f"({doc['people']:,} people in all)."), ""]
    rows = [
        [md(a["account"]), md(a["status"]), f"{a['audience']:,}", f"{a['reachable_elsewhere']:,}", f"{a['only_here']:,}", pct(a["resilience"])]
        for a in doc["accounts"]
    ]
    lines += _md_table(["account", "status", "audience", "reachable elsewhere", "only here", "resilience"], rows, {2, 3, 4, 5})
    lines.append("")
    lines += [f"- {md(keep_sentence(a), 300)}" for a in doc["accounts"] if a["audience"]]
    lines += ["", _definitions_md()]
    return "\n".join(lines) + "\n"


DEFINITIONS = (
    "Reachable elsewhere means the same person (as identity linking found them) follows another of your accounts or "
    "subscribed to your newsletter, has an email address or phone number on record, or has a known profile or handle "
    "on another platform. Unsubscribed and suppressed addresses never count."
)


def _definitions_md() -> str:
    return DEFINITIONS


def render_recovery_markdown(doc: dict) -> str:
    audience = doc["audience"]
    last = doc["last_complete_snapshot"]
    lines = [
        f"# Recovery report: {md(doc['account'])}", "",
        f"- Status: {md(status_words(doc['status'], doc['status_since']), 120)}",
        f"- Last complete snapshot: #{last['id']}, {last['count']:,} {kind_words(last['kind'])} as of {date(last['as_of'])}"
        if last else "- No complete snapshot of its audience",
        f"- Generated {date(doc['generated_at'], '%Y-%m-%d %H:%M')} UTC"
        + (f" · selection: {md(doc['selection'], 200)}" if doc.get("selection", "everyone") != "everyone" else ""),
        "",
        f"**You can still reach {doc['reachable_elsewhere']:,} of {audience:,} ({pct(doc['reachable_fraction'])}).**", "",
        "## The audience in four tiers", "",
    ]
    rows = [[TIER_LABELS[k], f"{doc['tiers'][k]:,}", pct(doc["tiers"][k] / audience if audience else None), TIER_MEANING[k]]
            for k in TIER_LABELS]
    lines += _md_table(["tier", "people", "share", "meaning"], rows, {1, 2})
    lines += ["", "## By channel", ""]
    channels = [[md(k), f"{v:,}"] for k, v in doc["by_channel"].items() if v]
    lines += _md_table(["channel", "people"], channels, {1}) if channels else ["Nobody can be reached through another channel."]
    lines += ["", "## Next steps", ""]
    lines += [f"{n}. {md(step, 1000)}" for n, step in enumerate(doc["next_steps"], start=1)]
    if doc["exports"]:
        lines += ["", "## Ready exports", ""]
        lines += _md_table(["export", "file", "rows"], [
            [md(name), md(path, 1000), f"{doc['export_rows'].get(name, 0):,}"]
            for name, path in doc["exports"].items()
        ], {2})
    if doc["top_unreachable"]:
        lines += ["", f"## Only on {md(doc['platform'])}: the largest audiences first", ""]
        rows = []
        for m in doc["top_unreachable"]:
            count = m.get("followers_count")
            rows.append([md_link(md(member_name(m)), m.get("url")), md(member_handle(m)),
                         "?" if count is None else f"{count:,}", md(m.get("bio"), BIO_SHOWN)])
        lines += _md_table(["name", "handle", "followers", "bio"], rows, {2})
    lines += ["", _definitions_md()]
    return "\n".join(lines) + "\n"


# -- HTML ---------------------------------------------------------------------------------------


_CODE = re.compile(r"`([^`]+)`")
_BREAK = re.compile(r"([:@.])")


def breakable(value: Any, limit: int = NAME_CHARS) -> Markup:
    """An account name or handle, escaped, that may wrap after ``:``, ``@`` and ``.`` on a narrow screen."""
    return Markup(_BREAK.sub(r"\1<wbr>", str(escape(clean(value, limit)))))


def step_html(step: str) -> Markup:
    """A next step as HTML: the text escaped, then its `command` spans set as code."""
    return Markup(_CODE.sub(r"<code>\1</code>", str(escape(clean(step, 2000)))))


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(CSS.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'none'; font-src 'none'; "
            "script-src 'none'; connect-src 'none'; media-src 'none'; object-src 'none'; frame-src 'none'; "
            "base-uri 'none'; form-action 'none'")


def _environment() -> Environment:
    env = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(
        clean=clean, url=safe_url, pct=pct, date=date, kinds=kind_words, step=step_html, breakable=breakable,
        num=lambda n: "?" if n is None else f"{n:,}",
    )
    env.globals.update(
        charts=charts, css=Markup(CSS), csp=_csp(), tier_labels=TIER_LABELS, tier_meaning=TIER_MEANING,
        member_name=member_name, member_handle=member_handle, keep_sentence=keep_sentence, status_words=status_words,
        tier_classes=dict(zip(TIER_LABELS, charts.TIER_CLASSES)), bio_shown=BIO_SHOWN, export_words=EXPORT_WORDS,
        definitions=DEFINITIONS,
    )
    env.filters["basename"] = lambda path: PurePath(str(path)).name
    return env


_ENV = _environment()


def render_risk_html(doc: dict) -> str:
    return _ENV.from_string(RISK_TEMPLATE).render(doc=doc)


def render_recovery_html(doc: dict) -> str:
    return _ENV.from_string(RECOVERY_TEMPLATE).render(doc=doc)


def render_terminal(doc: dict, console: Console) -> None:
    (render_recovery_terminal if "tiers" in doc and "accounts" not in doc else render_risk_terminal)(doc, console)


__all__ = [
    "clean", "md", "render_recovery_html", "render_recovery_markdown", "render_recovery_terminal",
    "render_risk_html", "render_risk_markdown", "render_risk_terminal", "safe_url",
]
