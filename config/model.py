"""The TOML config model of SPEC 4, its loading, and the checks across its tables."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from config.report import IDENTITY, ConfigError, Loc, Report, parse_toml
from core import templates
from core.addresses import DOMAIN_RE, normalise_address
from core.cost import CostRates
from core.models import WEEKDAYS, HealthPolicy, SendingPolicy, WarmupPolicy, Window
from core.specs import (
    CLOUDFLARE_API,
    ESP_BASE_URLS,
    CampaignSpec,
    DnsRules,
    DomainSpec,
    EspKind,
    EspSpec,
    InboxRules,
    MailboxSpec,
    MailServer,
    OAuthLogin,
    OAuthProvider,
    Rules,
    SeedSpec,
    StepSpec,
)


class Strict(BaseModel):
    """Base of every config table: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# Upper bounds keep every number within what SQLite (64-bit) and timedelta can hold: a config
# that passes `check` must not overflow later, in a tick or in /status.
_MAX_COUNT = 10_000_000  # mails a day, sends in a window: far above any real pool
PositiveInt = Annotated[int, Field(ge=1, le=_MAX_COUNT)]
NonNegInt = Annotated[int, Field(ge=0, le=_MAX_COUNT)]
Days = Annotated[int, Field(ge=1, le=3650)]
Seconds = Annotated[int, Field(ge=0, le=86_400)]
Rate = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Money = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]

_DOMAIN_RE = DOMAIN_RE
# Printable ASCII without space, quotes, angle brackets, backslash, caret, backtick, braces, pipe.
_URL_CHARS = re.compile(r"[!#-;=?-\[\]_a-z~]+")


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


def _http_url(value: str) -> str:
    # The URL goes into mail headers and links: a quote, bracket or space would break them.
    parts = urlsplit(value) if _URL_CHARS.fullmatch(value) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http(s) URL like https://u.brand-news.com, got {value!r}")
    return value


def _nameserver(value: str) -> str:
    text = value.strip()
    if not text:
        return ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"must be a resolver's IP address, optionally with :PORT (like 127.0.0.1:5353), "
            f"got {value!r}"
        ) from None
    if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"bad port in {value!r}; use IP or IP:PORT")
    return text


def _address(value: str) -> str:
    address = normalise_address(value)
    if address is None:
        raise ValueError(f"{value!r} is not an e-mail address")
    return address


class SendingConfig(Strict):
    """[sending]"""

    timezone: str = "UTC"
    daily_target: NonNegInt = 1200
    tick_seconds: Annotated[int, Field(ge=1, le=3600)] = 20
    min_gap_seconds: Seconds = 300
    jitter_seconds: Seconds = 240
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 3
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
        return _http_url(value).rstrip("/")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, colon, port = value.rpartition(":")
        # isascii: str.isdigit() is True for '²', which int() refuses with Python's words.
        digits = port.isascii() and port.isdigit()
        if not colon or not host or not digits or not 1 <= int(port) <= 65535:
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

    window_days: Annotated[int, Field(ge=1, le=365)] = 7
    min_sends: NonNegInt = 20
    bounce_warn: Rate = 0.03
    bounce_pause: Rate = 0.05
    complaints_pause: PositiveInt = 1
    domain_complaint_alert: Rate = 0.001
    cooldown_days: Days = 14

    def policy(self) -> HealthPolicy:
        """The core's view of these values."""
        return HealthPolicy(**self.model_dump())


class WarmupConfig(Strict):
    """[warmup]"""

    phase1_days: Annotated[int, Field(ge=1, le=365)] = 7
    phase1_start: PositiveInt = 5
    phase1_end: PositiveInt = 10
    daily_growth: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 0.20
    target: PositiveInt = 40
    reply_rate: Rate = 0.3
    maintenance_share: Rate = 0.10
    # When the loop's mails go out, sending timezone: business hours, when people write.
    hours: str = "08:00-18:00"

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        Window.parse(value)
        return value

    def policy(self) -> WarmupPolicy:
        """The core's view of these values."""
        return WarmupPolicy(**self.model_dump(exclude={"hours"}), window=Window.parse(self.hours))


