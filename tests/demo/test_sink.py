"""The demo's SMTP sink, spoken to by aiosmtplib: logins, refusals, pipelined mail, hang-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiosmtplib
import pytest

from demo.sink import DemoSink

LOGIN = "ann@brand.example"
PASSWORD = "right horse battery"


@dataclass
class Model:
    """Refuses dead@…, records what was delivered."""

    got: list[tuple[str, str, str | None]] = field(default_factory=list)

    def at_rcpt(self, sender: str, recipient: str) -> tuple[int, str] | None:
        if recipient.startswith("dead@"):
            return 550, "5.1.1 <dead@x.example>: Recipient address rejected: User unknown"
        return None

    def delivered(self, sender: str, recipient: str, message_id: str | None) -> None:
        self.got.append((sender, recipient, message_id))


@pytest.fixture
async def sink() -> AsyncIterator[tuple[DemoSink, Model]]:
    model = Model()
    server = DemoSink(model, {LOGIN: PASSWORD})
    await server.start()
    try:
        yield server, model
    finally:
        await server.stop()


async def _client(port: int, *, login: bool = True) -> aiosmtplib.SMTP:
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=5)
    await smtp.connect()
    await smtp.ehlo()
    if login:
        await smtp.login(LOGIN, PASSWORD)
    return smtp


async def test_delivers_pipelined_mail_with_a_dot_led_line_and_reports_its_message_id(
    sink: tuple[DemoSink, Model],
) -> None:
    server, model = sink
    smtp = await _client(server.port)
    assert smtp.supports_extension("pipelining") and smtp.supports_extension("auth")
    body = "Message-ID: <m1@brand.example>\r\nSubject: hi\r\n\r\n.starts with a dot\r\nbye\r\n"
    errors, reply = await smtp.sendmail(LOGIN, ["bo@x.example"], body)
    assert errors == {} and reply == "2.0.0 OK queued as demo000001"
    assert model.got == [(LOGIN, "bo@x.example", "<m1@brand.example>")]
    # A second mail on the same connection, after RSET, like the engine's pooled sessions.
    await smtp.rset()
    await smtp.sendmail(LOGIN, ["cy@x.example"], "Subject: no id\r\n\r\nhello\r\n")
    assert model.got[-1] == (LOGIN, "cy@x.example", None)
    assert server.accepted == 2
    await smtp.quit()


async def test_refuses_at_rcpt_what_the_model_refuses(sink: tuple[DemoSink, Model]) -> None:
    server, model = sink
    smtp = await _client(server.port)
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await smtp.sendmail(LOGIN, ["dead@x.example"], "Subject: x\r\n\r\nx\r\n")
    assert refused.value.recipients[0].code == 550
    assert "User unknown" in refused.value.recipients[0].message
    assert server.refused == 1 and model.got == []
    await smtp.quit()


async def test_only_a_logged_in_mailbox_sends_and_only_as_itself(
    sink: tuple[DemoSink, Model],
) -> None:
    server, model = sink
    anonymous = await _client(server.port, login=False)
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
        await anonymous.sendmail(LOGIN, ["bo@x.example"], "Subject: x\r\n\r\nx\r\n")
    assert refused.value.code == 530
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await anonymous.login(LOGIN, "wrong")
    await anonymous.quit()
    smtp = await _client(server.port)
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as spoofed:
        await smtp.sendmail("boss@brand.example", ["bo@x.example"], "Subject: x\r\n\r\nx\r\n")
    assert spoofed.value.code == 553
    assert model.got == [] and server.accepted == 0
    await smtp.quit()


async def test_stop_hangs_up_on_connected_clients() -> None:
    server = DemoSink(Model(), {LOGIN: PASSWORD})
    await server.start()
    smtp = await _client(server.port)
    assert len(server.sessions) == 1
    await server.stop()
    assert server.sessions == set()
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await smtp.noop()
    smtp.close()
