"""Contact extraction (backup.people.extract): every form of SPEC §7, the false positives that
discovery tools ran into, hostile text, and the normal forms' invariants."""

from __future__ import annotations

import json
import sys
import time
import unicodedata
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backup.people.extract import (
    MAX_DOMAIN,
    MAX_EMAIL,
    MAX_FOUND,
    MAX_NAME,
    MAX_TEXT,
    MAX_URL,
    SHARED_HOSTS,
    Found,
    extract,
    handle_from_url,
    is_shared_host,
    normalize_email,
    normalize_handle,
    normalize_phone,
    normalize_url,
    own_handles,
)

CHANNEL = "UCaBcDeFgHiJkLmNoPqRsTuV"  # 24 characters: "UC" + 22
DID = "did:plc:abcdefghijklmnopqrstuvwx"


def found(platform: str = "x", field: str = "bio", text: str | None = None, *, region: str | None = None,
          data=None, handle: str | None = None, platform_id: str = "id-1") -> set[tuple[str, str]]:
    fields = {"display_name": None, "url": None, "bio": None, "website": None}
    if field in fields:
        fields[field] = text
    result = extract(platform, platform_id, handle, fields["display_name"], fields["url"], fields["bio"],
                     fields["website"], data, region=region)
    return {(f.kind, f.value) for f in result}


def H(value: str) -> tuple[str, str]:
    return ("handle", value)


def E(value: str) -> tuple[str, str]:
    return ("email", value)


def W(value: str) -> tuple[str, str]:
    return ("website", value)


def P(value: str) -> tuple[str, str]:
    return ("phone", value)


