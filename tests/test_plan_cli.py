"""`python main.py plan`: the ramp table, the day the target is reached, and the PNG."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from main import main
from tests.bot.test_charts import png_size
from tests.test_check_cli import EXAMPLE, ROOT, example_env


def run_plan(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `main.py plan` in `cwd` (so no stray .env or outreach.toml is read) with `env`."""
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "plan", *args],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_30_mailboxes_reach_1200_on_day_15(tmp_path: Path) -> None:
    png = tmp_path / "out" / "ramp.png"
    result = run_plan(
        tmp_path,
        {},
        *("--mailboxes", "30", "--target", "1200", "--date", "2026-12-01", "--out", str(png)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "(no config at outreach.toml: warm-up and target from the defaults)" in lines
    assert "Plan: 30 mailboxes on 10 domains, target 1 200 a day, day 1 = 2026-12-01" in lines
    # The SPEC 7 ramp, one row a day, 30 mailboxes each
    assert "   1 2026-12-01    30     0        5       150         150  warm-up ramp" in lines
    assert "   8 2026-12-08    30     0       12       360       1 950  warm-up ramp" in lines
    assert "  14 2026-12-14    30     0       35     1 050       6 120  warm-up ramp" in lines
    assert "  15 2026-12-15     0    30       40     1 200       7 320  mailbox limits" in lines
    rows = [line for line in lines if line[:4].strip().isdigit()]
    assert len(rows) == 15
    assert (
        "Target 1 200 a day: reached on day 15 (2026-12-15); until then limited by warm-up ramp."
        in lines
    )
    assert any(
        "The target needs 30 mailboxes at 40 a day; the pool has 30." in line for line in lines
    )
    assert f"Ramp chart: {png}" in lines
    assert png_size(png.read_bytes()) == (1000, 500)


def test_the_configured_pool_starts_from_what_check_counts(tmp_path: Path) -> None:
    png = tmp_path / "plan.png"
    result = run_plan(
        tmp_path, example_env(), "--config", str(EXAMPLE), "--date", "2026-11-27", "--out", str(png)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # Day 1 is `check`'s "Capacity today: 1083" for the same day; kim@trybrand.com (day 3 of
    # its warm-up) is the last to warm, 12 days later.
    assert "   1 2026-11-27     4    26     7-40     1 083       1 083  warm-up ramp" in out
    assert "  13 2026-12-09     0    30       40     1 200      14 926  mailbox limits" in out
    assert "reached on day 13 (2026-12-09)" in out
    assert png.is_file()


def test_a_pool_short_of_its_target_says_how_many_mailboxes_it_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OUTREACH_CONFIG", raising=False)
    code = main(["plan", "--mailboxes", "20", "--target", "1200", "--date", "2026-12-01"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Target 1 200 a day: not reached; the pool peaks at 800 a day, limited by" in out
    assert "The target needs 30 mailboxes at 40 a day; the pool has 20." in out
    assert (tmp_path / "plan.png").is_file()


def test_domain_caps_are_named_as_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OUTREACH_CONFIG", raising=False)
    args = ["plan", "--mailboxes", "30", "--domains", "5", "--domain-limit", "200"]
    code = main([*args, "--target", "1200", "--date", "2026-12-01"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Plan: 30 mailboxes on 5 domains" in out
    assert "limited by domain caps" in out
    assert "Steady state: 1 000 a day (domain caps)." in out
    assert "raise the caps or add domains" in out


def test_domains_without_mailboxes_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "--domains", "3"]) == 2
    assert "give --mailboxes too" in capsys.readouterr().out
    assert not (tmp_path / "plan.png").exists()


def test_the_configured_pool_needs_a_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OUTREACH_CONFIG", raising=False)
    assert main(["plan"]) == 1
    assert "outreach.toml" in capsys.readouterr().out
    assert not (tmp_path / "plan.png").exists()
