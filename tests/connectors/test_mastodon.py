"""Mastodon specifics: Account entity parsing, Link cursors, hidden lists, own-account health."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backup.connectors.mastodon import Mastodon, parse_account, parse_html
from backup.errors import ConfigError
from backup.snapshot import run_api_snapshot

from .conftest import add_account, current_ids
from .fakes import Reply


@pytest.fixture
def masto(fake_factory):
    return fake_factory("mastodon")


def test_parse_account_keeps_the_profile_as_text():
    record = parse_account({
        "id": "109876543210", "username": "ada", "acct": "ada@social.example", "display_name": "Ada Example",
        "note": "<p>tea &amp; maps</p><p>line<br>two</p>", "url": "https://social.example/@ada", "bot": True,
        "uri": "https://social.example/users/ada",
        "fields": [
            {"name": "Site", "value": '<a href="https://ada.example" rel="me nofollow noopener noreferrer" target="_blank">'
                                      '<span class="invisible">https://</span><span class="">ada.example</span></a>',
             "verified_at": "2024-02-01T09:00:00.000+00:00"},
            {"name": "Pronouns", "value": "she/her", "verified_at": None},
        ],
        "followers_count": -1, "following_count": 120, "statuses_count": 4200, "avatar": "https://x/a.png",
        "moved": {"acct": "ada@new.example"},
    }, "my.instance")
    assert record.platform_id == "https://social.example/users/ada"
    assert record.handle == "ada@social.example"
    assert record.bio == "tea & maps\n\nline\ntwo"
    assert record.website == "https://ada.example"
    assert record.followers_count is None and record.following_count == 120
    assert record.data["fields"][0] == {"name": "Site", "value": "https://ada.example", "verified_at": "2024-02-01T09:00:00.000+00:00"}
    assert record.data["verified_links"] == ["https://ada.example"]
    assert record.data["bot"] is True and record.data["moved"] == "ada@new.example" and record.data["followers_count_hidden"]
    assert "avatar" not in str(record.data)


def test_a_local_acct_gets_the_domain_and_is_the_key_without_a_uri():
    record = parse_account({"id": "55", "username": "bo", "acct": "bo", "display_name": "", "note": "", "url": "https://my.instance/@bo",
                            "followers_count": 0, "following_count": 0, "suspended": True, "fields": []}, "my.instance")
    assert record.platform_id == record.handle == "bo@my.instance"
    assert record.display_name is None and record.bio is None and record.data["suspended"] is True


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_parse_html_never_fails_and_keeps_plain_text(text):
    out = parse_html(text)
    assert isinstance(out, str)
    if "<" not in text and "&" not in text:
        assert out == text.strip()


def test_the_cursor_is_the_next_links_path_and_query(masto):
    connector = masto.connector()
    page = connector.fetch_page("follower", None)
    assert page.next_cursor == f"/api/v1/accounts/{masto.own_id}/followers?limit=80&max_id=8999993"
    assert masto.secret not in page.next_cursor and "social.example" not in page.next_cursor
    assert masto.server.requests[-1].query == {"limit": "80"}
    connector.fetch_page("follower", page.next_cursor)
    assert masto.server.requests[-1].query == {"limit": "80", "max_id": "8999993"}  # to our server, not the Link's host


def test_a_hidden_follower_list_is_an_empty_page(sqlite_engine, masto):
    masto.hidden = True
    connector = masto.connector()
    assert connector.fetch_page("follower", None).profiles == []
    account = add_account(sqlite_engine, masto)
    outcome = run_api_snapshot(sqlite_engine, account, "follower", connector.fetch_page)
    assert outcome.status == "complete" and outcome.count == 0
    assert connector.own_account().followers_count == 10  # how a caller tells "hidden" from "nobody"


def test_the_local_id_is_looked_up_once_per_run(sqlite_engine, masto):
    connector = masto.connector()
    account = add_account(sqlite_engine, masto)
    connector.own_account()
    for kind in ("follower", "following"):
        run_api_snapshot(sqlite_engine, account, kind, connector.fetch_page)
    assert masto.lookups == 1
    assert current_ids(sqlite_engine, account, "following") == masto.expected_ids("following")


def test_without_a_token_the_lookup_is_public(masto):
    own = masto.connector(secret=None).own_account()
    assert own.status == "active" and own.handle == "ana@social.example" and own.platform_id == "https://social.example/users/ana"
    assert masto.server.requests[0].path == "/api/v1/accounts/lookup"
    assert masto.server.requests[0].query == {"acct": "ana@social.example"}
    assert all(r.auth is None for r in masto.server.requests)


def test_suspended_in_the_lookup(masto):
    masto.own_state = "suspended"
    assert masto.connector(secret=None).own_account().status == "suspended"


@pytest.mark.parametrize("change, status, detail", [
    ({"moved": {"acct": "ana@new.example", "username": "ana"}}, "deactivated", "moved to @ana@new.example"),
    ({"limited": True}, "active", "limited"),
])
def test_moved_and_limited(masto, change, status, detail):
    masto.own_faults.append(Reply(200, {**masto.own(), **change}))
    own = masto.connector().own_account()
    assert (own.status, own.detail) == (status, detail)


@pytest.mark.parametrize("reply, status", [
    (Reply(410, {"error": "Gone"}), "suspended"),  # Mastodon 2.4-3.2
    (Reply(403, {"error": "Your login is missing a confirmed e-mail address"}), "auth_failed"),
    (Reply(422, {"error": "This method requires an authenticated user"}), "auth_failed"),
    (Reply(404, {"error": "Record not found"}), "unknown"),
])
def test_own_account_health_from_errors(masto, reply, status):
    masto.own_faults.append(reply)
    assert masto.connector().own_account().status == status


def test_the_server_comes_from_the_handle():
    connector = Mastodon(handle="@ana@Social.Example", secret=None)
    assert connector.http.base_url == "https://social.example" and connector.domain == "social.example"
    with pytest.raises(ConfigError, match="which server"):
        Mastodon(handle="ana")
    assert Mastodon(handle="ana", server="https://social.example").domain == "social.example"


def test_a_token_of_another_account_is_refused(masto):
    masto.own_faults.append(Reply(200, {**masto.own(), "username": "bob", "acct": "bob"}))
    with pytest.raises(ConfigError, match="belongs to @bob"):
        masto.connector().own_account()
