"""[[seeds]] reach the core as Rules.seeds, each with its IMAP login."""

from __future__ import annotations

from pathlib import Path

from config import load_config
from core.specs import SeedSpec
from tests.config.test_model import BASE, ENV, write


def test_seeds_become_core_seed_specs(tmp_path: Path) -> None:
    text = (
        BASE
        + '[[seeds]]\naddress = "Seed.One@Example.ORG"\n'
        + 'imap = { host = "imap.example.org", port = 993, username = "s1", password = "pw1" }\n'
    )
    rules = load_config(write(tmp_path, text), ENV).rules()
    assert len(rules.seeds) == 1
    seed = rules.seeds[0]
    assert isinstance(seed, SeedSpec)
    assert (seed.address, seed.domain) == ("Seed.One@example.org", "example.org")
    assert (seed.imap.host, seed.imap.port, seed.imap.username) == ("imap.example.org", 993, "s1")
    assert seed.imap.password == "pw1"
    assert "pw1" not in repr(seed)


def test_no_seeds_means_an_empty_tuple(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, BASE), ENV).rules().seeds == ()
