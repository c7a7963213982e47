"""Bluesky specifics: public AppView, one session per run (refreshed, never a login per page),
error names for the account's standing, DIDs as keys."""

from __future__ import annotations

import pytest

from backup.connectors.bluesky import (
    DEFAULT_PDS,
    PUBLIC_APPVIEW,
    Bluesky,
    parse_profile,
)
from backup.snapshot import run_api_snapshot

from .conftest import add_account, current_ids


@pytest.fixture
def sky(fake_factory):
    return fake_factory("bluesky")


def test_public_appview_needs_no_login_and_sends_no_credential(sky):
    connector = sky.connector()
    assert connector.own_account().status == "active"
    connector.fetch_page("follower", None)
    assert sky.logins == 0 and all(r.auth is None for r in sky.server.requests)
    assert Bluesky(handle="ana.bsky.social").http.base_url == PUBLIC_APPVIEW
    assert Bluesky(handle="ana.bsky.social", secret="abcd-efgh-ijkl-mnop").http.base_url == DEFAULT_PDS


def test_one_session_per_run_for_every_kind_and_page(sqlite_engine, sky):
    sky.lists["follower"] = list(range(1, 20))  # 7 pages
    connector = sky.connector(secret=sky.app_password)
    account = add_account(sqlite_engine, sky)
    assert connector.own_account().status == "active"
    for kind in ("follower", "following"):
        run_api_snapshot(sqlite_engine, account, kind, connector.fetch_page)
    assert sky.logins == 1 and connector.logins == 1
    lists = [r for r in sky.server.requests if "graph" in r.path]
    assert len(lists) == 7 + 2 and all(r.auth == "Bearer jwt-access-1" for r in lists)
    assert current_ids(sqlite_engine, account, "follower") == sky.expected_ids("follower")


def test_an_expired_token_is_refreshed_not_a_new_login(sqlite_engine, sky):
    connector = sky.connector(secret=sky.app_password)
    account = add_account(sqlite_engine, sky)
    page = connector.fetch_page("follower", None)
    sky.expire_access = True
    page = connector.fetch_page("follower", page.next_cursor)
    assert (sky.logins, sky.refreshes) == (1, 1)
    assert page.profiles and sky.server.requests[-1].auth == "Bearer jwt-access-2"
    assert run_api_snapshot(sqlite_engine, account, "follower", connector.fetch_page).count == 10
    assert sky.logins == 1


def test_when_the_refresh_token_is_gone_too_it_logs_in_once_more(sky):
    connector = sky.connector(secret=sky.app_password)
    connector.fetch_page("follower", None)
    sky.expire_access = True
    sky.refresh = "something-else"  # the refresh token no longer works either
    assert connector.fetch_page("follower", None).profiles
    assert sky.logins == 2


@pytest.mark.parametrize("login, state, status", [
    (False, "suspended", "suspended"), (False, "deactivated", "deactivated"), (False, "missing", "unknown"),  # getProfile
    (True, "suspended", "suspended"), (True, "deactivated", "deactivated"),  # createSession
])
def test_own_account_standing(sky, login, state, status):
    sky.own_state = state
    own = sky.connector(secret=sky.app_password if login else None).own_account()
    assert own.status == status, own
    if state == "suspended":
        assert "AccountTakedown" in own.detail


def test_parse_profile_keys_on_the_did():
    record = parse_profile({"did": "did:web:carol.example", "handle": "handle.invalid", "labels": [{"val": "!no-unauthenticated"}],
                            "avatar": "https://cdn.example/a.jpg"})
    assert record.platform_id == "did:web:carol.example" and record.handle is None
    assert record.url == "https://bsky.app/profile/did:web:carol.example"
    assert record.data == {"handle_invalid": True, "labels": ["!no-unauthenticated"]}
    record = parse_profile({"did": "did:plc:zzzz", "handle": "bo.bsky.social", "displayName": "Bo", "description": "maps, tea"})
    assert (record.handle, record.display_name, record.bio, record.url) == ("bo.bsky.social", "Bo", "maps, tea", "https://bsky.app/profile/bo.bsky.social")
