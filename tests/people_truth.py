"""A synthetic audience whose truth is known: who is who across platforms (issue 5, SPEC §7).

Invented people, each on one platform or on two to four, with the evidence that real
profiles carry planted between their own profiles (a chain, so that all of them are
reachable): a handle named in a bio, both ways, a verified Mastodon field, GitHub's
``twitter_username``, an email in two bios, a Bluesky domain handle that is the website of
another profile, the same website; and some people with no evidence at all (recall cannot
find them, and should not).

Decoys, which must never link two people:

- name twins: a person with exactly the display name of another;
- shared hosts: websites at the root of a link-in-bio or platform host (linktr.ee, medium.com);
- jokes: an X or Instagram bio naming another account on the same platform ("fan of @bob");
- celebrities: the same account named across platforms by far more than MAX_SHARED bios;
- an office address in the bios of many colleagues (one in 97 persons).

And one hazard that is measured rather than avoided (``other_mentions``): a bio naming a
*different* person's account on another platform ("my cat: instagram.com/whiskers", a
podcast co-host). The evidence ladder reads a one-way cross-platform mention as a link
(0.8); the benchmark reports what that costs in precision.

Streaming: ``generate`` yields one profile at a time, so a million profiles are written in
flat memory; handles are a pure function of the person number, so a decoy can name another
person's account without any table.

    >>> ps = list(generate(50, seed=1))
    >>> len({p.person for p in ps}) == 50 and all(p.key.split(":")[0] in PLATFORMS for p in ps)
    True
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

PLATFORMS = ("x", "mastodon", "bluesky", "github", "instagram")
FIRST = ("Ana", "Bo", "Carmen", "Dev", "Elif", "Femi", "Grace", "Hana", "Ivan", "Jo", "Kwame", "Lena", "Mei",
         "Nour", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wen", "Yusuf", "Zoë")
LAST = ("Lima", "Berg", "Ruiz", "Patel", "Şahin", "Adeyemi", "Okafor", "Kobayashi", "Petrov", "Kim", "Mensah",
        "Vogel", "Lin", "Haddad", "Farouk", "Raman", "Doyle", "Díaz", "Ek", "Singh", "Ali", "Novak", "Zhao", "Demir", "Müller")
HOSTS = ("mastodon.social", "hachyderm.io", "fosstodon.org", "social.example", "mas.to")
WORDS = ("writer", "designer", "engineer", "coffee", "books", "travel", "music", "she/her", "they/them",
         "founder", "views my own.", "open source", "climate", "Berlin", "Lisbon.", "runner", "PhD", "🌱", "✨")
SHARED_SITES = ("https://linktr.ee", "https://medium.com", "https://github.com", "https://www.youtube.com",
                "https://substack.com", "https://beacons.ai")
OFFICE = "press@bigcorp.example"  # in a dozen colleagues' bios: nobody's personal address
CELEBRITIES = 5  # persons 0..4 are famous X accounts named by many bios elsewhere

# Evidence planted between two profiles of one person, and how often (the rest of a
# multi-platform person's pairs get none: recall cannot and should not find them).
PLANTS = (
    ("mentions", 0.22), ("mentions_both", 0.12), ("verified_link", 0.10), ("github_twitter", 0.10),
    ("same_email", 0.14), ("domain_handle", 0.08), ("same_website", 0.10), ("none", 0.14),
)


@dataclass
class TruthProfile:
    platform: str
    platform_id: str
    handle: str | None
    display_name: str | None
    url: str | None
    bio: str
    website: str | None
    data: dict
    person: int
    planted: list[tuple[str, str]] = field(default_factory=list)  # (evidence, other profile key)
    twin_of: int | None = None  # name twin: same display name as this person

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.platform_id}"

    def row(self) -> dict:
        return {
            "platform": self.platform, "platform_id": self.platform_id, "handle": self.handle,
            "display_name": self.display_name, "url": self.url, "bio": self.bio or None, "website": self.website,
            "data": json.dumps(self.data, ensure_ascii=False) if self.data else None,
        }


def slug(person: int) -> str:
    rng = random.Random(person * 7919)
    return f"{rng.choice(FIRST)[:4]}{rng.choice(LAST)[:4]}{person}".lower().replace("ş", "s").replace("ë", "e").replace("ü", "u").replace("í", "i")


def real_name(person: int) -> str:
    rng = random.Random(person * 7919)
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _did(person: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    digest = hashlib.blake2b(str(person).encode(), digest_size=24).digest()
    return "did:plc:" + "".join(alphabet[b % 32] for b in digest)


def _host(person: int) -> str:
    return HOSTS[person % len(HOSTS)]


def handle_of(person: int, platform: str, *, domain: bool = False) -> str:
    """The person's handle on a platform (as the profile stores it)."""
    s = slug(person)
    if platform == "mastodon":
        return f"{s}@{_host(person)}"
    if platform == "bluesky":
        return f"{s}.dev" if domain else f"{s}.bsky.social"
    if platform == "instagram":
        return s[:4] + "." + s[4:]
    return s


