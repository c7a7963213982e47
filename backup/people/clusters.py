"""Union-find over profiles with cannot-link pairs and a size cap: who is one person.

Pure: profile keys in, components out; ``link.py`` feeds it manual merges first, then the
evidence strongest first (SPEC §7). A union is refused, and says why, when it would join two
profiles a ``people split`` decision keeps apart (``"split"``) or make a component larger than
the cap (``"cap"``): a person of hundreds of profiles is a shared value or a bug, never a
human being.

>>> c = Clusters(cap=3)
>>> c.forbid("x:1", "github:9")
>>> c.union("x:1", "mastodon:a"), c.union("mastodon:a", "github:9"), c.union("mastodon:a", "bluesky:b")
(None, 'split', None)
>>> c.union("github:9", "tiktok:t"), c.union("tiktok:t", "x:1"), c.union("instagram:i", "bluesky:b")
(None, 'split', 'cap')
>>> sorted(sorted(m) for m in c.components())
[['bluesky:b', 'mastodon:a', 'x:1'], ['github:9', 'tiktok:t']]
"""

from __future__ import annotations

from collections.abc import Iterator


class Clusters:
    """Components of profile keys (``platform:platform_id``); singletons are never listed."""

    def __init__(self, cap: int):
        self.cap = cap
        self._index: dict[str, int] = {}
        self._keys: list[str] = []
        self._parent: list[int] = []
        self._size: list[int] = []
        # root -> members of other components it may never join (from split decisions)
        self._cannot: dict[int, set[int]] = {}

    def _id(self, key: str) -> int:
        i = self._index.get(key)
        if i is None:
            i = self._index[key] = len(self._keys)
            self._keys.append(key)
            self._parent.append(i)
            self._size.append(1)
        return i

    def _find(self, i: int) -> int:
        parent = self._parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:  # path compression
            parent[i], i = root, parent[i]
        return root

    def forbid(self, a: str, b: str) -> None:
        """a and b must never be in one component (a ``people split`` decision)."""
        ia, ib = self._id(a), self._id(b)
        self._cannot.setdefault(self._find(ia), set()).add(ib)
        self._cannot.setdefault(self._find(ib), set()).add(ia)

    def _blocked(self, ra: int, rb: int) -> bool:
        for root, other in ((ra, rb), (rb, ra)):
            for member in self._cannot.get(root, ()):
                if self._find(member) == other:
                    return True
        return False

    def union(self, a: str, b: str, *, capped: bool = True) -> str | None:
        """Join the components of a and b; None when joined (or already one), else the reason
        it was refused: ``"split"`` or ``"cap"``. Manual merges pass ``capped=False``."""
        ra, rb = self._find(self._id(a)), self._find(self._id(b))
        if ra == rb:
            return None
        if self._blocked(ra, rb):
            return "split"
        if capped and self._size[ra] + self._size[rb] > self.cap:
            return "cap"
        if self._size[ra] < self._size[rb]:
            ra, rb = rb, ra
        self._parent[rb] = ra
        self._size[ra] += self._size[rb]
        moved = self._cannot.pop(rb, None)
        if moved:
            self._cannot.setdefault(ra, set()).update(moved)
        return None

    def same(self, a: str, b: str) -> bool:
        ia, ib = self._index.get(a), self._index.get(b)
        return ia is not None and ib is not None and self._find(ia) == self._find(ib)

    def size_of(self, key: str) -> int:
        i = self._index.get(key)
        return 1 if i is None else self._size[self._find(i)]

    def components(self) -> Iterator[list[str]]:
        """Each component of two or more profiles, as a list of keys."""
        groups: dict[int, list[str]] = {}
        for i, key in enumerate(self._keys):
            root = self._find(i)
            if self._size[root] > 1:
                groups.setdefault(root, []).append(key)
        yield from groups.values()
