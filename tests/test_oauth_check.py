"""`check --connect` with OAuth mailboxes: the config's oauth tables through bootstrap's wiring."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bootstrap import check_connections
from config import load_config
from core.connect import Verdict
from tests.fakes.dovecot import HOST, Dovecot, dovecot_available
from tests.fakes.oauth_server import FakeTokenEndpoint
from tests.fakes.smtp_server import FakeSmtpServer

GOOD, GONE = "alex@brand-news.com", "sam@brand-news.com"
CLIENT_ID, CLIENT_SECRET = "app-7", "client-Zq9-UNIQUE-secret"
RT_GOOD, RT_GONE = "rt-Zq9-UNIQUE-good", "rt-Zq9-UNIQUE-revoked"
ENV = {"MS_SECRET": CLIENT_SECRET, "RT_GOOD": RT_GOOD, "RT_GONE": RT_GONE}


@pytest.fixture
async def endpoint() -> AsyncIterator[FakeTokenEndpoint]:
    accounts = {RT_GOOD: GOOD, RT_GONE: GONE}
    async with FakeTokenEndpoint(CLIENT_ID, CLIENT_SECRET, accounts) as fake:
        yield fake


def box(address: str, refresh_env: str, smtp: int, imap: int, token_url: str) -> str:
    oauth = (
        f'oauth = {{ provider = "microsoft", client_id = "{CLIENT_ID}", '
        f'client_secret = "env:MS_SECRET", refresh_token = "env:{refresh_env}", '
        f'token_url = "{token_url}" }}'
    )
    login = f'host = "{HOST}", security = "none", username = "{address}", {oauth}'
    return (
        f'[[mailboxes]]\naddress = "{address}"\n'
        f"smtp = {{ port = {smtp}, {login} }}\nimap = {{ port = {imap}, {login} }}\n"
    )


async def test_check_connect_logs_in_with_one_token_per_account(
    tmp_path: Path, endpoint: FakeTokenEndpoint
) -> None:
    if not dovecot_available():
        pytest.fail("dovecot-imapd is not installed: `make test` installs it (as root)")
    users = {GOOD: "unused-pw", GONE: "unused-pw"}
    async with (
        FakeSmtpServer(bearer=endpoint.valid) as smtp,
        Dovecot(tmp_path, users, introspection_url=endpoint.introspection_url) as imap,
    ):
        text = '[[domains]]\nname = "brand-news.com"\n'
        text += box(GOOD, "RT_GOOD", smtp.port, imap.port, endpoint.url)
        text += box(GONE, "RT_GONE", smtp.port, imap.port, endpoint.url)
        path = tmp_path / "outreach.toml"
        path.write_text(text, encoding="utf-8")
        endpoint.revoke(RT_GONE)
        checks = await check_connections(load_config(path, ENV), seconds=10.0)
    verdicts = [(check.account, check.protocol, check.result.verdict) for check in checks]
    assert verdicts == [
        (GOOD, "smtp", Verdict.OK),
        (GOOD, "imap", Verdict.OK),
        (GONE, "smtp", Verdict.REFUSED),
        (GONE, "imap", Verdict.REFUSED),
    ]
    # SMTP and IMAP of a mailbox share one token: one grant for the good account.
    assert endpoint.grants == 1
    for check in checks[2:]:
        assert "invalid_grant" in check.result.detail
    shown = "\n".join(check.result.detail for check in checks)
    for secret in (CLIENT_SECRET, RT_GOOD, RT_GONE, "Zq9x"):
        assert secret not in shown
