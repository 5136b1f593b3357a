"""Process settings from the environment and `.env` (SPEC 3)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config.report import ConfigError, strip_prefix

ENV_FILE = Path(".env")


def _int_list(value: Any) -> Any:
    if isinstance(value, str):
        parts = [part for part in re.split(r"[,\s]+", value.strip()) if part]
        bad = [part for part in parts if not re.fullmatch(r"-?\d+", part)]
        if bad:
            raise ValueError(f"expected comma-separated numeric ids, got {', '.join(bad)}")
        return [int(part) for part in parts]
    return value


class Settings(BaseSettings):
    """Process settings of SPEC 3, read from the environment or `.env`."""

    model_config = SettingsConfigDict(env_file=ENV_FILE, extra="ignore", case_sensitive=False)

    bot_token: SecretStr | None = None
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    alert_chat_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    telegram_api_url: str | None = None
    outreach_config: Path = Path("outreach.toml")
    database_path: Path = Path("data/outreach.db")
    log_level: str = "INFO"
    # Not a SPEC 3 row: `json` writes one JSON object per line for a log shipper.
    log_format: Literal["text", "json"] = "text"
    # How long a Confirm button of a risky bot command stands (SPEC 10: five minutes).
    confirm_seconds: int = Field(default=300, ge=1, le=86_400)

    _split_ids = field_validator("admin_ids", "alert_chat_ids", mode="before")(_int_list)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"unknown level {value!r}; use DEBUG, INFO, WARNING or ERROR")
        return level

    @field_validator("log_format", mode="before")
    @classmethod
    def _format(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            if value not in ("text", "json"):
                raise ValueError(f"unknown format {value!r}; use text or json")
        return value

    @model_validator(mode="after")
    def _admins_with_token(self) -> Settings:
        if self.bot_token is not None and not self.bot_token.get_secret_value():
            self.bot_token = None
        if self.bot_token is not None and not self.admin_ids:
            raise ValueError("ADMIN_IDS is required when BOT_TOKEN is set")
        return self

    @property
    def alert_chats(self) -> list[int]:
        """Where alerts go: ALERT_CHAT_IDS, or the admins."""
        return self.alert_chat_ids or self.admin_ids


def load_settings(env_file: Path | None = ENV_FILE) -> Settings:
    """Settings from the environment and `env_file`; ConfigError names each bad variable."""
    try:
        return Settings(_env_file=env_file)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            name = ".".join(str(part) for part in err["loc"]).upper()
            message = strip_prefix(err["msg"])
            errors.append(f"{name}: {message}" if name else message)
        raise ConfigError(errors) from None


def environ_with_dotenv(env_file: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables `env:NAME` may name: those of `env_file` (if any), overridden by `environ`."""
    merged = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    merged.update(environ)
    return merged
