"""outreach.minimal.toml, the newcomer's starting point, passes `main.py check` as shipped."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_check_cli import ROOT, SECRET, run_check

MINIMAL = ROOT / "outreach.minimal.toml"
NAMES = ("SMTP_ALEX", "SMTP_SAM", "IMAP_ALEX", "IMAP_SAM")


def test_minimal_config_passes_check(tmp_path: Path) -> None:
    env = {name: f"{SECRET}-{name}" for name in NAMES}
    result = run_check(tmp_path, {**env, "OUTREACH_CONFIG": str(MINIMAL)}, "--date", "2026-12-07")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"{MINIMAL}: OK (as of 2026-12-07, Europe/Berlin)" in out
    assert "Domains: 1" in out
    assert "Mailboxes: 2 (2 warming)" in out
    assert "first-campaign: 2 step(s), mon-fri 09:00-17:00 Europe/Berlin, no cap" in out
    assert "Unsubscribe: https://u.brand.example (served on 127.0.0.1:8080)" in out
    assert "Warm-up loop: 2 pool mailbox(es) with imap and 0 seed(s) receive" in out
    assert SECRET not in out + result.stderr


def test_minimal_config_once_warm_meets_its_target(tmp_path: Path) -> None:
    env = {name: "x" for name in NAMES}
    result = run_check(tmp_path, env, "--config", str(MINIMAL), "--date", "2027-02-01")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Mailboxes: 2 (2 active)" in result.stdout
    assert "Capacity today: 80 of daily target 80" in result.stdout
    assert "WARNING" not in result.stdout


def test_header_names_every_secret_the_file_reads() -> None:
    text = MINIMAL.read_text(encoding="utf-8")
    start = text.index("[sending]")
    header, body = text[:start], text[start:]
    used = set(re.findall(r'"env:([A-Z0-9_]+)"', body))
    assert used == set(NAMES)
    assert all(name in header for name in used)