# (id, platform of the profile, field, text, exactly what is found). A false positive shows as
# an extra value, so every row checks both what is found and that nothing else is.
CASES = [
    # -- Mastodon (SPEC §7: @user@host and https://host/@user) ----------------------------------
    ("masto-at-at", "x", "bio", "Mastodon is @ana@mastodon.social now", {H("mastodon:ana@mastodon.social")}),
    ("masto-url", "x", "bio", "Find me: https://hachyderm.io/@Ana", {H("mastodon:ana@hachyderm.io")}),
    ("masto-url-no-scheme", "x", "bio", "hachyderm.io/@ana", {H("mastodon:ana@hachyderm.io")}),
    ("masto-users-path", "x", "website", "https://social.example/users/ana", {H("mastodon:ana@social.example")}),
    ("masto-web-path", "x", "bio", "https://mastodon.social/web/@ana", {H("mastodon:ana@mastodon.social")}),
    ("masto-remote-view", "x", "bio", "https://mastodon.social/@ana@hachyderm.io", {H("mastodon:ana@hachyderm.io")}),
    ("masto-known-server-no-at", "x", "bio", "ana@fosstodon.org", {H("mastodon:ana@fosstodon.org")}),
    ("masto-server-looking-no-at", "x", "bio", "ana@mastodon.example.org", {H("mastodon:ana@mastodon.example.org")}),
    ("masto-dot-social-no-at", "x", "bio", "ana@town.social", {H("mastodon:ana@town.social")}),
    ("masto-elephant-label", "x", "bio", "🐘 ana@ana.dev", {H("mastodon:ana@ana.dev")}),
    ("masto-word-label-glued", "x", "bio", "Mastodon:ana@ana.dev", {H("mastodon:ana@ana.dev")}),
    ("masto-in-display-name", "x", "display_name", "Ana (@ana@mastodon.social)", {H("mastodon:ana@mastodon.social")}),
    ("masto-bridgy-fqdn-user", "x", "bio", "@ana.dev@ana.dev", {H("mastodon:ana.dev@ana.dev")}),
    ("masto-fullwidth", "x", "display_name", "＠ａｎａ＠ｍａｓｔｏｄｏｎ．ｓｏｃｉａｌ", {H("mastodon:ana@mastodon.social")}),
    ("masto-case-and-punctuation", "x", "bio", "toots at @Ana@Mastodon.Social.", {H("mastodon:ana@mastodon.social")}),
    ("masto-markdown-link", "x", "bio", "[me](https://mastodon.social/@ana)", {H("mastodon:ana@mastodon.social")}),
    # -- Bluesky ------------------------------------------------------------------------------------
    ("bsky-at", "x", "bio", "@ana.bsky.social", {H("bluesky:ana.bsky.social")}),
    ("bsky-bare", "x", "display_name", "Ana · ana.bsky.social", {H("bluesky:ana.bsky.social")}),
    ("bsky-profile-url", "x", "bio", "https://bsky.app/profile/Ana.Dev", {H("bluesky:ana.dev")}),
    ("bsky-profile-did", "x", "bio", f"bsky.app/profile/{DID}", {H(f"bluesky:{DID}")}),
    ("bsky-butterfly-custom-domain", "x", "bio", "🦋 @ana.dev", {H("bluesky:ana.dev")}),
    ("bsky-label-custom-domain", "x", "bio", "Bluesky: @ana.dev", {H("bluesky:ana.dev")}),
    ("bsky-custom-domain-in-bluesky-bio", "bluesky", "bio", "alt of @ana.dev", {H("bluesky:ana.dev")}),
    ("bsky-did-text", "x", "bio", DID, {H(f"bluesky:{DID}")}),
    # -- X ------------------------------------------------------------------------------------------
    ("x-mention-on-x", "x", "bio", "alt: @Ana_Pro", {H("x:ana_pro")}),
    ("x-label-colon", "mastodon", "bio", "X: @ana_pro", {H("x:ana_pro")}),
    ("x-label-twitter", "mastodon", "bio", "twitter: @ana_pro", {H("x:ana_pro")}),
    ("x-label-bird", "mastodon", "bio", "🐦 @ana_pro", {H("x:ana_pro")}),
    ("x-label-x-logo", "mastodon", "bio", "𝕏 @ana_pro", {H("x:ana_pro")}),
    ("x-label-dash", "mastodon", "bio", "Twitter - @ana_pro", {H("x:ana_pro")}),
    ("x-label-both-names", "mastodon", "bio", "X (Twitter): @ana_pro", {H("x:ana_pro")}),
    ("x-url", "mastodon", "bio", "x.com/ana_pro", {H("x:ana_pro")}),
    ("x-url-twitter-share", "mastodon", "bio", "https://twitter.com/Ana_Pro?s=20", {H("x:ana_pro")}),
    ("x-intent-url", "mastodon", "bio", "https://twitter.com/intent/user?screen_name=ana_pro", {H("x:ana_pro")}),
    ("x-two-platform-label", "x", "bio", "ig/tiktok: @ana", {H("instagram:ana"), H("tiktok:ana")}),
    # -- LinkedIn, GitHub, Instagram, Threads, YouTube, TikTok, Substack --------------------------------
    ("linkedin-url", "x", "bio", "linkedin.com/in/ana-lovelace", {H("linkedin:ana-lovelace")}),
    ("linkedin-country-host", "x", "website", "https://uk.linkedin.com/in/Ana-Lovelace/?trk=x", {H("linkedin:ana-lovelace")}),
    ("github-url", "x", "bio", "code: github.com/ana", {H("github:ana")}),
    ("instagram-url", "x", "bio", "instagram.com/ana.l/", {H("instagram:ana.l")}),
    ("instagram-label-dotted", "x", "bio", "IG: @ana.l", {H("instagram:ana.l")}),
    ("threads-url", "x", "bio", "threads.net/@ana", {H("threads:ana")}),
    ("tiktok-url", "x", "bio", "https://www.tiktok.com/@ana", {H("tiktok:ana")}),
    ("youtube-handle-url", "x", "bio", "youtube.com/@Ana", {H("youtube:@ana")}),
    ("youtube-channel-url", "x", "bio", f"https://www.youtube.com/channel/{CHANNEL}", {H(f"youtube:channel/{CHANNEL}")}),
    ("substack-subdomain", "x", "bio", "Writes at ana.substack.com", {H("substack:ana")}),
    ("substack-profile", "x", "bio", "https://substack.com/@ana", {H("substack:@ana")}),
    # -- emails -------------------------------------------------------------------------------------
    ("email-plain", "x", "bio", "hello@ana.dev", {E("hello@ana.dev")}),
    ("email-case", "x", "bio", "ANA@Example.ORG", {E("ana@example.org")}),
    ("email-mailto", "x", "bio", "mailto:ana@example.org?subject=hi", {E("ana@example.org")}),
    ("email-idn", "x", "bio", "ana@Bücher.example", {E("ana@bücher.example")}),
    ("email-punycode-to-unicode", "x", "bio", "ana@xn--bcher-kva.example", {E("ana@bücher.example")}),
    ("email-label", "x", "bio", "mail: @ana@ana.dev", {E("ana@ana.dev")}),
    ("email-envelope-label", "x", "bio", "📧 ana@town.social", {E("ana@town.social")}),
    ("email-glued-to-word", "x", "bio", "contact:ana@example.org", {E("ana@example.org")}),
    # -- websites -------------------------------------------------------------------------------------
    ("web-trackers", "x", "bio", "https://ana.dev/?utm_source=x&utm_medium=y&fbclid=1&gclid=2&ref=tw&page=2#top",
     {W("https://ana.dev?page=2")}),
    ("web-www-no-scheme", "x", "bio", "www.Ana.dev/blog/", {W("https://www.ana.dev/blog/")}),
    ("web-path-common-tld", "x", "bio", "notes at ana.dev/notes", {W("https://ana.dev/notes")}),
    ("web-field-bare", "x", "website", "ana.dev", {W("https://ana.dev")}),
    ("web-default-port-root", "x", "website", "HTTPS://ANA.DEV:443/", {W("https://ana.dev")}),
    ("web-other-port", "x", "website", "http://ana.dev:8080/x", {W("http://ana.dev:8080/x")}),
    ("web-credentials-dropped", "x", "website", "https://user:secret@ana.dev/x", {W("https://ana.dev/x")}),
    ("web-idn-host", "x", "website", "https://пример.рф/", {W("https://xn--e1afmkfd.xn--p1ai")}),
    ("web-linktree-kept", "x", "bio", "linktr.ee/ana", {W("https://linktr.ee/ana")}),
    ("web-x-post-is-no-handle", "x", "bio", "x.com/ana_pro/status/123", {W("https://x.com/ana_pro/status/123")}),
    ("web-repository-is-no-handle", "x", "bio", "https://github.com/psf/requests", {W("https://github.com/psf/requests")}),
    ("web-linkedin-company", "x", "bio", "https://www.linkedin.com/company/acme", {W("https://www.linkedin.com/company/acme")}),
    ("web-medium-at-is-no-mastodon", "x", "bio", "medium.com/@ana", {W("https://medium.com/@ana")}),
    ("web-pronouns-page-is-no-mastodon", "x", "bio", "pronouns.page/@ana", {W("https://pronouns.page/@ana")}),
    ("web-substack-post-is-no-handle", "x", "bio", "other.substack.com/p/a-post", {W("https://other.substack.com/p/a-post")}),
    ("web-url-label-glued", "x", "bio", "url:https://ana.dev", {W("https://ana.dev")}),
    # -- phones ---------------------------------------------------------------------------------------
    ("phone-intl", "x", "bio", "call +44 20 7946 0958 anytime", {P("+442079460958")}),
    ("phone-tel-uri", "x", "bio", "tel:+442079460958", {P("+442079460958")}),
    ("phone-national-with-region", "x", "bio", "call 020 7946 0958", {P("+442079460958")}),  # region GB below
    # -- false positives (Fedifinder, Debirdify, issue 5) ------------------------------------------------
    ("fp-gmail-is-email", "x", "bio", "@user@gmail.com", {E("user@gmail.com")}),
    ("fp-mail-provider-brand", "x", "bio", "@ana@yahoo.co.uk", {E("ana@yahoo.co.uk")}),
    ("fp-instance-alone", "x", "bio", "I am on mastodon.social", set()),
    ("fp-triple-at", "x", "bio", "@a@b@c", set()),
    ("fp-triple-at-dotted", "x", "bio", "@ana@host.example@evil.example", set()),
    ("fp-at-in-local-part", "x", "bio", "a@b@c.org", set()),
    ("fp-double-at-start", "x", "bio", "@@ana@x.org", set()),
    ("fp-x-mention-in-mastodon-bio", "mastodon", "bio", "follow @ana_pro", set()),
    ("fp-x-without-colon", "mastodon", "bio", "also on X @ana_pro", set()),
    ("fp-other-label-is-no-x-mention", "x", "bio", "Mastodon: @ana", set()),
    ("fp-web-word-is-no-mail-brand", "x", "bio", "@ana@web.example.org", {H("mastodon:ana@web.example.org")}),
    ("fp-github-org-mention", "github", "bio", "Engineer at @acme", set()),
    ("fp-dotted-at-outside-bluesky", "x", "bio", "@ana.dev", set()),
    ("fp-bluesky-reserved-tld", "bluesky", "bio", "@ana.local", set()),
    ("fp-x-name-too-long", "x", "bio", "@this_name_is_far_too_long", set()),
    ("fp-twitter-as-fediverse", "x", "bio", "@ana@twitter.com", set()),
    ("fp-localhost-email", "x", "bio", "ana@localhost", set()),
    ("fp-homograph-email", "x", "bio", "ana@gmаil.com", set()),  # Cyrillic а
    ("fp-homograph-mixed-script-url", "x", "bio", "https://twіtter.com/ana", set()),  # Cyrillic і
    ("fp-homograph-punycode-url", "x", "bio", "https://xn--twtter-3ve.com/ana", set()),
    ("fp-homograph-whole-script", "x", "website", "https://аррӏе.com", set()),  # all Cyrillic
    ("fp-credentials-on-platform", "x", "bio", "https://user:pw@twitter.com/ana", set()),
    ("fp-credentials-disguise", "x", "bio", "https://x.com@evil.example/ana", {W("https://evil.example/ana")}),
    ("fp-node-js-path", "x", "bio", "node.js/react and M.Sc./PhD", set()),
    ("fp-truncated-display-url", "x", "bio", "see ana.dev/blo…", set()),
    ("fp-ip-address", "x", "bio", "http://192.168.0.1/admin", set()),
    ("fp-other-scheme", "x", "website", "ftp://ana.dev", set()),
    ("fp-javascript", "x", "website", "javascript:alert(1)", set()),
    ("fp-national-phone-without-region", "x", "bio", "call 020 7946 0958", set()),
    ("fp-short-number", "x", "bio", "+1 555 and +44", set()),
    ("fp-years", "x", "bio", "1990-2024, 2024-03-05", set()),
    ("fp-pronouns", "x", "bio", "she/her · he/him", set()),
    # -- hostile characters ---------------------------------------------------------------------------
    ("rlo-stripped", "x", "bio", "\u202e@ana@mastodon.social\u202c", {H("mastodon:ana@mastodon.social")}),
    ("zero-width-inside", "x", "bio", "@a\u200bna@mastodon.social", {H("mastodon:ana@mastodon.social")}),
    ("nul-splits", "x", "bio", "ana\x00@example.org", set()),
    ("bom-and-isolates", "x", "bio", "\ufeff\u2066hello@ana.dev\u2069", {E("hello@ana.dev")}),
]


