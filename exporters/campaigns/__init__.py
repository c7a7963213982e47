"""Invite campaigns (SPEC §8): bring an audience along without looking like spam.

- ``model``: the tables' state machine (planned -> sending -> sent | failed | skipped, and
  ``unknown`` for a send a crash interrupted), create, claim, record, pause, resume;
- ``audience``: who a campaign reaches, on top of ``exporters.selection``;
- ``templates``: sandboxed Jinja2 variants with size, time and memory caps;
- ``pacing``: per-channel budgets under the platforms' rules, jitter, an injectable clock;
- ``channels``: email (SMTP), Mastodon, Bluesky chat, X DMs, and a CSV for sending by hand;
- ``sender``: the send loop that ties them together and stops on the first sign of trouble.

This package file stays light: the template worker process imports ``templates`` alone.
"""
