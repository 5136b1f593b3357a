"""The config SPEC 4 prints is accepted as it stands: no key of the contract is unknown here."""

from __future__ import annotations

from pathlib import Path

from config.model import load_config

EXAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "spec_example.toml"
SECRETS = {name: "x" for name in ("IMAP_SEED1", "CF_TOKEN", "MAILGUN_API_KEY", "SMTP_ALEX",
                                  "IMAP_ALEX")}  # fmt: skip


def test_the_spec_example_config_loads_with_every_key_it_shows() -> None:
    config = load_config(EXAMPLE, SECRETS)
    rules = config.rules()
    assert rules.warmup.maintenance_share == 0.10  # SPEC 4 [warmup]
    assert rules.warmup.reply_rate == 0.3
    assert rules.inbox.stop_words[0] == "unsubscribe"
    assert [e.name for e in rules.esps] == ["mg"]
    assert rules.esps[0].domains == ("brand-news.com",)
    assert config.alerts.digest_hour == 9
