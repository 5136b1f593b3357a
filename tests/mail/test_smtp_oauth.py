"""SMTP XOAUTH2: aiosmtpd takes a token the fake endpoint issued; expiry, refresh and refusal."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from core.connect import Verdict
from core.models import OutcomeKind
from core.specs import MailServer, OAuthLogin, SmtpAccount
from mail.oauth import OAuthTokens
from mail.smtp import SmtpSender
from tests.fakes.oauth_server import FakeTokenEndpoint
from tests.fakes.smtp_server import FakeSmtpServer, TestCA, make_test_ca
from tests.mail.test_oauth import CLIENT_ID, CLIENT_SECRET, LIFETIME, REFRESH, USER, Clock
from tests.mail.test_smtp import message

ALIASES = [f"{name}@brand-news.com" for name in ("alex", "sales", "info", "hello", "team", "jo")]


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return make_test_ca()


@pytest.fixture
async def endpoint() -> AsyncIterator[FakeTokenEndpoint]:
    fake = FakeTokenEndpoint(CLIENT_ID, CLIENT_SECRET, {REFRESH: USER}, lifetime=LIFETIME)
    async with fake:
        yield fake


@pytest.fixture
async def server(endpoint: FakeTokenEndpoint, ca: TestCA) -> AsyncIterator[FakeSmtpServer]:
    fake = FakeSmtpServer(security="starttls", ssl_context=ca.server_context, bearer=endpoint.valid)
    async with fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def tokens(clock: Clock) -> AsyncIterator[OAuthTokens]:
    source = OAuthTokens(timeout=5.0, clock=clock)
    yield source
    await source.close()


@pytest.fixture
async def sender(ca: TestCA, tokens: OAuthTokens) -> AsyncIterator[SmtpSender]:
    smtp = SmtpSender(timeout=5.0, tls_context=ca.client_context, tokens=tokens)
    yield smtp
    await smtp.close()


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    text = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (CLIENT_SECRET, REFRESH, "Zq9x", base64.b64encode(b"user=").decode()):
        assert secret not in text


def account(
    server: FakeSmtpServer, endpoint: FakeTokenEndpoint, address: str = USER
) -> SmtpAccount:
    """A mailbox sending as `address` through USER's Microsoft 365 login (send-as aliases)."""
    oauth = OAuthLogin(
        "microsoft",
        CLIENT_ID,
        refresh_token=REFRESH,
        client_secret=CLIENT_SECRET,
        token_url=endpoint.url,
    )
    login = MailServer("127.0.0.1", server.port, "starttls", USER, oauth=oauth)
    return SmtpAccount(address, login)


async def test_xoauth2_with_an_issued_token_then_one_refresh_for_five_concurrent_sends(
    server: FakeSmtpServer, endpoint: FakeTokenEndpoint, sender: SmtpSender, clock: Clock
) -> None:
    first = await sender.send(account(server, endpoint), message())
    assert first.kind is OutcomeKind.SENT, first
    assert endpoint.grants == 1
    assert server.messages[0].login == USER
    assert server.messages[0].tls

    # The token expires mid-test: on the provider's side and by the token source's clock.
    endpoint.expire()
    clock.now += LIFETIME
    aliases = [account(server, endpoint, alias) for alias in ALIASES[1:]]
    outcomes = await asyncio.gather(*(sender.send(who, message()) for who in aliases))
    assert [outcome.kind for outcome in outcomes] == [OutcomeKind.SENT] * 5
    assert endpoint.grants == 2  # five new logins, one refresh
    assert server.logins == 6
    assert server.failed_logins == 0  # renewed before use: no expired token was presented
    assert len(set(server.tokens_seen[1:])) == 1
    assert server.tokens_seen[1] != server.tokens_seen[0]
    assert {received.mail_from for received in server.messages} == set(ALIASES)


async def test_a_token_revoked_early_is_replaced_once_at_login(
    server: FakeSmtpServer, endpoint: FakeTokenEndpoint, sender: SmtpSender
) -> None:
    await sender.send(account(server, endpoint), message())
    endpoint.expire()  # the provider dropped it although our cache still trusts it
    outcome = await sender.send(account(server, endpoint, ALIASES[1]), message())
    assert outcome.kind is OutcomeKind.SENT, outcome
    assert server.failed_logins == 1
    assert endpoint.grants == 2


async def test_a_refused_refresh_is_bad_credentials_without_the_token(
    server: FakeSmtpServer, endpoint: FakeTokenEndpoint, sender: SmtpSender, clock: Clock
) -> None:
    await sender.send(account(server, endpoint), message())
    endpoint.revoke(REFRESH)
    endpoint.expire()
    clock.now += LIFETIME
    outcome = await sender.send(account(server, endpoint, ALIASES[1]), message())
    assert outcome.kind is OutcomeKind.AUTH  # the mailbox is paused: see tests/engine
    assert "invalid_grant" in outcome.text
    for shown in (outcome.text, outcome.summary, repr(outcome)):
        assert REFRESH not in shown
        assert CLIENT_SECRET not in shown
        assert "Zq9x" not in shown
    assert len(server.messages) == 1


async def test_a_token_the_server_keeps_refusing_is_bad_credentials(
    ca: TestCA, endpoint: FakeTokenEndpoint, sender: SmtpSender
) -> None:
    async with FakeSmtpServer(
        security="starttls", ssl_context=ca.server_context, bearer=lambda user, token: False
    ) as refusing:
        outcome = await sender.send(account(refusing, endpoint), message())
    assert outcome.kind is OutcomeKind.AUTH
    assert outcome.code == 535
    assert refusing.failed_logins == 2  # the cached token, then a new one
    assert endpoint.grants == 2


async def test_an_unreachable_token_endpoint_is_soft(
    server: FakeSmtpServer, endpoint: FakeTokenEndpoint, sender: SmtpSender
) -> None:
    who = account(server, endpoint)
    await endpoint.stop()
    outcome = await sender.send(who, message())
    assert outcome.kind is OutcomeKind.SOFT
    probe = await sender.probe(who)
    assert probe.verdict is Verdict.UNREACHABLE


async def test_probe_logs_in_with_xoauth2(
    server: FakeSmtpServer, endpoint: FakeTokenEndpoint, sender: SmtpSender, ca: TestCA
) -> None:
    assert (await sender.probe(account(server, endpoint))).verdict is Verdict.OK
    endpoint.revoke(REFRESH)
    endpoint.expire()
    other = SmtpSender(
        timeout=5.0, tls_context=ca.client_context
    )  # a token source of its own: no cache
    try:
        refused = await other.probe(account(server, endpoint))
    finally:
        await other.close()
    assert refused.verdict is Verdict.REFUSED
    assert "invalid_grant" in refused.detail
    assert REFRESH not in refused.detail


async def test_a_server_without_xoauth2_is_bad_credentials_before_any_refresh(
    ca: TestCA, endpoint: FakeTokenEndpoint, sender: SmtpSender
) -> None:
    async with FakeSmtpServer(
        username=USER, password="pw", security="starttls", ssl_context=ca.server_context
    ) as plain_only:
        outcome = await sender.send(account(plain_only, endpoint), message())
    assert outcome.kind is OutcomeKind.AUTH
    assert "XOAUTH2" in outcome.text
    assert endpoint.grants == 0
