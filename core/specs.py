"""What the config asks for, in the core's terms: accounts, domains, campaigns and the rules.

The engine and the adapters take these, never the TOML model: `config/` builds them once
(`OutreachConfig.rules()`), so a setting is validated in one place and read in one shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from core.cost import CostRates
from core.models import HealthPolicy, SendingPolicy, WarmupPolicy

Security = Literal["tls", "starttls", "none"]
CLOUDFLARE_API = "https://api.cloudflare.com/client/v4"


OAuthProvider = Literal["google", "microsoft"]

# The token endpoints of the refresh-token grant (`token_url` overrides them), and the scope a
# Microsoft refresh must name again: SMTP and IMAP of Exchange Online, and a new refresh token.
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
MICROSOFT_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
MICROSOFT_MAIL_SCOPE = (
    "https://outlook.office.com/SMTP.Send https://outlook.office.com/IMAP.AccessAsUser.All "
    "offline_access"
)


@dataclass(frozen=True, slots=True)
class OAuthLogin:
    """An OAuth 2.0 (XOAUTH2) login: what fetches access tokens; no secret shows in a repr."""

    provider: OAuthProvider
    client_id: str
    refresh_token: str = field(repr=False)
    client_secret: str = field(default="", repr=False)  # "" for a public client
    tenant: str = "common"  # microsoft only
    token_url: str | None = None  # None: the provider's endpoint

    @property
    def endpoint(self) -> str:
        """Where the refresh-token grant is posted."""
        if self.token_url:
            return self.token_url
        if self.provider == "google":
            return GOOGLE_TOKEN_URL
        return MICROSOFT_TOKEN_URL.format(tenant=self.tenant)

    @property
    def scope(self) -> str | None:
        """The scope a refresh must ask for (Microsoft's), None where the grant's own holds."""
        return MICROSOFT_MAIL_SCOPE if self.provider == "microsoft" else None


@dataclass(frozen=True, slots=True)
class MailServer:
    """An SMTP or IMAP server and the login for it: a password, or OAuth when `oauth` is set.

    No secret shows in a repr.
    """

    host: str
    port: int
    security: Security
    username: str
    password: str = field(default="", repr=False)
    oauth: OAuthLogin | None = None

    @property
    def secrets(self) -> tuple[str, ...]:
        """The password or OAuth secrets set for it: masked wherever a reply is shown."""
        oauth = self.oauth
        keys = (self.password,) if oauth is None else (oauth.refresh_token, oauth.client_secret)
        return tuple(key for key in keys if key)


@dataclass(frozen=True, slots=True)
class SmtpAccount:
    """A sending mailbox: `address` is the envelope sender, `server` where it submits."""

    address: str
    server: MailServer


@dataclass(frozen=True, slots=True)
class ImapAccount:
    """A mailbox read over IMAP: `address` is whose inbox it is, `server` where it logs in."""

    address: str
    server: MailServer


@dataclass(frozen=True, slots=True)
class DomainSpec:
    """A configured domain."""

    name: str
    daily_limit: int | None = None
    esp: str | None = None


@dataclass(frozen=True, slots=True)
class MailboxSpec:
    """A configured mailbox with its logins."""

    address: str
    smtp: MailServer
    display_name: str = ""
    daily_limit: int = 40
    warmup_start: date | None = None
    imap: MailServer | None = None

    @property
    def domain(self) -> str:
        """The part after the @."""
        return self.address.rpartition("@")[2]

    @property
    def account(self) -> SmtpAccount:
        """Its SMTP login as the sender takes it."""
        return SmtpAccount(self.address, self.smtp)

    @property
    def inbox(self) -> ImapAccount | None:
        """Its IMAP login as the reader takes it; None without `imap`."""
        return ImapAccount(self.address, self.imap) if self.imap is not None else None


@dataclass(frozen=True, slots=True)
class SeedSpec:
    """[[seeds]]: an own inbox outside the pool that receives warm-up mail (read over IMAP)."""

    address: str
    imap: MailServer

    @property
    def domain(self) -> str:
        """The part after the @."""
        return self.address.rpartition("@")[2]


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One mail of a sequence."""

    body: str
    subject: str | None = None
    html: str | None = None
    wait_days: int = 0


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    """A configured or uploaded campaign."""

    name: str
    steps: tuple[StepSpec, ...]
    timezone: str = "UTC"
    days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    hours: str = "09:00-17:00"
    daily_limit: int | None = None
    during_warmup: bool = False


@dataclass(frozen=True, slots=True)
class DnsRules:
    """What /dns and the daily DNS check look up, and the Cloudflare login `/dns fix` uses."""

    dkim_selectors: tuple[str, ...] = ("s1", "google")
    nameserver: str = ""
    cloudflare_token: str = field(default="", repr=False)  # empty: /dns fix is off
    cloudflare_api: str = CLOUDFLARE_API


@dataclass(frozen=True, slots=True)
class InboxRules:
    """[inbox]: reading what comes back (SPEC 4, 8, 12)."""

    poll_seconds: int = 60
    notify_replies: bool = True
    stop_words: tuple[str, ...] = ("unsubscribe", "remove me", "stop emailing", "take me off")


EspKind = Literal["mailgun", "ses", "sendgrid", "postmark"]

# Where each provider's API lives unless `base_url` says otherwise (Mailgun EU:
# https://api.eu.mailgun.net). SES has none: the AWS client finds it from the region, or
# `endpoint_url`.
ESP_BASE_URLS: dict[str, str] = {
    "mailgun": "https://api.mailgun.net",
    "sendgrid": "https://api.sendgrid.com",
    "postmark": "https://api.postmarkapp.com",
}


@dataclass(frozen=True, slots=True)
class EspSpec:
    """[[esp]]: one provider whose event API is polled, its secrets revealed."""

    name: str
    kind: EspKind
    base_url: str  # the configured one, else the provider's (ESP_BASE_URLS); "" for SES
    poll_seconds: int = 60
    domains: tuple[str, ...] = ()  # the [[domains]] that name it (Mailgun reads each one's log)
    api_key: str = field(default="", repr=False)  # mailgun, sendgrid
    server_token: str = field(default="", repr=False)  # postmark
    region: str = ""  # ses
    queue_url: str = ""
    access_key_id: str = field(default="", repr=False)
    secret_access_key: str = field(default="", repr=False)
    endpoint_url: str | None = None  # ses: a local fake, or a VPC endpoint

    @property
    def secrets(self) -> tuple[str, ...]:
        """The keys set for it: masked wherever a provider's reply or an error is shown."""
        keys = (self.api_key, self.server_token, self.access_key_id, self.secret_access_key)
        return tuple(key for key in keys if key)


@dataclass(frozen=True, slots=True)
class Rules:
    """Everything the engine runs by, built once from the config."""

    timezone: str = "UTC"
    daily_target: int = 1200
    tick_seconds: int = 20
    postal_address: str = ""
    sending: SendingPolicy = field(default_factory=SendingPolicy)
    warmup: WarmupPolicy = field(default_factory=WarmupPolicy)
    health: HealthPolicy = field(default_factory=HealthPolicy)
    alert_quiet: timedelta = timedelta(minutes=60)
    digest_hour: int = 9  # local hour (sending timezone) of the daily digest and DNS check
    unsubscribe_url: str | None = None  # public base URL of the one-click endpoint
    cost: CostRates = field(default_factory=CostRates)
    dns: DnsRules = field(default_factory=DnsRules)
    inbox: InboxRules = field(default_factory=InboxRules)
    domains: tuple[DomainSpec, ...] = ()
    mailboxes: tuple[MailboxSpec, ...] = ()
    seeds: tuple[SeedSpec, ...] = ()
    campaigns: tuple[CampaignSpec, ...] = ()
    esps: tuple[EspSpec, ...] = ()
