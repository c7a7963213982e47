"""Inline SVG charts for the HTML reports: no script, no style attribute, no external reference.

Every chart is built from numbers and our own labels; the only user-supplied strings (account
names in titles) go through ``markupsafe.escape``. Colours come from CSS classes in the
page's one ``<style>`` element (``t1``..``t4`` for the tiers), so the strict
Content-Security-Policy needs no ``'unsafe-inline'``. Charts scale with the page (``viewBox``,
width 100%), which keeps them readable at phone width.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence

from markupsafe import Markup, escape

TIER_CLASSES = ("t1", "t2", "t3", "t4")
_ids = itertools.count(1)  # ids of clip paths, unique within a page


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def swatch(cls: str) -> Markup:
    return Markup(f'<svg class="swatch" width="12" height="12" viewBox="0 0 12 12" aria-hidden="true">'
                  f'<rect class="{cls}" width="12" height="12" rx="3"/></svg>')


def stacked_bar(values: Sequence[int], classes: Sequence[str] = TIER_CLASSES, *, height: int = 18, label: str = "") -> Markup:
    """One horizontal bar split in proportion to `values` (the tiers of an audience)."""
    total = sum(values)
    width = 1000
    parts = [(f'<svg class="bar" viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
              f'aria-label="{escape(label)}"><rect class="track" width="{width}" height="{height}" rx="{height / 2:.0f}"/>')]
    if total:
        x, clip = 0.0, f"clip{next(_ids)}"
        parts.append(f'<clipPath id="{clip}"><rect width="{width}" height="{height}" rx="{height / 2:.0f}"/></clipPath>'
                     f'<g clip-path="url(#{clip})">')
        for value, cls in zip(values, classes):
            if value:
                w = width * value / total
                parts.append(f'<rect class="{cls}" x="{_n(x)}" width="{_n(w + 0.5)}" height="{height}"/>')
                x += w
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def meter(fraction: float | None, *, width: int = 120, height: int = 10) -> Markup:
    """A small bar for a ratio in [0, 1] (resilience in a table row)."""
    f = 0.0 if fraction is None else max(0.0, min(1.0, fraction))
    cls = "good" if f >= 0.6 else "fair" if f >= 0.3 else "poor"
    return Markup(
        f'<svg class="meter" width="{width}" height="{height}" viewBox="0 0 {width} {height}" aria-hidden="true">'
        f'<rect class="track" width="{width}" height="{height}" rx="{height / 2:.0f}"/>'
        + (f'<rect class="{cls}" width="{_n(max(f * width, height))}" height="{height}" rx="{height / 2:.0f}"/>' if f > 0 else "")
        + "</svg>"
    )


def hbars(rows: Sequence[tuple[str, int, str]], *, total: int | None = None, label: str = "") -> Markup:
    """Labelled horizontal bars: (label, value, css class) per row, scaled to `total` (else the largest)."""
    if not rows:
        return Markup("")
    scale = total or max(v for _, v, _ in rows) or 1
    row_h, gap, label_w, width = 24, 8, 110, 420
    bar_w = width - label_w - 60
    height = len(rows) * (row_h + gap)
    out = [f'<svg class="hbars" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">']
    for i, (name, value, cls) in enumerate(rows):
        y = i * (row_h + gap)
        w = bar_w * value / scale if scale else 0
        out.append(
            f'<text class="lbl" x="{label_w - 10}" y="{y + row_h * 0.68:.0f}" text-anchor="end">{escape(name)}</text>'
            f'<rect class="track" x="{label_w}" y="{y}" width="{bar_w}" height="{row_h}" rx="6"/>'
            + (f'<rect class="{cls}" x="{label_w}" y="{y}" width="{_n(max(w, 3))}" height="{row_h}" rx="6"/>' if value else "")
            + f'<text class="val" x="{label_w + bar_w + 10}" y="{y + row_h * 0.68:.0f}">{value:,}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))


def _ticks(top: int) -> list[int]:
    """Three round gridline values up to `top`."""
    if top <= 3:
        return list(range(1, max(top, 1) + 1))
    raw = top / 3
    magnitude = 10 ** (len(str(int(raw))) - 1)
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [int(step * k) for k in range(1, 4) if step * k <= top * 1.001]


def history_chart(points: Sequence[dict], *, label: str = "", height: int = 170) -> Markup:
    """The audience over time: one line per relationship kind, from the applied snapshots."""
    width, left, right, top_pad, bottom = 420, 44, 12, 16, 26
    if not points:
        return Markup(f'<svg class="history" viewBox="0 0 {width} 60" role="img" aria-label="{escape(label)}">'
                      f'<text class="empty" x="{width // 2}" y="35" text-anchor="middle">no complete snapshot yet</text></svg>')
    times = [_when(p["as_of"]) for p in points]
    t0, t1 = min(times), max(times)
    span = (t1 - t0).total_seconds() or 1.0
    top = max(p["count"] for p in points)
    ymax = max(int(top * 1.15) + 1, 4)
    plot_w, plot_h = width - left - right, height - top_pad - bottom

    def x(t: dt.datetime) -> float:
        return left + (plot_w / 2 if t0 == t1 else plot_w * (t - t0).total_seconds() / span)

    def y(v: float) -> float:
        return top_pad + plot_h * (1 - v / ymax)

    out = [f'<svg class="history" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">']
    for tick in [0, *_ticks(ymax)]:
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>'
                   f'<text class="axis" x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:,}</text>')
    out.append(f'<text class="axis" x="{left}" y="{height - 8}">{t0:%Y-%m-%d}</text>')
    if t1 != t0:
        out.append(f'<text class="axis" x="{width - right}" y="{height - 8}" text-anchor="end">{t1:%Y-%m-%d}</text>')
    kinds = sorted({p["kind"] for p in points})
    for n, kind in enumerate(kinds):
        series = [(x(_when(p["as_of"])), y(p["count"]), p) for p in points if p["kind"] == kind]
        line = " ".join(f"{a:.1f},{b:.1f}" for a, b, _ in series)
        cls = f"s{n % 3}"
        if len(series) > 1:
            area = f"{series[0][0]:.1f},{y(0):.1f} {line} {series[-1][0]:.1f},{y(0):.1f}"
            out.append(f'<polygon class="area {cls}" points="{area}"/>')
            out.append(f'<polyline class="line {cls}" points="{line}"/>')
        for a, b, p in series:
            out.append(f'<circle class="dot {cls}" cx="{a:.1f}" cy="{b:.1f}" r="4">'
                       f'<title>{escape(kind)}: {p["count"]:,} on {_when(p["as_of"]):%Y-%m-%d}</title></circle>')
        last_x, last_y, last = series[-1]
        anchor = "end" if last_x > width - 110 else "start"
        dx = -8 if anchor == "end" else 8
        out.append(f'<text class="last" x="{last_x + dx:.1f}" y="{last_y - 9:.1f}" text-anchor="{anchor}">'
                   f'{last["count"]:,} {escape(_plural(kind, last["count"]))}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _plural(kind: str, n: int) -> str:
    return {"follower": "followers", "connection": "connections", "subscriber": "subscribers"}.get(kind, kind) if n != 1 else kind


def _when(value: str | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value)