@pytest.mark.parametrize(("platform", "field", "text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_table(platform, field, text, expected):
    region = "GB" if text == "call 020 7946 0958" and expected else None
    assert found(platform, field, text, region=region) == expected


def test_table_is_large_and_ids_unique():
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)


# -- the normal forms ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("HTTPS://user:pw@Bücher.example:443/café/?utm_source=x&id=7&fbclid=1#top", "https://xn--bcher-kva.example/caf%C3%A9/?id=7"),
    ("ana.dev", "https://ana.dev"),
    ("//ana.dev/", "https://ana.dev"),
    ("http://ana.dev/", "http://ana.dev"),
    ("https://ana.dev/a/", "https://ana.dev/a/"),
    ("https://ana.dev.:8443", "https://ana.dev:8443"),
    ("https://ana.dev/?ref_src=twsrc&mc_eid=1&q=a%20b", "https://ana.dev?q=a%20b"),
    ("https://ana.dev/?utm_source=x", "https://ana.dev"),
    ("https://ana.dev/p?a=1&&b=2", "https://ana.dev/p?a=1&b=2"),
    ("https://ana.dev:99999/", None),
    ("https://ana.dev:ab/", None),
    ("https://ana/", None),
    ("https://[::1]/", None),
    ("https://10.0.0.1/", None),
    ("https://a_b.dev/", None),
    ("https://ana.dev/ x", None),
    ("mailto:ana@ana.dev", None),
    ("https://" + "a" * 64 + ".dev", None),
    ("https://ana.dev/" + "a" * MAX_URL, None),
    ("", None),
    (None, None),
])
def test_normalize_url(text, expected):
    assert normalize_url(text) == expected
    if expected:
        assert normalize_url(expected) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Ana.Lovelace@Example.ORG", "ana.lovelace@example.org"),
    (" mailto:ana@example.org?subject=x ", "ana@example.org"),
    ("ana+tag@gmail.com", "ana+tag@gmail.com"),
    ("ÄNA@Bücher.example", "äna@bücher.example"),
    ("ana@münchen.test", None),  # special-use name
    ("ana@localhost", None),
    ("ana..b@example.org", None),
    ("ana@[192.0.2.1]", None),
    ('"a b"@example.org', None),
    ("a@b@example.org", None),
    ("ana@gmаil.com", None),
    ("a" * 300 + "@example.org", None),
    (42, None),
])
def test_normalize_email(text, expected):
    assert normalize_email(text) == expected
    if expected:
        assert normalize_email(expected) == expected


