"""Process settings from the environment and `.env`, and what `env:NAME` may read."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, environ_with_dotenv, load_settings

SECRET = "Zq9-UNIQUE-s3cr3t-VALUE"


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("BOT_TOKEN", "ADMIN_IDS", "ALERT_CHAT_IDS", "OUTREACH_CONFIG", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(env_file=None)
    assert settings.bot_token is None
    assert settings.outreach_config == Path("outreach.toml")
    assert settings.database_path == Path("data/outreach.db")
    assert settings.log_level == "INFO"
    assert settings.alert_chats == []


def test_settings_read_dotenv_and_split_ids(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ALERT_CHAT_IDS", raising=False)
    monkeypatch.setenv("LOG_LEVEL", "debug")
    env_file = tmp_path / ".env"
    env_file.write_text(f"BOT_TOKEN={SECRET}\nADMIN_IDS=1, 2 3\n", encoding="utf-8")
    settings = load_settings(env_file=env_file)
    assert settings.admin_ids == [1, 2, 3]
    assert settings.alert_chats == [1, 2, 3]
    assert settings.log_level == "DEBUG"
    assert settings.bot_token is not None
    assert SECRET not in repr(settings)


def test_settings_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BOT_TOKEN", SECRET)
    monkeypatch.setenv("ADMIN_IDS", "")
    monkeypatch.setenv("ALERT_CHAT_IDS", "12,abc")
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    errors = caught.value.errors
    assert "ALERT_CHAT_IDS: expected comma-separated numeric ids, got abc" in errors
    assert any(e.startswith("LOG_LEVEL: unknown level 'LOUD'") for e in errors)
    assert SECRET not in str(caught.value)
    monkeypatch.setenv("ALERT_CHAT_IDS", "")
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    assert caught.value.errors == ["ADMIN_IDS is required when BOT_TOKEN is set"]


def test_environ_with_dotenv_lets_the_environment_win(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("A=from-file\nB=from-file\n", encoding="utf-8")
    assert environ_with_dotenv(env_file, {"B": "from-env"}) == {"A": "from-file", "B": "from-env"}
    assert environ_with_dotenv(tmp_path / "missing", {"C": "c"}) == {"C": "c"}


def test_log_format_is_text_by_default_and_json_on_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    assert load_settings(env_file=None).log_format == "text"
    monkeypatch.setenv("LOG_FORMAT", " JSON ")
    assert load_settings(env_file=None).log_format == "json"
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    assert caught.value.errors == ["LOG_FORMAT: unknown format 'xml'; use text or json"]


def test_confirm_seconds_defaults_to_five_minutes_and_is_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.delenv("CONFIRM_SECONDS", raising=False)
    assert load_settings(env_file=None).confirm_seconds == 300  # SPEC 10
    monkeypatch.setenv("CONFIRM_SECONDS", "60")
    assert load_settings(env_file=None).confirm_seconds == 60
    monkeypatch.setenv("CONFIRM_SECONDS", "0")
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    assert caught.value.errors[0].startswith("CONFIRM_SECONDS:")
