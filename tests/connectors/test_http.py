"""The HTTP client alone: error table, backoff caps, Retry-After and reset headers, pacing,
the run deadline, redirects and secrets. Real HTTP to 127.0.0.1, fake time."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from backup.connectors.http import (
    AUTH_EXPIRED,
    MAX_BACKOFF,
    PACE_MARGIN,
    AuthFailed,
    BadResponse,
    HttpClient,
    NotFound,
    RateLimitHeaders,
    RequestRefused,
    Secret,
    Verdict,
    parse_link_header,
    parse_reset,
    parse_retry_after,
)
from backup.errors import ConfigError, TransientError

from .fakes import RESET, FakeServer, Reply, http_date

CANARY = "CANARY-0b7e2c91d4a8f356-token"
NOW = 1_750_000_000.0
HEADERS = RateLimitHeaders("x-rate-limit-remaining", "x-rate-limit-reset")


class Script:
    """An app that answers with the given replies in order, then with the last one forever."""

    def __init__(self, *replies):
        self.replies = list(replies)

    def __call__(self, request):
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


@pytest.fixture
def serve(clock):
    servers = []

    def start(*replies, host="127.0.0.1"):
        server = FakeServer(Script(*replies) if not callable(replies[0]) else replies[0], clock, host=host)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
        assert not server.errors, server.errors[0]


def client(server, clock, **kwargs) -> HttpClient:
    kwargs.setdefault("rate_limit_headers", HEADERS)
    return HttpClient("test", server.url, monotonic=clock.monotonic, time=clock.time, sleep=clock.sleep, **kwargs)


# ---------------------------------------------------------------------------------------------
# Parsers


@pytest.mark.parametrize("value, expected", [
    ("7", 7.0), ("0", 0.0), (" 2.5 ", 2.5), ("-3", 0.0),
    (http_date(NOW + 20), 20.0), (http_date(NOW - 20), 0.0),
    ("", None), (None, None), ("soon", None),
])
def test_retry_after_is_seconds_or_an_http_date(value, expected):
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize("value, expected", [
    ("1750000042", 1750000042.0),  # X, GitHub, Bluesky: epoch seconds
    ("42", NOW + 42),  # the IETF draft: delta seconds
    ("2025-06-15T15:07:22.123456Z", dt.datetime(2025, 6, 15, 15, 7, 22, 123456, dt.UTC).timestamp()),  # Mastodon
    ("2025-06-15T17:07:22+02:00", dt.datetime(2025, 6, 15, 15, 7, 22, tzinfo=dt.UTC).timestamp()),
    (http_date(NOW + 60), NOW + 60),
    ("nan", None), ("", None), (None, None), ("next tuesday", None),
])
def test_reset_headers_in_every_platform_format(value, expected):
    assert parse_reset(value, NOW) == pytest.approx(expected) if expected else parse_reset(value, NOW) is None


def test_link_header_next_and_others():
    value = (
        '<https://social.example/api/v1/accounts/1/followers?limit=80&max_id=7486869>; rel="next", '
        '<https://social.example/api/v1/accounts/1/followers?limit=80&since_id=7489740>; rel="prev"'
    )
    links = parse_link_header(value)
    assert links["next"].endswith("max_id=7486869") and links["prev"].endswith("since_id=7489740")
    assert parse_link_header('<https://h/a?page=2>; rel=next, <https://h/a?page=9>; rel="last first"') == {
        "next": "https://h/a?page=2", "last": "https://h/a?page=9", "first": "https://h/a?page=9",
    }
    assert parse_link_header("") == {} and parse_link_header("garbage, <x>") == {}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(
        st.text(alphabet=st.characters(blacklist_characters="<>", blacklist_categories=("Cs", "Cc")), max_size=40),
        st.sampled_from(["next", "prev", "last", "first"]),
    ), max_size=4),
)
def test_link_header_round_trips(links):
    value = ", ".join(f'<https://h.example/p?c={url}>; rel="{rel}"' for url, rel in links)
    parsed = parse_link_header(value)
    expected: dict[str, str] = {}
    for url, rel in links:
        expected.setdefault(rel, f"https://h.example/p?c={url}".strip())
    assert parsed == expected


def test_relative_ref_keeps_path_and_query_only(clock):
    http = HttpClient("test", "https://ghe.example/api/v3", time=clock.time)
    assert http.relative_ref("https://elsewhere.example/api/v3/user/1/followers?page=2") == "/user/1/followers?page=2"
    assert http.url_for("/user/1/followers?page=2") == "https://ghe.example/api/v3/user/1/followers?page=2"
    assert HttpClient("t", "https://h.example").relative_ref("/a/b?c=d") == "/a/b?c=d"


# ---------------------------------------------------------------------------------------------
# The error table


@pytest.mark.parametrize("status, error", [
    (401, AuthFailed), (404, NotFound), (410, NotFound), (400, RequestRefused), (403, RequestRefused), (422, RequestRefused),
])
def test_statuses_map_to_the_tool_errors(serve, clock, status, error):
    server = serve(Reply(status, {"error": "no"}))
    with pytest.raises(error) as raised:
        client(server, clock).request("GET", "/x")
    assert isinstance(raised.value, ConfigError) and raised.value.exit_code == 4
    assert clock.sleeps == [] and len(server.requests) == 1  # not retried


def test_a_classify_hook_decides_before_the_table(serve, clock):
    server = serve(Reply(200, {"errors": [{"title": "Not Found Error"}]}))
    hook = lambda r: Verdict("not_found", "said so in a 200") if b"errors" in r.content else None
    with pytest.raises(NotFound, match="said so in a 200"):
        client(server, clock, classify=hook).request("GET", "/x")


def test_malformed_json_is_a_transient_error(serve, clock):
    server = serve(Reply(200, b"<html>upstream error</html>"))
    http = client(server, clock)
    with pytest.raises(BadResponse) as bad:
        http.get_json("/x")
    assert bad.value.exit_code == 5


# ---------------------------------------------------------------------------------------------
# Backoff, retries, rate limits


def test_backoff_doubles_with_full_jitter_and_is_capped(serve, clock):
    server = serve(Reply(503, {"error": "down"}))
    http = client(server, clock, random=lambda: 1.0, max_attempts=10, max_retry_wait=10_000)
    with pytest.raises(TransientError, match="failed 10 times"):
        http.request("GET", "/x")
    assert clock.sleeps == [1, 2, 4, 8, 16, 32, 64, MAX_BACKOFF, MAX_BACKOFF]
    assert len(server.requests) == 10


def test_total_retry_wait_is_capped(serve, clock):
    server = serve(Reply(503, {"error": "down"}))
    http = client(server, clock, random=lambda: 1.0, max_retry_wait=20)
    with pytest.raises(TransientError, match="of retries"):
        http.request("GET", "/x")
    assert sum(clock.sleeps) <= 20 and clock.sleeps == [1, 2, 4, 8]


def test_a_503_retry_after_is_honoured_within_the_backoff_cap(serve, clock):
    server = serve(Reply(503, {}, {"Retry-After": "3"}), Reply(503, {}, {"Retry-After": "99999"}), Reply(200, {}))
    client(server, clock).request("GET", "/x")
    assert clock.sleeps == [3, MAX_BACKOFF]


def test_a_429_never_sleeps_past_the_cap(serve, clock):
    server = serve(Reply(429, {}, {"Retry-After": str(6 * 3600)}), Reply(200, {}))
    client(server, clock).request("GET", "/x")
    assert clock.sleeps == [900]


def test_a_429_without_a_time_backs_off_from_a_minute(serve, clock):
    server = serve(Reply(429, {}), Reply(429, {}), Reply(200, {}))
    client(server, clock, rate_limit_headers=None).request("GET", "/x")
    assert clock.sleeps == [60, 120]


def test_a_429_reset_in_the_past_does_not_hang_or_spin(serve, clock):
    server = serve(Reply(429, {}, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(NOW - 100))}), Reply(200, {}))
    client(server, clock).request("GET", "/x")
    assert clock.sleeps == [60]


def test_pacing_waits_for_the_reset_when_nothing_is_left(serve, clock):
    server = serve(
        Reply(200, {}, {"x-rate-limit-remaining": "1", "x-rate-limit-reset": str(int(NOW + 42))}),
        Reply(200, {}, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(NOW + 42))}),
        Reply(200, {}, {"x-rate-limit-remaining": "14", "x-rate-limit-reset": str(int(NOW + 942))}),
    )
    http = client(server, clock)
    http.request("GET", "/a")
    http.request("GET", "/a")
    assert clock.sleeps == []
    http.request("GET", "/other", bucket="other")  # another endpoint's budget is not this one's
    assert clock.sleeps == []
    http.request("GET", "/a")
    assert clock.sleeps == [pytest.approx(42 + PACE_MARGIN)]
    assert server.requests[-1].at >= NOW + 42
    http.request("GET", "/a")  # the new window has requests left
    assert len(clock.sleeps) == 1


def test_pacing_with_a_reset_far_away_waits_at_most_the_cap(serve, clock, caplog):
    server = serve(Reply(200, {}, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(NOW + 86400))}))
    http = client(server, clock)
    http.request("GET", "/a")
    http.request("GET", "/a")
    assert clock.sleeps == [900]
    assert "clock skew" in caplog.text


def test_the_deadline_raises_instead_of_sleeping(serve, clock):
    server = serve(Reply(200, {}, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(NOW + 300))}))
    http = client(server, clock, deadline=clock.monotonic() + 100)
    http.request("GET", "/a")
    with pytest.raises(TransientError, match="time limit") as stopped:
        http.request("GET", "/a")
    assert stopped.value.exit_code == 5 and clock.sleeps == [] and len(server.requests) == 1


def test_a_post_is_not_retried_unless_idempotent(serve, clock):
    server = serve(Reply(503, {}), Reply(503, {}), Reply(200, {}))
    with pytest.raises(TransientError, match="not retried"):
        client(server, clock).request("POST", "/write", json={})
    client(server, clock).request("POST", "/write", json={}, idempotent=True)
    assert len(server.requests) == 3


def test_an_expired_session_is_refreshed_once(serve, clock):
    server = serve(Reply(400, {"error": "ExpiredToken"}), Reply(200, {"ok": 1}))
    calls = []
    hook = lambda r: Verdict(AUTH_EXPIRED) if r.status_code == 400 else None
    http = client(server, clock, classify=hook, token="old-token-1", on_auth_expired=lambda: (calls.append(1), http.set_token("new-token-2")))
    assert http.get_json("/x") == {"ok": 1}
    assert calls == [1]
    assert [r.auth for r in server.requests] == ["Bearer old-token-1", "Bearer new-token-2"]


def test_every_request_has_a_timeout(clock):
    seen = []

    class Session(requests.Session):
        def request(self, method, url, **kwargs):
            seen.append(kwargs)
            response = requests.Response()
            response.status_code, response._content, response.url = 200, b"{}", url
            return response

    http = HttpClient("test", "https://api.example", session=Session(), time=clock.time)
    http.request("GET", "/a")
    http.request("POST", "/b", json={})
    assert all(k["timeout"] and k["allow_redirects"] is False for k in seen)


def test_a_slow_server_times_out_and_is_retried(serve, clock):
    import time

    def slow(request):
        if len(server.requests) == 1:
            time.sleep(0.5)
        return Reply(200, {"ok": True})

    server = serve(slow)
    assert client(server, clock, timeout=0.1).get_json("/slow") == {"ok": True}
    assert len(server.requests) == 2 and len(clock.sleeps) == 1


def test_a_connection_reset_is_retried(serve, clock):
    server = serve(RESET, Reply(200, {"ok": True}))
    assert client(server, clock).get_json("/x") == {"ok": True}


# ---------------------------------------------------------------------------------------------
# Credentials


def test_a_cross_host_redirect_never_carries_the_credential(serve, clock):
    other = serve(Reply(200, {"landed": True}))  # another origin: other port
    server = serve(lambda r: Reply(302, b"", {"Location": f"{other.url}/elsewhere?x=1"}) if r.path == "/start" else Reply(404, {}))
    http = client(server, clock, token=CANARY)
    assert http.get_json("/start") == {"landed": True}
    assert server.requests[0].auth == f"Bearer {CANARY}"
    for request in other.requests:
        assert all(CANARY not in value for value in request.headers.values())
        assert CANARY not in request.path + str(request.query)
    assert other.requests[0].query == {"x": "1"}


def test_a_redirect_on_the_same_origin_keeps_the_credential(serve, clock):
    server = serve(lambda r: Reply(301, b"", {"Location": "/moved"}) if r.path == "/start" else Reply(200, {"ok": True}))
    assert client(server, clock, token=CANARY).get_json("/start") == {"ok": True}
    assert [r.auth for r in server.requests] == [f"Bearer {CANARY}"] * 2


def test_a_login_is_never_redirected_to_another_host(serve, clock):
    other = serve(Reply(200, {}))
    server = serve(Reply(307, b"", {"Location": f"{other.url}/login"}))
    with pytest.raises(RequestRefused, match="not sending the password"):
        client(server, clock).request("POST", "/login", json={"password": CANARY}, auth=False, secret_body=True)
    assert other.requests == []


def test_a_credential_is_refused_in_a_url(serve, clock):
    server = serve(Reply(200, {}))
    http = client(server, clock, token=CANARY)
    with pytest.raises(ConfigError, match="credential into a URL") as refused:
        http.request("GET", "/x", params={"access_token": CANARY})
    assert CANARY not in str(refused.value)
    assert server.requests == []


def test_no_secret_in_logs_errors_or_reprs(serve, clock, caplog):
    """A hostile server echoes the token in its error bodies; none of it reaches a log or an error."""
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    server = serve(
        Reply(503, {"error": f"backend got Bearer {CANARY}"}),
        RESET,
        Reply(429, {"message": f"slow down {CANARY}"}, {"Retry-After": "1"}),
        Reply(401, {"error": f"token {CANARY} revoked", "detail": CANARY}),
    )
    http = client(server, clock, token=Secret(CANARY))
    with pytest.raises(AuthFailed) as refused:
        http.request("GET", "/x")
    texts = [str(refused.value), repr(refused.value), refused.value.hint, repr(http), str(vars(http)), caplog.text]
    texts += [r.getMessage() for r in caplog.records]
    assert "revoked" in str(refused.value)  # the platform's words are kept, the token is not
    for text in texts:
        assert CANARY not in text
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


def test_secret_repr_is_masked():
    secret = Secret(CANARY)
    assert CANARY not in repr(secret) and CANARY not in str(secret) and secret.reveal() == CANARY


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_header_parsers_never_fail_on_junk(value):
    for result in (parse_retry_after(value, NOW), parse_reset(value, NOW)):
        assert result is None or isinstance(result, float)
    assert isinstance(parse_link_header(value), dict)
