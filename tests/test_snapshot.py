"""The snapshot engine against SPEC §5, on SQLite and PostgreSQL (the `engine` fixture runs each test on both).

The platform is a strict in-memory fake (`FakePlatform`): a list of pages served by opaque
cursors, which records every cursor it is asked for, so a test can say exactly which pages a
run fetched (a resumed run starts at the first page not yet saved, not at page 1). It can fail
once at a chosen cursor, the way a connection drops in the middle of a night.

After every scenario `backup.db.maintenance.verify` must pass: integrity, foreign keys and the
domain invariants (no staging rows left by applied snapshots, one resumable snapshot per
account and kind, the latest count equal to the current relationships, intervals in order).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest
from sqlalchemy import Engine, func, select

from backup import accounts
from backup.db.maintenance import verify
from backup.db.models import Account, ContactPoint, Person, Profile, Relationship, Snapshot, SnapshotItem, Suppression, utcnow
from backup.db.queries import applied_snapshots, iter_diff
from backup.errors import RepeatedCursor, TransientError, UsageError
from backup.snapshot import (
    DROP_GUARD_MIN_PREVIOUS,
    MAX_HANDLE,
    MAX_TEXT,
    Outcome,
    Page,
    ProfileRecord,
    accept_snapshot,
    recover_interrupted,
    run_api_snapshot,
    save_page,
    start_snapshot,
)

KIND = "follower"
PER_PAGE = 3


# ---------------------------------------------------------------------------------------------
# A fake platform and helpers


def pid(n: int) -> str:
    """A Mastodon-style stable id (an account URI)."""
    return f"https://social.example/users/u{n:03d}"


def people(ns: Iterable[int]) -> list[ProfileRecord]:
    return [ProfileRecord(platform_id=pid(n), handle=f"u{n:03d}@social.example", display_name=f"User {n}") for n in ns]


def chunk(records: list[ProfileRecord], size: int = PER_PAGE) -> list[list[ProfileRecord]]:
    return [records[i:i + size] for i in range(0, len(records), size)] or [[]]


class FakePlatform:
    """`fetch_page(kind, cursor) -> Page` over in-memory pages; page i is served for `cursor(i)`.

    `next_cursors` overrides what page i says comes next (a platform bug: a repeated cursor);
    `fail_at` is a cursor whose first request raises ConnectionError.
    """

    def __init__(self, pages: list[list[ProfileRecord]], *, next_cursors: dict[int, str | None] | None = None, fail_at: str | None = None):
        self.pages = pages
        self.next_cursors = next_cursors or {}
        self.fail_at = fail_at
        self.requests: list[str | None] = []

    @classmethod
    def of(cls, ns: Iterable[int], **kwargs) -> FakePlatform:
        return cls(chunk(people(ns)), **kwargs)

    @staticmethod
    def cursor(i: int) -> str | None:
        return None if i == 0 else f"opaque-{i}"

    def __call__(self, kind: str, cursor: str | None) -> Page:
        assert kind in (KIND, "subscriber")
        self.requests.append(cursor)
        if cursor is not None and cursor == self.fail_at:
            self.fail_at = None
            raise ConnectionError("connection reset by peer")
        i = 0 if cursor is None else int(cursor.removeprefix("opaque-"))
        default_next = self.cursor(i + 1) if i + 1 < len(self.pages) else None
        return Page(list(self.pages[i]), self.next_cursors.get(i, default_next))


def add_account(engine: Engine, platform: str = "mastodon", handle: str = "ana@social.example") -> Account:
    with engine.begin() as conn:
        return accounts.add(conn, platform, handle)


def night(engine: Engine, account: Account, ns: Iterable[int]) -> Outcome:
    """One complete backup of `ns` through the page loop."""
    return run_api_snapshot(engine, account, KIND, FakePlatform.of(ns))


def current(engine: Engine, account: Account, kind: str = KIND) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(
            select(Relationship.platform_id).where(
                Relationship.account_id == account.id, Relationship.kind == kind, Relationship.until_snapshot_id.is_(None),
            )
        ).scalars())


def intervals(engine: Engine, account: Account) -> list[tuple]:
    """Every relationship row as (platform id, since snapshot, until snapshot, since time, until time).

    The times are those of the snapshots that opened and closed the interval.
    """
    since, until = Snapshot.__table__.alias("since_s"), Snapshot.__table__.alias("until_s")
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(Relationship.platform_id, Relationship.since_snapshot_id, Relationship.until_snapshot_id,
                   since.c.as_of, until.c.as_of)
            .join(since, since.c.id == Relationship.since_snapshot_id)
            .outerjoin(until, until.c.id == Relationship.until_snapshot_id)
            .where(Relationship.account_id == account.id).order_by(Relationship.platform_id, Relationship.since_snapshot_id)
        )]


def snapshot(engine: Engine, snapshot_id: int):
    with engine.connect() as conn:
        return conn.execute(select(Snapshot.__table__).where(Snapshot.id == snapshot_id)).one()


def snapshots_of(engine: Engine, account: Account) -> list:
    with engine.connect() as conn:
        return conn.execute(select(Snapshot.__table__).where(Snapshot.account_id == account.id).order_by(Snapshot.id)).all()


def count_rows(engine: Engine, model, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def staged(engine: Engine, snapshot_id: int) -> int:
    return count_rows(engine, SnapshotItem, SnapshotItem.snapshot_id == snapshot_id)


def diff(engine: Engine, account: Account, a: int, b: int) -> tuple[list[str], list[str]]:
    """(gained, lost) platform ids between the applied snapshots with ids a and b."""
    with engine.connect() as conn:
        applied = {s.id: s for s in applied_snapshots(conn, account.id, KIND)}
        gained, lost = iter_diff(conn, account.id, KIND, applied[a], applied[b])
        return [r["platform_id"] for r in gained], [r["platform_id"] for r in lost]


def assert_verified(engine: Engine) -> None:
    report = verify(engine)
    assert report.ok, report.problems


# ---------------------------------------------------------------------------------------------
# Complete snapshots: intervals and diffs (SPEC §2, §5.3)


def test_first_complete_snapshot_opens_an_interval_for_everyone(engine: Engine) -> None:
    account = add_account(engine)
    source = FakePlatform.of(range(10))

    out = run_api_snapshot(engine, account, KIND, source)

    assert (out.status, out.count, out.gained, out.lost, out.previous_count) == ("complete", 10, 10, 0, None)
    assert source.requests == [None, "opaque-1", "opaque-2", "opaque-3"]  # 3 + 3 + 3 + 1
    snap = snapshot(engine, out.snapshot_id)
    assert (snap.status, snap.seq, snap.count, snap.received, snap.pages, snap.cursor) == ("complete", 1, 10, 10, 4, None)
    rows = intervals(engine, account)
    assert [r[0] for r in rows] == sorted(pid(n) for n in range(10))
    assert all(r[1] == out.snapshot_id and r[2] is None and r[3] == snap.as_of and r[4] is None for r in rows)
    assert staged(engine, out.snapshot_id) == 0
    assert_verified(engine)


def test_second_snapshot_closes_the_lost_and_opens_the_gained(engine: Engine) -> None:
    account = add_account(engine)
    first = night(engine, account, range(10))
    # u002 and u005 leave, u010..u012 arrive.
    second = night(engine, account, [0, 1, 3, 4, 6, 7, 8, 9, 10, 11, 12])

    assert (second.status, second.count, second.gained, second.lost, second.previous_count) == ("complete", 11, 3, 2, 10)
    snap2 = snapshot(engine, second.snapshot_id)
    assert snap2.seq == 2
    by_id = {r[0]: r for r in intervals(engine, account)}
    assert len(by_id) == 13  # one row per profile: nobody came back
    for n in (2, 5):
        assert by_id[pid(n)][1:3] == (first.snapshot_id, second.snapshot_id)
        assert by_id[pid(n)][4] == snap2.as_of
    for n in (10, 11, 12):
        assert by_id[pid(n)][1:3] == (second.snapshot_id, None)
    for n in (0, 1, 3, 4, 6, 7, 8, 9):
        assert by_id[pid(n)][1:3] == (first.snapshot_id, None)
    assert current(engine, account) == {pid(n) for n in (0, 1, 3, 4, 6, 7, 8, 9, 10, 11, 12)}
    assert diff(engine, account, first.snapshot_id, second.snapshot_id) == ([pid(10), pid(11), pid(12)], [pid(2), pid(5)])
    assert_verified(engine)


def test_diffs_across_three_snapshots_and_a_profile_that_comes_back(engine: Engine) -> None:
    account = add_account(engine)
    s1 = night(engine, account, range(10))
    s2 = night(engine, account, [0, *range(2, 10), 10])  # u001 leaves, u010 arrives
    s3 = night(engine, account, [0, 1, *range(3, 10), 10, 11])  # u001 comes back, u002 leaves, u011 arrives

    assert (s3.count, s3.gained, s3.lost) == (11, 2, 1)
    assert diff(engine, account, s1.snapshot_id, s2.snapshot_id) == ([pid(10)], [pid(1)])
    assert diff(engine, account, s2.snapshot_id, s3.snapshot_id) == ([pid(1), pid(11)], [pid(2)])
    # Not consecutive: u001 was there at both ends, so it is neither gained nor lost.
    assert diff(engine, account, s1.snapshot_id, s3.snapshot_id) == ([pid(10), pid(11)], [pid(2)])

    came_back = [r[1:3] for r in intervals(engine, account) if r[0] == pid(1)]
    assert came_back == [(s1.snapshot_id, s2.snapshot_id), (s3.snapshot_id, None)]
    assert_verified(engine)


def test_diff_between_any_two_of_five_snapshots_is_the_set_difference(engine: Engine) -> None:
    """Every pair of five nights, consecutive or not, with profiles that leave and come back and
    profiles that come and go between the two ends (neither gained nor lost)."""
    account = add_account(engine)
    nights = [
        [*range(10), 20, 23, 25, 26],
        [*range(10), 21, 23, 25, 27],
        [*range(10), 20, 22, 25, 27],
        [*range(10), 23, 26, 27],
        [*range(10), 20, 24, 26, 27],
    ]
    ids = [night(engine, account, ns).snapshot_id for ns in nights]
    for i in range(5):
        for j in range(i + 1, 5):
            a, b = {pid(n) for n in nights[i]}, {pid(n) for n in nights[j]}
            assert diff(engine, account, ids[i], ids[j]) == (sorted(b - a), sorted(a - b)), (i + 1, j + 1)
    assert diff(engine, account, ids[0], ids[4]) == ([pid(24), pid(27)], [pid(23), pid(25)])


def test_an_unchanged_night_adds_one_snapshot_row_and_nothing_else(engine: Engine) -> None:
    account = add_account(engine)
    night(engine, account, range(10))
    with engine.connect() as conn:
        relationships_before = conn.execute(select(Relationship.__table__).order_by(Relationship.account_id, Relationship.kind, Relationship.platform_id, Relationship.since_snapshot_id)).all()
        profiles_before = conn.execute(select(Profile.__table__).order_by(Profile.platform, Profile.platform_id)).all()
    snapshots_before = count_rows(engine, Snapshot)

    out = night(engine, account, range(10))

    assert (out.status, out.count, out.gained, out.lost) == ("complete", 10, 0, 0)
    assert count_rows(engine, Snapshot) == snapshots_before + 1
    assert count_rows(engine, SnapshotItem) == 0
    with engine.connect() as conn:
        assert conn.execute(select(Relationship.__table__).order_by(Relationship.account_id, Relationship.kind, Relationship.platform_id, Relationship.since_snapshot_id)).all() == relationships_before
        # Unchanged profiles are not rewritten (updated_at included).
        assert conn.execute(select(Profile.__table__).order_by(Profile.platform, Profile.platform_id)).all() == profiles_before
    assert_verified(engine)


def test_a_changed_profile_is_updated_without_touching_relationships(engine: Engine) -> None:
    account = add_account(engine)
    night(engine, account, range(4))
    before = intervals(engine, account)
    renamed = people(range(4))
    renamed[1].display_name = "Renamed"
    run_api_snapshot(engine, account, KIND, FakePlatform(chunk(renamed)))

    with engine.connect() as conn:
        assert conn.execute(select(Profile.display_name).where(Profile.platform_id == pid(1))).scalar_one() == "Renamed"
    assert intervals(engine, account) == before
    assert_verified(engine)


def test_a_profile_seen_twice_counts_once_and_its_last_version_wins(engine: Engine) -> None:
    account = add_account(engine)
    pages = people(range(4))
    again = ProfileRecord(platform_id=pid(1), handle="u001@social.example", display_name="Seen last")
    out = run_api_snapshot(engine, account, KIND, FakePlatform([pages[:3], [pages[3], again]]))

    assert (out.status, out.count, out.gained) == ("complete", 4, 4)
    assert snapshot(engine, out.snapshot_id).received == 5
    with engine.connect() as conn:
        assert conn.execute(select(Profile.display_name).where(Profile.platform_id == pid(1))).scalar_one() == "Seen last"
    assert_verified(engine)


def test_other_accounts_and_kinds_are_untouched(engine: Engine) -> None:
    ana = add_account(engine)
    bob = add_account(engine, handle="bob@social.example")
    night(engine, ana, range(6))
    night(engine, bob, range(6))  # the same six people follow both
    run_api_snapshot(engine, ana, "following", lambda kind, cursor: Page(people(range(3)), None))
    bob_before, following_before = intervals(engine, bob), current(engine, ana, "following")

    out = night(engine, ana, range(2))  # four of them stop following ana

    assert (out.status, out.lost) == ("complete", 4)
    assert intervals(engine, bob) == bob_before
    assert current(engine, ana, "following") == following_before == {pid(n) for n in range(3)}
    assert count_rows(engine, Profile) == 6  # one profile per person, shared by both accounts
    assert_verified(engine)


# ---------------------------------------------------------------------------------------------
# Interrupted runs: partial, resumable, and nobody is lost (SPEC §5.2, §5.3)


def test_a_failed_fetch_leaves_a_partial_snapshot_that_the_next_run_resumes(engine: Engine) -> None:
    account = add_account(engine)
    first = night(engine, account, range(10))
    before = intervals(engine, account)
    tonight = [0, 1, 3, 4, 6, 7, 8, 9, 10, 11, 12]  # u002, u005 gone; u010..u012 new: 4 pages
    source = FakePlatform.of(tonight, fail_at=FakePlatform.cursor(2))

    with pytest.raises(ConnectionError):
        run_api_snapshot(engine, account, KIND, source)

    assert source.requests == [None, "opaque-1", "opaque-2"]
    partial = snapshot(engine, first.snapshot_id + 1)
    assert (partial.status, partial.cursor, partial.pages, partial.received, partial.seq) == ("partial", "opaque-2", 2, 6, None)
    assert staged(engine, partial.id) == 6
    assert intervals(engine, account) == before  # nobody lost, nobody gained
    assert_verified(engine)

    source.requests.clear()
    out = run_api_snapshot(engine, account, KIND, source)

    assert source.requests == ["opaque-2", "opaque-3"]  # page 3 again, not page 1
    assert out.snapshot_id == partial.id
    assert (out.status, out.count, out.gained, out.lost) == ("complete", 11, 3, 2)
    assert current(engine, account) == {pid(n) for n in tonight}
    assert count_rows(engine, Snapshot) == 2
    assert staged(engine, partial.id) == 0
    assert_verified(engine)


def test_a_partial_first_snapshot_changes_nothing(engine: Engine) -> None:
    account = add_account(engine)
    source = FakePlatform.of(range(9), fail_at=FakePlatform.cursor(1))
    with pytest.raises(ConnectionError):
        run_api_snapshot(engine, account, KIND, source)

    assert count_rows(engine, Relationship) == 0
    assert count_rows(engine, Profile) == 0
    (snap,) = snapshots_of(engine, account)
    assert (snap.status, snap.cursor, snap.received) == ("partial", "opaque-1", 3)
    assert_verified(engine)
    # verify mentions it as information (it resumes on the next run), not as a problem
    assert verify(engine).checks["interrupted snapshots (they resume on the next run)"] == f"1: ids {snap.id}"

    out = run_api_snapshot(engine, account, KIND, source)
    assert (out.snapshot_id, out.count, out.gained) == (snap.id, 9, 9)
    assert_verified(engine)


@pytest.mark.parametrize(
    "next_cursors, requests",
    [
        ({2: "opaque-1"}, [None, "opaque-1", "opaque-2"]),  # page 3 points back at page 2
        ({1: "opaque-1"}, [None, "opaque-1"]),  # the cursor does not advance (Bluesky has shipped this)
    ],
    ids=["back-to-an-earlier-page", "does-not-advance"],
)
def test_a_repeated_cursor_is_an_error_not_a_loop(engine: Engine, next_cursors: dict, requests: list) -> None:
    account = add_account(engine)
    first = night(engine, account, range(12))
    before = intervals(engine, account)
    source = FakePlatform.of(range(12), next_cursors=next_cursors)

    with pytest.raises(RepeatedCursor) as exc:
        run_api_snapshot(engine, account, KIND, source)

    assert exc.value.exit_code == TransientError.exit_code
    assert source.requests == requests
    snap = snapshot(engine, first.snapshot_id + 1)
    assert snap.status == "partial"
    assert snap.cursor == requests[-1]  # the page with the bad cursor was not saved
    assert snap.received == PER_PAGE * (len(requests) - 1)
    assert intervals(engine, account) == before
    assert_verified(engine)


def test_short_and_empty_pages_do_not_end_the_snapshot(engine: Engine) -> None:
    account = add_account(engine)
    pages = [people([0, 1, 2]), [], people([3]), [], [], people([4, 5]), []]  # only the last page has no next cursor
    source = FakePlatform(pages)

    out = run_api_snapshot(engine, account, KIND, source)

    assert source.requests == [FakePlatform.cursor(i) for i in range(len(pages))]
    assert (out.status, out.count, out.gained) == ("complete", 6, 6)
    assert snapshot(engine, out.snapshot_id).pages == len(pages)
    assert current(engine, account) == {pid(n) for n in range(6)}
    assert_verified(engine)


def test_a_passed_deadline_stops_with_a_resumable_partial_snapshot(engine: Engine) -> None:
    account = add_account(engine)
    ticks = iter(range(100))
    source = FakePlatform.of(range(12))  # 4 pages

    with pytest.raises(TransientError, match="time limit"):
        run_api_snapshot(engine, account, KIND, source, clock=lambda: next(ticks), deadline=1.5)

    assert source.requests == [None, "opaque-1"]  # the clock said 0, 1, then 2 > 1.5
    (snap,) = snapshots_of(engine, account)
    assert (snap.status, snap.cursor, snap.pages, snap.received) == ("partial", "opaque-2", 2, 6)
    assert count_rows(engine, Relationship) == 0
    assert_verified(engine)

    out = run_api_snapshot(engine, account, KIND, source)
    assert source.requests[2:] == ["opaque-2", "opaque-3"]
    assert (out.snapshot_id, out.status, out.count) == (snap.id, "complete", 12)
    assert_verified(engine)


def test_more_pages_than_the_cap_stop_the_run(engine: Engine) -> None:
    account = add_account(engine)
    source = FakePlatform.of(range(12))
    with pytest.raises(TransientError, match="more than 2 pages"):
        run_api_snapshot(engine, account, KIND, source, max_pages=2)
    (snap,) = snapshots_of(engine, account)
    assert (snap.status, snap.pages) == ("partial", 2)
    assert count_rows(engine, Relationship) == 0
    assert_verified(engine)


def test_recover_interrupted_makes_running_snapshots_partial(engine: Engine) -> None:
    account = add_account(engine)
    done = night(engine, account, range(5))
    # A run that died after saving its first page: still `running`, nobody left to finish it.
    with engine.begin() as conn:
        dead = start_snapshot(conn, account, KIND, "api", utcnow())
        save_page(conn, dead, people([0, 1, 2]), FakePlatform.cursor(1))

    with engine.begin() as conn:
        assert recover_interrupted(conn) == 1
    assert snapshot(engine, dead).status == "partial"
    assert snapshot(engine, done.snapshot_id).status == "complete"
    with engine.begin() as conn:
        assert recover_interrupted(conn) == 0
    assert_verified(engine)

    source = FakePlatform.of(range(5))
    out = run_api_snapshot(engine, account, KIND, source)
    assert source.requests == ["opaque-1"]
    assert (out.snapshot_id, out.status, out.count, out.gained, out.lost) == (dead, "complete", 5, 0, 0)
    assert_verified(engine)


def test_a_run_that_died_after_its_last_page_completes_without_fetching(engine: Engine) -> None:
    account = add_account(engine)
    night(engine, account, range(5))
    with engine.begin() as conn:  # every page saved, then killed before completion
        dead = start_snapshot(conn, account, KIND, "api", utcnow())
        save_page(conn, dead, people(range(1, 6)), None)
    with engine.begin() as conn:
        recover_interrupted(conn)

    source = FakePlatform.of(range(100))
    out = run_api_snapshot(engine, account, KIND, source)

    assert source.requests == []
    assert (out.snapshot_id, out.status, out.count, out.gained, out.lost) == (dead, "complete", 5, 1, 1)
    assert_verified(engine)


# ---------------------------------------------------------------------------------------------
# Drop guard (SPEC §5.4)


def test_a_drop_below_half_is_held_back_as_suspect_until_accepted(engine: Engine) -> None:
    account = add_account(engine)
    night(engine, account, range(20))
    before = intervals(engine, account)

    held = night(engine, account, range(9))  # 9 < 20 / 2

    assert (held.status, held.count, held.previous_count) == ("suspect", 9, 20)
    snap = snapshot(engine, held.snapshot_id)
    assert (snap.status, snap.seq, snap.count) == ("suspect", None, 9)
    assert staged(engine, held.snapshot_id) == 9  # kept for `snapshots accept`
    assert intervals(engine, account) == before
    assert_verified(engine)

    accepted = accept_snapshot(engine, held.snapshot_id)

    assert (accepted.status, accepted.count, accepted.gained, accepted.lost) == ("complete", 9, 0, 11)
    snap = snapshot(engine, held.snapshot_id)
    assert (snap.status, snap.seq, snap.lost) == ("complete", 2, 11)
    assert current(engine, account) == {pid(n) for n in range(9)}
    assert staged(engine, held.snapshot_id) == 0
    assert_verified(engine)
    with pytest.raises(UsageError, match="not suspect"):
        accept_snapshot(engine, held.snapshot_id)


@pytest.mark.parametrize(
    "previous, tonight, status",
    [
        (DROP_GUARD_MIN_PREVIOUS - 1, 1, "complete"),  # too small an audience for the guard
        (20, 10, "complete"),  # exactly half is not "below half"
        (20, 9, "suspect"),
        (40, 0, "suspect"),  # "showing zero followers" one morning
    ],
)
def test_drop_guard_thresholds(engine: Engine, previous: int, tonight: int, status: str) -> None:
    account = add_account(engine)
    night(engine, account, range(previous))
    out = night(engine, account, range(tonight))
    assert out.status == status
    assert current(engine, account) == {pid(n) for n in range(tonight if status == "complete" else previous)}
    assert_verified(engine)


def test_drop_guard_compares_with_the_same_kind_only(engine: Engine) -> None:
    account = add_account(engine)
    run_api_snapshot(engine, account, "following", lambda kind, cursor: Page(people(range(30)), None))
    out = night(engine, account, range(2))
    assert (out.status, out.previous_count) == ("complete", None)
    assert_verified(engine)


def test_a_suspect_snapshot_cannot_be_accepted_after_a_newer_one_was_applied(engine: Engine) -> None:
    account = add_account(engine)
    night(engine, account, range(20))
    held = night(engine, account, range(5))
    assert held.status == "suspect"
    newer = night(engine, account, range(1, 21))
    assert (newer.status, newer.gained, newer.lost) == ("complete", 1, 1)
    assert staged(engine, held.snapshot_id) == 0  # its staging went when the newer one was applied
    before = intervals(engine, account)

    with pytest.raises(UsageError, match="older than the applied snapshot"):
        accept_snapshot(engine, held.snapshot_id)

    assert snapshot(engine, held.snapshot_id).status == "suspect"
    assert intervals(engine, account) == before
    assert_verified(engine)


def test_accepting_an_unknown_snapshot_is_a_usage_error(engine: Engine) -> None:
    with pytest.raises(UsageError, match="no snapshot 999"):
        accept_snapshot(engine, 999)


# ---------------------------------------------------------------------------------------------
# Hostile strings (SPEC §10): stored the same on both databases, nothing crashes

RTL = "\u202e"
HOSTILE = [
    ProfileRecord(platform_id="h1", handle="nul\x00handle", display_name="Ada\x00Lovelace", bio=f"{RTL}gnp.exe"),
    ProfileRecord(platform_id="h2", handle="h" * 10_000, display_name="x" * 10_000, bio="y" * 100_000,
                  url="https://e.example/" + "z" * 10_000, website="w\x00" * 5_000),
    ProfileRecord(platform_id="h3", handle="fox", display_name="🦊 Fox 👩🏽‍💻", bio="=cmd|' /C calc'!A0",
                  website="=HYPERLINK(\"http://evil.example\")", data={"note": "nul\x00 in json", "rtl": RTL}),
    ProfileRecord(platform_id="=cmd|' /C calc'!A0", display_name="<script>alert(1)</script>", bio="+1 -1 @SUM(A1)\t\r"),
]


def _stored(value: str | None, limit: int = MAX_TEXT) -> str | None:
    """What the engine promises to keep: the text without NUL characters, at most `limit` characters."""
    return None if value is None else value.replace("\x00", "")[:limit]


def test_hostile_strings_are_stored_identically_on_both_databases(engine: Engine) -> None:
    account = add_account(engine)
    out = run_api_snapshot(engine, account, KIND, FakePlatform([HOSTILE[:2], HOSTILE[2:]]))
    assert (out.status, out.count) == ("complete", len(HOSTILE))

    with engine.connect() as conn:
        rows = {r.platform_id: r for r in conn.execute(select(Profile.__table__))}
    assert set(rows) == {r.platform_id for r in HOSTILE}
    for record in HOSTILE:
        row = rows[record.platform_id]
        assert row.handle == _stored(record.handle, MAX_HANDLE)
        for field in ("display_name", "bio", "url", "website"):
            assert getattr(row, field) == _stored(getattr(record, field)), field
        assert (json.loads(row.data) if row.data else None) == record.data  # JSON escapes NUL: kept exactly
    # Spelled out, for the reader: what survives untouched and what is cut.
    assert rows["h1"].display_name == "AdaLovelace"
    assert rows["h1"].bio == f"{RTL}gnp.exe"
    assert rows["h3"].display_name == "🦊 Fox 👩🏽‍💻"
    assert rows["h3"].bio == "=cmd|' /C calc'!A0"
    assert len(rows["h2"].bio) == MAX_TEXT and len(rows["h2"].handle) == MAX_HANDLE
    assert rows["h2"].website == "w" * min(5_000, MAX_TEXT)  # NULs go first, then the cut
    assert_verified(engine)

    # The same records again: nothing changed, so nothing is rewritten.
    again = run_api_snapshot(engine, account, KIND, FakePlatform([HOSTILE]))
    assert (again.status, again.gained, again.lost) == ("complete", 0, 0)
    with engine.connect() as conn:
        assert {r.platform_id: r for r in conn.execute(select(Profile.__table__))} == rows
    assert_verified(engine)


def test_hostile_contact_points_are_stored(engine: Engine) -> None:
    account = add_account(engine, "newsletter", "letters")
    record = ProfileRecord(platform_id="c1", contacts=[("email", "a\x00b@example.org", "unknown"), ("phone", f"{RTL}+1 555", None)])
    out = run_api_snapshot(engine, account, KIND, FakePlatform([[record]]))
    assert out.status == "complete"
    with engine.connect() as conn:
        values = set(conn.execute(select(ContactPoint.kind, ContactPoint.value)).all())
    assert values == {("email", "ab@example.org"), ("phone", f"{RTL}+1 555")}
    assert_verified(engine)


def test_unchanged_values_survive_a_partial_record(engine: Engine) -> None:
    """A later record without a field (an X archive has no names) keeps the stored value."""
    account = add_account(engine)
    night(engine, account, range(3))
    bare = [ProfileRecord(platform_id=pid(n)) for n in range(3)]
    run_api_snapshot(engine, account, KIND, FakePlatform([bare]))
    with engine.connect() as conn:
        names = set(conn.execute(select(Profile.display_name)).scalars())
    assert names == {"User 0", "User 1", "User 2"}
    assert_verified(engine)


# ---------------------------------------------------------------------------------------------
# Records that are not members; consent as a newsletter export states it; the suppression list


def reader(email: str, consent: str, member: bool = True) -> ProfileRecord:
    return ProfileRecord(platform_id=email, contacts=[("email", email, consent)], member=member)


def consents(engine: Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        return dict(conn.execute(select(ContactPoint.value, ContactPoint.consent)).all())


def suppressed(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(Suppression.value)).scalars())


def newsletter_night(engine: Engine, account: Account, records: list[ProfileRecord]) -> Outcome:
    return run_api_snapshot(engine, account, "subscriber", FakePlatform([records]))


def test_records_that_are_not_members_keep_their_profile_and_contacts_but_no_relationship(engine: Engine) -> None:
    account = add_account(engine, "newsletter", "letters")
    out = newsletter_night(engine, account, [
        reader("ana@example.org", "opted_in"), reader("bo@example.org", "unsubscribed", member=False),
    ])

    assert (out.status, out.count, out.gained) == ("complete", 1, 1)
    assert current(engine, account, "subscriber") == {"ana@example.org"}
    assert count_rows(engine, Profile) == 2
    assert consents(engine) == {"ana@example.org": "opted_in", "bo@example.org": "unsubscribed"}
    assert suppressed(engine) == {"bo@example.org"}
    assert_verified(engine)


def test_a_stated_consent_replaces_the_stored_one_and_unknown_never_does(engine: Engine) -> None:
    account = add_account(engine, "newsletter", "letters")
    newsletter_night(engine, account, [reader("ana@example.org", "opted_in"), reader("bo@example.org", "opted_in")])
    # Night 2: Ana unsubscribed; Bo's record comes without a stated consent (a CSV with no status).
    newsletter_night(engine, account, [reader("ana@example.org", "unsubscribed", member=False), reader("bo@example.org", "unknown")])

    assert consents(engine) == {"ana@example.org": "unsubscribed", "bo@example.org": "opted_in"}
    assert current(engine, account, "subscriber") == {"bo@example.org"}
    assert suppressed(engine) == {"ana@example.org"}
    assert_verified(engine)


def test_a_resubscription_lifts_only_the_suppression_this_newsletter_made(engine: Engine) -> None:
    letters = add_account(engine, "newsletter", "letters")
    other = add_account(engine, "newsletter", "other")
    newsletter_night(engine, letters, [reader("Ana@Example.org", "unsubscribed", member=False), reader("cy@example.org", "opted_in")])
    newsletter_night(engine, other, [reader("bo@example.org", "unsubscribed", member=False), reader("dee@example.org", "opted_in")])
    assert suppressed(engine) == {"ana@example.org", "bo@example.org"}  # emails lower-cased

    # Ana subscribes to `letters` again; Bo turns up subscribed on `letters`, but it was `other` he left.
    newsletter_night(engine, letters, [
        reader("Ana@Example.org", "opted_in"), reader("bo@example.org", "opted_in"), reader("cy@example.org", "opted_in"),
    ])

    assert suppressed(engine) == {"bo@example.org"}
    assert_verified(engine)


def test_readers_kept_without_a_subscription_do_not_hide_a_drop_of_the_members(engine: Engine) -> None:
    account = add_account(engine, "newsletter", "letters")
    newsletter_night(engine, account, [reader(f"r{n}@example.org", "opted_in") for n in range(30)])
    # Tonight 25 of the 30 unsubscribed: 5 members, 25 non-members; 30 records in all.
    records = [reader(f"r{n}@example.org", "opted_in") for n in range(5)]
    records += [reader(f"r{n}@example.org", "unsubscribed", member=False) for n in range(5, 30)]
    out = newsletter_night(engine, account, records)
    assert out.status == "suspect"  # 5 < 30 / 2: held back for the user to confirm
    assert len(current(engine, account, "subscriber")) == 30
    # ... but the opt-outs are honoured at once: they never wait for the drop to be confirmed.
    assert suppressed(engine) == {f"r{n}@example.org" for n in range(5, 30)}
    assert_verified(engine)


def test_every_new_profile_gets_a_person_of_its_own(engine: Engine) -> None:
    """Readers can count on a person per profile right after a snapshot, before any linking."""
    account = add_account(engine)
    night(engine, account, range(30))
    night(engine, account, range(10, 45))
    with engine.connect() as conn:
        rows = conn.execute(select(Profile.platform_id, Profile.person_id)).all()
        persons = conn.execute(select(func.count()).select_from(Person)).scalar_one()
    assert len(rows) == 45 and all(p is not None for _, p in rows)
    assert len({p for _, p in rows}) == 45 == persons
    assert_verified(engine)


@pytest.mark.parametrize("ids_only", [False, True], ids=["with-fields", "ids-only"])
def test_a_profile_another_writer_adds_meanwhile_does_not_fail_the_snapshot(pg_engine: Engine, monkeypatch, ids_only: bool) -> None:
    """PostgreSQL with several workers (SQLite has one writer at a time): a shared follower
    inserted by another transaction between the anti-join and the insert. The snapshot
    completes; the profiles it could not give a person get one from the next link run."""
    from backup import faults

    engine = pg_engine

    account = add_account(engine)
    original = faults.hit

    def race(name: str) -> None:
        if name == "new-profiles-found":
            with engine.begin() as other:
                other.execute(Profile.__table__.insert().values(
                    platform=account.platform, platform_id=pid(3), first_seen_at=utcnow(), updated_at=utcnow()))
        original(name)

    monkeypatch.setattr(faults, "hit", race)
    records = [ProfileRecord(platform_id=pid(n)) for n in range(10)] if ids_only else people(range(10))
    outcome = run_api_snapshot(engine, account, KIND, FakePlatform(chunk(records)))
    assert outcome.status == "complete" and current(engine, account) == {pid(n) for n in range(10)}
    with engine.connect() as conn:
        without = sorted(conn.execute(select(Profile.platform_id).where(Profile.person_id.is_(None))).scalars())
    # with fields the upsert takes the race in its stride and only that profile waits; ids only,
    # the plain insert fails and the fallback upsert leaves all new ones to linking
    assert without == ([pid(n) for n in range(10)] if ids_only else [pid(3)])
    from backup.people.link import run_link

    run_link(engine)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(Profile.person_id.is_(None))).scalar_one() == 0
    assert_verified(engine)