@pytest.mark.parametrize(("text", "region", "expected"), [
    ("+44 (0)20 7946 0958", None, "+442079460958"),
    ("+1 (415) 555-2671", None, "+14155552671"),
    ("tel:+33 6 12 34 56 78", None, "+33612345678"),
    ("020 7946 0958", None, None),
    ("020 7946 0958", "gb", "+442079460958"),
    ("020 7946 0958", "ZZ", None),  # not a region: as if none was given
    ("+44 20 7946", None, None),
    ("+1 555 0100", None, None),
    ("call me", "GB", None),
    ("+" + "1" * 80, None, None),
])
def test_normalize_phone(text, region, expected):
    assert normalize_phone(text, region) == expected
    if expected:
        assert normalize_phone(expected) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("https://mastodon.social/@Ana", "mastodon:ana@mastodon.social"),
    ("https://social.example/users/ana", "mastodon:ana@social.example"),
    ("https://social.example/users/12345", None),
    ("https://stackoverflow.com/users/ana", None),
    ("https://medium.com/@ana", None),
    ("https://x.com/Ana", "x:ana"),
    ("https://mobile.twitter.com/ana", "x:ana"),
    ("https://x.com/home", None),
    ("https://x.com/ana/status/1", None),
    ("https://github.com/ana", "github:ana"),
    ("https://github.com/sponsors", None),
    ("https://github.com/-ana", None),
    ("https://www.instagram.com/_u/ana", "instagram:ana"),
    ("https://www.instagram.com/p/Cxyz/", None),
    ("https://www.threads.com/@ana", "threads:ana"),
    ("https://m.youtube.com/c/AnaLovelace", "youtube:c/analovelace"),
    ("https://www.youtube.com/user/ana", "youtube:user/ana"),
    ("https://www.youtube.com/watch?v=abc", None),
    ("https://www.linkedin.com/in/bo-o%E2%80%99sample/", "linkedin:bo-o’sample"),
    ("https://www.linkedin.com/in/ab", None),
    ("https://bsky.app/profile/ana.bsky.social/post/3k", None),
    ("https://ana.bsky.social", "bluesky:ana.bsky.social"),
    ("https://open.substack.com/pub/ana", "substack:ana"),
    ("https://ana.substack.com/about", "substack:ana"),
    ("https://www.substack.com", None),
    ("https://user@mastodon.social/@ana", None),
    ("https://twіtter.com/ana", None),
    ("not a url", None),
    (None, None),
])
def test_handle_from_url(url, expected):
    assert handle_from_url(url) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("mastodon:@Ana@Mastodon.Social", "mastodon:ana@mastodon.social"),
    ("mastodon:ana@bücher.example", "mastodon:ana@xn--bcher-kva.example"),
    ("mastodon:ana", None),
    ("mastodon:ana@gmail.com", None),
    ("x:@Ana_Pro", "x:ana_pro"),
    ("x:ana.pro", None),
    ("bluesky:@Ana.BSKY.social", "bluesky:ana.bsky.social"),
    (f"bluesky:{DID}", f"bluesky:{DID}"),
    ("bluesky:did:plc:short", None),
    ("bluesky:did:web:ana.dev", "bluesky:did:web:ana.dev"),
    ("bluesky:ana.test", None),
    (f"youtube:channel/{CHANNEL}", f"youtube:channel/{CHANNEL}"),
    ("youtube:@Ana", "youtube:@ana"),
    ("github:ana--b", None),
    ("linkedin:Ana-Lovelace", "linkedin:ana-lovelace"),
    ("linkedin:ana lovelace", None),
    ("substack:www", None),
    ("myspace:ana", None),
    ("no-colon", None),
])
def test_normalize_handle(value, expected):
    assert normalize_handle(value) == expected
    if expected:
        assert normalize_handle(expected) == expected


