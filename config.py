"""Settings from the environment and the TOML config model (SPEC 3 and 4).

Errors are reported as `PATH: MESSAGE`, one per problem. PATH is the key path in the TOML
file; array indices are 0-based (the first `[[mailboxes]]` table is `mailboxes[0]`) and are
followed by the item's name or address where it has one, e.g.
`mailboxes[3] (alex@brand-news.com).smtp.port: must be <= 65535 (got 70000)`.
A value is never echoed for secret keys (password, api_key, token, secret...) nor when it
came from the environment through `env:NAME`.
"""

from __future__ import annotations

import difflib
import logging
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.addresses import DOMAIN_RE, normalise_address
from core.cost import CostRates
from core.errors import SpecError
from core.models import WEEKDAYS, HealthPolicy, SendingPolicy, WarmupPolicy, Window
from core.specs import (
    CampaignSpec,
    DnsRules,
    DomainSpec,
    MailboxSpec,
    MailServer,
    Rules,
    StepSpec,
)

ENV_FILE = Path(".env")


class ConfigError(SpecError):
    """The config file is unusable; `errors` holds one placed message per problem."""


# --- settings (environment / .env) -------------------------------------------------------


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

    _split_ids = field_validator("admin_ids", "alert_chat_ids", mode="before")(_int_list)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"unknown level {value!r}; use DEBUG, INFO, WARNING or ERROR")
        return level

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
            message = _strip_prefix(err["msg"])
            errors.append(f"{name}: {message}" if name else message)
        raise ConfigError(errors) from None


def environ_with_dotenv(env_file: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables `env:NAME` may name: those of `env_file` (if any), overridden by `environ`."""
    merged = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    merged.update(environ)
    return merged


# --- config file (TOML) -------------------------------------------------------------------


class Strict(BaseModel):
    """Base of every config table: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


PositiveInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
Rate = Annotated[float, Field(ge=0, le=1)]

_DOMAIN_RE = DOMAIN_RE


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown timezone {value!r} (use an IANA name like Europe/Berlin)"
        ) from None
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value.strip()


def _address(value: str) -> str:
    address = normalise_address(value)
    if address is None:
        raise ValueError(f"{value!r} is not an e-mail address")
    return address


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

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"must be an http(s) URL like https://u.brand-news.com, got {value!r}")
        return value.rstrip("/")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, colon, port = value.rpartition(":")
        if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"must be HOST:PORT like 127.0.0.1:8080, got {value!r}")
        return value

    @property
    def host(self) -> str:
        """The address part of `listen`."""
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """The port part of `listen`."""
        return int(self.listen.rpartition(":")[2])


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

    _host = field_validator("host")(_not_blank)


class SeedConfig(Strict):
    """[[seeds]]: an inbox outside the pool that takes part in the warm-up loop."""

    address: str
    imap: ServerConfig

    _address = field_validator("address")(_address)


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


EspKind = Literal["mailgun", "ses", "sendgrid", "postmark"]

# Keys every kind takes, and the keys each kind requires / also accepts.
_ESP_COMMON = ("name", "kind", "poll_seconds", "base_url")
ESP_REQUIRED: dict[str, tuple[str, ...]] = {
    "mailgun": ("api_key",),
    "sendgrid": ("api_key",),
    "postmark": ("server_token",),
    "ses": ("region", "queue_url", "access_key_id", "secret_access_key"),
}
_ESP_OPTIONAL: dict[str, tuple[str, ...]] = {"ses": ("endpoint_url",)}


class EspConfig(Strict):
    """[[esp]]: an e-mail service provider whose event API is polled."""

    name: str
    kind: EspKind
    poll_seconds: PositiveInt = 60
    base_url: str | None = None
    api_key: SecretStr | None = None  # mailgun, sendgrid
    server_token: SecretStr | None = None  # postmark
    region: str | None = None  # ses
    queue_url: str | None = None
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    endpoint_url: str | None = None

    _name = field_validator("name")(_not_blank)


class DomainConfig(Strict):
    """[[domains]]"""

    name: str
    daily_limit: PositiveInt | None = None
    esp: str | None = None

    @field_validator("name")
    @classmethod
    def _lower(cls, value: str) -> str:
        name = value.strip().lower()
        if not _DOMAIN_RE.match(name):
            raise ValueError(f"{value!r} is not a domain name")
        return name


