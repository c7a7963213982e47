"""Runs one `campaign send` in its own process, for the kill tests (test_crash.py).

    python tests/campaigns/crash_driver.py DB_URL CAMPAIGN START_EPOCH [OUTPUT]

The sender runs on a clock that starts at START_EPOCH and whose sleeps only move it (the
pace never makes a crash test wait). `AUDIENCE_FAULT=campaign.<point>:<n>` kills the process
at the n-th hit of that fault point (``backup/faults.py``). Prints the outcome counts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from backup.db.engine import make_engine
from backup.errors import AudienceError
from exporters.campaigns import sender
from exporters.campaigns.pacing import Clock


class _Time:
    def __init__(self, start: float):
        self.now = start
        self.mono = 1000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds


def main() -> int:
    url, name, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
    output = Path(sys.argv[4]) if len(sys.argv) > 4 else None
    t = _Time(start)
    engine = make_engine(url)
    try:
        report = sender.send(engine, name, clock=Clock(time=t.time, monotonic=t.monotonic, sleep=t.sleep, random=lambda: 0.5),
                             output=output)
    except AudienceError as exc:
        print(json.dumps({"error": exc.message}))
        return exc.exit_code
    finally:
        engine.dispose()
    print(json.dumps({"outcomes": dict(report.outcomes), "recovered": report.recovered, "stopped": report.stopped}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
