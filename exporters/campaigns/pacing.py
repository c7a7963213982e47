"""How fast a campaign may send: per-channel budgets well under each platform's rules.

The budgets are those of ``reference/reliability-checks.md`` §1 (sources in brackets there):

| channel | platform rule | our budget |
|---|---|---|
| email | Gmail's bulk-sender threshold is 5,000/day [GMAIL]; CAN-SPAM footer and opt-out | <= 200/day per sending domain |
| mastodon | ``statuses`` 300 per 3 h [MASTO-RL]; instances forbid unsolicited mass mentions [HACHY] | <= 20 direct messages/day |
| bluesky | ``sendMessage`` answered 429 at ~5/min while headers showed quota left (atproto #3246) | <= 1/min and <= 20/day |
| x | no bulk or automated DMs [X-AUTO]; 500 DMs/day technical limit [X-LIMITS] | off unless enabled; <= 20/day, >= 2 min apart |

A campaign's ``--per-day`` and ``--per-hour`` may only lower these. The daily budget is
shared by every campaign that sends through the same account (email: the same From domain),
because that is what the platform counts. Between two sends there is at least
``min_interval`` seconds plus a random ``JITTER`` share of it: a steady metronome is itself a
bot signal.

The clock (``time``, ``monotonic``, ``sleep``, ``random``) is injected: tests never wait.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random as _random
import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from backup.errors import UsageError

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
# Each gap is min_interval * (1 + JITTER * random()): 1x to 1.5x the minimum.
JITTER = 0.5


@dataclass(frozen=True)
class Pace:
    per_day: int
    per_hour: int
    min_interval: float  # seconds between two sends on one budget, before jitter


# The ceilings (and defaults) per channel; see the module docstring for their sources.
CHANNEL_PACE: dict[str, Pace] = {
    # 200/day per sending domain keeps a personal domain 25x under Gmail's 5,000/day bulk line;
    # 40/hour and 30 s apart spread a day's mail over five hours or more.
    "email": Pace(per_day=200, per_hour=40, min_interval=30.0),
    # 20 direct messages a day; 3 min apart, 10 an hour: far from 300 statuses per 3 h.
    "mastodon": Pace(per_day=20, per_hour=10, min_interval=180.0),
    # <= 1/min (sendMessage 429'd at ~5/min in atproto #3246) and <= 20/day.
    "bluesky": Pace(per_day=20, per_hour=10, min_interval=90.0),
    # Manual-confirm only: <= 20/day, >= 2 min apart with jitter.
    "x": Pace(per_day=20, per_hour=5, min_interval=120.0),
    # Sent by hand: a day's list at most as long as the strictest platform's daily budget.
    "manual": Pace(per_day=20, per_hour=20, min_interval=0.0),
}
CHANNELS = tuple(CHANNEL_PACE)


def pace_for(channel: str, per_day: int | None = None, per_hour: int | None = None) -> Pace:
    """The channel's budget, lowered by the user's --per-day / --per-hour (never raised)."""
    ceiling = CHANNEL_PACE[channel]
    for value, option, limit in ((per_day, "--per-day", ceiling.per_day), (per_hour, "--per-hour", ceiling.per_hour)):
        if value is None:
            continue
        if value < 1:
            raise UsageError(f"{option} must be at least 1")
        if value > limit:
            raise UsageError(
                f"{option} {value} is above the {channel} budget of {limit}",
                hint="the budgets stay well under the platform's rules (README, Campaigns); use a lower number",
            )
    day = per_day or ceiling.per_day
    hour = min(per_hour or ceiling.per_hour, day)
    return Pace(day, hour, ceiling.min_interval)


@dataclass
class Clock:
    """Wall time, monotonic time, sleep and randomness: the real ones, or a test's."""

    time: Callable[[], float] = _time.time
    monotonic: Callable[[], float] = _time.monotonic
    sleep: Callable[[float], None] = _time.sleep
    random: Callable[[], float] = field(default=_random.random)

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time(), dt.UTC)


def gap(pace: Pace, clock: Clock) -> float:
    """Seconds to leave after the previous send: the minimum plus jitter."""
    return pace.min_interval * (1.0 + JITTER * clock.random())


def _window_opens(times: Sequence[dt.datetime], now: dt.datetime, limit: int, window: dt.timedelta) -> dt.datetime:
    """When fewer than `limit` of the sorted `times` fall in the rolling `window` ending then."""
    start = bisect.bisect_right(times, now - window)
    recent = times[start:]
    if len(recent) < limit:
        return now
    return recent[len(recent) - limit] + window


@dataclass(frozen=True)
class Budget:
    """Recent sends: this campaign's, and the whole budget's (same account or domain)."""

    campaign: Sequence[dt.datetime]  # sorted
    shared: Sequence[dt.datetime]  # sorted; includes the campaign's own


def next_send_at(pace: Pace, ceiling: Pace, budget: Budget, now: dt.datetime, wait: float) -> tuple[dt.datetime, str]:
    """The earliest time the next message may go, and what holds it back until then.

    `wait` is this message's gap after the last send on the budget (``gap()``).
    """
    candidates = [(now, "")]
    if budget.shared:
        candidates.append((budget.shared[-1] + dt.timedelta(seconds=wait), "spacing"))
    candidates.append((_window_opens(budget.campaign, now, pace.per_day, DAY), f"daily cap of {pace.per_day}"))
    candidates.append((_window_opens(budget.campaign, now, pace.per_hour, HOUR), f"hourly cap of {pace.per_hour}"))
    candidates.append((_window_opens(budget.shared, now, ceiling.per_day, DAY), f"shared daily budget of {ceiling.per_day}"))
    candidates.append((_window_opens(budget.shared, now, ceiling.per_hour, HOUR), f"shared hourly budget of {ceiling.per_hour}"))
    return max(candidates, key=lambda c: c[0])


def schedule(pace: Pace, ceiling: Pace, budget: Budget, now: dt.datetime, count: int) -> list[dt.datetime]:
    """When the next `count` messages would go with the minimum gaps (the dry run's estimate)."""
    mine, shared = list(budget.campaign), list(budget.shared)
    times = []
    for _ in range(count):
        at, _why = next_send_at(pace, ceiling, Budget(mine, shared), now, pace.min_interval)
        times.append(at)
        mine.append(at)
        shared.append(at)
        now = at
    return times
