"""Secrets come from the environment or a private secrets.toml in the data dir, never from the database."""

from __future__ import annotations

import pytest

from backup.config import secret
from backup.errors import ConfigError

CANARY = "canary-7f3a9c-do-not-leak"


def test_the_environment_wins(monkeypatch, isolated_home) -> None:
    isolated_home.mkdir()
    (isolated_home / "secrets.toml").write_text('MASTODON_TOKEN = "from-file"\n')
    (isolated_home / "secrets.toml").chmod(0o600)
    monkeypatch.setenv("MASTODON_TOKEN", CANARY)
    assert secret("MASTODON_TOKEN") == CANARY


def test_a_private_secrets_file_serves_a_nightly_job(isolated_home) -> None:
    isolated_home.mkdir()
    (isolated_home / "secrets.toml").write_text(f'MASTODON_TOKEN = "{CANARY}"\n')
    (isolated_home / "secrets.toml").chmod(0o600)
    assert secret("MASTODON_TOKEN") == CANARY


def test_a_secrets_file_others_can_read_is_refused(isolated_home) -> None:
    isolated_home.mkdir()
    (isolated_home / "secrets.toml").write_text(f'MASTODON_TOKEN = "{CANARY}"\n')
    (isolated_home / "secrets.toml").chmod(0o644)
    with pytest.raises(ConfigError, match="can be read by other users") as caught:
        secret("MASTODON_TOKEN")
    assert "chmod 600" in caught.value.hint


def test_a_broken_secrets_file_is_named_without_quoting_it(isolated_home) -> None:
    isolated_home.mkdir()
    (isolated_home / "secrets.toml").write_text(f'MASTODON_TOKEN = "{CANARY}\n')  # unterminated string
    (isolated_home / "secrets.toml").chmod(0o600)
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        secret("MASTODON_TOKEN")
    assert CANARY not in caught.value.message


def test_a_missing_secret_says_where_to_put_it(isolated_home) -> None:
    with pytest.raises(ConfigError, match="MASTODON_TOKEN is not set") as caught:
        secret("MASTODON_TOKEN")
    assert "secrets.toml" in caught.value.hint
