"""Fault points for crash tests: `AUDIENCE_FAULT=name[:n]` kills this process at the n-th hit.

The reliability checks (reference/reliability-checks.md A.1, A.2) kill the tool at every step
boundary and then check that the database holds the state from before or after, never a mix.
Unset (always, outside tests) this costs one dictionary lookup per hit.
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def hit(name: str) -> None:
    spec = os.environ.get("AUDIENCE_FAULT")
    if not spec:
        return
    target, _, nth = spec.partition(":")
    if target != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