class MailboxConfig(Strict):
    """[[mailboxes]]"""

    address: str
    display_name: str = ""
    daily_limit: PositiveInt = 40
    warmup_start: date | None = None
    smtp: ServerConfig
    imap: ServerConfig | None = None

    _normalise = field_validator("address")(_address)

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
    _name = field_validator("name")(_not_blank)

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        days = [day.strip().lower()[:3] for day in value]
        bad = [orig for orig, day in zip(value, days, strict=True) if day not in WEEKDAYS]
        if bad:
            raise ValueError(f"unknown day(s) {bad}; use {', '.join(WEEKDAYS)}")
        if not days:
            raise ValueError("at least one day is needed")
        return list(dict.fromkeys(days))

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


class _CampaignFile(Strict):
    """An uploaded campaign: a file holding one [[campaigns]] table."""

    campaigns: list[CampaignConfig]


# --- loading ------------------------------------------------------------------------------


def load_config(path: Path, environ: Mapping[str, str]) -> OutreachConfig:
    """Read a config file, resolve its `env:NAME` values, validate it; ConfigError lists all."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"config file {path} not found"]) from None
    except OSError as exc:
        raise ConfigError([f"cannot read config file {path}: {exc.strerror or exc}"]) from None
    data = _parse_toml(raw, str(path))
    report = _Report(OutreachConfig, data)
    data = report.resolve_env(data, (), environ)
    config = report.validate(OutreachConfig, data)
    _cross_check(data, report)
    if config is None or report.problems:
        raise ConfigError(report.messages())
    return config


def load_campaign(text: str, source: str) -> CampaignConfig:
    """Validate an uploaded campaign (one [[campaigns]] table); ConfigError lists all problems."""
    # No `env:NAME` resolution here: an uploaded file must not be able to read the environment.
    data = _parse_toml(text.removeprefix("\ufeff").encode(), source)
    report = _Report(_CampaignFile, data)
    campaigns = data.get("campaigns")
    if isinstance(campaigns, list) and len(campaigns) != 1:
        report.add(
            ("campaigns",),
            f"{source} must hold exactly one [[campaigns]] table, found {len(campaigns)}",
        )
    upload = report.validate(_CampaignFile, data)
    for index, campaign in _items(data, "campaigns"):
        _check_campaign(("campaigns", index), campaign, report)
    if upload is None or report.problems:
        raise ConfigError(report.messages())
    return upload.campaigns[0]


def _parse_toml(raw: bytes, source: str) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{source} is not UTF-8 text (byte {exc.start})"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message carries "(at line L, column C)".
        raise ConfigError([f"TOML syntax error in {source}: {exc}"]) from None


Loc = tuple[str | int, ...]
_M = TypeVar("_M", bound=BaseModel)

# Which key names an item of a top-level array, for error paths.
_IDENTITY = {
    "mailboxes": "address",
    "seeds": "address",
    "domains": "name",
    "esp": "name",
    "campaigns": "name",
}
_SECRET_KEY = re.compile(r"password|passwd|secret|token|api_key|access_key|credential", re.I)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


class _Report:
    """Collects placed problems against the raw TOML data, and keeps secrets out of them."""

    def __init__(self, root: type[BaseModel], data: dict[str, Any]) -> None:
        self.root = root
        self.data = data
        self.problems: list[tuple[Loc, str]] = []
        self.from_env: set[Loc] = set()  # values read through env:NAME, never echoed
        self.env_failed: set[Loc] = set()  # unresolved: validation errors there are noise
        self.secrets: set[str] = set()

    def add(self, loc: Loc, message: str) -> None:
        """Record one problem at a key path."""
        self.problems.append((loc, message))

    def resolve_env(self, node: Any, loc: Loc, environ: Mapping[str, str]) -> Any:
        """A copy of `node` with every `env:NAME` string replaced by its variable's value."""
        if isinstance(node, dict):
            return {
                key: self.resolve_env(value, (*loc, key), environ) for key, value in node.items()
            }
        if isinstance(node, list):
            return [self.resolve_env(value, (*loc, i), environ) for i, value in enumerate(node)]
        if not (isinstance(node, str) and node.startswith("env:")):
            if isinstance(node, str) and _is_secret_loc(loc):
                self.secrets.add(node)
            return node
        name = node[4:].strip()
        if not _ENV_NAME.match(name):
            self.add(loc, f"{node!r} must name an environment variable, like env:SMTP_PASSWORD")
            self.env_failed.add(loc)
            return node
        self.from_env.add(loc)
        value = environ.get(name)
        if value is None or value == "":
            state = "is not set" if value is None else "is empty"
            self.add(loc, f"environment variable {name} {state} (the value is env:{name})")
            self.env_failed.add(loc)
            return node
        self.secrets.add(value)
        return value

    def validate(self, model: type[_M], data: dict[str, Any]) -> _M | None:
        """Validate strictly (TOML has real types); record every error, placed, and return None."""
        try:
            return model.model_validate(data, strict=True)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                if loc in self.env_failed:
                    continue
                self.add(loc, self._message(model, err))
        return None

    def _message(self, model: type[BaseModel], err: ErrorDetails) -> str:
        loc = tuple(err["loc"])
        plain = _plain_message(model, err)
        if plain is not None:
            return plain
        text = _typed_message(err)
        if loc in self.from_env or _is_secret_loc(loc):
            return f"{text} (value not shown)"
        value = err.get("input")
        hint = (
            "; write it without quotes"
            if isinstance(value, str) and err["type"] in _QUOTE_HINT
            else ""
        )
        return f"{text} (got {_show(value)}){hint}"

    def place(self, loc: Loc) -> str:
        """`mailboxes[3] (alex@brand-news.com).smtp.port` for a location tuple."""
        out = ""
        for depth, part in enumerate(loc):
            if isinstance(part, int):
                out += f"[{part}]"
                if depth == 1:
                    out += self._identity(str(loc[0]), part)
            else:
                key = part if _BARE_KEY.match(part) else f'"{part}"'
                out += f".{key}" if out else key
        return out

    def _identity(self, table: str, index: int) -> str:
        key = _IDENTITY.get(table)
        items = self.data.get(table)
        if key is None or not isinstance(items, list) or index >= len(items):
            return ""
        item = items[index]
        value = item.get(key) if isinstance(item, dict) else None
        if not isinstance(value, str) or value.startswith("env:") or not value.strip():
            return ""
        return f" ({_clip(value.strip(), 60)})"

    def messages(self) -> list[str]:
        """Every problem as `PATH: MESSAGE`, in file order of the top-level keys, secrets masked."""
        lines: list[str] = []
        for loc, message in sorted(self.problems, key=lambda p: self._position(p[0])):
            line = f"{self.place(loc)}: {message}" if loc else message
            line = self._mask(line)
            if line not in lines:
                lines.append(line)
        return lines

    def _position(self, loc: Loc) -> tuple[int, ...]:
        """Sort key: each key by its place in its model (unknown keys last), items by index."""
        position: list[int] = []
        for depth, part in enumerate(loc):
            if isinstance(part, int):
                position.append(part)
                continue
            model = _model_at(self.root, loc[:depth])
            fields = list(model.model_fields) if model is not None else []
            position.append(fields.index(part) if part in fields else len(fields))
        return tuple(position)

    def _mask(self, line: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if len(secret) >= 3:
                line = line.replace(secret, "***")
        return line


_TYPE_MESSAGES = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "date_type": "must be a date like 2026-11-20",
    "date_parsing": "must be a date like 2026-11-20",
    "date_from_datetime_parsing": "must be a date like 2026-11-20",
    "date_from_datetime_inexact": "must be a date like 2026-11-20, without a time",
    "list_type": "must be an array",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "dict_type": "must be a table",
}
_QUOTE_HINT = {"int_type", "float_type", "bool_type", "date_type"}
_BOUND_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "literal_error": "must be one of {expected}",
    "too_long": "may have at most {max_length} item(s)",
}


