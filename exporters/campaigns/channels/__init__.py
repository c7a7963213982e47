"""The channels a campaign sends through, and what an attempt's outcome means.

A channel sends one message and says what happened, as an ``Outcome``; it never touches the
database (the sender records the outcome). The outcome's ``state``:

- ``sent``: the provider accepted it (``provider_id`` is its id);
- ``failed``: refused for this recipient (bounced address, a 4xx the platform gave for them);
- ``skipped``: not sent, the recipient cannot be reached there (no such account, DMs closed);
- ``unknown``: we cannot tell whether it went out (the connection broke after we sent it);
- ``planned``: certainly not sent and worth sending later (a 429, a server deferral).

``pause`` set means trouble for the whole campaign (a rate limit, a spam or limit error, a
refused credential, an ambiguous send): the sender pauses the campaign with that reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Outgoing:
    """One message, ready to go."""

    message_id: int
    person_id: int
    recipient: str | None  # display name (cleaned)
    address: str  # email, user@host, handle or DID
    platform_id: str | None
    text: str
    subject: str | None
    ref: str
    idempotency_key: str


@dataclass(frozen=True)
class Outcome:
    state: str  # sent | failed | skipped | unknown | planned
    provider_id: str | None = None
    reason: str | None = None
    pause: str | None = None
    bounce: bool = False  # a refusal that counts toward a bounce storm


# Words in an error that mean "the platform thinks this is spam or too much": pause at once.
TROUBLE_WORDS = re.compile(
    r"(?i)spam|rate.?limit|too many|limit (?:exceeded|reached)|exceeded|automated|abus|flood|slow down|"
    r"suspend|blocked for|temporarily|reputation|policy|blacklist|blocklist|denylist|try again later"
)


class Channel:
    """Sends messages of one campaign over one connection or session, reused for the run."""

    name: str = ""
    max_chars: int | None = None  # the platform's message length limit

    def check(self) -> None:
        """Before the first send: credentials and the sending account's standing (raises)."""

    def approve(self, message: Outgoing) -> bool:
        """Asked before the message is claimed (X: the user confirms each DM); False skips it."""
        return True

    def send(self, message: Outgoing) -> Outcome:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def too_long(self, message: Outgoing) -> Outcome | None:
        if self.max_chars is not None and len(message.text) > self.max_chars:
            return Outcome("failed", reason=f"the message has {len(message.text)} characters; {self.name} allows {self.max_chars}")
        return None
