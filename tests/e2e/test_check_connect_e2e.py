"""`python main.py check --connect` as a real process: aiosmtpd, Dovecot and a closed port."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.e2e.procs import MAIN, free_port
from tests.fakes.dovecot import HOST, Dovecot, dovecot_available
from tests.fakes.mailgun import FakeMailgun
from tests.fakes.smtp_server import FakeSmtpServer

GOOD = "good@brand-news.com"
WRONG = "wrong@brand-news.com"
GONE = "gone@brand-news.com"
SMTP_PW = "smtp-Zq9-UNIQUE-pw"
IMAP_PW = "imap-Zq9-UNIQUE-pw"
BAD_PW = "bad-Zq9-UNIQUE-pw"
ESP_KEY = "esp-Zq9-UNIQUE-key"


def box(address: str, smtp_port: int, smtp_env: str, imap_port: int, imap_env: str) -> str:
    login = f'security = "none", username = "{address}"'
    return (
        f'[[mailboxes]]\naddress = "{address}"\n'
        f'smtp = {{ host = "{HOST}", port = {smtp_port}, {login}, password = "env:{smtp_env}" }}\n'
        f'imap = {{ host = "{HOST}", port = {imap_port}, {login}, password = "env:{imap_env}" }}\n'
    )


def config(smtp_port: int, imap_port: int, mailgun: str, *, only_good: bool) -> str:
    text = (
        '[sending]\npostal_address = "Brand Ltd, 1 Main St"\n\n'
        '[[esp]]\nname = "mailgun-main"\nkind = "mailgun"\napi_key = "env:ESP_KEY"\n'
        f'base_url = "{mailgun}"\n\n'
        '[[domains]]\nname = "brand-news.com"\nesp = "mailgun-main"\n\n'
    )
    if not only_good:
        text += (
            '[[esp]]\nname = "mailgun-old"\nkind = "mailgun"\napi_key = "env:BAD_PW"\n'
            f'base_url = "{mailgun}"\n\n'
            '[[domains]]\nname = "old-brand.com"\nesp = "mailgun-old"\n\n'
        )
    text += box(GOOD, smtp_port, "SMTP_PW", imap_port, "IMAP_PW")
    if not only_good:
        closed = free_port()
        text += box(WRONG, smtp_port, "BAD_PW", imap_port, "BAD_PW")
        text += box(GONE, closed, "SMTP_PW", closed, "IMAP_PW")
    return text


async def check_connect(tmp: Path, text: str) -> tuple[int, str]:
    """Run `main.py check --connect` without blocking this loop (the servers live in it)."""
    path = tmp / "outreach.toml"
    path.write_text(text, encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "OUTREACH_CONFIG": str(path),
        "DATABASE_PATH": str(tmp / "outreach.db"),
        "SMTP_PW": SMTP_PW,
        "IMAP_PW": IMAP_PW,
        "BAD_PW": BAD_PW,
        "ESP_KEY": ESP_KEY,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(MAIN), "check", "--connect",
        cwd=tmp, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_check_connect_reports_each_login_and_exits_1_on_a_failure(tmp_path: Path) -> None:
    if not dovecot_available():
        pytest.fail("dovecot-imapd is not installed: `make test` installs it (as root)")
    users = {GOOD: IMAP_PW, WRONG: IMAP_PW}
    async with (
        FakeSmtpServer(username=GOOD, password=SMTP_PW) as smtp,
        Dovecot(tmp_path / "dovecot", users) as dovecot,
        FakeMailgun(ESP_KEY) as mailgun,
    ):
        mixed = config(smtp.port, dovecot.port, mailgun.url, only_good=False)
        status, out = await check_connect(tmp_path, mixed)
        rows = {
            tuple(line.split()[:3])
            for line in out.splitlines()
            if line.startswith("  ") and line.split()[1:2] in (["smtp"], ["imap"], ["esp"])
        }
        assert status == 1, out
        assert {
            (GOOD, "smtp", "ok"),
            (GOOD, "imap", "ok"),
            (WRONG, "smtp", "refused:"),
            (WRONG, "imap", "refused:"),
            (GONE, "smtp", "unreachable:"),
            (GONE, "imap", "unreachable:"),
            ("mailgun-main", "esp", "ok"),
            ("mailgun-old", "esp", "refused:"),
        } == rows, out
        assert "535 5.7.8 Username and Password not accepted" in out  # the server's own reply
        assert "AUTHENTICATIONFAILED" in out
        assert "FAILED: 5 of 8 login(s) refused or unreachable" in out
        assert "Traceback" not in out
        for secret in (SMTP_PW, IMAP_PW, BAD_PW, ESP_KEY):
            assert secret not in out
        assert smtp.messages == []  # nothing was sent

        good = config(smtp.port, dovecot.port, mailgun.url, only_good=True)
        status, out = await check_connect(tmp_path, good)
        assert status == 0, out
        assert "All 3 login(s) ok" in out