def _plain_message(model: type[BaseModel], err: ErrorDetails) -> str | None:
    """Messages that never show the value: unknown and missing keys, validator messages."""
    loc, kind = tuple(err["loc"]), err["type"]
    if kind == "extra_forbidden":
        return _unknown_key(model, loc)
    if kind == "missing":
        array = len(loc) == 1 and loc[0] in _IDENTITY
        return f"is required: add a [[{loc[0]}]] table" if array else "is required but missing"
    if kind in ("value_error", "assertion_error"):
        return _strip_prefix(err["msg"])
    if kind == "too_short":
        least = (err.get("ctx") or {}).get("min_length", 1)
        steps = bool(loc) and loc[-1] == "steps"
        return "needs at least one [[campaigns.steps]] table" if steps else f"needs {least}+ items"
    return None


def _typed_message(err: ErrorDetails) -> str:
    """What a value of the wrong type or out of range should have been."""
    loc, kind = tuple(err["loc"]), err["type"]
    if kind == "list_type" and len(loc) == 1 and loc[0] in _IDENTITY:
        return f"must be an array of tables, written [[{loc[0]}]]"
    text = _TYPE_MESSAGES.get(kind)
    if text is not None:
        return text
    bound = _BOUND_MESSAGES.get(kind)
    if bound is None:
        return _strip_prefix(err["msg"])
    ctx = {key: _number(value) for key, value in (err.get("ctx") or {}).items()}
    return bound.format(**ctx)


