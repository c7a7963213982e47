"""Benchmark P6 (SPEC §12): an API backup against a local server that enforces a rate limit.

Target: the walk finishes within 1.1x the rate-limit-bound ideal time (pages / limit x window),
with no 429 after the first. Prints figures; asserts nothing about time. The PASS/FAIL lines
are the target and the correctness check (the stored member set equals the served one).

    /work/venv/bin/python tests/benchmarks/bench_api.py                      # X style, ~35 s
    /work/venv/bin/python tests/benchmarks/bench_api.py --style mastodon     # Link headers, ~65 s
    /work/venv/bin/python tests/benchmarks/bench_api.py --exhausted          # the budget is spent when the run starts
    /work/venv/bin/python tests/benchmarks/bench_api.py --followers 20000 --limit 10 --window 5

What it does:

1. Starts a threaded HTTP server on 127.0.0.1 that serves N synthetic followers in the
   platform's real format: X API v2 (`/2/users/:id/followers`, 1,000 per page,
   `meta.next_token`, `x-rate-limit-*` headers with an epoch reset) or Mastodon
   (`/api/v1/accounts/:id/followers`, 80 per page, `Link` header, `X-RateLimit-*` with an ISO
   8601 reset). It enforces LIMIT requests per WINDOW seconds (a window opens with the first
   request after the previous one closed, as a per-user window does) and answers 429 beyond it.
2. Runs a real backup of one kind through `backup.snapshot.run_api_snapshot` and the real
   connector, with the real clock and sleep, into a fresh SQLite database in a temp directory.
3. Prints the wall time of the walk (until the last page arrived) and of the whole snapshot
   (with completion), the ideal bound, their ratio, the requests and the 429s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from backup import accounts, connectors
from backup.db.engine import make_engine
from backup.db.migrate import ensure_schema
from backup.db.models import Relationship
from backup.logs import setup_logging
from backup.snapshot import run_api_snapshot

TARGET_RATIO = 1.1
TOKEN = "bench-token-not-secret"
X_ID = "1480000000000000042"
MASTO_ID = "109000000000000042"
STYLES = {
    # style: (platform, handle, per page, default limit, default window)
    "x": ("x", "bench", 1000, 30, 10.0),
    "mastodon": ("mastodon", "bench@social.example", 80, 100, 5.0),
}


class RateLimitedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, style: str, followers: int, limit: int, window: float, exhausted: bool):
        super().__init__(("127.0.0.1", 0), Handler)
        self.style, self.followers, self.limit, self.window = style, followers, limit, window
        self.per_page = STYLES[style][2]
        self.lock = threading.Lock()
        self.window_start: float | None = None
        self.used = 0
        self.requests = 0
        self.too_many: list[int] = []  # request numbers that got a 429
        self.spent_until: float | None = None
        if exhausted:  # the budget was spent by someone else just before the run
            self.window_start, self.used = time.time(), limit
            self.spent_until = self.window_start + window

    def admit(self) -> tuple[bool, int, float]:
        """Count one request: (allowed, remaining, reset epoch)."""
        with self.lock:
            now = time.time()
            self.requests += 1
            if self.window_start is None or now >= self.window_start + self.window:
                self.window_start, self.used = now, 0
            reset = self.window_start + self.window
            if self.used >= self.limit:
                self.too_many.append(self.requests)
                return False, 0, reset
            self.used += 1
            return True, self.limit - self.used, reset

    def headers_for(self, remaining: int, reset: float) -> dict[str, str]:
        if self.style == "x":
            return {"x-rate-limit-limit": str(self.limit), "x-rate-limit-remaining": str(remaining),
                    "x-rate-limit-reset": str(math.ceil(reset))}
        iso = dt.datetime.fromtimestamp(reset, dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        return {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": iso}


def x_user(n: int) -> dict:
    return {
        "id": str(1480000000000000000 + n * 7919), "username": f"user{n}", "name": f"User {n}",
        "description": f"Person number {n}; writes about tea, maps and bikes.", "url": "https://t.co/abcdef",
        "created_at": "2019-03-02T10:11:12.000Z", "protected": False, "location": "Lisbon",
        "entities": {"url": {"urls": [{"start": 0, "end": 23, "url": "https://t.co/abcdef", "expanded_url": f"https://user{n}.example",
                                       "display_url": f"user{n}.example"}]}},
        "public_metrics": {"followers_count": n % 5000, "following_count": n % 700, "tweet_count": n % 90000, "listed_count": n % 20},
    }


def masto_account(n: int) -> dict:
    return {
        "id": str(300000 + n), "username": f"user{n}", "acct": f"user{n}@remote{n % 50}.example", "display_name": f"User {n}",
        "uri": f"https://remote{n % 50}.example/users/user{n}", "url": f"https://remote{n % 50}.example/@user{n}",
        "note": f"<p>Person number {n}; writes about tea &amp; maps.</p>", "locked": False, "bot": False,
        "fields": [{"name": "Site", "value": f'<a href="https://user{n}.example" rel="me">user{n}.example</a>', "verified_at": None}],
        "followers_count": n % 5000, "following_count": n % 700, "statuses_count": n % 9000,
        "created_at": "2022-11-05T00:00:00.000Z", "avatar": "https://remote.example/a.png", "emojis": [],
    }


def expected_ids(style: str, followers: int) -> set[str]:
    if style == "x":
        return {x_user(n)["id"] for n in range(followers)}
    return {masto_account(n)["uri"] for n in range(followers)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: RateLimitedServer

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        server = self.server
        allowed, remaining, reset = server.admit()
        headers = server.headers_for(remaining, reset)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.reply(401, {"error": "The access token is invalid"}, headers)
        if not allowed:
            body = ({"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
                    if server.style == "x" else {"error": "Too many requests"})
            return self.reply(429, body, headers)
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        n = server.followers
        if server.style == "x" and parts.path == f"/2/users/{X_ID}/followers":
            start = int(query.get("pagination_token", "0"))
            end = min(n, start + min(int(query.get("max_results", 100)), server.per_page))
            body = {"data": [x_user(i) for i in range(start, end)], "meta": {"result_count": end - start}}
            if end < n:
                body["meta"]["next_token"] = f"{end:012d}"
            return self.reply(200, body, headers)
        if server.style == "mastodon" and parts.path == "/api/v1/accounts/verify_credentials":
            return self.reply(200, {"id": MASTO_ID, "username": "bench", "acct": "bench", "display_name": "Bench",
                                    "uri": "https://social.example/users/bench", "followers_count": n, "following_count": 0}, headers)
        if server.style == "mastodon" and parts.path == f"/api/v1/accounts/{MASTO_ID}/followers":
            limit = min(int(query.get("limit", 40)), server.per_page)
            start = int(query.get("max_id", "0"))  # a stand-in for Mastodon's Follow ids
            end = min(n, start + limit)
            if end < n:
                link = f"https://social.example/api/v1/accounts/{MASTO_ID}/followers?{urlencode({'limit': limit, 'max_id': end})}"
                headers["Link"] = f'<{link}>; rel="next"'
            return self.reply(200, [masto_account(i) for i in range(start, end)], headers)
        return self.reply(404, {"error": "Record not found"}, headers)

    def reply(self, status: int, body, headers: dict[str, str]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers, "Content-Length": str(len(payload))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--style", choices=sorted(STYLES), default="x")
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--limit", type=int, help="requests per window (default: 30 for x, 100 for mastodon)")
    parser.add_argument("--window", type=float, help="window seconds (default: 10 for x, 5 for mastodon)")
    parser.add_argument("--exhausted", action="store_true", help="start with the window's budget already spent (the first request gets a 429)")
    parser.add_argument("--workdir", type=Path, help="where the SQLite database goes (default: a temp dir)")
    args = parser.parse_args(argv)
    setup_logging()  # retries and waits show on stderr, redacted, as in a real run
    platform, handle, per_page, limit, window = STYLES[args.style]
    limit = args.limit or limit
    window = args.window or window

    server = RateLimitedServer(args.style, args.followers, limit, window, args.exhausted)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-api-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{workdir / 'audience.db'}"
    engine = make_engine(db_url)
    ensure_schema(engine, db_url)
    with engine.begin() as conn:
        account = accounts.add(conn, platform, handle, server=url, platform_id=X_ID if platform == "x" else None)
    connector = connectors.get(platform)(handle=handle, platform_id=account.platform_id, server=url, secret=TOKEN)

    pages = math.ceil(args.followers / per_page)
    ideal = pages / limit * window
    # With --exhausted, nothing can be fetched before the spent window resets: that wait is part of the bound.
    spent = max(0.0, server.spent_until - time.time()) if server.spent_until else 0.0
    ideal += spent
    print(f"style {args.style}: {args.followers:,} followers, {per_page}/page = {pages} pages; "
          f"limit {limit} requests / {window:g} s; ideal bound {ideal:.1f} s"
          + (f" (of which {spent:.1f} s until the spent window resets)" if spent else "")
          + f"; db {workdir / 'audience.db'}")
    last_page = [0.0]

    def fetch_page(kind, cursor):
        page = connector.fetch_page(kind, cursor)
        last_page[0] = time.monotonic()
        return page

    start = time.monotonic()
    outcome = run_api_snapshot(engine, account, "follower", fetch_page)
    total = time.monotonic() - start
    walk = last_page[0] - start
    server.shutdown()

    with engine.connect() as conn:
        stored = {row[0] for row in conn.execute(
            Relationship.__table__.select().with_only_columns(Relationship.platform_id).where(Relationship.account_id == account.id)
        )}
    exact = stored == expected_ids(args.style, args.followers)
    late_429 = [r for r in server.too_many if r != 1]
    ratio = total / ideal
    print(f"requests {server.requests} (pages {pages}, the rest account lookups), 429s {len(server.too_many)} (after the first request: {len(late_429)}), "
          f"client waited {connector.http.waited:.1f} s")
    print(f"walk (until the last page) {walk:.1f} s = {walk / ideal:.3f}x ideal; "
          f"whole snapshot (with completion) {total:.1f} s = {ratio:.3f}x ideal")
    print(f"{'PASS' if exact else 'FAIL'} stored member set equals the served one ({len(stored):,} of {args.followers:,}), snapshot {outcome.status}")
    met = ratio <= TARGET_RATIO and not late_429
    print(f"{'PASS' if met else 'FAIL'} P6: within {TARGET_RATIO}x of the ideal ({ratio:.3f}x) with no 429 after the first ({len(late_429)})")
    engine.dispose()
    return 0 if exact and met else 1


if __name__ == "__main__":
    sys.exit(main())
