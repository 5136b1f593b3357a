"""The real SMTP adapter, made to speak to Postfix's smtp-sink (bench/bench_send.py).

smtp-sink offers AUTH but answers it with "250 2.0.0 Ok" where RFC 4954 says 235, and
aiosmtplib rightly refuses that. SinkSmtpSender is mail.smtp.SmtpSender with only its login
replaced by AUTH PLAIN sent by hand; auth_plain is the same login for the raw aiosmtplib
baseline. This module is on the adapter side: it imports mail, never the engine, so the bench
that drives the engine can hand this sender to bootstrap.build_service without importing mail.
"""

from __future__ import annotations

import base64

import aiosmtplib

from core.specs import MailServer
from mail.smtp import SmtpSender


class SinkSmtpSender(SmtpSender):
    """The real SmtpSender, except that it takes smtp-sink's AUTH reply for what it means."""

    async def _login(self, smtp: aiosmtplib.SMTP, server: MailServer) -> None:
        # smtp-sink answers AUTH with "250 2.0.0 Ok" where RFC 4954 says 235, and aiosmtplib
        # rightly refuses that. Same one round trip as a real login, nothing else changed.
        await auth_plain(smtp, server.username, server.password)


async def auth_plain(smtp: aiosmtplib.SMTP, username: str, password: str) -> None:
    """EHLO, then AUTH PLAIN, accepting smtp-sink's 250 as well as the standard 235."""
    await smtp.ehlo()  # as aiosmtplib's login() does first: it learns the server's extensions
    token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
    reply = await smtp.execute_command(b"AUTH", b"PLAIN", token.encode())
    if reply.code not in (235, 250):
        raise aiosmtplib.SMTPAuthenticationError(reply.code, reply.message)
