"""The evidence ladder of SPEC §7: which two profiles are one person, how sure, and on what.

Pure: ``link.py`` streams the contact points that share a value (grouped by kind and value,
which is the blocking: only profiles that share something are ever compared) and the
Bluesky domain-handle matches; this module turns them into scored pairs.

A contact point here is a ``Holder``: the profile it is on, where it came from (``source``:
``self`` for the profile's own handles, ``profile:<field>`` for what extraction found, an
import's file name otherwise) and whether the platform verified it.

The ladder (confidence before the name bonus):

========================  ====  ==========================================================
``manual``                1.0   ``people merge`` (stored by link.py, not found here)
``verified_link``         0.99  A links to B's handle and the platform verified it (rel=me)
``same_email``            0.95  the same normalized email on both
``same_phone``            0.95  the same E.164 phone on both
``mentions_both``         0.95  A names B's handle on another platform and B names A's
``moved``                 0.95  A's account says it moved to B (Mastodon ``moved``)
``same_account``          0.95  two keys of one account: the same own handle on the same
                                platform, at least one profile not keyed by a stable id
``github_twitter``        0.9   A's GitHub ``twitter_username`` is B's X handle
``domain_handle``         0.85  B's Bluesky handle is a domain that A gives as its website
``mentions``              0.8   A names B's handle on another platform
``same_website``          0.75  the same personal website (never a shared host)
========================  ====  ==========================================================

A mention on the profile's own platform (an X bio naming another X account) is never
evidence: it is as often an employer, a friend or a joke as an alt account. A value held by
more than ``MAX_SHARED`` profiles is nobody's personal value (an office switchboard, a
company site, a celebrity named in a thousand bios): it gives no evidence and is reported.
Display-name similarity (rapidfuzz ``token_set_ratio`` >= ``NAME_SIMILAR``) adds
``NAME_BONUS`` to evidence that exists, and never links on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from rapidfuzz import fuzz, utils

from .extract import is_shared_host

# More profiles than this sharing one value: a shared value, not evidence. A person has a
# handful of profiles (personal and professional accounts on 3-4 platforms, an address-book
# card, a newsletter subscription); 8 leaves room for that and refuses an office's address.
MAX_SHARED = 8
LINK_THRESHOLD = 0.7  # evidence below this is not a link (every kind above clears it alone)
NAME_SIMILAR = 90  # rapidfuzz token_set_ratio of the display names, 0-100
NAME_BONUS = 0.04
MAX_CONFIDENCE = 0.99  # only a manual merge is certain
MAX_NAME_CHARS = 200  # of a display name compared: hostile names can be 100k characters

CONFIDENCE = {
    "manual": 1.0,
    "verified_link": 0.99,
    "same_email": 0.95,
    "same_phone": 0.95,
    "mentions_both": 0.95,
    "moved": 0.95,
    "same_account": 0.95,
    "github_twitter": 0.9,
    "domain_handle": 0.85,
    "mentions": 0.8,
    "same_website": 0.75,
}
SAME_VALUE = {"email": "same_email", "phone": "same_phone", "website": "same_website"}
SELF = "self"
GITHUB_TWITTER_SOURCE = "profile:data:twitter_username"
MOVED_SOURCE = "profile:data:moved"


def profile_key(platform: str, platform_id: str) -> str:
    """``platform:platform_id``: unambiguous, since platform names hold no colon. Platform
    names are lower-case letters (``backup.accounts.PLATFORMS``), so keys sort as the
    (platform, platform_id) pairs do: ``"x:"`` sorts before ``"xy"`` because ``:`` sorts
    before every letter."""
    return f"{platform}:{platform_id}"


def split_key(key: str) -> tuple[str, str]:
    platform, _, platform_id = key.partition(":")
    return platform, platform_id


def _id_keyed(platform: str, platform_id: str) -> bool:
    """Is the profile keyed by the platform's stable id (not by a name that can move)?"""
    if platform in ("x", "github"):
        return platform_id.isdigit()
    if platform == "bluesky":
        return platform_id.startswith("did:")
    if platform == "mastodon":
        return platform_id.startswith("https://")
    return False


class Holder(NamedTuple):
    """One contact point as linking sees it (a tuple: a million of them are made per run)."""

    key: str  # profile_key(platform, platform_id)
    platform: str
    source: str
    verified: bool

    @classmethod
    def of(cls, platform: str, platform_id: str, source: str, verified: bool = False) -> Holder:
        return cls(profile_key(platform, platform_id), platform, source, verified)


@dataclass(slots=True)
class Evidence:
    """One kind of evidence for one pair of profiles (a < b in key order)."""

    a: str
    b: str
    kind: str
    matched: list[str]
    confidence: float


@dataclass
class Refused:
    """A value shared by too many profiles to say anything about any of them."""

    kind: str
    value: str
    profiles: int


@dataclass
class _Direction:
    values: set[str] = field(default_factory=set)
    verified: bool = False
    github_twitter: bool = False


