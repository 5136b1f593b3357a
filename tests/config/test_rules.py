"""The config seen in core terms: `OutreachConfig.rules()` and each table's `spec()`."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from config import OutreachConfig, load_config
from core.cost import CostRates
from core.models import HealthPolicy, SendingPolicy, WarmupPolicy
from core.specs import (
    CampaignSpec,
    DnsRules,
    DomainSpec,
    MailboxSpec,
    MailServer,
    Rules,
    SmtpAccount,
    StepSpec,
)

TEXT = """
[sending]
timezone = "Europe/Berlin"
daily_target = 300
tick_seconds = 5
min_gap_seconds = 60
jitter_seconds = 10
max_attempts = 2
postal_address = "1 Main St"

[unsubscribe]
base_url = "https://u.brand-news.com/"

[health]
window_days = 3

[warmup]
target = 30

[alerts]
quiet_minutes = 15

[cost]
esp_per_1000 = 0.5
domain_per_year = 10
server_per_month = 4

[dns]
dkim_selectors = ["k1"]
nameserver = "127.0.0.1"

[[domains]]
name = "Brand-News.com"
daily_limit = 120

[[mailboxes]]
address = "alex@brand-news.com"
display_name = "Alex"
daily_limit = 30
warmup_start = 2026-11-20
imap = { host = "imap.example.com", port = 993, username = "alex", password = "imap-pw" }

[mailboxes.smtp]
host = "smtp.example.com"
port = 465
security = "tls"
username = "alex"
password = "env:SMTP"

[[campaigns]]
name = "intro"
timezone = "America/New_York"
days = ["Monday", "wed"]
hours = "10:00-12:00"
daily_limit = 50
during_warmup = true

[[campaigns.steps]]
subject = "Hi {{first_name}}"
body = "Hello"
html = "<p>Hello</p>"

[[campaigns.steps]]
body = "Bump"
wait_days = 3
"""


def test_rules_carry_every_setting_in_core_types(tmp_path: Path) -> None:
    path = tmp_path / "outreach.toml"
    path.write_text(TEXT, encoding="utf-8")
    rules = load_config(path, {"SMTP": "smtp-pw"}).rules()
    smtp = MailServer("smtp.example.com", 465, "tls", "alex", "smtp-pw")
    imap = MailServer("imap.example.com", 993, "starttls", "alex", "imap-pw")
    assert rules == Rules(
        timezone="Europe/Berlin",
        daily_target=300,
        tick_seconds=5,
        postal_address="1 Main St",
        sending=SendingPolicy(60, 10, 2),
        warmup=WarmupPolicy(7, 5, 10, 0.20, 30, 0.3),
        health=HealthPolicy(3, 20, 0.03, 0.05, 1, 0.001, 14),
        alert_quiet=timedelta(minutes=15),
        unsubscribe_url="https://u.brand-news.com",
        cost=CostRates(esp_per_1000=0.5, domain_per_year=10, server_per_month=4),
        dns=DnsRules(dkim_selectors=("k1",), nameserver="127.0.0.1"),
        domains=(DomainSpec("brand-news.com", 120, None),),
        mailboxes=(
            MailboxSpec(
                address="alex@brand-news.com",
                smtp=smtp,
                display_name="Alex",
                daily_limit=30,
                warmup_start=date(2026, 11, 20),
                imap=imap,
            ),
        ),
        campaigns=(
            CampaignSpec(
                name="intro",
                steps=(
                    StepSpec(body="Hello", subject="Hi {{first_name}}", html="<p>Hello</p>"),
                    StepSpec(body="Bump", wait_days=3),
                ),
                timezone="America/New_York",
                days=("mon", "wed"),
                hours="10:00-12:00",
                daily_limit=50,
                during_warmup=True,
            ),
        ),
    )
    assert rules.mailboxes[0].account == SmtpAccount("alex@brand-news.com", smtp)
    assert "smtp-pw" not in repr(rules)


def test_rules_of_an_empty_config_are_the_core_defaults() -> None:
    assert OutreachConfig().rules() == Rules()


def test_rules_without_an_unsubscribe_table_have_no_url() -> None:
    config = OutreachConfig.model_validate({"alerts": {"quiet_minutes": 0}})
    rules = config.rules()
    assert rules.unsubscribe_url is None
    assert rules.alert_quiet == timedelta(0)
