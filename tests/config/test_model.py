"""The TOML config: defaults, the example file, and every error placed by its key path."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from dotenv import dotenv_values

from config import (
    CampaignConfig,
    ConfigError,
    OutreachConfig,
    load_campaign,
    load_config,
)
from core.models import HealthPolicy, SendingPolicy, WarmupPolicy

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "outreach.example.toml"
SECRET = "Zq9-UNIQUE-s3cr3t-VALUE"

BASE = """
[sending]
timezone = "Europe/Berlin"

[[esp]]
name = "mg"
kind = "mailgun"
api_key = "env:MG_KEY"

[[domains]]
name = "brand-news.com"
daily_limit = 120
esp = "mg"

[[mailboxes]]
address = "alex@brand-news.com"
smtp = { host = "smtp.example.org", port = 587, username = "alex", password = "env:SMTP_ALEX" }

[[campaigns]]
name = "q4"
[[campaigns.steps]]
subject = "Hi"
body = "Hello"
"""
ENV = {"MG_KEY": "mg-key-value", "SMTP_ALEX": "smtp-password-value"}


def example_env() -> dict[str, str]:
    """The placeholder secrets of .env.example."""
    return {k: v for k, v in dotenv_values(ROOT / ".env.example").items() if v is not None}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "outreach.toml"
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), ENV if env is None else env)
    return caught.value.errors


# --- valid configs ------------------------------------------------------------------------


def test_example_config_loads_with_the_env_example_secrets() -> None:
    env = example_env()
    config = load_config(EXAMPLE, env)
    assert len(config.domains) == 10
    assert len(config.mailboxes) == 30
    assert all(mailbox.daily_limit == 40 for mailbox in config.mailboxes)
    assert {mailbox.domain for mailbox in config.mailboxes} == {d.name for d in config.domains}
    assert [m.address for m in config.mailboxes if m.warmup_start is not None]
    assert len(config.campaigns) == 2
    for campaign in config.campaigns:
        assert len(campaign.steps) >= 2
        assert campaign.steps[0].subject
        assert any(step.wait_days > 0 for step in campaign.steps[1:])
    bodies = " ".join(step.body for c in config.campaigns for step in c.steps)
    assert "| default(" in bodies
    assert "{Hi|Hello}" in bodies
    first = config.mailboxes[0]
    assert first.smtp.server().password == env["SMTP_BRAND_NEWS"]
    assert config.esp[0].api_key is not None
    assert config.esp[0].api_key.get_secret_value() == env["MAILGUN_API_KEY"]
    assert config.unsubscribe is not None
    assert config.sending.daily_target == 1200


def test_example_config_needs_every_secret_it_names() -> None:
    errors = []
    try:
        load_config(EXAMPLE, {})
    except ConfigError as exc:
        errors = exc.errors
    names = {line.split("environment variable ")[1].split()[0] for line in errors}
    assert names == set(example_env())


def test_empty_config_takes_every_spec_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), {})
    assert config == OutreachConfig()
    sending = config.sending
    assert (sending.timezone, sending.daily_target, sending.tick_seconds) == ("UTC", 1200, 20)
    assert (sending.min_gap_seconds, sending.jitter_seconds, sending.max_attempts) == (300, 240, 3)
    assert sending.postal_address == ""
    assert sending.policy() == SendingPolicy(300, 240, 3)
    assert config.unsubscribe is None
    assert config.health.policy() == HealthPolicy(7, 20, 0.03, 0.05, 1, 0.001, 14)
    assert config.warmup.policy() == WarmupPolicy(7, 5, 10, 0.20, 40, 0.3)
    assert (config.alerts.quiet_minutes, config.alerts.digest_hour) == (60, 9)
    assert (config.cost.esp_per_1000, config.cost.domain_per_year) == (0.10, 12)
    assert config.cost.server_per_month == 7
    assert config.dns.dkim_selectors == ["s1", "google"]
    assert config.dns.nameserver == ""
    assert (config.seeds, config.esp, config.domains) == ([], [], [])
    assert (config.mailboxes, config.campaigns) == ([], [])


def test_item_defaults(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, BASE + '[unsubscribe]\nbase_url = "https://u.x.com/"\n'), ENV
    )
    mailbox = config.mailboxes[0]
    assert (mailbox.daily_limit, mailbox.display_name, mailbox.warmup_start) == (40, "", None)
    assert (mailbox.imap, mailbox.smtp.security) == (None, "starttls")
    assert config.esp[0].poll_seconds == 60
    campaign = config.campaigns[0]
    assert campaign.days == ["mon", "tue", "wed", "thu", "fri"]
    assert (campaign.hours, campaign.timezone, campaign.daily_limit) == ("09:00-17:00", "UTC", None)
    assert campaign.during_warmup is False
    assert campaign.steps[0].wait_days == 0
    assert config.unsubscribe is not None
    assert (config.unsubscribe.base_url, config.unsubscribe.listen) == (
        "https://u.x.com",
        "127.0.0.1:8080",
    )


def test_env_values_are_resolved_anywhere_and_addresses_normalised(tmp_path: Path) -> None:
    text = BASE.replace('"alex@brand-news.com"', '"Alex@Brand-News.COM"')
    text += '[dns]\nnameserver = "env:NS"\n'
    config = load_config(write(tmp_path, text), {**ENV, "NS": "127.0.0.1"})
    assert config.dns.nameserver == "127.0.0.1"
    assert config.mailboxes[0].address == "Alex@brand-news.com"
    assert config.mailboxes[0].smtp.server().password == "smtp-password-value"


def test_native_toml_dates_and_weekday_names(tmp_path: Path) -> None:
    text = BASE.replace(
        'address = "alex@brand-news.com"', 'address = "a@brand-news.com"\nwarmup_start = 2026-11-20'
    )
    text = text.replace('name = "q4"', 'name = "q4"\ndays = ["Monday", "WED"]')
    config = load_config(write(tmp_path, text), ENV)
    assert config.mailboxes[0].warmup_start == date(2026, 11, 20)
    assert config.campaigns[0].days == ["mon", "wed"]


# --- file-level errors --------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml", {})
    assert caught.value.errors == [f"config file {tmp_path / 'nope.toml'} not found"]


def test_toml_syntax_error_keeps_line_and_column(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, '[sending]\ntimezone = "UTC"\ndaily_target = \n')
    assert len(errors) == 1
    assert errors[0].startswith("TOML syntax error in ")
    assert "line 3" in errors[0]
    assert "column" in errors[0]


# --- placed value errors ------------------------------------------------------------------

CASES = [
    pytest.param(
        BASE.replace("port = 587", "port = 70000"),
        "mailboxes[0] (alex@brand-news.com).smtp.port: must be <= 65535 (got 70000)",
        id="port-range",
    ),
    pytest.param(
        BASE.replace("port = 587", 'port = "587"'),
        "mailboxes[0] (alex@brand-news.com).smtp.port: must be a whole number (got '587'); "
        "write it without quotes",
        id="port-quoted",
    ),
    pytest.param(
        BASE + "[health]\nbounce_pause = 1.5\n",
        "health.bounce_pause: must be <= 1 (got 1.5)",
        id="rate-range",
    ),
    pytest.param(
        BASE + "[sending.extra]\nx = 1\n",
        "sending.extra: unknown key 'extra' in [sending]",
        id="unknown-subtable",
    ),
    pytest.param(
        BASE.replace("[sending]\n", "[sending]\ndaily_targte = 5\n"),
        "sending.daily_targte: unknown key 'daily_targte' in [sending] "
        "(did you mean 'daily_target'?)",
        id="unknown-key-typo",
    ),
    pytest.param(
        BASE.replace("port = 587,", "port = 587, prot = 1,"),
        "mailboxes[0] (alex@brand-news.com).smtp.prot: unknown key 'prot' in smtp of [[mailboxes]]",
        id="unknown-key-inline-table",
    ),
    pytest.param(
        BASE.replace('body = "Hello"', 'body = "Hello"\nsubjet = "x"'),
        "campaigns[0] (q4).steps[0].subjet: unknown key 'subjet' in [[campaigns.steps]] "
        "(did you mean 'subject'?)",
        id="unknown-key-step",
    ),
    pytest.param(
        "colour = 1\n" + BASE,
        "colour: unknown key 'colour' at the top level",
        id="unknown-top-level-key",
    ),
    pytest.param(
        BASE.replace("env:SMTP_ALEX", "env:SMTP_MISSING"),
        "mailboxes[0] (alex@brand-news.com).smtp.password: environment variable SMTP_MISSING "
        "is not set",
        id="missing-env",
    ),
    pytest.param(
        BASE.replace("env:SMTP_ALEX", "env:"),
        "mailboxes[0] (alex@brand-news.com).smtp.password: 'env:' must name an environment "
        "variable",
        id="env-without-name",
    ),
    pytest.param(
        BASE
        + BASE[BASE.index("[[mailboxes]]") : BASE.index("[[campaigns]]")].replace(
            "alex@brand-news.com", "alex@BRAND-news.com"
        ),
        "mailboxes[1] (alex@BRAND-news.com).address: duplicate mailbox 'alex@brand-news.com' "
        "(first at mailboxes[0] (alex@brand-news.com))",
        id="duplicate-mailbox",
    ),
    pytest.param(
        BASE.replace('address = "alex@brand-news.com"', 'address = "alex@other.com"'),
        "mailboxes[0] (alex@other.com).address: its domain 'other.com' is not among [[domains]]",
        id="mailbox-domain-unknown",
    ),
    pytest.param(
        BASE + '[[domains]]\nname = "Brand-News.com"\n',
        "domains[1] (Brand-News.com).name: duplicate domain 'brand-news.com' "
        "(first at domains[0] (brand-news.com))",
        id="duplicate-domain",
    ),
    pytest.param(
        BASE + '[[campaigns]]\nname = "q4"\n[[campaigns.steps]]\nsubject = "s"\nbody = "b"\n',
        "campaigns[1] (q4).name: duplicate campaign 'q4' (first at campaigns[0] (q4))",
        id="duplicate-campaign",
    ),
    pytest.param(
        BASE.replace('esp = "mg"', 'esp = "mailgun"'),
        "domains[0] (brand-news.com).esp: no [[esp]] is named 'mailgun' (known: mg)",
        id="domain-esp-unknown",
    ),
    pytest.param(
        BASE.replace('api_key = "env:MG_KEY"', ""),
        "esp[0] (mg).api_key: is required for kind 'mailgun'",
        id="mailgun-api-key",
    ),
    pytest.param(
        BASE + '[[esp]]\nname = "sg"\nkind = "sendgrid"\n',
        "esp[1] (sg).api_key: is required for kind 'sendgrid'",
        id="sendgrid-api-key",
    ),
    pytest.param(
        BASE + '[[esp]]\nname = "pm"\nkind = "postmark"\napi_key = "x"\n',
        "esp[1] (pm).server_token: is required for kind 'postmark'",
        id="postmark-server-token",
    ),
    pytest.param(
        BASE + '[[esp]]\nname = "pm"\nkind = "postmark"\nserver_token = "t"\napi_key = "x"\n',
        "esp[1] (pm).api_key: is not used by kind 'postmark'",
        id="postmark-foreign-key",
    ),
    pytest.param(
        BASE + '[[esp]]\nname = "s"\nkind = "sparkpost"\n',
        "esp[1] (s).kind: must be one of 'mailgun', 'ses', 'sendgrid' or 'postmark' "
        "(got 'sparkpost')",
        id="esp-kind",
    ),
    pytest.param(
        BASE.replace('subject = "Hi"\n', ""),
        "campaigns[0] (q4).steps[0].subject: the first step needs a subject",
        id="first-step-subject",
    ),
    pytest.param(
        BASE.replace('name = "q4"', 'name = "q4"\nhours = "17:00-09:00"'),
        "campaigns[0] (q4).hours: end 09:00 is not after start 17:00; windows do not cross "
        "midnight",
        id="window-across-midnight",
    ),
    pytest.param(
        BASE.replace('name = "q4"', 'name = "q4"\nhours = "9-17"'),
        "campaigns[0] (q4).hours: expected 'HH:MM-HH:MM', got '9-17'",
        id="window-format",
    ),
    pytest.param(
        BASE + '[warmup]\nhours = "18:00-08:00"\n',
        "warmup.hours: end 08:00 is not after start 18:00; windows do not cross midnight",
        id="warmup-hours",
    ),
    pytest.param(
        BASE.replace('name = "q4"', 'name = "q4"\ntimezone = "Mars/Olympus"'),
        "campaigns[0] (q4).timezone: unknown timezone 'Mars/Olympus'",
        id="campaign-timezone",
    ),
    pytest.param(
        BASE.replace('timezone = "Europe/Berlin"', 'timezone = "Europe"'),
        "sending.timezone: unknown timezone 'Europe'",
        id="sending-timezone-directory",
    ),
    pytest.param(
        BASE.replace('name = "q4"', 'name = "q4"\ndays = ["mon", "funday"]'),
        "campaigns[0] (q4).days: unknown day(s) ['funday']",
        id="bad-day",
    ),
    pytest.param(
        BASE.replace('address = "alex@brand-news.com"', 'address = "alex"'),
        "mailboxes[0] (alex).address: 'alex' is not an e-mail address",
        id="bad-address",
    ),
    pytest.param(
        BASE.replace('address = "alex@brand-news.com"', "address = 5"),
        "mailboxes[0].address: must be a string (got 5)",
        id="address-type",
    ),
    pytest.param(
        BASE.replace("smtp = {", "warmup_start = 2026-11-20T10:00:00\nsmtp = {"),
        "mailboxes[0] (alex@brand-news.com).warmup_start: must be a date like 2026-11-20",
        id="warmup-start-datetime",
    ),
    pytest.param(
        BASE.replace('name = "q4"', 'name = "q4"\nduring_warmup = "yes"'),
        "campaigns[0] (q4).during_warmup: must be true or false (got 'yes')",
        id="bool-type",
    ),
    pytest.param(
        BASE.replace(', username = "alex"', ""),
        "mailboxes[0] (alex@brand-news.com).smtp.username: is required but missing",
        id="missing-key",
    ),
    pytest.param(
        BASE.replace('subject = "Hi"\nbody = "Hello"\n', "").replace("[[campaigns.steps]]\n", ""),
        "campaigns[0] (q4).steps: is required but missing",
        id="no-steps",
    ),
    pytest.param(
        BASE + '[seeds]\naddress = "s@example.org"\n',
        "seeds: must be an array of tables, written [[seeds]] (got a table)",
        id="table-instead-of-array",
    ),
    pytest.param(
        BASE + "[health]\nbounce_warn = 0.1\n",
        "health.bounce_warn: must not be above bounce_pause (0.05)",
        id="bounce-warn-above-pause",
    ),
    pytest.param(
        BASE + '[unsubscribe]\nbase_url = "u.brand-news.com"\n',
        "unsubscribe.base_url: must be an http(s) URL",
        id="unsubscribe-url",
    ),
    pytest.param(
        BASE
        + '[[seeds]]\naddress = "alex@brand-news.com"\n'
        + 'imap = { host = "h", port = 993, username = "u", password = "p" }\n',
        "seeds[0] (alex@brand-news.com).address: 'alex@brand-news.com' is a pool mailbox",
        id="seed-in-pool",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_each_problem_is_placed_by_its_key_path(tmp_path: Path, text: str, expected: str) -> None:
    errors = errors_of(tmp_path, text)
    assert any(error.startswith(expected) for error in errors), errors


def test_every_problem_of_a_file_is_reported_in_file_order(tmp_path: Path) -> None:
    text = (
        BASE.replace("port = 587", "port = 0")
        .replace('timezone = "Europe/Berlin"', 'timezone = "Nowhere"\nfoo = 1')
        .replace('esp = "mg"', 'esp = "nope"')
        .replace('name = "q4"', 'name = "q4"\nhours = "17:00-09:00"')
        .replace("env:SMTP_ALEX", "env:NOT_THERE")
    )
    errors = errors_of(tmp_path, text)
    prefixes = [
        "sending.timezone:",
        "sending.foo:",
        "domains[0] (brand-news.com).esp:",
        "mailboxes[0] (alex@brand-news.com).smtp.port:",
        "mailboxes[0] (alex@brand-news.com).smtp.password:",
        "campaigns[0] (q4).hours:",
    ]
    assert [e.split(": ")[0] + ":" for e in errors] == prefixes
    assert str(ConfigError(errors)) == "\n".join(errors)


def test_an_unresolved_env_value_is_reported_once(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE.replace("port = 587", 'port = "env:SMTP_PORT"'))
    assert errors == [
        "mailboxes[0] (alex@brand-news.com).smtp.port: environment variable SMTP_PORT is not set "
        "(the value is env:SMTP_PORT)"
    ]


def test_empty_env_variable_is_an_error(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE, {**ENV, "SMTP_ALEX": ""})
    assert errors == [
        "mailboxes[0] (alex@brand-news.com).smtp.password: environment variable SMTP_ALEX is "
        "empty (the value is env:SMTP_ALEX)"
    ]


# --- secrets ------------------------------------------------------------------------------


def test_secrets_never_appear_in_errors(tmp_path: Path) -> None:
    text = (
        BASE.replace('password = "env:SMTP_ALEX"', f'password = "{SECRET}", bogus = 1').replace(
            'api_key = "env:MG_KEY"', f'api_key = "{SECRET}"\nregion = "x"'
        )
        + "[[mailboxes]]\n"
        'address = "env:ADDR"\n'
        'smtp = { host = "h", port = "env:PORT", username = "u", password = 1234567 }\n'
        "[[mailboxes]]\n"
        'address = "bob@brand-news.com"\n'
        f'smtp = {{ host = "h", port = 1, username = "u", password = ["{SECRET}"] }}\n'
        "[[esp]]\n"
        'name = "ses"\nkind = "ses"\nregion = "r"\nqueue_url = "q"\n'
        f'access_key_id = 5\nsecret_access_key = {{ x = "{SECRET}" }}\n'
    )
    env = {**ENV, "ADDR": f"not-an-address-{SECRET}", "PORT": SECRET}
    errors = errors_of(tmp_path, text, env)
    joined = "\n".join(errors)
    assert SECRET not in joined
    assert "1234567" not in joined
    assert "mailboxes[1].address: '***' is not an e-mail address" in errors
    assert "mailboxes[1].smtp.port: must be a whole number (value not shown)" in errors
    assert "mailboxes[1].smtp.password: must be a string (value not shown)" in errors
    assert (
        "mailboxes[2] (bob@brand-news.com).smtp.password: must be a string (value not shown)"
        in (errors)
    )
    assert "esp[1] (ses).access_key_id: must be a string (value not shown)" in errors
    assert "esp[1] (ses).secret_access_key: must be a string (value not shown)" in errors


def test_secret_values_are_hidden_in_the_loaded_model(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, BASE), {**ENV, "SMTP_ALEX": SECRET})
    assert SECRET not in repr(config)
    assert SECRET not in str(config.model_dump())
    assert config.mailboxes[0].smtp.server().password == SECRET


# --- uploaded campaigns -------------------------------------------------------------------

CAMPAIGN = """
[[campaigns]]
name = "spring"
timezone = "Europe/Berlin"
hours = "08:00-12:00"
[[campaigns.steps]]
subject = "{Hi|Hello} {{ first_name | default('there') }}"
body = "Body"
[[campaigns.steps]]
wait_days = 2
body = "env:BOT_TOKEN"
"""


def test_load_campaign_reads_one_campaign_without_env_resolution() -> None:
    campaign = load_campaign("\ufeff" + CAMPAIGN, "spring.toml")
    assert isinstance(campaign, CampaignConfig)
    assert campaign.name == "spring"
    assert [step.wait_days for step in campaign.steps] == [0, 2]
    # an uploaded file must not be able to read the process environment
    assert campaign.steps[1].body == "env:BOT_TOKEN"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[campaigns]\n", "TOML syntax error in up.toml: "),
        ('name = "x"\n', "campaigns: is required: add a [[campaigns]] table"),
        (
            CAMPAIGN + CAMPAIGN,
            "campaigns: up.toml must hold exactly one [[campaigns]] table, found 2",
        ),
        (CAMPAIGN.replace("08:00-12:00", "12:00-08:00"), "campaigns[0] (spring).hours: end 08:00"),
        (CAMPAIGN.replace('subject = "{Hi', 'sbj = "{Hi'), "campaigns[0] (spring).steps[0].sbj: "),
        (CAMPAIGN + "x = 1\n", "campaigns[0] (spring).steps[1].x: unknown key 'x'"),
        ("y = 2\n" + CAMPAIGN, "y: unknown key 'y' at the top level (known keys: campaigns)"),
    ],
)
def test_load_campaign_errors(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_campaign(text, "up.toml")
    assert any(error.startswith(expected) for error in caught.value.errors), caught.value.errors


def test_load_campaign_reports_a_missing_first_subject() -> None:
    with pytest.raises(ConfigError) as caught:
        load_campaign(CAMPAIGN.replace("subject = ", "html = "), "up.toml")
    assert caught.value.errors == [
        "campaigns[0] (spring).steps[0].subject: the first step needs a subject "
        "(follow-ups reuse it as 'Re: ...')"
    ]