class EvidenceBuilder:
    """Collects groups of holders of one value and scores the pairs they make.

    >>> b = EvidenceBuilder()
    >>> b.add_group("email", "ana@ana.dev", [Holder.of("x", "1", "profile:bio"), Holder.of("github", "7", "api")])
    >>> b.add_group("handle", "github:ana", [Holder.of("x", "1", "profile:bio"), Holder.of("github", "7", "self")])
    >>> names = {"x:1": "Ana", "github:7": "Ana Lima"}
    >>> [(e.a, e.b, e.kind, e.confidence) for e in b.finish(lambda keys: names)]
    [('github:7', 'x:1', 'same_email', 0.99), ('github:7', 'x:1', 'mentions', 0.84)]
    """

    def __init__(self, max_shared: int = MAX_SHARED):
        self.max_shared = max_shared
        self._found: dict[tuple[str, str, str], set[str]] = {}
        self._directions: dict[tuple[str, str], _Direction] = {}
        self.refused: list[Refused] = []

    def _add(self, x: str, y: str, kind: str, *values: str) -> None:
        if x != y:
            a, b = (x, y) if x <= y else (y, x)
            found = self._found.get((a, b, kind))
            if found is None:
                self._found[(a, b, kind)] = set(values)
            else:
                found.update(values)

    def add_group(self, kind: str, value: str, holders: list[Holder]) -> None:
        """All the profiles holding one (kind, value), each once: (profile, kind, value) is
        unique. Holders may be plain (key, platform, source, verified) tuples."""
        if len(holders) < 2:
            return
        if kind == "website" and is_shared_host(value):
            return  # linktr.ee/ana names a page on a shared host: not a personal website
        if kind == "handle":
            self._handle_group(value, holders)
            return
        evidence = SAME_VALUE.get(kind)
        if evidence is None:
            return
        if len(holders) > self.max_shared:
            self.refused.append(Refused(kind, value, len(holders)))
            return
        for i, x in enumerate(holders):
            for y in holders[i + 1:]:
                self._add(x[0], y[0], evidence, value)

    def _handle_group(self, value: str, holders: list[Holder]) -> None:
        owners = [h for h in holders if h[2] == SELF]
        if not owners:
            return  # two fans naming the same account elsewhere: nothing about each other
        if len(holders) > self.max_shared:
            self.refused.append(Refused("handle", value, len(holders)))
            return
        if len(owners) > 1:
            for i, (x, x_platform, _, _) in enumerate(owners):
                for y, y_platform, _, _ in owners[i + 1:]:
                    # One account under two keys (a Mastodon URI and user@host, a CSV keyed by
                    # name); two profiles that are both keyed by the stable id are two accounts
                    # that held the same name one after the other.
                    if x_platform == y_platform and not (_id_keyed(*split_key(x)) and _id_keyed(*split_key(y))):
                        self._add(x, y, "same_account", value)
        directions = self._directions
        for n, n_platform, source, verified in holders:
            if source == SELF:
                continue
            for s, s_platform, _, _ in owners:
                if n == s:
                    continue
                if source == MOVED_SOURCE:
                    self._add(n, s, "moved", value)
                elif n_platform == s_platform:
                    if verified:  # a verified rel=me link holds on the same platform too
                        self._add(n, s, "verified_link", value)
                else:
                    d = directions.get((n, s))
                    if d is None:
                        d = directions[(n, s)] = _Direction()
                    d.values.add(value)
                    d.verified = d.verified or bool(verified)
                    d.github_twitter = d.github_twitter or source == GITHUB_TWITTER_SOURCE

    def add_domain_handle(self, owner: Holder, handle: str, website: str, sites: list[Holder]) -> None:
        """``owner``'s Bluesky handle ``handle`` is the domain of ``website``, which ``sites`` give."""
        if is_shared_host(website):
            return
        if len(sites) > self.max_shared:
            self.refused.append(Refused("website", website, len(sites)))
            return
        owner_key, owner_platform = owner[0], owner[1]
        for key, platform, _, _ in sites:
            if key != owner_key and platform != owner_platform:  # a Bluesky profile giving another's domain: an employer
                self._add(owner_key, key, "domain_handle", handle, website)

    def finish(self, names_of: Callable[[set[str]], Mapping[str, str | None]] | None = None) -> list[Evidence]:
        """Every scored pair, strongest first (ties in key order, so runs are repeatable).

        ``names_of(keys)`` gives the display names of those profiles, for the name bonus:
        they are read once, for the profiles that have evidence, rather than carried with
        every contact point.
        """
        for (x, y), d in self._directions.items():
            back = self._directions.get((y, x))
            if back is not None and y < x:
                continue  # the pair is handled from its other direction
            values = set(d.values)
            verified, github = d.verified, d.github_twitter
            if back is not None:
                values |= back.values
                verified |= back.verified
                github |= back.github_twitter
            kind = (
                "verified_link" if verified else "mentions_both" if back is not None
                else "github_twitter" if github else "mentions"
            )
            self._add(x, y, kind, *values)
        self._directions.clear()
        names = names_of({k for a, b, _ in self._found for k in (a, b)}) if names_of and self._found else {}
        processed = {k: utils.default_process(v[:MAX_NAME_CHARS]) for k, v in names.items() if v}
        ratio = fuzz.token_set_ratio
        bonus: dict[tuple[str, str], bool] = {}
        out = []
        for (a, b, kind), values in self._found.items():
            similar = bonus.get((a, b))
            if similar is None:
                na, nb = processed.get(a), processed.get(b)
                similar = bonus[(a, b)] = bool(na and nb) and ratio(na, nb, processor=None) >= NAME_SIMILAR
            confidence = CONFIDENCE[kind]
            if similar:
                confidence = min(MAX_CONFIDENCE, confidence + NAME_BONUS)
            if confidence >= LINK_THRESHOLD:
                out.append(Evidence(a, b, kind, sorted(values), round(confidence, 4)))
        self._found.clear()
        out.sort(key=lambda e: (-e.confidence, e.a, e.b, e.kind))
        return out
