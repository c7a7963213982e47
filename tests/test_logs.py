"""Secrets never reach stderr: every log line and error message goes through the redactor."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backup.logs import redact, setup_logging

CANARY = "sk_live_CANARY0123456789abcdef"


@pytest.mark.parametrize(
    "line",
    [
        f"GET https://api.example/2/users/1/followers?access_token={CANARY}&limit=80",
        f"headers: {{'Authorization': 'Bearer {CANARY}'}}",
        f"Authorization: Bearer {CANARY}",
        f'{{"accessJwt": "{CANARY}", "did": "did:plc:abc"}}',
        f"login with password={CANARY}",
    ],
)
def test_known_secret_shapes_are_redacted(line: str):
    assert CANARY not in redact(line)


def test_bluesky_app_password_shape_is_redacted():
    assert "abcd-efgh-ijkl-mnop" not in redact("createSession with abcd-efgh-ijkl-mnop failed")


def test_log_lines_on_stderr_are_redacted(capsys):
    setup_logging()
    logging.getLogger("backup.test").warning("retrying https://h/api?token=%s", CANARY)
    assert CANARY not in capsys.readouterr().err


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text())
def test_redaction_never_fails_and_keeps_plain_text(before: str, after: str):
    """Arbitrary text (names, bios, URLs) goes through unharmed unless it looks like a secret."""
    line = f"{before} access_token={CANARY} {after}"
    assert CANARY not in redact(line)
    assert redact("plain words, no secrets") == "plain words, no secrets"


def test_a_missing_token_variable_is_named_and_its_value_never_shown(monkeypatch):
    from backup.config import secret as secret_from_env
    from backup.errors import ConfigError

    monkeypatch.delenv("AUDIENCE_TEST_TOKEN", raising=False)
    with pytest.raises(ConfigError) as missing:
        secret_from_env("AUDIENCE_TEST_TOKEN")
    assert missing.value.exit_code == 4 and "AUDIENCE_TEST_TOKEN" in missing.value.message
    monkeypatch.setenv("AUDIENCE_TEST_TOKEN", CANARY)
    assert secret_from_env("AUDIENCE_TEST_TOKEN") == CANARY