def test_own_handles():
    assert own_handles("mastodon", "https://social.example/users/ada", "ada@example.org", "https://social.example/@ada") == {
        "mastodon:ada@example.org", "mastodon:ada@social.example"}
    assert own_handles("bluesky", DID, "ana.bsky.social", f"https://bsky.app/profile/{DID}") == {
        f"bluesky:{DID}", "bluesky:ana.bsky.social"}
    # X and GitHub ids are numbers, which would read as other people's names.
    assert own_handles("x", "12", "Ana_Pro", "https://x.com/ana_pro") == {"x:ana_pro"}
    assert own_handles("x", "12") == set()
    assert own_handles("linkedin", "https://www.linkedin.com/in/ana-lovelace", "ana-lovelace") == {"linkedin:ana-lovelace"}
    # A vCard's URL is someone's address, not the vCard's identity.
    assert own_handles("contacts", "vcard:1", None, "https://x.com/ana") == set()


def test_shared_hosts():
    assert {"linktr.ee", "github.com", "youtube.com", "medium.com", "substack.com", "bsky.app", "x.com",
            "twitter.com", "instagram.com", "facebook.com", "linkedin.com", "t.co", "bit.ly", "lnkd.in",
            "beacons.ai", "carrd.co", "about.me"} <= SHARED_HOSTS
    assert is_shared_host("https://linktr.ee/ana")
    assert is_shared_host("https://m.facebook.com/ana")
    assert is_shared_host("www.substack.com")
    assert is_shared_host("carrd.co")
    assert not is_shared_host("ana.carrd.co")
    assert not is_shared_host("https://ana.substack.com")
    assert not is_shared_host("https://ana.github.io/")
    assert not is_shared_host("https://ana.dev")
    assert not is_shared_host("not a host")


