"""GitHub specifics: Link cursors, optional token, full profiles on request, 403 rate limits."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backup.connectors.github import parse_user
from backup.connectors.http import PACE_MARGIN
from backup.db.models import ContactPoint
from backup.snapshot import run_api_snapshot

from .conftest import add_account, current_ids
from .fakes import Reply


@pytest.fixture
def gh(fake_factory):
    return fake_factory("github")


def test_lists_follow_the_link_header_and_keep_no_host(gh):
    page = gh.connector().fetch_page("follower", None)
    assert page.next_cursor == "/user/5000001/followers?per_page=100&page=2"
    assert gh.server.requests[-1].query == {"per_page": "100"}
    assert gh.server.requests[-1].headers["x-github-api-version"] == "2022-11-28"
    assert [p.platform_id for p in page.profiles] == ["10000001", "10000002", "10000003"]


def test_lists_alone_make_no_per_user_requests(sqlite_engine, gh):
    account = add_account(sqlite_engine, gh)
    run_api_snapshot(sqlite_engine, account, "follower", gh.connector(secret=None).fetch_page)
    assert gh.profile_requests == []
    assert all(r.auth is None for r in gh.server.requests)


def test_full_profiles_bring_names_websites_and_public_emails(sqlite_engine, gh):
    gh.lists["follower"] = list(range(1, 13))  # m11 vanishes between the list and its lookup
    account = add_account(sqlite_engine, gh)
    connector = gh.connector(full_profiles=True)
    outcome = run_api_snapshot(sqlite_engine, account, "follower", connector.fetch_page)
    assert outcome.count == 12 and len(gh.profile_requests) == 12
    assert current_ids(sqlite_engine, account, "follower") == gh.expected_ids("follower")
    with sqlite_engine.connect() as conn:
        emails = conn.execute(select(ContactPoint.platform_id, ContactPoint.value, ContactPoint.consent)).all()
    assert sorted(emails) == sorted((str(10000000 + n), f"m{n}@mail.example", "unknown") for n in range(2, 13, 2))


def test_parse_full_user():
    record = parse_user({"login": "ada-ex", "id": 10000001, "html_url": "https://github.com/ada-ex", "type": "User", "name": "Ada",
                         "blog": "ada.example", "email": "ada@mail.example", "twitter_username": "ada_x", "bio": "maps",
                         "followers": 5, "following": 2, "site_admin": False, "avatar_url": "https://a.example/u"})
    assert (record.platform_id, record.handle, record.display_name, record.website) == ("10000001", "ada-ex", "Ada", "ada.example")
    assert record.contacts == [("email", "ada@mail.example", "unknown")]
    assert record.data == {"twitter_username": "ada_x"}


def test_a_403_with_nothing_left_is_a_rate_limit_not_an_error(gh, clock):
    start = clock.time()
    gh.fail("follower", 1, gh.too_many_reply(start + 300))
    connector = gh.connector()
    page = connector.fetch_page("follower", None)
    connector.fetch_page("follower", page.next_cursor)
    assert clock.sleeps == [pytest.approx(300 + PACE_MARGIN)]


def test_a_secondary_rate_limit_waits_for_retry_after(gh, clock):
    gh.fail("follower", 0, Reply(403, {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."},
                                 {"Retry-After": "60"}))
    gh.connector().fetch_page("follower", None)
    assert clock.sleeps == [pytest.approx(60 + PACE_MARGIN)]


def test_a_plain_403_is_refused_not_retried(gh, clock):
    from backup.connectors.http import RequestRefused

    gh.fail("follower", 0, Reply(403, {"message": "Resource not accessible by personal access token"}))
    with pytest.raises(RequestRefused, match="not accessible"):
        gh.connector().fetch_page("follower", None)
    assert clock.sleeps == []


def test_without_a_token_a_suspended_account_looks_missing(gh):
    gh.own_state = "suspended"
    own = gh.connector(secret=None).own_account()
    assert own.status == "unknown" and "not found" in own.detail
