"""Fixtures for the connector tests: a fake clock, a fake server per platform, a database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from backup import accounts
from backup.connectors import REGISTRY
from backup.db.engine import make_engine
from backup.db.migrate import ensure_schema
from backup.db.models import Account, Relationship

from .fakes import FAKES, FakeClock, PlatformFake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_fake(platform: str, clock: FakeClock, **kwargs) -> PlatformFake:
    if platform not in FAKES:
        pytest.fail(f"the connector {platform!r} is registered but tests/connectors/fakes.py has no fake server for it")
    return FAKES[platform](clock, **kwargs)


@pytest.fixture(params=sorted(REGISTRY))
def platform(request: pytest.FixtureRequest) -> str:
    """Every registered connector: a new platform gets the conformance suite for free."""
    return request.param


@pytest.fixture
def fake(platform: str, clock: FakeClock) -> Iterator[PlatformFake]:
    server = make_fake(platform, clock)
    yield server
    server.close()
    assert not server.server.errors, server.server.errors[0]


@pytest.fixture
def fake_factory(clock: FakeClock):
    """`fake_factory("mastodon", followers=200)`: a fake server, closed (and checked) at teardown."""
    made: list[PlatformFake] = []

    def make(platform: str, **kwargs) -> PlatformFake:
        server = make_fake(platform, clock, **kwargs)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()
        assert not server.server.errors, server.server.errors[0]


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'audience.db'}"
    engine = make_engine(url)
    ensure_schema(engine, url)
    yield engine
    engine.dispose()


def add_account(engine: Engine, fake: PlatformFake) -> Account:
    with engine.begin() as conn:
        return accounts.add(conn, fake.platform, fake.handle, server=fake.url)


def current_ids(engine: Engine, account: Account, kind: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(
            select(Relationship.platform_id).where(
                Relationship.account_id == account.id, Relationship.kind == kind, Relationship.until_snapshot_id.is_(None),
            )
        ).scalars())
