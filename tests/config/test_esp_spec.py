"""[[esp]] tables become EspSpec values: secrets revealed, default URLs, the domains using each."""

from __future__ import annotations

from pathlib import Path

from config.model import load_config

CONFIG = """
[[esp]]
name = "mg"
kind = "mailgun"
api_key = "env:MG_KEY"
[[esp]]
name = "eu"
kind = "mailgun"
api_key = "k2"
base_url = "https://api.eu.mailgun.net"
[[esp]]
name = "pm"
kind = "postmark"
server_token = "tok"
[[domains]]
name = "a.com"
esp = "mg"
[[domains]]
name = "b.com"
esp = "mg"
[[domains]]
name = "c.com"
[[mailboxes]]
address = "x@a.com"
smtp = { host = "h", port = 587, security = "starttls", username = "u", password = "p" }
"""


def test_each_esp_becomes_a_spec_with_its_domains_and_revealed_secret(tmp_path: Path) -> None:
    path = tmp_path / "outreach.toml"
    path.write_text(CONFIG)
    esps = {e.name: e for e in load_config(path, {"MG_KEY": "key-secret"}).rules().esps}
    assert esps["mg"].api_key == "key-secret"
    assert esps["mg"].domains == ("a.com", "b.com")
    assert esps["mg"].base_url == "https://api.mailgun.net"
    assert esps["eu"].base_url == "https://api.eu.mailgun.net"
    assert esps["eu"].domains == ()
    assert esps["pm"].server_token == "tok"
    assert esps["pm"].base_url == "https://api.postmarkapp.com"
    assert "key-secret" not in repr(esps["mg"])