class OAuthConfig(Strict):
    """`oauth = {...}` of an smtp or imap table: an XOAUTH2 login by refresh token (SPEC 4)."""

    provider: OAuthProvider
    client_id: str
    client_secret: SecretStr | None = None  # a public client (Microsoft) has none
    refresh_token: SecretStr
    tenant: str | None = None  # microsoft: the directory; "common" when not given
    token_url: str | None = None

    _client_id = field_validator("client_id")(_not_blank)

    @field_validator("token_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @model_validator(mode="after")
    def _per_provider(self) -> OAuthConfig:
        if self.provider == "google" and self.tenant is not None:
            raise ValueError('`tenant` is for provider = "microsoft" only')
        if self.provider == "google" and self.client_secret is None:
            raise ValueError('provider "google" needs `client_secret` (of the OAuth client)')
        return self

    def login(self) -> OAuthLogin:
        """The core's view of this login, its secrets revealed."""
        secret = self.client_secret
        return OAuthLogin(
            provider=self.provider,
            client_id=self.client_id,
            refresh_token=self.refresh_token.get_secret_value(),
            client_secret=secret.get_secret_value() if secret is not None else "",
            tenant=self.tenant or "common",
            token_url=self.token_url,
        )


class ServerConfig(Strict):
    """An SMTP or IMAP server and its login: `password` or `oauth`, exactly one."""

    host: str
    port: Annotated[int, Field(ge=1, le=65535)]
    security: Literal["tls", "starttls", "none"] = "starttls"
    username: str
    password: SecretStr | None = None
    oauth: OAuthConfig | None = None

    _host = field_validator("host")(_not_blank)

    @model_validator(mode="after")
    def _one_login(self) -> ServerConfig:
        if self.password is None and self.oauth is None:
            raise ValueError("needs `password` or `oauth = {...}` for the login")
        if self.password is not None and self.oauth is not None:
            raise ValueError("has both `password` and `oauth`: keep the one it logs in with")
        return self

    def server(self) -> MailServer:
        """The core's view of this server and login, its secrets revealed."""
        password = self.password
        return MailServer(
            host=self.host,
            port=self.port,
            security=self.security,
            username=self.username,
            password=password.get_secret_value() if password is not None else "",
            oauth=self.oauth.login() if self.oauth is not None else None,
        )


class SeedConfig(Strict):
    """[[seeds]]: an inbox outside the pool that takes part in the warm-up loop."""

    address: str
    imap: ServerConfig

    _address = field_validator("address")(_address)

    def spec(self) -> SeedSpec:
        """The core's view of this seed inbox and its login."""
        return SeedSpec(address=self.address, imap=self.imap.server())


class AlertsConfig(Strict):
    """[alerts]"""

    quiet_minutes: Annotated[int, Field(ge=0, le=7 * 24 * 60)] = 60
    digest_hour: Annotated[int, Field(ge=0, le=23)] = 9


class InboxConfig(Strict):
    """[inbox]: reading what comes back (needs `imap` on the mailbox)."""

    poll_seconds: Annotated[int, Field(ge=5, le=86_400)] = 60
    notify_replies: bool = True
    stop_words: list[str] = Field(
        default_factory=lambda: ["unsubscribe", "remove me", "stop emailing", "take me off"]
    )

    @field_validator("stop_words")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        words = [word.strip().casefold() for word in value]
        if any(not word for word in words):
            raise ValueError("a stop word cannot be empty")
        return list(dict.fromkeys(words))

    def rules(self) -> InboxRules:
        """The core's view of these values."""
        return InboxRules(self.poll_seconds, self.notify_replies, tuple(self.stop_words))


class CostConfig(Strict):
    """[cost]"""

    esp_per_1000: Money = 0.10
    domain_per_year: Money = 12
    server_per_month: Money = 7


class DnsConfig(Strict):
    """[dns]"""

    dkim_selectors: list[str] = Field(default_factory=lambda: ["s1", "google"])
    nameserver: str = ""
    cloudflare_token: SecretStr | None = None  # lets `/dns fix` add missing records
    cloudflare_api: str = CLOUDFLARE_API

    @field_validator("nameserver")
    @classmethod
    def _nameserver(cls, value: str) -> str:
        return _nameserver(value)

    @field_validator("cloudflare_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("must not be empty (leave the key out to disable /dns fix)")
        return value

    _api = field_validator("cloudflare_api")(_http_url)

    def rules(self) -> DnsRules:
        """The core's view of [dns], the token revealed."""
        token = self.cloudflare_token
        return DnsRules(
            dkim_selectors=tuple(self.dkim_selectors),
            nameserver=self.nameserver,
            cloudflare_token=token.get_secret_value().strip() if token is not None else "",
            cloudflare_api=self.cloudflare_api,
        )


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
    poll_seconds: Annotated[int, Field(ge=1, le=86_400)] = 60
    base_url: str | None = None
    api_key: SecretStr | None = None  # mailgun, sendgrid
    server_token: SecretStr | None = None  # postmark
    region: str | None = None  # ses
    queue_url: str | None = None
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    endpoint_url: str | None = None

    _name = field_validator("name")(_not_blank)

    @field_validator("base_url", "endpoint_url", "queue_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    def spec(self, domains: tuple[str, ...]) -> EspSpec:
        """The core's view of this provider, its secrets revealed; `domains` are those using it."""

        def reveal(secret: SecretStr | None) -> str:
            return "" if secret is None else secret.get_secret_value()

        return EspSpec(
            name=self.name,
            kind=self.kind,
            base_url=self.base_url or ESP_BASE_URLS.get(self.kind, ""),
            poll_seconds=self.poll_seconds,
            domains=domains,
            api_key=reveal(self.api_key),
            server_token=reveal(self.server_token),
            region=self.region or "",
            queue_url=self.queue_url or "",
            access_key_id=reveal(self.access_key_id),
            secret_access_key=reveal(self.secret_access_key),
            endpoint_url=self.endpoint_url,
        )


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

    def spec(self) -> DomainSpec:
        """The core's view of this domain."""
        return DomainSpec(name=self.name, daily_limit=self.daily_limit, esp=self.esp)


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

    def spec(self) -> MailboxSpec:
        """The core's view of this mailbox and its logins."""
        return MailboxSpec(
            address=self.address,
            smtp=self.smtp.server(),
            display_name=self.display_name,
            daily_limit=self.daily_limit,
            warmup_start=self.warmup_start,
            imap=self.imap.server() if self.imap is not None else None,
        )


class StepConfig(Strict):
    """[[campaigns.steps]]: one mail of a sequence."""

    subject: str | None = None  # required on step 1; follow-ups reuse it as `Re: ...`
    body: str
    html: str | None = None
    wait_days: Annotated[int, Field(ge=0, le=3650)] = 0  # days after the previous step

    def spec(self) -> StepSpec:
        """The core's view of this step."""
        return StepSpec(
            body=self.body, subject=self.subject, html=self.html, wait_days=self.wait_days
        )


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

    def spec(self) -> CampaignSpec:
        """The core's view of this campaign."""
        return CampaignSpec(
            name=self.name,
            steps=tuple(step.spec() for step in self.steps),
            timezone=self.timezone,
            days=tuple(self.days),
            hours=self.hours,
            daily_limit=self.daily_limit,
            during_warmup=self.during_warmup,
        )


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
    inbox: InboxConfig = InboxConfig()
    esp: list[EspConfig] = Field(default_factory=list)
    domains: list[DomainConfig] = Field(default_factory=list)
    mailboxes: list[MailboxConfig] = Field(default_factory=list)
    campaigns: list[CampaignConfig] = Field(default_factory=list)

    def rules(self) -> Rules:
        """Everything the engine runs by, in core types; built once per loaded config."""
        sending = self.sending
        return Rules(
            timezone=sending.timezone,
            daily_target=sending.daily_target,
            tick_seconds=sending.tick_seconds,
            postal_address=sending.postal_address,
            sending=sending.policy(),
            warmup=self.warmup.policy(),
            health=self.health.policy(),
            alert_quiet=timedelta(minutes=self.alerts.quiet_minutes),
            digest_hour=self.alerts.digest_hour,
            # An empty base_url cannot pass validation, so `or None` only maps a missing table.
            unsubscribe_url=self.unsubscribe.base_url if self.unsubscribe is not None else None,
            cost=CostRates(
                esp_per_1000=self.cost.esp_per_1000,
                domain_per_year=self.cost.domain_per_year,
                server_per_month=self.cost.server_per_month,
            ),
            dns=self.dns.rules(),
            inbox=self.inbox.rules(),
            domains=tuple(domain.spec() for domain in self.domains),
            mailboxes=tuple(mailbox.spec() for mailbox in self.mailboxes),
            seeds=tuple(seed.spec() for seed in self.seeds),
            campaigns=tuple(campaign.spec() for campaign in self.campaigns),
            esps=tuple(
                esp.spec(tuple(d.name for d in self.domains if d.esp == esp.name))
                for esp in self.esp
            ),
        )


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
    data = parse_toml(raw, str(path))
    report = Report(OutreachConfig, data)
    data = report.resolve_env(data, (), environ)
    config = report.validate(OutreachConfig, data)
    _cross_check(data, report)
    if config is None or report.problems:
        raise ConfigError(report.messages())
    return config


def load_campaign(text: str, source: str) -> CampaignConfig:
    """Validate an uploaded campaign (one [[campaigns]] table); ConfigError lists all problems."""
    # No `env:NAME` resolution here: an uploaded file must not be able to read the environment.
    data = parse_toml(text.removeprefix("\ufeff").encode(), source)
    report = Report(_CampaignFile, data)
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
    report: Report,
    table: str,
    *,
    what: str,
    normalise: Callable[[str], str | None],
) -> dict[str, int]:
    """Report repeated names in an array of tables; returns each name's first index."""
    key = IDENTITY[table]
    seen: dict[str, int] = {}
    for index, _item, name in _strings(data, table, key, normalise):
        if name in seen:
            first = report.place((table, seen[name]))
            report.add((table, index, key), f"duplicate {what} {name!r} (first at {first})")
        else:
            seen[name] = index
    return seen


def _cross_check(data: dict[str, Any], report: Report) -> None:
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


def _check_esp(loc: Loc, item: dict[str, Any], report: Report) -> None:
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


def _check_campaign(loc: Loc, item: dict[str, Any], report: Report) -> None:
    steps = item.get("steps")
    if not isinstance(steps, list) or not steps or not isinstance(steps[0], dict):
        return
    for index, step in enumerate(steps):
        if isinstance(step, dict):
            _check_templates((*loc, "steps", index), step, report)
    subject = steps[0].get("subject")
    if subject is None or (isinstance(subject, str) and not subject.strip()):
        report.add(
            (*loc, "steps", 0, "subject"),
            "the first step needs a subject (follow-ups reuse it as 'Re: ...')",
        )


_PARTS = ("subject", "body", "html")


def _check_templates(loc: Loc, step: dict[str, Any], report: Report) -> None:
    """Compile a step's templates and render them once, as sending would (SPEC 6.12)."""
    subject, body, html = (step.get(part) for part in _PARTS)
    if not isinstance(body, str) or not all(
        v is None or isinstance(v, str) for v in (subject, html)
    ):
        return  # the model reports the wrong types
    try:
        compiled = templates.compile_step(subject, body, html)
        templates.trial_render(compiled)
    except templates.TemplateError as exc:
        part, _, why = str(exc).partition(": ")
        report.add((*loc, part) if part in _PARTS else loc, why if part in _PARTS else str(exc))
        return
    for compiled_part in compiled.parts():
        unknown = templates.unknown_sender_variables_of(compiled_part)
        if unknown:
            known = ", ".join(sorted(templates.SENDER_VARIABLES))
            report.add(
                (*loc, compiled_part.name),
                f"no lead column or sender variable provides {', '.join(sorted(unknown))} "
                f"({templates.SENDER_PREFIX}* names are the mailbox's: {known})",
            )
