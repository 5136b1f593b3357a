"""`check --connect` against real peers: aiosmtpd with AUTH, a private Dovecot, a closed port."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest

from core.connect import LoginCheck, LoginResult, Verdict, failed
from core.specs import ImapAccount, MailboxSpec, MailServer, Security, SmtpAccount
from engine.connect_check import NO_ESP_CLIENT, check_logins
from mail.imap import ImapReader
from mail.smtp import SmtpSender
from tests.fakes.dovecot import HOST, Dovecot
from tests.fakes.smtp_server import FakeSmtpServer, make_test_ca
from tests.mail.conftest import USERS

USER = "alex@brand-news.com"
IMAP_PASSWORD = USERS[USER]
SMTP_PASSWORD = "smtp-S3cret-pw"
WRONG = "wrong-S3cret-pw"
TIMEOUT = 5.0  # above Dovecot's ~2 s delay before it refuses a wrong password


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server(port: int, password: str, security: Security = "none") -> MailServer:
    return MailServer(HOST, port, security, USER, password)


@pytest.fixture
async def smtp_server() -> AsyncIterator[FakeSmtpServer]:
    async with FakeSmtpServer(username=USER, password=SMTP_PASSWORD) as fake:
        yield fake


async def test_smtp_probe_says_ok_refused_or_unreachable(smtp_server: FakeSmtpServer) -> None:
    sender = SmtpSender(timeout=TIMEOUT)
    port = smtp_server.port
    ok = await sender.probe(SmtpAccount(USER, server(port, SMTP_PASSWORD)))
    refused = await sender.probe(SmtpAccount(USER, server(port, WRONG)))
    unreachable = await sender.probe(SmtpAccount(USER, server(closed_port(), SMTP_PASSWORD)))

    assert ok == LoginResult(Verdict.OK)
    assert refused.verdict is Verdict.REFUSED
    # The server's whole multi-line reply (GMAIL_BAD_CREDENTIALS), on one line.
    assert refused.detail == (
        "535 5.7.8 Username and Password not accepted. For more information, go to "
        "5.7.8 https://support.google.com/mail/?p=BadCredentials - gsmtp"
    )
    assert unreachable.verdict is Verdict.UNREACHABLE
    assert "Connect call failed" in unreachable.detail or "refused" in unreachable.detail
    assert smtp_server.logins == 1
    assert smtp_server.failed_logins > 0  # aiosmtplib tries each offered mechanism in turn
    assert smtp_server.messages == []  # a login check sends nothing
    await sender.close()
    assert not smtp_server.live  # QUIT said, nothing left open or pooled


async def test_smtp_probe_logs_in_over_starttls_and_refuses_plain_text() -> None:
    ca = make_test_ca()
    async with (
        FakeSmtpServer(
            username=USER,
            password=SMTP_PASSWORD,
            security="starttls",
            ssl_context=ca.server_context,
        ) as secure,
        FakeSmtpServer(username=USER, password=SMTP_PASSWORD) as plain,
    ):
        sender = SmtpSender(timeout=TIMEOUT, tls_context=ca.client_context)
        ok = await sender.probe(SmtpAccount(USER, server(secure.port, SMTP_PASSWORD, "starttls")))
        # A server without STARTTLS never sees the password when the config asks for it.
        no_tls = await sender.probe(
            SmtpAccount(USER, server(plain.port, SMTP_PASSWORD, "starttls"))
        )
    assert ok == LoginResult(Verdict.OK)
    assert secure.logins == 1
    assert no_tls == LoginResult(
        Verdict.REFUSED, "server does not offer STARTTLS; refusing to log in in plain text"
    )
    assert plain.logins == plain.failed_logins == 0


async def test_imap_probe_says_ok_refused_or_unreachable(dovecot: Dovecot) -> None:
    reader = ImapReader(timeout=TIMEOUT)
    ok = await reader.probe(ImapAccount(USER, server(dovecot.port, IMAP_PASSWORD)))
    refused = await reader.probe(ImapAccount(USER, server(dovecot.port, WRONG)))
    unreachable = await reader.probe(ImapAccount(USER, server(closed_port(), IMAP_PASSWORD)))

    assert ok == LoginResult(Verdict.OK)
    assert refused.verdict is Verdict.REFUSED
    assert "AUTHENTICATIONFAILED" in refused.detail  # Dovecot's own reply
    assert unreachable.verdict is Verdict.UNREACHABLE
    assert f"IMAP {HOST}:" in unreachable.detail and "connect" in unreachable.detail
    for result in (ok, refused, unreachable):
        assert IMAP_PASSWORD not in result.detail and WRONG not in result.detail
    await reader.close()


def mailbox(address: str, smtp: MailServer, imap: MailServer | None) -> MailboxSpec:
    return MailboxSpec(address=address, smtp=smtp, imap=imap)


async def test_every_login_checked_in_config_order_with_esps_unchecked(
    smtp_server: FakeSmtpServer, dovecot: Dovecot
) -> None:
    closed = closed_port()
    boxes = [
        mailbox(
            "good@brand-news.com",
            server(smtp_server.port, SMTP_PASSWORD),
            server(dovecot.port, IMAP_PASSWORD),
        ),
        mailbox(
            "wrong@brand-news.com", server(smtp_server.port, WRONG), server(dovecot.port, WRONG)
        ),
        mailbox("gone@brand-news.com", server(closed, SMTP_PASSWORD), server(closed, WRONG)),
        mailbox("noimap@brand-news.com", server(smtp_server.port, SMTP_PASSWORD), None),
    ]
    checks = await check_logins(
        boxes,
        ["mailgun-main"],
        smtp=SmtpSender(timeout=TIMEOUT),
        imap=ImapReader(timeout=TIMEOUT),
        seconds=TIMEOUT,
    )
    assert [(c.account, c.protocol, c.result.verdict) for c in checks] == [
        ("good@brand-news.com", "smtp", Verdict.OK),
        ("good@brand-news.com", "imap", Verdict.OK),
        ("wrong@brand-news.com", "smtp", Verdict.REFUSED),
        ("wrong@brand-news.com", "imap", Verdict.REFUSED),
        ("gone@brand-news.com", "smtp", Verdict.UNREACHABLE),
        ("gone@brand-news.com", "imap", Verdict.UNREACHABLE),
        ("noimap@brand-news.com", "smtp", Verdict.OK),
        ("mailgun-main", "esp", Verdict.NOT_CHECKED),
    ]
    assert checks[-1].result.detail == NO_ESP_CLIENT
    assert failed(checks)
    assert not failed([checks[0], checks[1], checks[-1]])  # an unchecked ESP fails nothing
    assert smtp_server.messages == []


async def test_a_silent_server_is_unreachable_after_the_deadline() -> None:
    """A server that takes the connection and never greets costs one deadline, not a hang."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    listener = await asyncio.start_server(silent, HOST, 0)
    port = int(listener.sockets[0].getsockname()[1])
    boxes = [mailbox(USER, server(port, SMTP_PASSWORD), server(port, IMAP_PASSWORD))]
    started = time.monotonic()
    async with listener:
        checks = await check_logins(
            boxes, [], smtp=SmtpSender(timeout=30), imap=ImapReader(timeout=30), seconds=1.0
        )
        for writer in held:
            writer.close()
    assert time.monotonic() - started < 5
    assert [c.result for c in checks] == [
        LoginResult(Verdict.UNREACHABLE, "no answer within 1 s"),
        LoginResult(Verdict.UNREACHABLE, "no answer within 1 s"),
    ]