def _number(value: Any) -> Any:
    """1 rather than 1.0 for a bound written as an integer."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _strip_prefix(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    if isinstance(value, str):
        return repr(_clip(value, 40))
    return _clip(repr(value), 40)


def _is_secret_loc(loc: Loc) -> bool:
    return any(isinstance(part, str) and _SECRET_KEY.search(part) for part in loc)


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class of the table at `loc`, following list items and optional tables."""
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _inner_model(field.annotation) if field is not None else None
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType, Annotated):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def _table_name(loc: Loc) -> str:
    """How a user finds a table: `[sending]`, `[[mailboxes]]`, `smtp of [[mailboxes]]`."""
    names = [part for part in loc if isinstance(part, str)]
    if loc and isinstance(loc[-1], int):
        return f"[[{'.'.join(names)}]]"
    if any(isinstance(part, int) for part in loc):
        return f"{names[-1]} of {_table_name(loc[:-1])}"
    return f"[{'.'.join(names)}]"


def _unknown_key(root: type[BaseModel], loc: Loc) -> str:
    key, table = str(loc[-1]), loc[:-1]
    model = _model_at(root, table)
    known = list(model.model_fields) if model is not None else []
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        hint = f" (did you mean {close[0]!r}?)"
    elif known:
        hint = f" (known keys: {', '.join(known)})"
    else:
        hint = ""
    where = f"in {_table_name(table)}" if table else "at the top level"
    return f"unknown key {key!r} {where}{hint}"


# --- checks across tables -----------------------------------------------------------------


def _items(data: Mapping[str, Any], key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, table) of each well-formed item of a top-level array of tables."""
    items = data.get(key)
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict):
                yield index, item


def _strings(
    data: Mapping[str, Any], table: str, key: str, normalise: Callable[[str], str | None]
) -> Iterator[tuple[int, dict[str, Any], str]]:
    for index, item in _items(data, table):
        value = item.get(key)
        if isinstance(value, str):
            norm = normalise(value)
            if norm:
                yield index, item, norm


def _lower(value: str) -> str:
    return value.strip().lower()


def _strip(value: str) -> str:
    return value.strip()


def _duplicates(
    data: Mapping[str, Any],
    report: _Report,
    table: str,
    *,
    what: str,
    normalise: Callable[[str], str | None],
) -> dict[str, int]:
    """Report repeated names in an array of tables; returns each name's first index."""
    key = _IDENTITY[table]
    seen: dict[str, int] = {}
    for index, _item, name in _strings(data, table, key, normalise):
        if name in seen:
            first = report.place((table, seen[name]))
            report.add((table, index, key), f"duplicate {what} {name!r} (first at {first})")
        else:
            seen[name] = index
    return seen


