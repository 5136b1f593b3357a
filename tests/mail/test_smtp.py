"""The pooled SMTP sender against a real SMTP server on 127.0.0.1 (SPEC 8, send time)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from core.message import OutgoingMessage, build_message
from core.models import Outcome, OutcomeKind
from core.specs import MailServer, SmtpAccount
from mail import pipeline
from mail import smtp as smtp_module
from mail.smtp import SmtpSender
from tests.fakes.smtp_server import (
    Action,
    Delay,
    Disconnect,
    FakeSmtpServer,
    Reply,
    Security,
    TestCA,
    make_test_ca,
    read_log,
)
from tests.waiting import eventually

K = OutcomeKind
USER = "alex@brand-news.com"
PASSWORD = "s3cret-Pa55word"  # must never show up in an outcome or a log line
TIMEOUT = 0.5
SLOW = 1.0  # a server delay well past TIMEOUT
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return make_test_ca()


@pytest.fixture(params=[True, False], ids=["pipelining", "one-by-one"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[FakeSmtpServer]:
    # With PIPELINING offered, MAIL, RCPT and DATA go in one write; without, one at a time.
    pipelining: bool = request.param
    async with FakeSmtpServer(username=USER, password=PASSWORD, pipelining=pipelining) as running:
        yield running


@pytest.fixture
async def sender() -> AsyncIterator[SmtpSender]:
    smtp = SmtpSender(timeout=TIMEOUT, local_hostname="client.test")
    yield smtp
    await smtp.close()


@pytest.fixture(autouse=True)
def no_password_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert all(PASSWORD not in record.getMessage() for record in caplog.records)


def account(
    server: FakeSmtpServer,
    security: Security = "none",
    password: str = PASSWORD,
    address: str = USER,
) -> SmtpAccount:
    config = MailServer(
        host="127.0.0.1",
        port=server.port,
        security=security,
        username=address,
        password=password,
    )
    return SmtpAccount(address=address, server=config)


_IDS = itertools.count(1)


def message(to: str = "lead@example.com") -> OutgoingMessage:
    """A message as the engine builds it, with a line that starts with a dot."""
    return build_message(
        sender=USER,
        display_name="Alex Stone",
        to=to,
        subject="Quick question for Acme",
        text="Hi Jane,\n.\nA line that starts with a dot.\n\nAlex\n",
        message_id=f"<test-{next(_IDS)}@brand-news.com>",
        date=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
        postal_address="Brand Ltd, 1 Main St",
    )


async def send(sender: SmtpSender, who: SmtpAccount, mail: OutgoingMessage) -> Outcome:
    outcome = await sender.send(who, mail)
    assert PASSWORD not in outcome.text
    assert PASSWORD not in outcome.summary
    assert PASSWORD not in repr(outcome)
    return outcome


async def test_accepted_message_is_sent_as_given(
    server: FakeSmtpServer, sender: SmtpSender
) -> None:
    mail = message()
    outcome = await send(sender, account(server), mail)
    assert (outcome.kind, outcome.code, outcome.status) == (K.SENT, 250, "2.0.0")
    [got] = server.messages
    assert got.mail_from == USER
    assert got.rcpt_tos == ("lead@example.com",)
    assert got.message_id == mail.message_id
    assert got.login == USER
    assert b"\r\n.\r\nA line that starts with a dot." in got.data  # dot-stuffing undone
    assert got.data == mail.data  # byte for byte, the end of the message included


@pytest.mark.parametrize(
    ("action", "kind", "code", "status", "reconnects"),
    [
        (Reply(421, "4.7.0 Try again later, closing connection."), K.BACKOFF, 421, "4.7.0", 1),
        (Reply(450, "4.2.1 Mailbox busy, try later"), K.SOFT, 450, "4.2.1", 0),
        (Reply(451, "4.3.0 Mail server temporarily rejected message."), K.SOFT, 451, "4.3.0", 0),
        (
            Reply(452, "4.2.2 The email account that you tried to reach is over quota."),
            K.SOFT,
            452,
            "4.2.2",
            0,
        ),
        (
            Reply(
                550,
                "5.1.1 The email account that you tried to reach does not exist. Please\n"
                "5.1.1 try double-checking the recipient's email address for typos\n"
                "5.1.1 https://support.google.com/mail/?p=NoSuchUser - gsmtp",
            ),
            K.HARD_BOUNCE,
            550,
            "5.1.1",
            0,
        ),
        (
            Reply(552, "5.2.2 The email account that you tried to reach is over quota."),
            K.SOFT,
            552,
            "5.2.2",
            0,
        ),
        (
            Reply(553, "5.1.3 The recipient address is not a valid RFC 5321 address."),
            K.HARD_BOUNCE,
            553,
            "5.1.3",
            0,
        ),
        (
            Reply(
                554,
                "5.7.1 Service unavailable; Client host [203.0.113.5] blocked using "
                "zen.spamhaus.org",
            ),
            K.BLOCK,
            554,
            "5.7.1",
            1,
        ),
        (Reply(550, "5.4.5 Daily user sending limit exceeded."), K.PROVIDER_CAP, 550, "5.4.5", 1),
        # the same classes when the refusal comes at the end of DATA
        (
            Reply(451, "4.7.500 Server busy. Please try again later", at="data"),
            K.SOFT,
            451,
            "4.7.500",
            0,
        ),
        (
            Reply(550, "5.7.1 This message is likely unsolicited mail", at="data"),
            K.BLOCK,
            550,
            "5.7.1",
            1,
        ),
        (
            Reply(552, "5.3.4 Your message exceeded Google's message size limits.", at="data"),
            K.FAILED,
            552,
            "5.3.4",
            0,
        ),
        (
            Reply(421, "4.7.0 Temporary System Problem. Try again later.", at="data"),
            K.BACKOFF,
            421,
            "4.7.0",
            1,
        ),
    ],
)
async def test_refusals_are_classified_and_the_next_send_goes_through(
    server: FakeSmtpServer,
    sender: SmtpSender,
    action: Action,
    kind: OutcomeKind,
    code: int,
    status: str,
    reconnects: int,
) -> None:
    server.script = {"refused@example.com": action}
    who = account(server)
    outcome = await send(sender, who, message("refused@example.com"))
    assert (outcome.kind, outcome.code, outcome.status) == (kind, code, status)
    assert outcome.text and "\n" not in outcome.text
    assert server.messages == []  # a refusal never slips through as "sent"

    assert (await send(sender, who, message())).kind is K.SENT
    # After a plain refusal the session is reset and reused; after a 421, a block or a cap
    # the connection is dropped and the next send starts a fresh one.
    assert server.connections == 1 + reconnects
    assert len(server.messages) == 1


async def test_wrong_password_is_auth(server: FakeSmtpServer, sender: SmtpSender) -> None:
    outcome = await send(sender, account(server, password="not-the-password"), message())
    assert (outcome.kind, outcome.code, outcome.status) == (K.AUTH, 535, "5.7.8")
    assert "Username and Password not accepted" in outcome.text
    assert "not-the-password" not in outcome.summary
    assert server.failed_logins >= 1
    assert server.messages == []


async def test_login_required_but_refused_as_plain_text_is_auth(sender: SmtpSender) -> None:
    async with FakeSmtpServer(username=USER, password=PASSWORD) as server:
        server.login_fail_reply = "534 5.7.9 Application-specific password required."
        outcome = await send(sender, account(server, password="wrong"), message())
    assert (outcome.kind, outcome.status) == (K.AUTH, "5.7.9")


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("550 5.7.1 Sending disabled for this account", K.AUTH),  # a 5.7.x at login
        ("554 5.7.1 Client host [127.0.0.1] blocked using zen.spamhaus.org", K.BLOCK),
    ],
)
async def test_a_refused_login_is_auth_unless_it_names_a_blocklist(
    sender: SmtpSender, reply: str, kind: OutcomeKind
) -> None:
    async with FakeSmtpServer(username=USER, password=PASSWORD) as server:
        server.login_fail_reply = reply
        outcome = await send(sender, account(server, password="wrong"), message())
    assert outcome.kind is kind


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("553 5.1.8 <sender@example.com>: Sender address rejected: Domain not found", K.AUTH),
        ("550 5.1.0 Sender rejected", K.AUTH),
        ("552 5.3.4 Message size exceeds fixed limit", K.FAILED),  # about the message
    ],
)
async def test_a_refused_sender_address_is_about_the_mailbox(
    server: FakeSmtpServer, sender: SmtpSender, reply: str, kind: OutcomeKind
) -> None:
    server.mail_reply = reply
    outcome = await send(sender, account(server), message())
    assert outcome.kind is kind
    assert server.messages == []


async def test_disconnect_after_the_data_is_unknown(
    server: FakeSmtpServer, sender: SmtpSender
) -> None:
    server.script = {"lead@example.com": Disconnect(at="data")}
    outcome = await send(sender, account(server), message())
    assert outcome.kind is K.UNKNOWN
    assert outcome.code is None


async def test_lost_reply_of_a_delivered_message_is_unknown(
    server: FakeSmtpServer, sender: SmtpSender
) -> None:
    server.script = {"lead@example.com": Disconnect(at="data", deliver=True)}
    outcome = await send(sender, account(server), message())
    assert outcome.kind is K.UNKNOWN
    assert len(server.messages) == 1  # it did arrive: that is why UNKNOWN is never resent


async def test_disconnect_at_rcpt_is_soft(server: FakeSmtpServer, sender: SmtpSender) -> None:
    server.script = {"lead@example.com": Disconnect(at="rcpt")}
    outcome = await send(sender, account(server), message())
    assert outcome.kind is K.SOFT


async def test_timeout_at_rcpt_is_soft_and_the_next_send_reconnects(
    server: FakeSmtpServer, sender: SmtpSender
) -> None:
    server.script = {"slow@example.com": Delay(SLOW, at="rcpt")}
    who = account(server)
    outcome = await send(sender, who, message("slow@example.com"))
    assert outcome.kind is K.SOFT
    assert (await send(sender, who, message())).kind is K.SENT
    assert server.connections == 2


async def test_timeout_after_the_data_is_unknown(
    server: FakeSmtpServer, sender: SmtpSender
) -> None:
    server.script = {"lead@example.com": Delay(SLOW, at="data")}
    outcome = await send(sender, account(server), message())
    assert outcome.kind is K.UNKNOWN


async def test_two_sends_share_one_connection_and_one_login(
    server: FakeSmtpServer, sender: SmtpSender
) -> None:
    who = account(server)
    first = await send(sender, who, message("one@example.com"))
    second = await send(sender, who, message("two@example.com"))
    assert first.kind is second.kind is K.SENT
    assert (server.connections, server.logins) == (1, 1)
    assert [m.rcpt_tos for m in server.messages] == [("one@example.com",), ("two@example.com",)]


async def test_concurrent_sends_of_one_mailbox_take_turns_on_its_connection(
    server: FakeSmtpServer, sender: SmtpSender
) -> None:
    who = account(server)
    outcomes = await asyncio.gather(
        *(send(sender, who, message(f"lead{n}@example.com")) for n in range(5))
    )
    assert {o.kind for o in outcomes} == {K.SENT}
    assert (server.connections, server.logins, len(server.messages)) == (1, 1, 5)


async def test_each_mailbox_has_its_own_connection(
    server: FakeSmtpServer, sender: SmtpSender
) -> None:
    server.username = None  # any login goes
    alex, bo = account(server), account(server, address="bo@brand-news.com")
    outcomes = await asyncio.gather(send(sender, alex, message()), send(sender, bo, message()))
    assert {o.kind for o in outcomes} == {K.SENT}
    assert server.connections == 2
    assert sorted(m.mail_from for m in server.messages) == [
        "alex@brand-news.com",
        "bo@brand-news.com",
    ]


@pytest.mark.parametrize("notice", [True, False], ids=["client-saw-close", "stale-socket"])
async def test_reconnects_after_the_server_dropped_the_connection(
    server: FakeSmtpServer, sender: SmtpSender, notice: bool
) -> None:
    who = account(server)
    assert (await send(sender, who, message())).kind is K.SENT
    server.drop_connections()
    if notice:  # the client's loop has seen the FIN before the next send
        await eventually(lambda: not any(p.smtp.is_connected for p in sender._pool.values()))
    assert (await send(sender, who, message())).kind is K.SENT
    assert (server.connections, server.logins, len(server.messages)) == (2, 2, 2)


async def test_reconnects_after_the_server_idle_timeout(sender: SmtpSender) -> None:
    async with FakeSmtpServer(username=USER, password=PASSWORD, idle_timeout=0.2) as server:
        who = account(server)
        assert (await send(sender, who, message())).kind is K.SENT
        await eventually(lambda: server.live == set())  # the server hung up on the idle client
        assert (await send(sender, who, message())).kind is K.SENT
        assert server.connections == 2


async def test_rset_probe_only_when_the_connection_has_rested(
    server: FakeSmtpServer, sender: SmtpSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes = 0
    rset = aiosmtplib.SMTP.rset

    async def counting_rset(self: aiosmtplib.SMTP, **kwargs: Any) -> Any:
        nonlocal probes
        probes += 1
        return await rset(self, **kwargs)

    monkeypatch.setattr(aiosmtplib.SMTP, "rset", counting_rset)
    who = account(server)
    for n in range(3):  # back to back: the last transaction just ended cleanly
        assert (await send(sender, who, message(f"lead{n}@example.com"))).kind is K.SENT
    assert probes == 0
    monkeypatch.setattr(smtp_module, "_FRESH", 0.0)  # as if the connection had sat idle
    assert (await send(sender, who, message())).kind is K.SENT
    assert probes == 1
    assert (server.connections, len(server.messages)) == (1, 4)


@pytest.mark.parametrize("times", [1, 2], ids=["closing-once", "closing-always"])
async def test_a_421_at_mail_on_a_kept_connection_reconnects_once(
    server: FakeSmtpServer, sender: SmtpSender, monkeypatch: pytest.MonkeyPatch, times: int
) -> None:
    closing = 0
    handle_mail = server.handle_MAIL

    async def closing_mail(*args: Any) -> str:
        nonlocal closing
        if closing > 0:
            closing -= 1
            return "421 4.4.2 fake-smtp.test Error: timeout exceeded"
        return await handle_mail(*args)

    # aiosmtpd looks its hooks up when a session starts: patch before the first connection.
    monkeypatch.setattr(server, "handle_MAIL", closing_mail)
    who = account(server)
    assert (await send(sender, who, message())).kind is K.SENT
    closing = times
    outcome = await send(sender, who, message())
    # Unprobed, the 421 may only mean the kept session was closing: one fresh try. A 421 on
    # that fresh connection is the server's answer.
    assert outcome.kind is (K.SENT if times == 1 else K.BACKOFF)
    assert server.connections == 2
    assert len(server.messages) == (2 if times == 1 else 1)


async def test_idle_connection_is_closed_by_the_client(server: FakeSmtpServer) -> None:
    sender = SmtpSender(timeout=TIMEOUT, max_idle=0.1, local_hostname="client.test")
    try:
        who = account(server)
        assert (await send(sender, who, message())).kind is K.SENT
        await eventually(lambda: server.live == set())  # the fake never hangs up by itself
        assert (await send(sender, who, message())).kind is K.SENT
        assert server.connections == 2
    finally:
        await sender.close()


async def test_a_connection_in_steady_use_outlives_its_idle_limit(server: FakeSmtpServer) -> None:
    max_idle = 0.5
    sender = SmtpSender(timeout=TIMEOUT, max_idle=max_idle, local_hostname="client.test")
    loop = asyncio.get_running_loop()
    try:
        who = account(server)
        started = loop.time()
        gaps = []
        while loop.time() - started < 3 * max_idle:  # in use for longer than its idle limit
            before = loop.time()
            assert (await send(sender, who, message())).kind is K.SENT
            await asyncio.sleep(max_idle / 10)
            gaps.append(loop.time() - before)
        # A stalled machine may stretch a gap past the limit: then a reconnect is right.
        assert server.connections == 1 + sum(gap >= max_idle for gap in gaps)
        await eventually(lambda: server.live == set())
    finally:
        await sender.close()


async def test_starttls_with_the_test_ca(ca: TestCA) -> None:
    sender = SmtpSender(timeout=TIMEOUT, tls_context=ca.client_context)
    try:
        async with FakeSmtpServer(
            username=USER, password=PASSWORD, security="starttls", ssl_context=ca.server_context
        ) as server:
            outcome = await send(sender, account(server, "starttls"), message())
            assert outcome.kind is K.SENT
            [got] = server.messages
            assert got.tls
            assert got.login == USER  # the server offers AUTH only after STARTTLS
    finally:
        await sender.close()


async def test_implicit_tls_with_the_test_ca(ca: TestCA) -> None:
    sender = SmtpSender(timeout=TIMEOUT, tls_context=ca.client_context)
    try:
        async with FakeSmtpServer(
            username=USER, password=PASSWORD, security="tls", ssl_context=ca.server_context
        ) as server:
            who = account(server, "tls")
            assert (await send(sender, who, message())).kind is K.SENT
            assert (await send(sender, who, message())).kind is K.SENT
            assert all(m.tls for m in server.messages)
            assert server.connections == 1
    finally:
        await sender.close()


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_untrusted_certificate_is_refused(ca: TestCA, security: Security) -> None:
    sender = SmtpSender(timeout=TIMEOUT)  # the system's trust store: the test CA is unknown
    try:
        async with FakeSmtpServer(
            username=USER, password=PASSWORD, security=security, ssl_context=ca.server_context
        ) as server:
            outcome = await send(sender, account(server, security), message())
            assert outcome.kind is K.AUTH
            assert "certificate" in outcome.text.lower()
            assert (server.logins, server.failed_logins, server.messages) == (0, 0, [])
    finally:
        await sender.close()


async def test_starttls_missing_is_refused_not_downgraded(
    server: FakeSmtpServer, sender: SmtpSender
) -> None:
    outcome = await send(sender, account(server, "starttls"), message())
    assert outcome.kind is K.AUTH
    assert "STARTTLS" in outcome.text
    # the password never went over the plain connection
    assert (server.logins, server.failed_logins, server.messages) == (0, 0, [])


async def test_server_without_auth_for_this_connection_is_auth(ca: TestCA) -> None:
    sender = SmtpSender(timeout=TIMEOUT, tls_context=ca.client_context)
    try:
        # This server offers AUTH only after STARTTLS; the account says plain text.
        async with FakeSmtpServer(
            username=USER, password=PASSWORD, security="starttls", ssl_context=ca.server_context
        ) as server:
            outcome = await send(sender, account(server, "none"), message())
            assert outcome.kind is K.AUTH
            assert "AUTH" in outcome.text
            assert (server.logins, server.failed_logins, server.messages) == (0, 0, [])
    finally:
        await sender.close()


async def test_nobody_listening_is_soft(sender: SmtpSender) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = MailServer(
        host="127.0.0.1", port=port, security="none", username=USER, password=PASSWORD
    )
    outcome = await send(sender, SmtpAccount(USER, config), message())
    assert outcome.kind is K.SOFT


async def test_close_says_goodbye(server: FakeSmtpServer) -> None:
    sender = SmtpSender(timeout=TIMEOUT, local_hostname="client.test")
    assert (await send(sender, account(server), message())).kind is K.SENT
    assert len(server.live) == 1
    await sender.close()
    await eventually(lambda: server.live == set())


async def test_standalone_server_records_to_its_log(tmp_path: Path, sender: SmtpSender) -> None:
    """The fake runs as its own process (for end-to-end tests that restart the bot)."""
    log_file, script = tmp_path / "smtp.jsonl", tmp_path / "script.json"
    script.write_text(
        json.dumps({"gone@example.com": {"action": "reply", "code": 550, "text": "5.1.1 no"}})
    )
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "tests.fakes.smtp_server", "--port", "0", "--log", str(log_file)],
        *["--user", USER, "--password", PASSWORD, "--script", str(script)],
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        ready = await asyncio.wait_for(process.stdout.readline(), timeout=10)
        _, host, port = ready.decode().split()
        config = MailServer(
            host=host, port=int(port), security="none", username=USER, password=PASSWORD
        )
        who = SmtpAccount(USER, config)
        mail = message()
        assert (await send(sender, who, mail)).kind is K.SENT
        assert (await send(sender, who, message("gone@example.com"))).kind is K.HARD_BOUNCE
        [logged] = read_log(log_file)
        assert (logged.mail_from, logged.rcpt_tos) == (USER, ("lead@example.com",))
        assert logged.message_id == mail.message_id
    finally:
        await sender.close()
        process.terminate()
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0


async def test_the_message_data_waits_for_the_gate(
    server: FakeSmtpServer, sender: SmtpSender
) -> None:
    opened: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    reached = asyncio.Event()

    async def gate() -> bool:
        reached.set()  # MAIL, RCPT and DATA are answered by now
        return await opened

    task = asyncio.create_task(sender.send(account(server), message(), gate=gate()))
    await asyncio.wait_for(reached.wait(), timeout=10)
    assert not task.done()
    assert server.messages == []
    opened.set_result(True)
    assert (await task).kind is K.SENT
    assert len(server.messages) == 1


async def test_a_closed_gate_abandons_the_transaction_before_the_data(
    server: FakeSmtpServer, sender: SmtpSender
) -> None:
    async def closed() -> bool:
        return False

    outcome = await sender.send(account(server), message(), gate=closed())
    assert outcome.kind is K.SOFT
    assert "not sent" in outcome.text
    await eventually(lambda: server.live == set())  # the client hung up mid-transaction
    assert server.messages == []  # the server dropped the half-made transaction
    # The next send opens a fresh connection and goes through.
    assert (await sender.send(account(server), message("two@example.com"))).kind is K.SENT
    assert server.connections == 2
    assert [m.rcpt_tos for m in server.messages] == [("two@example.com",)]


async def test_pipelining_sends_mail_rcpt_and_data_in_one_exchange(
    server: FakeSmtpServer, sender: SmtpSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    exchanges: list[bytes] = []
    real = pipeline.exchange

    async def spy(smtp: aiosmtplib.SMTP, commands: bytes, count: int, *, seconds: float) -> Any:
        exchanges.append(commands)
        return await real(smtp, commands, count, seconds=seconds)

    monkeypatch.setattr(pipeline, "exchange", spy)
    for to in ("one@example.com", "two@example.com"):
        assert (await sender.send(account(server), message(to))).kind is K.SENT
    assert [m.rcpt_tos for m in server.messages] == [("one@example.com",), ("two@example.com",)]
    # The message data and its final dot are one exchange of their own, either way.
    envelopes = [sent for sent in exchanges if not sent.endswith(b"\r\n.\r\n")]
    assert len(exchanges) - len(envelopes) == 2
    if server.pipelining:
        assert len(envelopes) == 2
        assert envelopes[0].startswith(f"MAIL FROM:<{USER}>".encode())
        assert envelopes[0].endswith(b"\r\nRCPT TO:<one@example.com>\r\nDATA\r\n")
    else:
        assert envelopes == []


async def test_data_taken_after_a_refused_rcpt_ends_with_a_dropped_connection(
    sender: SmtpSender,
) -> None:
    # A lax server answers 354 to a pipelined DATA although it refused the recipient: the
    # session now waits for message data, so the client must not send any, nor reuse it.
    seen: list[bytes] = []
    hung_up = asyncio.Event()  # the client closed the connection: all it sent is in `seen`

    async def lax(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 lax.test ESMTP\r\n")
        while line := await reader.readline():
            seen.append(line)
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-lax.test\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n")
            elif verb == b"AUTH":
                writer.write(b"235 2.7.0 ok\r\n")
            elif verb == b"RCPT":
                writer.write(b"550 5.1.1 no such user\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()
        hung_up.set()

    server = await asyncio.start_server(lax, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        who = SmtpAccount(
            USER,
            MailServer(
                host="127.0.0.1", port=port, security="none", username=USER,
                password=PASSWORD,
            ),
        )  # fmt: skip
        outcome = await sender.send(who, message("gone@example.com"))
        await asyncio.wait_for(hung_up.wait(), timeout=10)
    finally:
        server.close()
        await server.wait_closed()
    assert (outcome.kind, outcome.code) == (K.HARD_BOUNCE, 550)
    assert seen[-1] == b"DATA\r\n"  # nothing after DATA: no message data, no RSET
