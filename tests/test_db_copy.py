"""`audience db copy` (SQLite into PostgreSQL and back) and PostgreSQL's COPY staging path.

The source is the demo database (X archives a month apart, so closed intervals; a newsletter,
so contact points with consent and suppressions) plus an interrupted API snapshot with staged
rows, a suspect snapshot, and persons with every identity table filled: every table has rows.
Every row of every table must arrive exactly (times, JSON, booleans, floats, ids), the target
must pass `db verify`, its sequences must continue after the copied ids, and the password of
the target URL must never be printed, whatever happens.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from conftest import drop_pg_schema, pg_schema_url
from sqlalchemy import Engine, insert, select, text, update
from sqlalchemy.engine import make_url

from backup import accounts
from backup.db import copy as db_copy
from backup.db.engine import make_engine, write
from backup.db.maintenance import skip_foreign_key_checks, verify
from backup.db.migrate import ensure_schema
from backup.db.models import (
    Base,
    IdentityDecision,
    IdentityLink,
    LinkRun,
    Person,
    PersonTag,
    Profile,
    Relationship,
    Snapshot,
    SnapshotItem,
    TagRule,
    utcnow,
)
from backup.errors import TransientError
from backup.snapshot import (
    IMPORT_STAGING,
    Page,
    ProfileRecord,
    _item_value,
    complete_snapshot,
    ingest,
    run_api_snapshot,
    stage,
    start_snapshot,
)

PASSWORD = "Sw0rdf1sh-not-for-logs"


@pytest.fixture
def pg_url():
    """An empty PostgreSQL schema, addressed by a URL that carries a password (trust auth ignores it)."""
    schema, url = pg_schema_url()
    parsed = make_url(url)
    if parsed.password is None:
        parsed = parsed.set(password=PASSWORD)
    try:
        yield parsed.render_as_string(hide_password=False)
    finally:
        drop_pg_schema(schema)


def _password(url: str) -> str:
    return str(make_url(url).password)


def _rows(url: str | Path) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order, as Python values."""
    engine = make_engine(url if isinstance(url, str) else f"sqlite:///{url}")
    out = {}
    try:
        with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                order = list(table.primary_key.columns) or list(table.columns)
                out[table.name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
    finally:
        engine.dispose()
    return out


@pytest.fixture(scope="module")
def source_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database with rows in every table (built once, copied per test)."""
    from backup.cli import main

    directory = tmp_path_factory.mktemp("copy-source")
    assert main(["demo", "--dir", str(directory / "demo")]) == 0
    db = directory / "demo" / "audience.db"
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    ensure_schema(engine, url)
    with write(engine) as conn:
        ana = accounts.add(conn, "mastodon", "ana@social.example", label="ana", tags=["copy", "é"])
        sus = accounts.add(conn, "bluesky", "ana.bsky.social")

    def interrupted(kind, cursor):  # page 1 arrives, then the connection drops: a partial snapshot
        if cursor is None:
            return Page([ProfileRecord(platform_id=f"https://social.example/users/p{i}", handle=f"p{i}", bio="\u202ebio 🦊")
                         for i in range(5)], "next-page")
        raise TransientError("connection dropped")

    with pytest.raises(TransientError):
        run_api_snapshot(engine, ana, "follower", interrupted)
    # A suspect snapshot keeps its staged rows for `snapshots accept`.
    run_api_snapshot(engine, sus, "follower", lambda k, c: Page([ProfileRecord(platform_id=f"did:plc:{i}") for i in range(30)], None))
    run_api_snapshot(engine, sus, "follower", lambda k, c: Page([ProfileRecord(platform_id="did:plc:0")], None))
    now = utcnow()
    with write(engine) as conn:
        a, b, c = conn.execute(select(Profile.platform, Profile.platform_id).order_by(Profile.platform_id).limit(3)).all()
        p1 = conn.execute(insert(Person).values(name="Ada 🦊", created_at=now).returning(Person.id)).scalar_one()
        p2 = conn.execute(insert(Person).values(name=None, created_at=now).returning(Person.id)).scalar_one()
        for (platform, platform_id), person in ((a, p1), (b, p1), (c, p2)):
            conn.execute(update(Profile).where(Profile.platform == platform, Profile.platform_id == platform_id).values(person_id=person))
        conn.execute(insert(IdentityLink).values(
            a_platform=a[0], a_platform_id=a[1], b_platform=b[0], b_platform_id=b[1], evidence="same_email",
            matched=json.dumps(["ada@example.org"]), confidence=0.95, created_at=now,
        ))
        conn.execute(insert(IdentityDecision).values(
            kind="split", a_platform=a[0], a_platform_id=a[1], b_platform=c[0], b_platform_id=c[1], created_at=now,
        ))
        conn.execute(insert(PersonTag).values(person_id=p1, tag="vip", source="manual", created_at=now))
        conn.execute(insert(TagRule).values(tag="fedi", platform="mastodon", account_id=ana.id, created_at=now))
        conn.execute(insert(LinkRun).values(started_at=now, finished_at=now, profiles_read=3, persons=2, links=1,
                                            refused=json.dumps({"values": []}), created_at=now))
    engine.dispose()
    # A campaign with planned messages (tables of migration 0004).
    template = directory / "invite.txt"
    template.write_text("Hi {{ name }}, find me at {{ link }}\n---\nHello {{ name }}: {{ link }}\n", encoding="utf-8")
    assert main(["--db", str(db), "campaign", "create", "invite", "--channel", "manual", "--template", str(template),
                 "--link", "https://ada.example/join", "--include-unconsented"]) == 0
    return db


@pytest.fixture
def source(source_template: Path, tmp_path: Path) -> Path:
    db = tmp_path / "source.db"
    db.write_bytes(source_template.read_bytes())
    return db


def test_sqlite_to_postgresql_copies_every_row_and_back(source: Path, pg_url: str, tmp_path: Path, run_cli) -> None:
    want = _rows(source)
    assert all(want.values()), {name: len(rows) for name, rows in want.items() if not rows}  # data in every table
    statuses = [row[Snapshot.__table__.columns.keys().index("status")] for row in want["snapshots"]]
    assert {"complete", "partial", "suspect"} <= set(statuses)
    until = Base.metadata.tables["relationships"].columns.keys().index("until_snapshot_id")
    assert any(row[until] is not None for row in want["relationships"])  # closed intervals

    r = run_cli("--db", source, "db", "copy", "--to", pg_url, "--json")
    assert r.exit_code == 0, r.output
    assert PASSWORD not in r.stdout + r.stderr and _password(pg_url) not in r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["tables"] == {name: len(rows) for name, rows in want.items()}
    assert doc["rows"] == sum(len(rows) for rows in want.values())
    assert "***" in doc["target"]

    assert _rows(pg_url) == want  # every row of every table, value for value
    target = make_engine(pg_url)

    v = run_cli("--db", pg_url, "db", "verify", "--json")
    assert v.exit_code == 0, v.output
    assert json.loads(v.stdout)["ok"] is True
    assert json.loads(v.stdout)["checks"]["foreign_key_check"] == "ok"

    # The sequences continue after the copied ids.
    with target.begin() as conn:
        for table in Base.metadata.sorted_tables:
            column = table.autoincrement_column
            if column is None:
                continue
            top = conn.execute(text(f"SELECT COALESCE(MAX({column.name}), 0) FROM {table.name}")).scalar_one()
            following = conn.execute(text("SELECT nextval(pg_get_serial_sequence(:t, :c))"), {"t": table.name, "c": column.name}).scalar_one()
            assert following == top + 1, table.name
    added = run_cli("--db", pg_url, "accounts", "add", "github", "newcomer")
    assert added.exit_code == 0, added.output

    # The staged rows of the interrupted snapshot resume on PostgreSQL: page 2 completes it.
    with target.connect() as conn:
        ana = accounts.resolve(conn, "mastodon:ana@social.example")
        staged = conn.execute(select(SnapshotItem.platform_id).join(Snapshot).where(Snapshot.status == "partial")).scalars().all()
    assert len(staged) == 5
    requested = []

    def rest(kind, cursor):
        requested.append(cursor)
        return Page([ProfileRecord(platform_id="https://social.example/users/p9")], None)

    out = run_api_snapshot(target, ana, "follower", rest)
    assert (out.status, out.count, requested) == ("complete", 6, ["next-page"])
    target.dispose()
    now = _rows(pg_url)

    # And back again: PostgreSQL into a new SQLite file gives the same rows.
    back = tmp_path / "back.db"
    r2 = run_cli("db", "copy", "--from", pg_url, "--to", back)
    assert r2.exit_code == 0, r2.output
    assert PASSWORD not in r2.stdout + r2.stderr
    assert "counts verified" in r2.stdout
    assert _rows(back) == now
    assert run_cli("--db", back, "db", "verify").exit_code == 0


def test_a_used_target_is_refused_and_a_wrong_one_is_named_without_its_password(source: Path, pg_url: str, run_cli) -> None:
    first = run_cli("--db", source, "db", "copy", "--to", pg_url)
    assert first.exit_code == 0, first.output
    assert "***" in first.stdout and PASSWORD not in first.stdout + first.stderr
    before = _rows(pg_url)

    second = run_cli("--db", source, "db", "copy", "--to", pg_url)
    assert second.exit_code == 2, second.output
    assert "already holds audience data" in second.stderr
    assert PASSWORD not in second.stdout + second.stderr
    assert _rows(pg_url) == before  # nothing added, nothing doubled

    same = run_cli("--db", source, "db", "copy", "--to", source)
    assert same.exit_code == 2 and "same database" in same.stderr, same.output

    nowhere = make_url(pg_url).set(port=1, password=PASSWORD).render_as_string(hide_password=False)
    refused = run_cli("--db", source, "db", "copy", "--to", nowhere)
    assert refused.exit_code == 4, refused.output
    assert "cannot open the target database" in refused.stderr
    assert PASSWORD not in refused.stdout + refused.stderr

    garbled = f"postgresql+psycopg://ana:{PASSWORD}@db.example:port/audience"
    bad = run_cli("--db", source, "db", "copy", "--to", garbled)
    assert bad.exit_code == 2, bad.output
    assert PASSWORD not in bad.stdout + bad.stderr


def test_a_count_mismatch_rolls_everything_back(source: Path, pg_url: str, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    real = db_copy._write_by_copy

    def lossy(conn, table, columns, rows):
        rows = list(rows)
        real(conn, table, columns, rows[:-1] if table.name == "relationships" else rows)

    monkeypatch.setattr(db_copy, "_write_by_copy", lossy)
    r = run_cli("--db", source, "db", "copy", "--to", pg_url)
    assert r.exit_code == 3, r.output
    assert "does not match the source" in r.stderr and "relationships" in r.stderr
    assert PASSWORD not in r.stdout + r.stderr
    assert not any(_rows(pg_url).values())  # the target is as empty as before

    monkeypatch.setattr(db_copy, "_write_by_copy", real)
    again = run_cli("--db", source, "db", "copy", "--to", pg_url)
    assert again.exit_code == 0, again.output


# ---------------------------------------------------------------------------------------------
# Staging on PostgreSQL goes through COPY: it must store exactly what executemany stored.

RTL = "\u202e"
HOSTILE = [
    ProfileRecord(platform_id="007", handle="nul\x00handle", display_name="Ada\x00Lovelace", bio=f"{RTL}gnp.exe"),
    ProfileRecord(platform_id="123456789012345678901234567890", display_name="🦊 Fox 👩🏽‍💻", bio="y" * 100_000,
                  url="https://e.example/" + "z" * 100_000, website="w\x00" * 5_000, handle="h" * 100_000),
    ProfileRecord(platform_id="\\N", handle="\\N", display_name="tab\there\nnew line\r\\ back\\slash",
                  data={"note": "nul\x00 in json", "rtl": RTL, "big": 2**63, "emoji": "🦊"}, followers_count=2**53 + 1,
                  following_count=0, contacts=[("email", "a\x00b@example.org", "unknown"), ("phone", f"{RTL}+1 555", None)]),
    ProfileRecord(platform_id="1e3", member=False, contacts=[("email", "x@example.org", "unsubscribed")]),
    ProfileRecord(platform_id=f" {RTL}🦊\t", display_name="", bio="=cmd|' /C calc'!A0"),
]
IDS = ["007", "1e3", "123456789012345678901234567890", "\\N", "a\tb", "x\ny", "back\\slash", f"{RTL}🦊", "9" * 19]
FIELDS = [c.name for c in SnapshotItem.__table__.columns if c.name not in ("snapshot_id", "seq")]


def _stage_by_executemany(conn, snapshot_id: int, records: list[ProfileRecord]) -> None:
    """The reference: every column bound row by row, as stage() did before COPY."""
    sql = f"INSERT INTO snapshot_items (snapshot_id, seq, {', '.join(FIELDS)}) VALUES ({', '.join(['%s'] * (len(FIELDS) + 2))})"
    rows = [(snapshot_id, seq, *(_item_value(r, f) for f in FIELDS)) for seq, r in enumerate(records)]
    cursor = conn.connection.driver_connection.cursor()
    cursor.executemany(sql, rows)
    cursor.close()


def _staged(engine: Engine, snapshot_id: int) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(SnapshotItem.seq, *(SnapshotItem.__table__.c[f] for f in FIELDS))
            .where(SnapshotItem.snapshot_id == snapshot_id).order_by(SnapshotItem.seq)
        )]


def test_copy_staging_stores_what_executemany_stored(pg_url: str, tmp_path: Path) -> None:
    stored = {}
    for name, url in (("postgresql", pg_url), ("sqlite", f"sqlite:///{tmp_path / 'stage.db'}")):
        engine = make_engine(url)
        ensure_schema(engine, url)
        with write(engine) as conn:
            account = accounts.add(conn, "mastodon", "ana@social.example")
            ids = [start_snapshot(conn, account, "follower", "api", utcnow()) for _ in range(4)]
            assert stage(conn, ids[0], 0, HOSTILE) == len(HOSTILE)
            assert stage(conn, ids[1], 0, [ProfileRecord(platform_id=i) for i in IDS]) == len(IDS)  # ids only
            if name == "postgresql":
                _stage_by_executemany(conn, ids[2], HOSTILE)
                _stage_by_executemany(conn, ids[3], [ProfileRecord(platform_id=i) for i in IDS])
        stored[name] = [_staged(engine, sid) for sid in ids]
        engine.dispose()
    pg, lite = stored["postgresql"], stored["sqlite"]
    assert pg[0] == pg[2]  # COPY == executemany, full records
    assert pg[1] == pg[3]  # and ids only
    assert pg[0] == lite[0] and pg[1] == lite[1]  # and both as SQLite stores them
    by_id = {row[1]: dict(zip(["seq", *FIELDS], row)) for row in pg[0]}
    assert by_id["007"]["handle"] == "nulhandle" and by_id["007"]["display_name"] == "AdaLovelace"
    assert by_id["\\N"]["handle"] == "\\N" and by_id["\\N"]["display_name"] == "tab\there\nnew line\r\\ back\\slash"
    assert json.loads(by_id["\\N"]["data"])["note"] == "nul\x00 in json"
    assert by_id["\\N"]["followers_count"] == 2**53 + 1
    assert by_id["1e3"]["member"] is False and by_id["007"]["member"] is None
    assert len(by_id["123456789012345678901234567890"]["bio"]) == 4096
    assert [row[1] for row in pg[1]] == IDS


def test_a_profile_another_writer_adds_meanwhile_falls_back_to_the_upsert(pg_url: str) -> None:
    """On PostgreSQL new profiles of an ids-only snapshot are inserted without ON CONFLICT; a
    worker whose account shares a follower may add the same profile meanwhile: then the upsert
    runs instead, and the snapshot completes all the same."""
    engine = make_engine(pg_url)
    ensure_schema(engine, pg_url)
    with write(engine) as conn:
        account = accounts.add(conn, "x", "ana")
    now = utcnow()
    other = engine.connect()
    other_tx = other.begin()
    other.execute(insert(Profile).values(platform="x", platform_id="shared", first_seen_at=now, updated_at=now))
    outcome = {}

    def apply() -> None:
        filled: set[str] = set()
        with write(engine, bulk=True) as conn:
            sid = start_snapshot(conn, account, "follower", "follower.js", now)
            ingest(conn, sid, [ProfileRecord(platform_id=i) for i in ("a", "shared", "z")], filled=filled)
            outcome["out"] = complete_snapshot(conn, sid, staging=IMPORT_STAGING, filled=filled)

    worker = threading.Thread(target=apply)
    worker.start()
    with make_engine(pg_url).connect() as watch:  # until the plain insert waits for the other writer's row
        for _ in range(200):
            waiting = watch.execute(text(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO profiles%'"
            )).scalar_one()
            watch.rollback()  # pg_stat_activity is read once per transaction
            if waiting or not worker.is_alive():
                break
            time.sleep(0.05)
    assert waiting, "the plain insert never waited for the other writer's profile"
    other_tx.commit()  # now the plain insert fails on the primary key, and the upsert runs
    other.close()
    worker.join(30)
    assert (outcome["out"].status, outcome["out"].count) == ("complete", 3)
    with engine.connect() as conn:
        assert sorted(conn.execute(select(Profile.platform_id)).scalars()) == ["a", "shared", "z"]
    assert verify(engine).ok
    engine.dispose()


def test_verify_finds_a_row_without_its_parent_on_postgresql(pg_url: str) -> None:
    """What a bulk apply may skip (the per-row foreign-key triggers), `db verify` checks."""
    engine = make_engine(pg_url)
    ensure_schema(engine, pg_url)
    with write(engine) as conn:
        account = accounts.add(conn, "x", "ana")
        sid = start_snapshot(conn, account, "follower", "api", utcnow())
        if not skip_foreign_key_checks(conn):
            pytest.skip("this role may not skip foreign-key checks")
        conn.execute(insert(Relationship).values(account_id=account.id, kind="follower", platform_id="ghost",
                                                 platform="x", since_snapshot_id=sid))
    report = verify(engine)
    assert not report.ok
    assert any("relationships(platform, platform_id) -> profiles" in p for p in report.problems), report.problems
    engine.dispose()
