"""[dns] cloudflare_token and cloudflare_api: read, placed errors, the token kept out of reprs."""

from __future__ import annotations

from pathlib import Path

from config import load_config
from core.specs import CLOUDFLARE_API
from tests.config.test_model import BASE, ENV, SECRET, errors_of, write


def test_without_a_token_dns_fix_is_off(tmp_path: Path) -> None:
    rules = load_config(write(tmp_path, BASE), ENV).rules()
    assert rules.dns.cloudflare_token == ""
    assert rules.dns.cloudflare_api == CLOUDFLARE_API


def test_the_token_comes_from_the_environment_and_stays_out_of_reprs(tmp_path: Path) -> None:
    text = (
        BASE
        + '[dns]\ncloudflare_token = "env:CF_TOKEN"\ncloudflare_api = "http://127.0.0.1:1/v4"\n'
    )
    config = load_config(write(tmp_path, text), {**ENV, "CF_TOKEN": SECRET})
    rules = config.rules()
    assert rules.dns.cloudflare_token == SECRET
    assert rules.dns.cloudflare_api == "http://127.0.0.1:1/v4"
    assert SECRET not in repr(config)
    assert SECRET not in repr(rules)


def test_dns_errors_are_placed_and_secret_free(tmp_path: Path) -> None:
    unset = BASE + '[dns]\ncloudflare_token = "env:CF_TOKEN"\n'
    assert errors_of(tmp_path, unset) == [
        "dns.cloudflare_token: environment variable CF_TOKEN is not set (the value is env:CF_TOKEN)"
    ]
    bad = BASE + f'[dns]\ncloudflare_token = ["{SECRET}"]\ncloudflare_api = "api.cloudflare.com"\n'
    errors = errors_of(tmp_path, bad)
    assert errors == [
        "dns.cloudflare_token: must be a string (value not shown)",
        "dns.cloudflare_api: must be an http(s) URL like https://u.brand-news.com, got "
        "'api.cloudflare.com'",
    ]
    blank = BASE + '[dns]\ncloudflare_token = "  "\n'
    assert errors_of(tmp_path, blank) == [
        "dns.cloudflare_token: must not be empty (leave the key out to disable /dns fix)"
    ]