# -- the fields of a profile -----------------------------------------------------------------------


def test_mastodon_fields_verified_and_labelled():
    data = {"fields": [
        {"name": "Website", "value": "ana.dev", "verified_at": "2024-01-01T00:00:00Z"},
        {"name": "X (Twitter)", "value": "ana_pro"},
        {"name": "GitHub", "value": "https://github.com/ana", "verified_at": "2024-01-01T00:00:00Z"},
        {"name": "Bluesky", "value": "ana.dev"},
        {"name": "E-mail", "value": "Ana@Example.org", "verified_at": "2024-01-01T00:00:00Z"},
        {"name": "Pronouns", "value": "she/her"},
        {"name": "X", "value": "I am @ana_pro there"},
    ]}
    result = extract("mastodon", "https://m.example/users/ana", "ana@m.example", "Ana", None, None, None, data)
    assert result == [
        Found("website", "https://ana.dev", "field:Website", True),
        Found("handle", "x:ana_pro", "field:X (Twitter)", False),
        Found("handle", "github:ana", "field:GitHub", True),
        Found("handle", "bluesky:ana.dev", "field:Bluesky", False),
        Found("email", "ana@example.org", "field:E-mail", False),  # verified_at is about links
    ]


def test_verified_link_upgrades_an_earlier_find():
    data = {"verified_links": ["https://ana.dev/"]}
    result = extract("mastodon", "https://m.example/users/ana", None, None, None, "https://ana.dev", "https://ana.dev", data)
    # One value, where it was verified (the source that says so wins over the first one).
    assert result == [Found("website", "https://ana.dev", "data:verified_links", True)]


def test_github_extras():
    data = {"twitter_username": "Ana_Pro", "blog": "ana.dev", "email": "Ana@Example.org", "company": "@acme"}
    result = extract("github", "583231", "ana", "Ana", "https://github.com/ana", "Engineer at @acme", None, data)
    assert [(f.kind, f.value, f.source) for f in result] == [
        ("website", "https://ana.dev", "data:blog"),
        ("email", "ana@example.org", "data:email"),
        ("handle", "x:ana_pro", "data:twitter_username"),
    ]


