"""A person's handles on one platform, as exports write them: from the person's profiles
there, then handles named elsewhere (a bio's ``@ana@social.example``), each once, with the
profile's web address or the one the handle implies.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from .selection import PersonView, ProfileView

# Platforms that get a handle and a URL column in the CSV export, in this order.
HANDLE_PLATFORMS = (
    "x", "mastodon", "bluesky", "github", "linkedin", "instagram", "facebook", "threads", "tiktok", "youtube", "substack",
)

_URLS = {
    "x": "https://x.com/{}",
    "bluesky": "https://bsky.app/profile/{}",
    "github": "https://github.com/{}",
    "linkedin": "https://www.linkedin.com/in/{}",
    "instagram": "https://www.instagram.com/{}/",
    "threads": "https://www.threads.net/@{}",
    "tiktok": "https://www.tiktok.com/@{}",
}


def handle_url(platform: str, ident: str) -> str | None:
    """The web address of a handle as extraction stores it (without the ``platform:``).

    >>> handle_url("mastodon", "ana@social.example"), handle_url("youtube", "@ana"), handle_url("substack", "ana")
    ('https://social.example/@ana', 'https://www.youtube.com/@ana', 'https://ana.substack.com')
    """
    if not ident:
        return None
    if platform == "mastodon":
        user, at, host = ident.partition("@")
        return f"https://{host}/@{quote(user)}" if at and host else None
    if platform == "youtube":
        return f"https://www.youtube.com/{quote(ident, safe='@/')}"
    if platform == "substack":
        return f"https://{ident.lstrip('@')}.substack.com"
    template = _URLS.get(platform)
    return template.format(quote(ident, safe="@:.")) if template else None


def mastodon_address(profile: ProfileView) -> str | None:
    """``user@host`` of a Mastodon profile: the handle when it has the host, else the one its
    account URI or URL implies."""
    handle = (profile.handle or "").strip().lstrip("@")
    if "@" in handle:
        user, _, host = handle.partition("@")
        return f"{user.lower()}@{host.lower()}" if user and host else None
    if "@" in profile.platform_id and "://" not in profile.platform_id:
        return profile.platform_id.lower().lstrip("@")
    from backup.people.extract import own_handles

    found = sorted(h.partition(":")[2] for h in own_handles("mastodon", profile.platform_id, profile.handle, profile.url))
    if handle:
        same = [f for f in found if f.partition("@")[0] == handle.lower()]
        if same:
            return same[0]
    return found[0] if found else None


@dataclass(slots=True)
class Handle:
    platform: str
    handle: str | None  # as written on the platform, without a leading @ (mastodon: user@host)
    url: str | None
    platform_id: str | None  # the stable id when a profile is known (X id, Bluesky DID)
    name: str | None
    profile: bool  # from one of the person's profiles (else named in a bio or a card)
    suppressed: bool


def profile_handle(profile: ProfileView) -> str | None:
    if profile.platform == "mastodon":
        return mastodon_address(profile)
    handle = (profile.handle or "").strip().lstrip("@")
    return handle or None


def handles_on(person: PersonView, platform: str) -> list[Handle]:
    """The person's handles on ``platform``: profiles first (key order), then handles found in
    bios and cards that none of the profiles already is (case-insensitive)."""
    out: list[Handle] = []
    seen: set[str] = set()
    for p in person.profiles:
        if p.platform != platform:
            continue
        handle = profile_handle(p)
        out.append(Handle(platform, handle, p.url or (handle_url(platform, handle) if handle else None), p.platform_id,
                          p.display_name, True, p.suppressed))
        for key in (handle, p.platform_id):
            if key:
                seen.add(key.lower())
    for c in person.contacts:
        if c.kind != "handle" or c.platform != platform:
            continue
        ident = c.ident
        if ident.lower() in seen:
            continue
        seen.add(ident.lower())
        did = ident if platform == "bluesky" and ident.startswith("did:") else None
        out.append(Handle(platform, None if did else ident, handle_url(platform, ident), did, None, False, c.suppressed))
    return out