def _cross_check(data: dict[str, Any], report: _Report) -> None:
    esps = _duplicates(data, report, "esp", what="ESP name", normalise=_strip)
    domains = _duplicates(data, report, "domains", what="domain", normalise=_lower)
    mailboxes = _duplicates(data, report, "mailboxes", what="mailbox", normalise=normalise_address)
    _duplicates(data, report, "seeds", what="seed", normalise=normalise_address)
    _duplicates(data, report, "campaigns", what="campaign", normalise=_strip)

    for index, item in _items(data, "esp"):
        _check_esp(("esp", index), item, report)
    for index, item in _items(data, "domains"):
        esp = item.get("esp")
        if isinstance(esp, str) and esp.strip() not in esps:
            known = ", ".join(esps) if esps else "none is configured"
            report.add(("domains", index, "esp"), f"no [[esp]] is named {esp!r} (known: {known})")
    for index, _item, address in _strings(data, "mailboxes", "address", normalise_address):
        domain = address.rpartition("@")[2]
        if domain not in domains:
            report.add(
                ("mailboxes", index, "address"),
                f"its domain {domain!r} is not among [[domains]] "
                f'(add a [[domains]] table with name = "{domain}")',
            )
    for index, _item, address in _strings(data, "seeds", "address", normalise_address):
        if address in mailboxes:
            report.add(
                ("seeds", index, "address"),
                f"{address!r} is a pool mailbox; seeds must be inboxes outside the pool",
            )
    for index, item in _items(data, "campaigns"):
        _check_campaign(("campaigns", index), item, report)

    health = data.get("health")
    if isinstance(health, dict):
        warn, pause = health.get("bounce_warn", 0.03), health.get("bounce_pause", 0.05)
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (warn, pause))
        if numbers and warn > pause:
            report.add(("health", "bounce_warn"), f"must not be above bounce_pause ({pause})")


def _check_esp(loc: Loc, item: dict[str, Any], report: _Report) -> None:
    kind = item.get("kind")
    if not isinstance(kind, str) or kind not in ESP_REQUIRED:
        return
    required = ESP_REQUIRED[kind]
    for key in required:
        value = item.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            report.add((*loc, key), f"is required for kind {kind!r}")
    allowed = {*_ESP_COMMON, *required, *_ESP_OPTIONAL.get(kind, ())}
    for key in item:
        if key not in allowed and key in EspConfig.model_fields:
            uses = ", ".join(k for k in EspConfig.model_fields if k in allowed)
            report.add((*loc, key), f"is not used by kind {kind!r} (it takes {uses})")


def _check_campaign(loc: Loc, item: dict[str, Any], report: _Report) -> None:
    steps = item.get("steps")
    if not isinstance(steps, list) or not steps or not isinstance(steps[0], dict):
        return
    subject = steps[0].get("subject")
    if subject is None or (isinstance(subject, str) and not subject.strip()):
        report.add(
            (*loc, "steps", 0, "subject"),
            "the first step needs a subject (follow-ups reuse it as 'Re: ...')",
        )


def _server(server: ServerConfig) -> MailServer:
    return MailServer(
        server.host, server.port, server.security, server.username,
        server.password.get_secret_value(),
    )  # fmt: skip


def campaign_spec(c: CampaignConfig) -> CampaignSpec:
    """The core's view of one campaign."""
    return CampaignSpec(
        name=c.name,
        steps=tuple(StepSpec(s.body, s.subject, s.html, s.wait_days) for s in c.steps),
        timezone=c.timezone,
        days=tuple(c.days),
        hours=c.hours,
        daily_limit=c.daily_limit,
        during_warmup=c.during_warmup,
    )


def rules_of(cfg: OutreachConfig) -> Rules:
    """The engine's view of the config."""
    return Rules(
        timezone=cfg.sending.timezone,
        daily_target=cfg.sending.daily_target,
        tick_seconds=cfg.sending.tick_seconds,
        postal_address=cfg.sending.postal_address,
        sending=cfg.sending.policy(),
        warmup=cfg.warmup.policy(),
        health=cfg.health.policy(),
        alert_quiet=timedelta(minutes=cfg.alerts.quiet_minutes),
        unsubscribe_url=cfg.unsubscribe.base_url if cfg.unsubscribe else None,
        cost=CostRates(**cfg.cost.model_dump()),
        dns=DnsRules(tuple(cfg.dns.dkim_selectors), cfg.dns.nameserver),
        domains=tuple(DomainSpec(d.name, d.daily_limit, d.esp) for d in cfg.domains),
        mailboxes=tuple(
            MailboxSpec(
                address=m.address,
                smtp=_server(m.smtp),
                display_name=m.display_name,
                daily_limit=m.daily_limit,
                warmup_start=m.warmup_start,
                imap=_server(m.imap) if m.imap else None,
            )
            for m in cfg.mailboxes
        ),
        campaigns=tuple(campaign_spec(c) for c in cfg.campaigns),
    )