class EchoingProbe:
    """A server whose refusal quotes what it was sent, password included."""

    async def probe(self, account: SmtpAccount) -> LoginResult:
        return LoginResult(Verdict.REFUSED, f"535 bad login {account.server.password!r}")


async def test_a_reply_quoting_the_password_is_masked() -> None:
    boxes = [mailbox(USER, server(1, SMTP_PASSWORD), None)]
    checks = await check_logins(
        boxes, [], smtp=EchoingProbe(), imap=ImapReader(timeout=TIMEOUT), seconds=TIMEOUT
    )
    assert checks == [LoginCheck(USER, "smtp", LoginResult(Verdict.REFUSED, "535 bad login '***'"))]


async def test_thirty_mailboxes_of_every_kind_take_one_timeout_at_most(
    smtp_server: FakeSmtpServer, dovecot: Dovecot
) -> None:
    closed = closed_port()
    kinds = {
        "good": (server(smtp_server.port, SMTP_PASSWORD), server(dovecot.port, IMAP_PASSWORD)),
        "wrong": (server(smtp_server.port, WRONG), server(dovecot.port, WRONG)),
        "gone": (server(closed, SMTP_PASSWORD), server(closed, IMAP_PASSWORD)),
    }
    boxes = [
        mailbox(f"{kind}{n}@brand-news.com", *kinds[kind]) for n in range(10) for kind in kinds
    ]
    started = time.monotonic()
    checks = await check_logins(
        boxes,
        [],
        smtp=SmtpSender(timeout=10),
        imap=ImapReader(timeout=10),
        seconds=10,
    )
    elapsed = time.monotonic() - started
    expected = {"good": Verdict.OK, "wrong": Verdict.REFUSED, "gone": Verdict.UNREACHABLE}
    assert len(checks) == 60
    for check in checks:
        kind = check.account.partition("@")[0].rstrip("0123456789")
        assert check.result.verdict is expected[kind], check
    assert elapsed < 15, elapsed
    assert smtp_server.logins == 10
