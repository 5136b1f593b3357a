"""Settings from the environment, the TOML config model, and its placed-error report."""

from config.model import (
    AlertsConfig,
    CampaignConfig,
    CostConfig,
    DnsConfig,
    DomainConfig,
    EspConfig,
    HealthConfig,
    MailboxConfig,
    OutreachConfig,
    SeedConfig,
    SendingConfig,
    ServerConfig,
    StepConfig,
    UnsubscribeConfig,
    WarmupConfig,
    load_campaign,
    load_config,
)
from config.report import ConfigError
from config.settings import ENV_FILE, Settings, environ_with_dotenv, load_settings

__all__ = [
    "ENV_FILE",
    "AlertsConfig",
    "CampaignConfig",
    "ConfigError",
    "CostConfig",
    "DnsConfig",
    "DomainConfig",
    "EspConfig",
    "HealthConfig",
    "MailboxConfig",
    "OutreachConfig",
    "SeedConfig",
    "SendingConfig",
    "ServerConfig",
    "Settings",
    "StepConfig",
    "UnsubscribeConfig",
    "WarmupConfig",
    "environ_with_dotenv",
    "load_campaign",
    "load_config",
    "load_settings",
]
