"""Never twice (SPEC §8, reliability check 32): the sender is killed with SIGKILL at every
step of a send, and no recipient ever gets two messages of a campaign.

The sender runs in a subprocess (``crash_driver.py``) against the real SMTP server or the
fake Mastodon in this process. ``AUDIENCE_FAULT`` kills it at a fault point, at the n-th
message:

- ``campaign.claimed``: `sending` is committed, nothing went out;
- ``campaign.sent``: the provider accepted the message, the record is not committed;
- ``campaign.recorded``: the outcome is committed.

Then the campaign is run again to the end. Each time: deliveries per recipient <= 1; the
message the kill interrupted is `unknown` (claimed/sent) and was not sent again; all others
were delivered exactly once. For Mastodon, `retry-unknown` within the hour then delivers the
interrupted one exactly once (the Idempotency-Key makes the repeat of a delivered one a no-op).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from exporters.campaigns import model, plan
from tests.connectors.fakes import FakeClock

from .conftest import record_opt_in, set_account
from .fakes import MastodonDM
from .test_send import (
    MASTO_TOKEN,
    TWO_VARIANTS,
    add_people,
    email_options,
    messages,
    options,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("crash_driver.py")
TIMEOUT = 120
POINTS = ("campaign.claimed", "campaign.sent", "campaign.recorded")
START = 1_800_000_000.0


def run_driver(url: str, name: str, start: float, home: Path, fault: str | None = None, output: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("AUDIENCE_FAULT", "AUDIENCE_DB")}
    env.update(AUDIENCE_HOME=str(home), MASTO_TOKEN=MASTO_TOKEN, PYTHONPATH=str(REPO))
    if fault:
        env["AUDIENCE_FAULT"] = fault
    args = [sys.executable, str(DRIVER), url, name, str(start)] + ([str(output)] if output else [])
    return subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def finish(engine: Engine, name: str, home: Path, start: float, output: Path | None = None) -> float:
    """Run the sender until nothing is planned (a day later each time: the daily cap)."""
    for _ in range(5):
        start += 86_400
        result = run_driver(url_of(engine), name, start, home, output=output)
        assert result.returncode == 0, result.stdout + result.stderr
        if not any(m.state in ("planned", "sending") for m in messages(engine, name)):
            return start
    raise AssertionError(f"the campaign did not finish: {[m.state for m in messages(engine, name)]}")


def check_crash(engine: Engine, name: str, point: str, n: int, killed: subprocess.CompletedProcess, delivered: dict[str, int]) -> None:
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    rows = messages(engine, name)
    assert all(count <= 1 for count in delivered.values()), delivered  # never twice
    interrupted = rows[n - 1]
    if point == "campaign.recorded":
        assert all(m.state == "sent" for m in rows)
        assert all(delivered.get(m.address) == 1 for m in rows)
        return
    assert interrupted.state == "unknown" and "may or may not" in interrupted.reason
    assert delivered.get(interrupted.address, 0) == (1 if point == "campaign.sent" else 0)
    for m in rows:
        if m.id != interrupted.id:
            assert m.state == "sent" and delivered.get(m.address) == 1, (m.address, m.state, delivered)


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("n", [1, 2])
def test_email_killed_at_every_step_never_sends_twice(store: Engine, clock, smtp, tmp_path, point, n):
    record_opt_in(store, 2, "bo@bo.example")  # three recipients, all with a recorded opt-in
    plan.create_campaign(store, email_options(smtp.url), clock=clock)
    killed = run_driver(url_of(store), "invite", START, tmp_path / "home", fault=f"{point}:{n}")
    finish(store, "invite", tmp_path / "home", START)
    check_crash(store, "invite", point, n, killed, smtp.per_recipient())
    assert sorted(smtp.per_recipient()) == sorted(
        m.address for m in messages(store, "invite") if m.state == "sent" or (m.state == "unknown" and point == "campaign.sent"))


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("n", [1, 3])
def test_mastodon_killed_at_every_step_never_sends_twice(store: Engine, clock, tmp_path, monkeypatch, point, n):
    fake = MastodonDM(token=MASTO_TOKEN, known={"bo@fosstodon.org", "fay@mastodon.social"} | {f"p{i}@remote.example" for i in range(100, 102)},
                      clock=FakeClock(START))
    try:
        monkeypatch.setenv("MASTO_TOKEN", MASTO_TOKEN)
        set_account(store, 2, token_env="MASTO_TOKEN", server=fake.url)
        add_people(store, "mastodon", 2)
        plan.create_campaign(store, options(channel="mastodon", template=TWO_VARIANTS), clock=clock)
        killed = run_driver(url_of(store), "invite", START, tmp_path / "home", fault=f"{point}:{n}")
        finish(store, "invite", tmp_path / "home", START)

        def delivered() -> dict[str, int]:
            return {k: len(v) for k, v in fake.delivered.items()}

        check_crash(store, "invite", point, n, killed, delivered())
        if point == "campaign.recorded":
            return
        # The user asks to send the unknown one again, within the hour Mastodon keeps the key.
        campaign_id = messages(store, "invite")[0].campaign_id
        assert model.retry_unknown(store, campaign_id) == 1
        finish(store, "invite", tmp_path / "home", START)
        assert all(m.state == "sent" for m in messages(store, "invite"))
        assert set(delivered().values()) == {1} and len(delivered()) == 4
    finally:
        fake.close()


@pytest.mark.parametrize("point", POINTS)
def test_manual_killed_at_every_step_never_hands_a_message_over_twice(store: Engine, clock, tmp_path, point):
    plan.create_campaign(store, options(channel="manual", template="Hi {{ name }}\n---\nHello {{ name }}"), clock=clock)
    out = tmp_path / "today.csv"
    killed = run_driver(url_of(store), "invite", START, tmp_path / "home", fault=f"{point}:1", output=out)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    rows = messages(store, "invite")
    expected = {"campaign.claimed": ("sending", False), "campaign.sent": ("sending", True), "campaign.recorded": ("sent", True)}[point]
    assert {m.state for m in rows} == {expected[0]} and out.exists() == expected[1]
    again = run_driver(url_of(store), "invite", START + 86_400 * 2, tmp_path / "home", output=tmp_path / "again.csv")
    assert again.returncode == 0, again.stdout + again.stderr
    report = json.loads(again.stdout)
    assert report["outcomes"] == {}  # nothing handed over twice
    assert report["recovered"] == (len(rows) if expected[0] == "sending" else 0)
    assert {m.state for m in messages(store, "invite")} == {"unknown" if expected[0] == "sending" else "sent"}
    assert not (tmp_path / "again.csv").exists()
