"""Settings from the environment and the TOML config model (SPEC 3 and 4)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.models import WEEKDAYS, HealthPolicy, SendingPolicy, WarmupPolicy, Window


class ConfigError(Exception):
    """The config file is unusable; `errors` holds one placed message per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


# --- settings (environment / .env) -------------------------------------------------------


def _int_list(value: Any) -> Any:
    if isinstance(value, str):
        return [int(part) for part in re.split(r"[,\s]+", value.strip()) if part]
    return value


class Settings(BaseSettings):
    """Process settings of SPEC 3, read from the environment or `.env`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    bot_token: SecretStr | None = None
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    alert_chat_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    telegram_api_url: str | None = None
    outreach_config: Path = Path("outreach.toml")
    database_path: Path = Path("data/outreach.db")
    log_level: str = "INFO"

    _split_ids = field_validator("admin_ids", "alert_chat_ids", mode="before")(_int_list)

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


# --- config file (TOML) -------------------------------------------------------------------


class Strict(BaseModel):
    """Base of every config table: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


PositiveInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
Rate = Annotated[float, Field(ge=0, le=1)]


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value!r} (use an IANA name like Europe/Berlin)") from None
    return value


class SendingConfig(Strict):
    """[sending]"""

    timezone: str = "UTC"
    daily_target: NonNegInt = 1200
    tick_seconds: PositiveInt = 20
    min_gap_seconds: NonNegInt = 300
    jitter_seconds: NonNegInt = 240
    max_attempts: PositiveInt = 3
    postal_address: str = ""

    _tz = field_validator("timezone")(_zone)

    def policy(self) -> SendingPolicy:
        """The core's view of these values."""
        return SendingPolicy(self.min_gap_seconds, self.jitter_seconds, self.max_attempts)


class UnsubscribeConfig(Strict):
    """[unsubscribe]: one-click unsubscribe served by this process."""

    base_url: str
    listen: str = "127.0.0.1:8080"


class HealthConfig(Strict):
    """[health]"""

    window_days: PositiveInt = 7
    min_sends: NonNegInt = 20
    bounce_warn: Rate = 0.03
    bounce_pause: Rate = 0.05
    complaints_pause: PositiveInt = 1
    domain_complaint_alert: Rate = 0.001
    cooldown_days: PositiveInt = 14

    def policy(self) -> HealthPolicy:
        """The core's view of these values."""
        return HealthPolicy(**self.model_dump())


class WarmupConfig(Strict):
    """[warmup]"""

    phase1_days: PositiveInt = 7
    phase1_start: PositiveInt = 5
    phase1_end: PositiveInt = 10
    daily_growth: Annotated[float, Field(gt=0, le=10)] = 0.20
    target: PositiveInt = 40
    reply_rate: Rate = 0.3

    def policy(self) -> WarmupPolicy:
        """The core's view of these values."""
        return WarmupPolicy(**self.model_dump())


class ServerConfig(Strict):
    """An SMTP or IMAP server and its login."""

    host: str
    port: Annotated[int, Field(ge=1, le=65535)]
    security: Literal["tls", "starttls", "none"] = "starttls"
    username: str
    password: SecretStr


class SeedConfig(Strict):
    """[[seeds]]: an inbox outside the pool that takes part in the warm-up loop."""

    address: str
    imap: ServerConfig


class AlertsConfig(Strict):
    """[alerts]"""

    quiet_minutes: NonNegInt = 60
    digest_hour: Annotated[int, Field(ge=0, le=23)] = 9


class CostConfig(Strict):
    """[cost]"""

    esp_per_1000: Annotated[float, Field(ge=0)] = 0.10
    domain_per_year: Annotated[float, Field(ge=0)] = 12
    server_per_month: Annotated[float, Field(ge=0)] = 7


class DnsConfig(Strict):
    """[dns]"""

    dkim_selectors: list[str] = Field(default_factory=lambda: ["s1", "google"])
    nameserver: str = ""


class EspConfig(Strict):
    """[[esp]]: an e-mail service provider whose event API is polled."""

    name: str
    kind: Literal["mailgun", "ses", "sendgrid", "postmark"]
    poll_seconds: PositiveInt = 60
    base_url: str | None = None
    api_key: SecretStr | None = None  # mailgun, sendgrid
    server_token: SecretStr | None = None  # postmark
    region: str | None = None  # ses
    queue_url: str | None = None
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    endpoint_url: str | None = None


class DomainConfig(Strict):
    """[[domains]]"""

    name: str
    daily_limit: PositiveInt | None = None
    esp: str | None = None

    @field_validator("name")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class MailboxConfig(Strict):
    """[[mailboxes]]"""

    address: str
    display_name: str = ""
    daily_limit: PositiveInt = 40
    warmup_start: date | None = None
    smtp: ServerConfig
    imap: ServerConfig | None = None

    @field_validator("address")
    @classmethod
    def _normalise(cls, value: str) -> str:
        local, at, domain = value.strip().rpartition("@")
        if not at or not local or "." not in domain:
            raise ValueError(f"{value!r} is not an e-mail address")
        return f"{local}@{domain.lower()}"

    @property
    def domain(self) -> str:
        """The part after the @."""
        return self.address.rpartition("@")[2]


class StepConfig(Strict):
    """[[campaigns.steps]]: one mail of a sequence."""

    subject: str | None = None  # required on step 1; follow-ups reuse it as `Re: ...`
    body: str
    html: str | None = None
    wait_days: NonNegInt = 0  # days after the previous step (follow-ups)


class CampaignConfig(Strict):
    """[[campaigns]]"""

    name: str
    timezone: str = "UTC"
    days: list[str] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    hours: str = "09:00-17:00"
    daily_limit: PositiveInt | None = None
    during_warmup: bool = False
    steps: Annotated[list[StepConfig], Field(min_length=1)]

    _tz = field_validator("timezone")(_zone)

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        days = [day.strip().lower()[:3] for day in value]
        bad = [orig for orig, day in zip(value, days, strict=True) if day not in WEEKDAYS]
        if bad:
            raise ValueError(f"unknown day(s) {bad}; use {', '.join(WEEKDAYS)}")
        if not days:
            raise ValueError("at least one day is needed")
        return days

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        Window.parse(value)
        return value

    @property
    def window(self) -> Window:
        """The parsed sending hours."""
        return Window.parse(self.hours)


class OutreachConfig(Strict):
    """The whole TOML config of SPEC 4."""

    sending: SendingConfig = SendingConfig()
    unsubscribe: UnsubscribeConfig | None = None
    health: HealthConfig = HealthConfig()
    warmup: WarmupConfig = WarmupConfig()
    seeds: list[SeedConfig] = Field(default_factory=list)
    alerts: AlertsConfig = AlertsConfig()
    cost: CostConfig = CostConfig()
    dns: DnsConfig = DnsConfig()
    esp: list[EspConfig] = Field(default_factory=list)
    domains: list[DomainConfig] = Field(default_factory=list)
    mailboxes: list[MailboxConfig] = Field(default_factory=list)
    campaigns: list[CampaignConfig] = Field(default_factory=list)


def load_config(path: Path, environ: Mapping[str, str]) -> OutreachConfig:
    """Read, resolve `env:NAME` secrets and validate a config file; ConfigError lists every problem."""
    raise NotImplementedError  # written by the config work package