def test_x_extras_and_json_text_data():
    data = json.dumps({"bio_links": ["https://ana.dev/?utm_source=twitter"], "location": "Berlin · 🦋 @ana.dev"})
    result = extract("x", "12", "ana_pro", None, "https://x.com/ana_pro", None, None, data)
    assert [(f.kind, f.value, f.source) for f in result] == [
        ("website", "https://ana.dev", "data:bio_links"),
        ("handle", "bluesky:ana.dev", "data:location"),
    ]


def test_moved_account_and_vcard_note():
    assert found("mastodon", data={"moved": "ana@hachyderm.io"}) == {H("mastodon:ana@hachyderm.io")}
    assert found("contacts", data={"note": "Mastodon: @ana@hachyderm.io, +44 20 7946 0958"}) == {
        H("mastodon:ana@hachyderm.io"), P("+442079460958")}


def test_the_profile_itself_is_not_a_contact():
    assert found("x", "bio", "me: @Ana_Pro and x.com/ana_pro", handle="ana_pro") == set()
    assert found("x", "url", "https://x.com/ana_pro") == set()
    assert found("mastodon", "bio", "@ana@m.example", platform_id="https://m.example/users/ana") == set()
    assert found("bluesky", "bio", "bsky.app/profile/ana.bsky.social", handle="ana.bsky.social") == set()
    # Another platform's profile URL in the url of an address-book entry is a contact.
    assert found("contacts", "url", "https://x.com/ana_pro") == {H("x:ana_pro")}
    # The profile's own address on a shared host is not its website.
    assert found("facebook", "url", "https://www.facebook.com/ana") == set()


def test_deduplicated_first_source_kept():
    result = extract("x", "1", None, "ana@example.org", None, "ANA@example.org ana@example.org", None, None)
    assert result == [Found("email", "ana@example.org", "display_name")]


def test_a_cut_text_ends_at_a_separator():
    bio = "x" * (MAX_TEXT - 10) + " ana@gmail.com"  # the cut falls inside the address
    assert found("x", "bio", bio) == set()


def test_values_capped_per_profile():
    bio = " ".join(f"user{i}@example.org" for i in range(MAX_FOUND + 50))
    assert len(extract("x", "1", None, None, None, bio, None, None)) == MAX_FOUND


def test_bad_input_types_do_not_raise():
    assert extract(None, None, None, None, None, None, None, None) == []
    assert extract("x", "1", 5, ["a"], {"u": 1}, b"@a@b.social", 3.5, ["not", "a", "dict"]) == []
    assert extract("mastodon", "1", None, None, None, None, None, {"fields": "nope", "verified_links": [1, None]}) == []
    assert extract("x", "1", None, None, None, None, None, "{not json") == []
    assert extract("x", "1", None, None, None, None, None, "[" * 100_000) == []


def test_every_format_character_is_removed():
    """Bidi controls and zero-width characters of this Python's Unicode are all stripped."""
    missed = []
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        if unicodedata.category(ch) == "Cf" and found("x", "bio", f"@a{ch}na@mastodon.social") != {H("mastodon:ana@mastodon.social")}:
            missed.append(f"U+{cp:04X}")
    assert missed == []


# -- properties ------------------------------------------------------------------------------------

KINDS = {"email", "phone", "website", "handle"}
NORMALIZE = {
    "email": normalize_email,
    "phone": normalize_phone,
    "website": normalize_url,
    "handle": normalize_handle,
}
LIMITS = {"email": MAX_EMAIL, "website": MAX_URL, "phone": 16, "handle": len("mastodon:") + MAX_NAME + 1 + MAX_DOMAIN}


def _check(result: list[Found]) -> None:
    seen = set()
    for f in result:
        assert f.kind in KINDS
        assert (f.kind, f.value) not in seen
        seen.add((f.kind, f.value))
        assert NORMALIZE[f.kind](f.value) == f.value, f
        assert len(f.value) <= LIMITS[f.kind], f
        assert not any(unicodedata.category(ch)[0] in "CZ" for ch in f.value), f  # control, format, space
        assert "\x00" not in f.source


