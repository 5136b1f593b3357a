"""`python main.py check` run as a real process: the summary, or every error placed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from main import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "outreach.example.toml"
SECRET = "Zq9-UNIQUE-s3cr3t-VALUE"


def example_env() -> dict[str, str]:
    """The placeholder secrets of .env.example."""
    return {k: v for k, v in dotenv_values(ROOT / ".env.example").items() if v is not None}


def run_check(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in `cwd` (so no stray .env is read) with exactly `env`."""
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "check", *args],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_example_config_passes_and_is_summarised(tmp_path: Path) -> None:
    env = {**example_env(), "SMTP_BRAND_NEWS": SECRET, "MAILGUN_API_KEY": SECRET}
    result = run_check(tmp_path, {**env, "OUTREACH_CONFIG": str(EXAMPLE)}, "--date", "2026-11-27")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"{EXAMPLE}: OK (as of 2026-11-27, Europe/Berlin)" in out
    assert "Domains: 10" in out
    assert "Mailboxes: 30 (26 active, 4 warming)" in out
    assert "brand-labs.com   cap 120     3 mailbox(es)  today   36" in out
    assert "warming kim@trybrand.com: day 3 (phase 1), cap 7 today, ramps to 40" in out
    assert "q4-founders: 3 step(s), mon-fri 09:00-17:00 America/New_York, cap 600/day" in out
    assert "eu-agencies: 2 step(s), tue-thu 08:30-16:30 Europe/Berlin, cap 400/day" in out
    assert "Seeds: 2    ESPs: 2" in out
    assert (
        "Warm-up loop: 30 pool mailbox(es) with imap and 2 seed(s) receive; "
        "hours 08:00-18:00, maintenance 10%, reply_rate 30%"
    ) in out
    # Which domains each ESP's events are matched for.
    assert "  esp mg (mailgun, every 60s): brand-news.com, brand-mail.com, brand-team.com" in out
    assert "  esp ses (ses, every 60s): getbrand.com, trybrand.com, brand-app.com" in out
    # 8 full domains x 120, trybrand 40+40+7, brand-labs 3 x 12 (day 8 of warm-up)
    assert "Capacity today: 1083 of daily target 1200" in out
    assert "WARNING: capacity 1083 is below the daily target 1200 (short by 117)" in out
    assert SECRET not in out + result.stderr
    assert "placeholder-" not in out


def test_once_warm_the_example_meets_its_target(tmp_path: Path) -> None:
    result = run_check(tmp_path, example_env(), "--config", str(EXAMPLE), "--date", "2027-01-10")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Mailboxes: 30 (30 active)" in result.stdout
    assert "Capacity today: 1200 of daily target 1200" in result.stdout
    assert "WARNING" not in result.stdout


def test_dotenv_in_the_working_directory_supplies_secrets(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "".join(f"{k}={v}\n" for k, v in example_env().items()), encoding="utf-8"
    )
    result = run_check(tmp_path, {}, "--config", str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Domains: 10" in result.stdout


GOOD = """
[sending]
postal_address = "Brand Ltd, 1 Main St"

[[domains]]
name = "brand-news.com"

[[mailboxes]]
address = "alex@brand-news.com"
smtp = { host = "smtp.example.org", port = 587, username = "alex", password = "env:SMTP_ALEX" }
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            GOOD.replace("port = 587", "port = 70000"),
            "mailboxes[0] (alex@brand-news.com).smtp.port: must be <= 65535 (got 70000)",
            id="bad-port",
        ),
        pytest.param(
            GOOD.replace("[sending]\n", "[sending]\npostal_adress = 'x'\n"),
            "sending.postal_adress: unknown key 'postal_adress' in [sending] "
            "(did you mean 'postal_address'?)",
            id="unknown-key",
        ),
        pytest.param(
            GOOD.replace("env:SMTP_ALEX", "env:SMTP_NOBODY"),
            "mailboxes[0] (alex@brand-news.com).smtp.password: environment variable SMTP_NOBODY "
            "is not set",
            id="missing-env-secret",
        ),
        pytest.param(
            GOOD + GOOD[GOOD.index("[[mailboxes]]") :],
            "mailboxes[1] (alex@brand-news.com).address: duplicate mailbox "
            "'alex@brand-news.com' (first at mailboxes[0] (alex@brand-news.com))",
            id="duplicate-mailbox",
        ),
        pytest.param(
            GOOD.replace('"alex@brand-news.com"\n', '"alex@brand-mail.com"\n'),
            "mailboxes[0] (alex@brand-mail.com).address: its domain 'brand-mail.com' is not "
            "among [[domains]]",
            id="unknown-domain",
        ),
    ],
)
def test_broken_config_exits_1_with_the_error_placed(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "outreach.toml"
    path.write_text(text, encoding="utf-8")
    result = run_check(tmp_path, {"SMTP_ALEX": SECRET})
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"1 error(s) in {Path('outreach.toml')}:"
    assert lines[1].startswith(f"  {expected}"), lines
    assert SECRET not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_several_errors_are_all_printed(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(
        GOOD.replace("port = 587", "port = 70000")
        .replace("env:SMTP_ALEX", "env:SMTP_NOBODY")
        .replace('"alex@brand-news.com"\n', '"alex@brand-mail.com"\n')
        + "[dns]\nnamesrver = ''\n",
        encoding="utf-8",
    )
    result = run_check(tmp_path, {}, "--config", str(path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"4 error(s) in {path}:"
    assert [line.split(": ")[0] for line in lines[1:]] == [
        "  dns.namesrver",
        "  mailboxes[0] (alex@brand-mail.com).address",
        "  mailboxes[0] (alex@brand-mail.com).smtp.port",
        "  mailboxes[0] (alex@brand-mail.com).smtp.password",
    ]


def test_missing_config_file(tmp_path: Path) -> None:
    result = run_check(tmp_path, {"OUTREACH_CONFIG": "absent.toml"})
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "1 error(s) in absent.toml:",
        "  config file absent.toml not found",
    ]


def test_bad_settings_exit_1_without_echoing_the_token(tmp_path: Path) -> None:
    result = run_check(tmp_path, {"BOT_TOKEN": SECRET, "OUTREACH_CONFIG": str(EXAMPLE)})
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "1 error(s) in the settings (environment / .env):",
        "  ADMIN_IDS is required when BOT_TOKEN is set",
    ]
    assert SECRET not in result.stdout + result.stderr


def test_no_subcommand_runs_the_service_which_refuses_a_broken_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[sending]\ntick_seconds = 0\n")
    monkeypatch.setenv("OUTREACH_CONFIG", str(broken))
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    assert main([]) == 1
    assert "sending.tick_seconds" in capsys.readouterr().out
