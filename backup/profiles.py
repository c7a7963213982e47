"""What a profile shows that is not stored because it follows from the key: its web address.

A million X followers from an archive are a million ids, each with the intent link of its own
id; storing that link would double the size of the profiles table. Every reader that shows
or exports a profile's address asks `profile_url`, which returns the stored URL when the
source gave another one, and otherwise the address the platform serves for that key.
"""

from __future__ import annotations

from urllib.parse import quote

# platform -> (template, which key fills it). Only addresses that always work for the key.
_DERIVED = {
    # X: an archive knows only ids; the intent link opens the profile of any id (handles change).
    "x": ("https://twitter.com/intent/user?user_id={}", "platform_id"),
    # Bluesky: keyed by DID; bsky.app resolves a DID as well as a handle.
    "bluesky": ("https://bsky.app/profile/{}", "platform_id"),
    "github": ("https://github.com/{}", "handle"),
    "instagram": ("https://www.instagram.com/{}/", "handle"),
    "tiktok": ("https://www.tiktok.com/@{}", "handle"),
}


def profile_url(platform: str, platform_id: str, handle: str | None = None, url: str | None = None) -> str | None:
    """The profile's web address: the stored one, else the one its key implies, else None.

    >>> profile_url("x", "12")
    'https://twitter.com/intent/user?user_id=12'
    >>> profile_url("x", "12", url="https://x.com/ada")
    'https://x.com/ada'
    """
    if url:
        return url
    if platform == "mastodon" and platform_id.startswith("https://"):
        return platform_id  # keyed by the account URI, which is the profile's address
    derived = _DERIVED.get(platform)
    if derived is None:
        return None
    template, key = derived
    value = platform_id if key == "platform_id" else handle
    return template.format(quote(value, safe="@:.")) if value else None