FRAGMENTS = st.sampled_from([
    "@", "@@", "@ana", "@ana@", "@ana@mastodon.social", "ana@gmail.com", "@ana@gmail.com", "mastodon.social",
    "https://", "http://", "www.", "x.com/", "twitter.com/ana", "bsky.app/profile/", "ana.bsky.social",
    ".substack.com", "linktr.ee/", "/@", "/users/", "github.com/", "linkedin.com/in/", "youtube.com/@",
    "user:pw@", "?utm_source=x&", "#", ":443", ".", "/", ":", " ", "\n", "\t", "X:", "🐘", "🦋", "🐦", "𝕏",
    "mail:", "tel:", "+44 20 7946 0958", "+1 ", "020 7946", "…", "\u202e", "\u200b", "\u2066", "\ufeff",
    "\x00", "\ud800", "і", "а", "ｘ", "＠", "xn--", "xn--80ak6aa92e", "did:plc:", "(", ")", "'", '"', "<", ">",
    "ana", "Ana_Pro", "ü", "ß", "İ", "ﷺ", "0", "9", "-", "_",
])
HOSTILE_TEXT = st.one_of(st.text(max_size=300), st.lists(FRAGMENTS, max_size=40).map("".join))
JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), HOSTILE_TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(
        st.sampled_from(["fields", "name", "value", "verified_at", "verified_links", "bio_links", "website",
                         "blog", "email", "twitter_username", "moved", "location", "note"]), inner, max_size=5)),
    max_leaves=12,
)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.sampled_from(["x", "mastodon", "bluesky", "github", "instagram", "contacts", ""]),
       HOSTILE_TEXT, HOSTILE_TEXT, HOSTILE_TEXT, HOSTILE_TEXT, HOSTILE_TEXT, JSONISH,
       st.sampled_from([None, "GB", "US", "de", "nonsense"]))
def test_any_profile_extracts_without_raising_and_values_are_normal(platform, handle, name, url, bio, website, data, region):
    _check(extract(platform, "id", handle, name, url, bio, website, data, region=region))


@PROPERTY
@given(HOSTILE_TEXT)
def test_normalizers_are_idempotent(text):
    for normalize in (normalize_email, normalize_phone, normalize_url, normalize_handle):
        once = normalize(text)
        if once is not None:
            assert normalize(once) == once
    for prefix in ("mastodon:", "x:", "bluesky:", "youtube:", "linkedin:", "substack:"):
        once = normalize_handle(prefix + text)
        if once is not None:
            assert normalize_handle(once) == once
    handle = handle_from_url(text)
    assert handle is None or normalize_handle(handle) == handle


@PROPERTY
@given(st.lists(FRAGMENTS, min_size=1, max_size=12).map("".join))
def test_urls_built_from_fragments_normalize_to_fixed_points(text):
    once = normalize_url("https://" + text)
    assert once is None or (normalize_url(once) == once and len(once) <= MAX_URL and "@" not in urlsplit(once).netloc)


# -- hostile sizes ---------------------------------------------------------------------------------

ADVERSARIAL = {
    "at-chain": "@a" * 50_000,
    "at-words": "@a@b@c " * 14_285,
    "dots": "a." * 50_000,
    "url-of-dots": "https://" + "a." * 49_996,
    "ats": "@" * 100_000,
    "digits": "+1" + "0" * 99_998,
    "phones": "+1 415 555 2671 " * 6_250,
    "emails": "ana@gmail.com " * 7_142,
    "handles": "@ana@mastodon.social " * 4_761,
    "homographs": "https://twіtter.com/ana " * 4_166,
    "labels": "X: @a " * 16_666,
    "nul-and-bidi": "\x00\u202e@a.b\u200b" * 16_666,
    "fullwidth": "＠ａ" * 50_000,
    "long-words": ("a" * 2_000 + "@b.co ") * 49,
    "mixed": ("@x.com/ a@b.social https:// +44 20 7946 0958 🐘 … " * 2_000)[:100_000],
}


@pytest.mark.parametrize("bio", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_huge_adversarial_bio_completes(bio):
    data = {"fields": [{"name": "X", "value": bio}], "location": bio}
    start = time.perf_counter()
    result = extract("x", "1", None, bio[:1000], bio, bio, bio, data, region="GB")  # national numbers too
    elapsed = time.perf_counter() - start
    _check(result)
    assert elapsed < 2.0  # a guard against catastrophic backtracking, not a timing test
