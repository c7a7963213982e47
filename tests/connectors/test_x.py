"""X API v2 specifics: request shape, 200-with-errors, the monthly cap, 15-per-15-minutes pacing."""

from __future__ import annotations

import pytest

from backup.connectors.x import X, parse_user
from backup.errors import ConfigError, TransientError
from backup.snapshot import run_api_snapshot

from .conftest import add_account, current_ids
from .fakes import Reply


@pytest.fixture
def xfake(fake_factory):
    return fake_factory("x")


def test_the_request_asks_for_1000_users_with_their_profile_fields(xfake):
    connector = xfake.connector()
    page = connector.fetch_page("follower", None)
    request = xfake.server.requests[-1]
    assert request.path == f"/2/users/{xfake.own_id}/followers"
    assert request.query["max_results"] == "1000"
    assert {"description", "url", "entities", "public_metrics"} <= set(request.query["user.fields"].split(","))
    assert request.auth == f"Bearer {xfake.secret}"
    connector.fetch_page("follower", page.next_cursor)
    assert xfake.server.requests[-1].query["pagination_token"] == page.next_cursor


def test_ids_above_2_53_stay_exact(sqlite_engine, xfake):
    account = add_account(sqlite_engine, xfake)
    run_api_snapshot(sqlite_engine, account, "follower", xfake.connector(platform_id=xfake.own_id).fetch_page)
    ids = current_ids(sqlite_engine, account, "follower")
    assert ids == xfake.expected_ids("follower") and all(int(i) > 2**53 for i in ids)
    assert not any(r.path.startswith("/2/users/by") for r in xfake.server.requests)  # the stored id spares the lookup


@pytest.mark.parametrize("state, status", [("suspended", "suspended"), ("missing", "unknown")])
def test_errors_inside_a_200_are_classified_by_title_and_detail(xfake, state, status):
    xfake.own_state = state
    xfake.own_in_errors = True  # an app-only token sees the suspension only in the lookup's errors[]
    own = xfake.connector().own_account()
    assert own.status == status
    assert ("suspended" if state == "suspended" else "Could not find") in own.detail


def test_the_monthly_cap_stops_at_once(xfake, clock):
    xfake.fail("follower", 0, Reply(429, {"title": "UsageCapExceeded", "detail": "Usage cap exceeded: Monthly product cap",
                                          "type": "https://api.twitter.com/2/problems/usage-capped", "period": "Monthly", "scope": "Product"}))
    with pytest.raises(TransientError, match="Usage cap"):
        xfake.connector(platform_id=xfake.own_id).fetch_page("follower", None)
    assert clock.sleeps == []


def test_fifteen_requests_per_fifteen_minutes_are_paced_from_the_headers(sqlite_engine, xfake, clock):
    """40 pages at 15 per 15-minute window: three windows, the minimum, and not one 429."""
    xfake.rate = (15, 900.0)
    xfake.page_size = 1
    xfake.lists["follower"] = list(range(1, 41))
    account = add_account(sqlite_engine, xfake)
    start = clock.time()
    outcome = run_api_snapshot(sqlite_engine, account, "follower", xfake.connector().fetch_page)
    assert outcome.count == 40 and xfake.too_many == 0
    first_window_end = (start // 900 + 1) * 900
    assert clock.time() - start <= (first_window_end - start) + 900 + 2  # two resets waited for, nothing more
    assert len(clock.sleeps) == 2


def test_a_bearer_token_is_required():
    with pytest.raises(ConfigError, match="bearer token"):
        X(handle="ana_pro", secret=None)


def test_parse_user_expands_the_website():
    record = parse_user({
        "id": "1480000000000000001", "name": "Ada Example", "username": "ada_ex", "created_at": "2019-03-02T10:11:12.000Z",
        "description": "writes about tea", "url": "https://t.co/abc", "protected": False,
        "entities": {"url": {"urls": [{"url": "https://t.co/abc", "expanded_url": "https://ada.example"}]},
                     "description": {"urls": [{"url": "https://t.co/d", "expanded_url": "https://blog.example"}]}},
        "public_metrics": {"followers_count": 120, "following_count": 80, "tweet_count": 900, "listed_count": 2},
    })
    assert (record.platform_id, record.handle, record.url) == ("1480000000000000001", "ada_ex", "https://x.com/ada_ex")
    assert record.website == "https://ada.example" and record.followers_count == 120
    assert record.data == {"created_at": "2019-03-02T10:11:12.000Z", "tweet_count": 900, "listed_count": 2, "bio_links": ["https://blog.example"]}
    assert parse_user({"id": "98765", "name": "Bo Sample", "username": "bosample"}).website is None
