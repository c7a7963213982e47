"""The HTML report in a real headless browser (Debian's chromium; `.ci/run` installs it).

With hostile names, bios and links in the report, chromium must render it (the DOM holds the
content), run no injected script, and make no network request: a local HTTP server that the
page's hostile strings point at records every request, and must see none. The page's
Content-Security-Policy is checked as a second line of defence: the same page with active
content spliced in raw (as if escaping had failed) still runs nothing and fetches nothing,
while a control copy without the policy does both (so the harness can see it happen). A
screenshot at phone width is not blank.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from backup.accounts import resolve
from backup.db.engine import make_engine
from backup.db.migrate import ensure_schema
from exporters.reports.recovery import build_recovery
from exporters.reports.render import render_recovery_html, render_risk_html
from exporters.reports.risk import build_risk

from . import world

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", "--mute-audio")
TIMEOUT = 60


class Listener:
    """A local HTTP server that records every request made to it."""

    def __init__(self):
        self.requests: list[str] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def listener():
    server = Listener()
    yield server
    server.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory, listener):
    """The recovery and risk pages of the constructed store, with hostile strings that point
    at the listener."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("no chromium: apt-get install -y chromium")
    base = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{base / 'audience.db'}"
    engine = make_engine(url)
    ensure_schema(engine, url)
    u = listener.url
    world.build(
        engine,
        names={
            7: "<script>document.title='PWNED'</script>",
            8: f'"><img src="{u}/img-in-name" onerror="document.title=\'PWNED\'">',
            9: "\u202eevil\u202c Zed",
            11: f"<link rel=stylesheet href={u}/css-in-name>",
            17: f"<style>@import url({u}/import-in-name);</style>Big Name",
        },
        bios={7: f"<iframe src={u}/iframe-in-bio></iframe>", 17: "<svg onload=\"document.title='PWNED'\">x</svg>"},
        urls={7: "javascript:document.title='PWNED'", 12: f"{u}/a-link-is-not-a-request", 18: f"{u}/another-link"},
    )
    with engine.connect() as conn:
        recovery = build_recovery(conn, resolve(conn, "x:ana"))
        risk = build_risk(conn)
    engine.dispose()
    out = {"recovery": base / "recovery.html", "risk": base / "risk.html", "base": base}
    out["recovery"].write_text(render_recovery_html(recovery), encoding="utf-8")
    out["risk"].write_text(render_risk_html(risk), encoding="utf-8")
    return out


def chromium(*args: str, profile: Path) -> str:
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_page_renders_runs_nothing_injected_and_requests_nothing(pages, listener):
    before = len(listener.requests)
    dom = chromium("--dump-dom", pages["recovery"].as_uri(), profile=pages["base"] / "p1")
    assert "<title>Recovery report: x:ana</title>" in dom  # no script changed it
    assert "You can still reach" in dom and "Audience over time" in dom and "Next steps" in dom
    assert "&lt;script&gt;document.title='PWNED'&lt;/script&gt;" in dom  # shown as text
    assert "<script" not in dom and "<iframe" not in dom and "<img" not in dom
    assert "evil Zed" in dom and "\u202e" not in dom
    assert f'href="{listener.url}/a-link-is-not-a-request"' in dom  # a link, never fetched
    dom = chromium("--dump-dom", pages["risk"].as_uri(), profile=pages["base"] / "p2")
    assert "<title>Audience risk</title>" in dom and "x:ana" in dom
    assert listener.requests[before:] == []


def _splice(html: str, injected: str, *, csp: bool) -> str:
    if not csp:
        start = html.index('<meta http-equiv="Content-Security-Policy"')
        html = html[:start] + html[html.index(">", start) + 1:]
    return html.replace("<body>", "<body>" + injected, 1)


def test_the_content_security_policy_stops_what_escaping_would_miss(pages, listener):
    u = listener.url
    injected = (f"<script>document.title='RAN'</script><img src=\"{u}/raw-img\">"
                f"<link rel=\"stylesheet\" href=\"{u}/raw-css\"><style>@import url({u}/raw-import);"
                f"body{{background:url({u}/raw-bg)}}</style><div style=\"background:url({u}/raw-inline)\">x</div>")
    html = pages["recovery"].read_text(encoding="utf-8")
    guarded, control = pages["base"] / "guarded.html", pages["base"] / "control.html"
    guarded.write_text(_splice(html, injected, csp=True), encoding="utf-8")
    control.write_text(_splice(html, injected, csp=False), encoding="utf-8")

    before = len(listener.requests)
    dom = chromium("--dump-dom", guarded.as_uri(), profile=pages["base"] / "p3")
    assert "<title>Recovery report: x:ana</title>" in dom
    assert listener.requests[before:] == []

    dom = chromium("--dump-dom", control.as_uri(), profile=pages["base"] / "p4")
    assert "<title>RAN</title>" in dom  # without the policy the same splice runs...
    assert "/raw-img" in listener.requests[before:]  # ...and fetches


def test_a_phone_width_screenshot_is_not_blank(pages):
    shot = pages["base"] / "shot.png"
    chromium("--screenshot=" + str(shot), "--window-size=412,900", pages["recovery"].as_uri(), profile=pages["base"] / "p5")
    width, height, pixels = read_png(shot.read_bytes())
    assert (width, height) == (412, 900)
    colours = {}
    for p in pixels:
        colours[p] = colours.get(p, 0) + 1
    background = max(colours.values())
    assert len(colours) > 200  # text, bars and charts in several colours
    assert background < 0.9 * width * height  # not one flat page


def read_png(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """A small PNG decoder for 8-bit RGB/RGBA non-interlaced images (what chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour in (2, 6) and interlace == 0
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(height):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    pixels = [tuple(row[x:x + 3]) for row in rows for x in range(0, stride, bpp)]
    return width, height, pixels