def key_of(person: int, platform: str, *, domain: bool = False) -> str:
    return f"{platform}:{_platform_id(person, platform, domain=domain)}"


def _platform_id(person: int, platform: str, *, domain: bool = False) -> str:
    if platform == "x":
        return str(10**12 + person)
    if platform == "github":
        return str(10**6 + person)
    if platform == "mastodon":
        return f"https://{_host(person)}/users/{slug(person)}"
    if platform == "bluesky":
        return _did(person)
    return handle_of(person, platform, domain=domain)  # instagram: keyed by name


def mention(person: int, platform: str, rng: random.Random, *, domain: bool = False) -> str:
    """Text naming the person's account on ``platform``, as bios on other platforms do."""
    h = handle_of(person, platform, domain=domain)
    if platform == "x":
        return rng.choice((f"https://x.com/{h}", f"twitter.com/{h}", f"🐦 @{h}"))
    if platform == "mastodon":
        user, _, host = h.partition("@")
        return rng.choice((f"🐘 @{user}@{host}", f"https://{host}/@{user}"))
    if platform == "bluesky":
        return h if h.endswith(".bsky.social") and rng.random() < 0.5 else f"https://bsky.app/profile/{h}"
    if platform == "github":
        return f"github.com/{h}"
    return rng.choice((f"instagram.com/{h}", f"IG: @{h}"))


def generate(people: int, *, seed: int = 5, platforms: tuple[str, ...] = PLATFORMS, single: float = 0.4,
             twins: float = 0.02, shared_sites: float = 0.05, jokes: float = 0.05,
             other_mentions: float = 0.003) -> Iterator[TruthProfile]:
    """Profiles of ``people`` invented persons; ``single`` of them on one platform only."""
    rng = random.Random(seed)
    kinds = [k for k, _ in PLANTS]
    weights = [w for _, w in PLANTS]
    for person in range(people):
        n = 1 if (rng.random() < single and person >= CELEBRITIES) else rng.randint(2, min(4, len(platforms)))
        chosen = rng.sample(platforms, n) if person >= CELEBRITIES else (["x"] if "x" in platforms else [platforms[0]])
        domain = "bluesky" in chosen and rng.random() < 0.5
        profiles = [_profile(person, p, rng, domain=domain and p == "bluesky") for p in chosen]
        twin = person - 1 if person > CELEBRITIES and rng.random() < twins else None
        for p in profiles:
            if twin is not None:
                p.display_name, p.twin_of = real_name(twin), twin
        for a, b in itertools.pairwise(profiles):
            _plant(rng.choices(kinds, weights)[0], person, a, b, rng)
        for p in profiles:
            _decorate(p, people, rng, shared_sites, jokes, other_mentions, platforms)
            yield p


