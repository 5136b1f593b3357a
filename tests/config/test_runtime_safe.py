"""What `check` accepts must run: values that overflowed or broke ticks later are placed errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, load_campaign, load_config
from tests.config.test_model import BASE, ENV, errors_of

NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


def step_body(body: str) -> str:
    """BASE with the first step's body replaced (a TOML literal string: no escapes)."""
    return BASE.replace('body = "Hello"', f"body = '''{body}'''")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            BASE + f'[unsubscribe]\nbase_url = "https://u.example.com/{bad}x"\n',
            "unsubscribe.base_url: must be an http(s) URL",
            id=f"base-url-{name}",
        )
        for name, bad in [("quote", '\\"'), ("lt", "<"), ("gt", ">"), ("space", " ")]
    ]
    + [
        pytest.param(
            BASE.replace("daily_limit = 120", "daily_limit = 9223372036854775808"),
            "domains[0] (brand-news.com).daily_limit: ",
            id="daily-limit-int64",
        ),
        pytest.param(
            BASE + "[alerts]\nquiet_minutes = 99999999999999\n",
            "alerts.quiet_minutes: must be <=",
            id="quiet-minutes",
        ),
        pytest.param(
            BASE + "[health]\ncooldown_days = 99999999999\n",
            "health.cooldown_days: must be <=",
            id="cooldown-days",
        ),
        pytest.param(
            BASE + "[health]\nwindow_days = 99999999999\n",
            "health.window_days: must be <=",
            id="window-days",
        ),
        pytest.param(
            BASE + "[cost]\nesp_per_1000 = inf\n", "cost.esp_per_1000: ", id="esp-cost-inf"
        ),
        pytest.param(
            BASE.replace('api_key = "env:MG_KEY"', 'api_key = "env:MG_KEY"\nbase_url = "ftp://x"'),
            "esp[0] (mg).base_url: must be an http(s) URL",
            id="esp-base-url-ftp",
        ),
        pytest.param(
            BASE + '[dns]\nnameserver = "dns.example.com:53"\n',
            "dns.nameserver: must be a resolver's IP address",
            id="nameserver-name",
        ),
        pytest.param(
            BASE + '[dns]\nnameserver = "127.0.0.1:99999"\n',
            "dns.nameserver: bad port",
            id="nameserver-port",
        ),
        pytest.param(
            step_body("{% for %}"),
            "campaigns[0] (q4).steps[0].body: line 1: ",
            id="jinja-syntax",
        ),
        pytest.param(
            step_body(NESTED_LOOPS),
            "campaigns[0] (q4).steps[0].body: ",
            id="template-loop-bomb",
        ),
        pytest.param(
            step_body("{{ '%999999999s' % email }}"),
            "campaigns[0] (q4).steps[0].body: ",
            id="template-percent-bomb",
        ),
        pytest.param(
            step_body("{{ 1 / 0 }}"),
            "campaigns[0] (q4).steps[0].body: line 1: ZeroDivisionError",
            id="template-fails-for-every-lead",
        ),
    ],
)
def test_check_refuses_what_would_fail_at_runtime(tmp_path: Path, text: str, expected: str) -> None:
    errors = errors_of(tmp_path, text)
    assert any(error.startswith(expected) for error in errors), errors


def test_valid_values_still_pass(tmp_path: Path) -> None:
    text = (
        BASE.replace('body = "Hello"', 'body = "Hi {{ first_name }}"')
        + '[unsubscribe]\nbase_url = "https://u.example.com/path?a=1&b=%20"\n'
        + '[dns]\nnameserver = "[::1]:5353"\n'
    )
    path = tmp_path / "ok.toml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path, ENV)
    assert config.dns.nameserver == "[::1]:5353"
    assert config.unsubscribe is not None
    assert config.unsubscribe.base_url == "https://u.example.com/path?a=1&b=%20"


def test_an_uploaded_campaign_is_compiled_and_trial_rendered() -> None:
    text = f"""
[[campaigns]]
name = "up"
[[campaigns.steps]]
subject = "Hi"
body = '''{NESTED_LOOPS}'''
[[campaigns.steps]]
body = "{{% if %}}"
wait_days = 2
"""
    with pytest.raises(ConfigError) as caught:
        load_campaign(text, "up.toml")
    errors = caught.value.errors
    assert any(e.startswith("campaigns[0] (up).steps[0].body: ") for e in errors), errors
    assert any(e.startswith("campaigns[0] (up).steps[1].body: line 1") for e in errors), errors


@pytest.mark.parametrize(
    "text",
    [
        BASE.replace("[sending]\n", '[sending]\n"post\\r\\nal" = 1\n'),
        BASE.replace(
            'address = "alex@brand-news.com"', 'address = "alex@brand-news.com\\r\\nBcc: x@y.z"'
        ),
        BASE.replace('name = "q4"', 'name = "q4\\nINJECTED"\nhours = "bad"'),
    ],
    ids=["key", "address", "identity"],
)
def test_cr_lf_in_a_value_never_starts_a_new_line_of_an_error(tmp_path: Path, text: str) -> None:
    errors = errors_of(tmp_path, text)
    assert errors
    for error in errors:
        assert "\n" not in error and "\r" not in error, error
    assert any("\\n" in error for error in errors), errors
