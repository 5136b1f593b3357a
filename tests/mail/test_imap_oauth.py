"""IMAP XOAUTH2 against Dovecot, whose oauth2 passdb asks the fake token endpoint about tokens."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.connect import Verdict
from core.errors import LoginRefused
from core.specs import ImapAccount, MailServer, OAuthLogin
from mail.imap import ImapReader
from mail.oauth import OAuthTokens
from tests.fakes.dovecot import Dovecot, dovecot_available
from tests.fakes.oauth_server import FakeTokenEndpoint
from tests.mail.test_oauth import CLIENT_ID, CLIENT_SECRET, LIFETIME, REFRESH, Clock

USER = "alex@brand-news.com"  # a Dovecot user with a password too: PLAIN must not be what works
RAW = b"From: lead@example.com\r\nTo: alex@brand-news.com\r\nSubject: Re: hi\r\n\r\nThanks!\r\n"


@pytest.fixture
async def endpoint() -> AsyncIterator[FakeTokenEndpoint]:
    fake = FakeTokenEndpoint(CLIENT_ID, CLIENT_SECRET, {REFRESH: USER}, lifetime=LIFETIME)
    async with fake:
        yield fake


@pytest.fixture
async def dovecot(tmp_path: Path, endpoint: FakeTokenEndpoint) -> AsyncIterator[Dovecot]:
    if not dovecot_available():
        pytest.fail("dovecot-imapd is not installed: `make test` installs it (as root)")
    users = {USER: "unused-Pa55word"}
    async with Dovecot(tmp_path, users, introspection_url=endpoint.introspection_url) as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def reader(clock: Clock) -> AsyncIterator[ImapReader]:
    tokens = OAuthTokens(timeout=5.0, clock=clock)
    imap = ImapReader(timeout=10.0, tokens=tokens)
    yield imap
    await imap.close()
    await tokens.close()


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    text = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (CLIENT_SECRET, REFRESH, "Zq9x", base64.b64encode(b"user=").decode()):
        assert secret not in text


def inbox(dovecot: Dovecot, endpoint: FakeTokenEndpoint) -> ImapAccount:
    oauth = OAuthLogin(
        "google",
        CLIENT_ID,
        refresh_token=REFRESH,
        client_secret=CLIENT_SECRET,
        token_url=endpoint.url,
    )
    return ImapAccount(USER, MailServer("127.0.0.1", dovecot.port, "none", USER, oauth=oauth))


async def test_dovecot_takes_an_issued_token_and_a_renewed_one_after_expiry(
    dovecot: Dovecot, endpoint: FakeTokenEndpoint, reader: ImapReader, clock: Clock
) -> None:
    await dovecot.deliver(USER, RAW)
    account = inbox(dovecot, endpoint)
    batch = await reader.fetch_new(account, "INBOX", None)
    assert [mail.raw for mail in batch.mails] == [RAW]
    assert endpoint.grants == 1
    assert endpoint.introspections >= 1

    # The token expires mid-test; the session is gone (a restart, a drop): the next login
    # takes a renewed token.
    endpoint.expire()
    clock.now += LIFETIME
    await reader.close()
    await dovecot.deliver(USER, RAW)
    batch = await reader.fetch_new(account, "INBOX", batch.cursor)
    assert len(batch.mails) == 1
    assert endpoint.grants == 2


async def test_a_token_dovecot_turns_down_is_replaced_once(
    dovecot: Dovecot, endpoint: FakeTokenEndpoint, reader: ImapReader
) -> None:
    account = inbox(dovecot, endpoint)
    assert (await reader.probe(account)).verdict is Verdict.OK
    endpoint.expire()  # revoked early: our cache still trusts it, Dovecot says NO
    assert (await reader.probe(account)).verdict is Verdict.OK
    assert endpoint.grants == 2


async def test_a_refused_refresh_is_the_imap_login_alert_path(
    dovecot: Dovecot, endpoint: FakeTokenEndpoint, reader: ImapReader
) -> None:
    endpoint.revoke(REFRESH)
    account = inbox(dovecot, endpoint)
    with pytest.raises(LoginRefused) as refused:
        await reader.folders(account)  # engine/events.py turns this into the login alert
    text = str(refused.value)
    assert "invalid_grant" in text
    assert REFRESH not in text
    assert CLIENT_SECRET not in text
    probe = await reader.probe(account)
    assert probe.verdict is Verdict.REFUSED
    assert "invalid_grant" in probe.detail