def _profile(person: int, platform: str, rng: random.Random, *, domain: bool) -> TruthProfile:
    h = handle_of(person, platform, domain=domain)
    name = real_name(person)
    shown = rng.choice((name, name, name, name.split()[0], f"{name} {rng.choice(('🌱', '✨', '☕'))}", ""))
    url = {
        "x": f"https://x.com/{h}", "mastodon": f"https://{_host(person)}/@{slug(person)}",
        "github": f"https://github.com/{h}", "instagram": f"https://www.instagram.com/{h}/",
    }.get(platform)
    bio = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(2, 10)))
    return TruthProfile(platform, _platform_id(person, platform, domain=domain), h, shown or None, url, bio, None, {}, person)


def _name_on(p: TruthProfile, person: int, other: TruthProfile, rng: random.Random) -> None:
    """Make profile p name profile ``other`` in a bio (or a profile field on Mastodon)."""
    text = mention(person, other.platform, rng, domain=other.platform == "bluesky" and not other.handle.endswith(".bsky.social"))
    if p.platform == "mastodon" and rng.random() < 0.5:
        p.data.setdefault("fields", []).append({"name": other.platform.capitalize(), "value": text.split()[-1]})
    else:
        p.bio += " · " + text


def _plant(kind: str, person: int, a: TruthProfile, b: TruthProfile, rng: random.Random) -> None:
    s = slug(person)
    if kind == "verified_link" and "mastodon" not in (a.platform, b.platform):
        kind = "mentions_both"
    if kind == "github_twitter" and {a.platform, b.platform} != {"github", "x"}:
        kind = "mentions"
    if kind == "domain_handle" and not any(p.platform == "bluesky" and not p.handle.endswith(".bsky.social") for p in (a, b)):
        kind = "same_website"
    if kind == "mentions":
        _name_on(a, person, b, rng)
    elif kind == "mentions_both":
        _name_on(a, person, b, rng)
        _name_on(b, person, a, rng)
    elif kind == "verified_link":
        m, other = (a, b) if a.platform == "mastodon" else (b, a)
        target = {"x": f"https://x.com/{other.handle}", "github": f"https://github.com/{other.handle}",
                  "instagram": f"https://www.instagram.com/{other.handle}/",
                  "bluesky": f"https://bsky.app/profile/{other.handle}"}[other.platform]
        m.data.setdefault("fields", []).append({"name": "Elsewhere", "value": target, "verified_at": "2024-05-01T00:00:00Z"})
    elif kind == "github_twitter":
        g, x = (a, b) if a.platform == "github" else (b, a)
        g.data["twitter_username"] = x.handle
    elif kind == "same_email":
        email = f"{s}@{('gmail.com', 'proton.me', 'posteo.de')[person % 3]}"  # one address a person
        for p in (a, b):
            if p.platform == "github" and rng.random() < 0.5:
                p.data["email"] = email
            else:
                p.bio += f" · mail: {email}"
    elif kind == "domain_handle":
        bsky, other = (a, b) if a.platform == "bluesky" else (b, a)
        _give_site(other, f"https://{bsky.handle}")
    elif kind == "same_website":
        for p in (a, b):
            _give_site(p, f"https://{s}.example.org/about")
    if kind != "none":
        a.planted.append((kind, b.key))


def _give_site(p: TruthProfile, site: str) -> None:
    if p.platform == "github" and "blog" not in p.data:
        p.data["blog"] = site
    elif p.website is None:
        p.website = site
    else:
        p.bio += f" · {site}"


def _decorate(p: TruthProfile, people: int, rng: random.Random, shared_sites: float, jokes: float,
              other_mentions: float, platforms: tuple[str, ...]) -> None:
    if p.website is None and rng.random() < shared_sites:
        p.website = rng.choice(SHARED_SITES)
    if p.person < CELEBRITIES:
        return
    roll = rng.random()
    if roll < jokes and p.platform in ("x", "instagram"):
        # "fan of @someone" on the same platform: a mention, never evidence
        p.bio += f" · fan of @{handle_of(rng.randrange(CELEBRITIES, people), p.platform)}"
    elif roll < jokes * 2 and p.platform != "x" and "x" in platforms:
        p.bio += f" · fan of twitter.com/{handle_of(rng.randrange(CELEBRITIES), 'x')}"  # a celebrity, named by many
    if p.person % 97 == 0 and p.planted:
        p.bio += f" · press: {OFFICE}"  # colleagues: one office address in many bios
    if rng.random() < other_mentions:
        other = rng.randrange(CELEBRITIES, people)
        target = rng.choice([q for q in platforms if q != p.platform])
        if other != p.person:
            p.bio += " · my cat: " + mention(other, target, rng)


