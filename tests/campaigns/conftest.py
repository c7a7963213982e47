"""Fixtures for the campaign tests: a fake clock the sender sleeps on, the known store of
``tests/exports/world.py``, and the local SMTP server."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, insert, update

from backup.db.engine import write
from backup.db.models import Account, ContactPoint
from exporters.campaigns import sender as sender_module
from exporters.campaigns.pacing import Clock
from tests.exports import world

from .fakes import FakeClock, SmtpSink


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def clock(fake_clock: FakeClock) -> Clock:
    """The sender's clock: fake time, sleeps that only move it, a seeded random (jitter)."""
    return Clock(time=fake_clock.time, monotonic=fake_clock.monotonic, sleep=fake_clock.sleep, random=random.Random(7).random)


@pytest.fixture
def cli_clock(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Commands run in-process use the fake clock too."""
    monkeypatch.setattr(sender_module, "default_clock", lambda: clock)
    return clock


@pytest.fixture
def store(engine: Engine) -> Engine:
    """The export tests' known store (8 persons, accounts x:ana, mastodon:ana@social.example,
    newsletter:letters, bluesky:ana.example.com)."""
    world.build(engine)
    return engine


def set_account(engine: Engine, account_id: int, **values) -> None:
    with write(engine) as conn:
        conn.execute(update(Account).where(Account.id == account_id).values(**values))


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    yield sink
    sink.close()


def record_opt_in(engine: Engine, person_id: int, address: str, *, source: str = "signup-form.csv",
                  at: dt.datetime = world.T1) -> None:
    """The person opted in to my mail with this address: an `opted_in` record with its source and
    time (what a newsletter import or a sign-up form stores), next to whatever records the
    address already had (Bo's is an `unknown` one read from his bio)."""
    with write(engine) as conn:
        conn.execute(insert(ContactPoint).values(person_id=person_id, platform=None, platform_id=None, kind="email",
                                                 value=address, source=source, consent="opted_in", created_at=at))
