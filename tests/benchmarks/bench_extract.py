"""How fast contact extraction reads profiles: ``extract`` over synthetic profiles.

Not a test (pytest does not collect ``tests/benchmarks``); it prints figures and fails on
nothing. Extraction is the first step of ``audience link``, whose target (SPEC §12, P5) is
1M profiles over 3 platforms linked in 90 s, so the figure to watch is profiles/second.

    /work/venv/bin/python tests/benchmarks/bench_extract.py                 # 100,000 profiles
    /work/venv/bin/python tests/benchmarks/bench_extract.py --profiles 1000000 --region GB

The mix: a third are bare X archive entries (an id, nothing else), the rest have a display
name and a bio of prose with, now and then, handles, emails, links with trackers, phone
numbers; Mastodon profiles carry profile fields, GitHub ones ``blog``/``twitter_username``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from backup.people.extract import extract

WORDS = (
    "writer", "designer", "engineer", "coffee", "cats", "books", "travel", "music", "she/her", "they/them",
    "founder", "at", "the", "of", "and", "views", "my", "own.", "open", "source", "science,", "climate",
    "Berlin", "Lisbon.", "runner", "teacher", "researcher", "PhD", "gardener", "🌱", "✨", "co-host", "podcast",
)
INSTANCES = ("mastodon.social", "hachyderm.io", "fosstodon.org", "social.example", "chaos.social")


def _name(rng: random.Random) -> str:
    return rng.choice(("ana", "bo", "cy", "dee", "eli", "fay")) + "_" + str(rng.randrange(10**6))


def _bio(rng: random.Random, name: str) -> str:
    parts = [rng.choice(WORDS) for _ in range(rng.randrange(5, 30))]
    roll = rng.random()
    if roll < 0.10:
        parts.append(f"🐘 @{name}@{rng.choice(INSTANCES)}")
    elif roll < 0.15:
        parts.append(f"{name}.bsky.social")
    elif roll < 0.20:
        parts.append(f"mail: {name}@gmail.com")
    elif roll < 0.25:
        parts.append(f"https://{name.replace('_', '')}.example/?utm_source=bio")
    elif roll < 0.28:
        parts.append(f"+44 20 7946 {rng.randrange(1000, 9999)}")
    elif roll < 0.32:
        parts.append(f"X: @{name[:15]} · linktr.ee/{name}")
    if rng.random() < 0.2:
        parts.insert(rng.randrange(len(parts) + 1), f"@{_name(rng)}")  # a mention
    return " ".join(parts)


def profiles(n: int, seed: int):
    """(platform, platform_id, handle, display_name, url, bio, website, data) tuples."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        roll = rng.random()
        name = _name(rng)
        if roll < 0.33:
            out.append(("x", str(10**17 + i), None, None, None, None, None, None))
        elif roll < 0.55:
            out.append(("x", str(i), name[:15], name.title(), f"https://x.com/{name[:15]}", _bio(rng, name), None,
                        {"location": rng.choice(("Berlin", "", "she/her", "🌍"))}))
        elif roll < 0.78:
            host = rng.choice(INSTANCES)
            fields = [{"name": "Website", "value": f"https://{name.replace('_', '')}.example",
                       "verified_at": "2024-01-01T00:00:00Z"}] if rng.random() < 0.4 else []
            if rng.random() < 0.3:
                fields.append({"name": "Twitter", "value": f"@{name[:15]}"})
            out.append(("mastodon", f"https://{host}/users/{name}", f"{name}@{host}", name.title(),
                        f"https://{host}/@{name}", _bio(rng, name), None, {"fields": fields} if fields else None))
        elif roll < 0.92:
            out.append(("bluesky", f"did:plc:{i:024d}".replace("0", "a")[:32], f"{name}.bsky.social", name.title(),
                        f"https://bsky.app/profile/{name}.bsky.social", _bio(rng, name), None, None))
        else:
            out.append(("github", str(i), name.replace("_", "-"), name.title(), None, _bio(rng, name),
                        rng.choice(("", f"{name.replace('_', '')}.example")),
                        {"twitter_username": name[:15]} if rng.random() < 0.3 else None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--region", default=None, help="phone region, e.g. GB (default: none)")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()

    data = profiles(args.profiles, args.seed)
    kinds: Counter[str] = Counter()
    start = time.perf_counter()
    for p in data:
        for found in extract(*p, region=args.region):
            kinds[found.kind] += 1
    elapsed = time.perf_counter() - start
    with_text = sum(1 for p in data if p[5])
    print(f"profiles          {len(data):,} ({with_text:,} with a bio)")
    print(f"elapsed           {elapsed:.2f} s")
    print(f"profiles/second   {len(data) / elapsed:,.0f}")
    print(f"per profile       {elapsed / len(data) * 1e6:.1f} µs (with a bio: {elapsed / max(with_text, 1) * 1e6:.1f} µs)")
    print("found             " + ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items())))


if __name__ == "__main__":
    main()