def load(conn, profiles, *, batch: int = 5_000) -> dict[str, int]:
    """Insert profiles (a SQLAlchemy connection in a transaction); returns key -> person."""
    from backup.db.models import Profile, utcnow

    truth: dict[str, int] = {}
    now = utcnow()
    rows = []
    for p in profiles:
        truth[p.key] = p.person
        rows.append({**p.row(), "first_seen_at": now, "updated_at": now})
        if len(rows) >= batch:
            conn.execute(Profile.__table__.insert(), rows)
            rows = []
    if rows:
        conn.execute(Profile.__table__.insert(), rows)
    return truth


@dataclass
class Score:
    """Links and persons against the truth."""

    links: dict[str, tuple[int, int]]  # evidence -> (links, correct)
    planted: dict[str, tuple[int, int]]  # evidence planted -> (pairs, found in one person)
    pair_precision: float  # of "same person" over all pairs of profiles
    pair_recall: float
    persons: int
    true_persons: int
    false_links: list[tuple[str, str, str]]  # (evidence, a, b), a few

    def precision(self, kind: str | None = None) -> float:
        kinds = [kind] if kind else list(self.links)
        n = sum(self.links[k][0] for k in kinds if k in self.links)
        ok = sum(self.links[k][1] for k in kinds if k in self.links)
        return ok / n if n else 1.0


def score(conn, truth: dict[str, int], planted: list[tuple[str, str, str]]) -> Score:
    """Compare what `run_link` stored with the truth; ``planted`` is (evidence, key_a, key_b)."""
    from collections import Counter

    from sqlalchemy import text

    links: dict[str, list[int]] = {}
    false = []
    for ap, aid, bp, bid, kind in conn.execute(text(
        "SELECT a_platform, a_platform_id, b_platform, b_platform_id, evidence FROM identity_links"
    )):
        a, b = f"{ap}:{aid}", f"{bp}:{bid}"
        ok = truth.get(a) == truth.get(b)
        counts = links.setdefault(kind, [0, 0])
        counts[0] += 1
        counts[1] += ok
        if not ok and len(false) < 50:
            false.append((kind, a, b))
    person_of: dict[str, int] = {}
    cells: Counter = Counter()
    result_sizes: Counter = Counter()
    for plat, pid, person in conn.execute(text("SELECT platform, platform_id, person_id FROM profiles")):
        key = f"{plat}:{pid}"
        if key not in truth:
            continue
        person_of[key] = person
        cells[(person, truth[key])] += 1
        result_sizes[person] += 1
    truth_sizes = Counter(truth.values())
    pairs = lambda n: n * (n - 1) // 2
    tp = sum(pairs(n) for n in cells.values())
    predicted = sum(pairs(n) for n in result_sizes.values())
    actual = sum(pairs(n) for n in truth_sizes.values())
    found: dict[str, list[int]] = {}
    for kind, a, b in planted:
        c = found.setdefault(kind, [0, 0])
        c[0] += 1
        c[1] += person_of.get(a) is not None and person_of.get(a) == person_of.get(b)
    return Score(
        links={k: (n, ok) for k, (n, ok) in sorted(links.items())},
        planted={k: (n, ok) for k, (n, ok) in sorted(found.items())},
        pair_precision=tp / predicted if predicted else 1.0, pair_recall=tp / actual if actual else 1.0,
        persons=len(result_sizes), true_persons=len(truth_sizes), false_links=false,
    )
