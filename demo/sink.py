"""The demo's SMTP sink: an aiosmtpd server on 127.0.0.1 that plays the simulated recipients.

It checks each mailbox's login like a provider's submission server, asks the recipient
model what to answer at RCPT (a dead address, a blocklist refusal, a provider cap) and
swallows accepted mail after telling the model, which plans replies and complaints.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Protocol

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


class _LegacyLoginNotice(logging.Filter):
    """Drops aiosmtpd's warning that it sets its own deprecated `login_data` on every AUTH."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every other record."""
        return "login_data is deprecated" not in record.getMessage()


class RecipientModel(Protocol):
    """Decides how simulated recipients answer."""

    def at_rcpt(self, sender: str, recipient: str) -> tuple[int, str] | None:
        """A refusal (code, text) for this recipient now, or None to accept it."""
        ...

    def delivered(self, sender: str, recipient: str, message_id: str | None) -> None:
        """One message was accepted for `recipient`."""
        ...


class DemoSink:
    """An SMTP server with AUTH PLAIN/LOGIN over plain TCP on 127.0.0.1 (never leaves the box)."""

    def __init__(self, model: RecipientModel, logins: dict[str, str]) -> None:
        self._model = model
        self._logins = logins  # username -> password, one per mailbox
        self._server: asyncio.Server | None = None
        self.port = 0
        self.accepted = 0
        self.refused = 0
        self._quiet = _LegacyLoginNotice()

    async def start(self) -> int:
        """Listen on a free port of 127.0.0.1 and return it."""
        logging.getLogger("mail.log").addFilter(self._quiet)  # removed again by stop()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._session, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening (clients are closed by the sender's own shutdown first)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        logging.getLogger("mail.log").removeFilter(self._quiet)

    def _session(self) -> SMTP:
        return SMTP(
            self,
            hostname="sink.demo.localhost",  # set, so aiosmtpd never asks DNS for our name
            ident="outreach demo sink",
            authenticator=self._authenticate,
            auth_require_tls=False,  # loopback only: no TLS to protect the demo's passwords
            loop=asyncio.get_running_loop(),
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode("utf-8", "replace")
        if self._logins.get(login) == data.password.decode("utf-8", "replace"):
            return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """Only a logged-in mailbox may send, and only as itself."""
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        if address.lower() != str(session.auth_data).lower():
            return "553 5.7.1 Sender address rejected: not owned by the logged-in user"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Ask the recipient model; a refusal is answered here, as real servers do."""
        refusal = self._model.at_rcpt(envelope.mail_from or "", address)
        if refusal is not None:
            self.refused += 1
            code, text = refusal
            return f"{code} {text}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Take the message and tell the model who got it."""
        data = envelope.original_content or b""
        head = data.split(b"\r\n\r\n", 1)[0]
        found = _MESSAGE_ID.search(head)
        message_id = found.group(1).decode("ascii", "replace") if found else None
        for rcpt in envelope.rcpt_tos:
            self._model.delivered(envelope.mail_from or "", rcpt, message_id)
        self.accepted += 1
        return f"250 2.0.0 OK queued as demo{self.accepted:06d}"
