"""An SMTP server that fails on purpose: a seeded RNG picks a fault per transaction by share.

Built on FakeSmtpServer (AUTH, STARTTLS, the accepted-mail log). Each transaction (one MAIL
FROM) draws one fault, or none, from `shares`; each STARTTLS draws whether its handshake
fails. Every fault applied is tallied by kind, and every message the server took is kept
as an `Accepted` with the identity our headers give it: sender, recipient, subject, step
(1 + the Message-IDs in References), Date, and whether the client never saw the final reply.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import enum
import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.fakes.smtp_server import FakeSmtpServer, Received, _hang_up, _message_id, _Session


class Fault(enum.StrEnum):
    """One way a transaction (or a STARTTLS) goes wrong."""

    TEMP_MAIL = "421 at MAIL"  # 421 4.7.0: the mailbox backs off
    TEMP_RCPT = "452 at RCPT"  # 452 4.2.2: a soft failure, retried later
    TEMP_DATA = "451 at end of DATA"  # 451 4.3.0: soft, after the whole message went out
    USER_UNKNOWN = "550 5.1.1 at RCPT"  # a hard bounce: the lead is bounced and suppressed
    SPAM_BLOCK = "554 5.7.1 at end of DATA"  # a block: the domain cools down
    TOO_BIG = "552 5.3.4 at end of DATA"  # a permanent refusal of this message
    DROP_BEFORE_DATA = "disconnect before DATA"  # at RCPT: nothing delivered, soft
    DROP_AFTER_DATA = "disconnect after DATA"  # message taken, reply lost: 'unknown'
    SLOW_UNDER = "slow reply under the timeout"  # at end of DATA, then 250
    SLOW_OVER = "slow reply over the timeout"  # message taken, the client gives up: 'unknown'
    TLS_FAIL = "STARTTLS handshake failure"  # per connection: garbage instead of a ServerHello


# The faults that leave the message with the server although the client never hears a 250.
REPLY_LOST = frozenset({Fault.DROP_AFTER_DATA, Fault.SLOW_OVER})
_REPLIES = {
    Fault.TEMP_MAIL: "421 4.7.0 Try again later, closing connection",
    Fault.TEMP_RCPT: "452 4.2.2 Mailbox full, try again later",
    Fault.TEMP_DATA: "451 4.3.0 Temporary local problem, try again later",
    Fault.USER_UNKNOWN: "550 5.1.1 The email account that you tried to reach does not exist",
    Fault.SPAM_BLOCK: "554 5.7.1 Message rejected as spam",
    Fault.TOO_BIG: "552 5.3.4 Message size exceeds fixed maximum message size",
}


@dataclass(frozen=True, slots=True)
class Accepted:
    """One message the server took, with our identity for it read from its headers."""

    message_id: str
    sender: str
    recipient: str
    subject: str
    step_no: int  # 1 + the Message-IDs in References: a follow-up references its thread
    date: datetime  # the Date header: the sender's (simulated) clock
    reply_lost: bool  # taken, but the client got no 250 (a disconnect or a late reply)


class _FaultySession(_Session):
    """A connection whose STARTTLS may break the handshake."""

    async def smtp_STARTTLS(self, arg: str) -> None:
        """Say 220, then answer the ClientHello with plain text when the draw says so."""
        owner = self.owner
        if not arg and isinstance(owner, FaultySmtpServer) and owner.draw_tls_failure():
            await self.push("220 Ready to start TLS")
            transport = self.transport
            if isinstance(transport, asyncio.WriteTransport):
                # Not a TLS record: the client's handshake fails on it, then meets EOF.
                transport.write(b"this is not TLS\r\n")
                transport.close()
            return
        await super().smtp_STARTTLS(arg)

    def connection_lost(self, error: Exception | None) -> None:
        if isinstance(self.owner, FaultySmtpServer) and self.session is not None:
            self.owner.unapplied(self.session)
        super().connection_lost(error)


@dataclass
class FaultySmtpServer(FakeSmtpServer):
    """FakeSmtpServer with faults drawn by share; see the module docstring."""

    shares: Mapping[Fault, float] = field(default_factory=dict)
    seed: int = 0
    slow_under: float = 0.05  # seconds, well under any client timeout
    slow_over: float = 60.0  # seconds, far over any client timeout the tests use
    every_kind: bool = False  # the first draws give each kind with a share once, in turn

    faults: Counter[Fault] = field(default_factory=Counter, init=False)
    transactions: int = field(default=0, init=False)
    accepted: list[Accepted] = field(default_factory=list, init=False)
    _rng: random.Random = field(init=False)
    _drawn: dict[int, Fault] = field(default_factory=dict, init=False)  # not applied yet
    _owed: list[Fault] = field(default_factory=list, init=False)  # every_kind's still to give

    def __post_init__(self) -> None:
        per_transaction = sum(s for f, s in self.shares.items() if f is not Fault.TLS_FAIL)
        if per_transaction > 1 or any(s < 0 for s in self.shares.values()):
            raise ValueError(f"shares must be >= 0 and sum to at most 1: {self.shares}")
        self._rng = random.Random(self.seed)
        if self.every_kind:
            self._owed = [f for f in Fault if f is not Fault.TLS_FAIL and self.shares.get(f)]

    @property
    def session_type(self) -> type[_Session]:
        """Connections that may fail their STARTTLS."""
        return _FaultySession

    @property
    def injected(self) -> dict[str, int]:
        """Faults applied so far by kind (every kind listed, zeros included)."""
        return {str(fault): self.faults[fault] for fault in Fault}

    def draw_tls_failure(self) -> bool:
        """Whether this STARTTLS fails (tallied when it does)."""
        share = self.shares.get(Fault.TLS_FAIL, 0.0)
        owed = self.every_kind and share > 0 and not self.faults[Fault.TLS_FAIL]
        failed = owed or self._rng.random() < share
        if failed:
            self.faults[Fault.TLS_FAIL] += 1
        return failed

    def unapplied(self, session: Session) -> None:
        """The session's drawn fault never came to act (the client stopped first): forget it.

        Under every_kind a kind not yet applied is owed again.
        """
        fault = self._drawn.pop(id(session), None)
        owed = fault is not None and self.every_kind and not self.faults[fault]
        if owed and fault is not None and fault not in self._owed:
            self._owed.insert(0, fault)

    def _draw(self) -> Fault | None:
        if self._owed:
            return self._owed.pop(0)
        roll = self._rng.random()
        for fault in Fault:
            if fault is Fault.TLS_FAIL:
                continue
            roll -= self.shares.get(fault, 0.0)
            if roll < 0:
                return fault
        return None

    def _apply(self, session: Session, *candidates: Fault) -> Fault | None:
        """This transaction's fault if it is one of `candidates` (tallied), else None."""
        fault = self._drawn.get(id(session))
        if fault is None or fault not in candidates:
            return None
        del self._drawn[id(session)]
        self.faults[fault] += 1
        return fault

    # --- aiosmtpd hooks ------------------------------------------------------------------

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """A new transaction: draw its fault; a 421 answers here."""
        reply = await super().handle_MAIL(server, session, envelope, address, mail_options)
        if not reply.startswith("250"):
            return reply
        self.transactions += 1
        self.unapplied(session)  # an earlier transaction on this connection ended early
        fault = self._draw()
        if fault is not None:
            self._drawn[id(session)] = fault
        if self._apply(session, Fault.TEMP_MAIL):
            envelope.mail_from = None
            return _REPLIES[Fault.TEMP_MAIL]
        return reply

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Refuse the recipient or hang up when this transaction's fault acts at RCPT."""
        fault = self._apply(session, Fault.TEMP_RCPT, Fault.USER_UNKNOWN, Fault.DROP_BEFORE_DATA)
        if fault is Fault.DROP_BEFORE_DATA:
            return await _hang_up(server)
        if fault is not None:
            return _REPLIES[fault]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """The message is in: refuse it, lose the reply, answer late, or take it."""
        fault = self._apply(
            session, Fault.TEMP_DATA, Fault.SPAM_BLOCK, Fault.TOO_BIG, *REPLY_LOST, Fault.SLOW_UNDER
        )
        if fault in _REPLIES:
            return _REPLIES[fault]
        if fault is Fault.SLOW_UNDER:
            await asyncio.sleep(self.slow_under)
        data = envelope.original_content or b""
        await self._take(server, session, envelope, data, reply_lost=fault in REPLY_LOST)
        if fault is Fault.DROP_AFTER_DATA:
            return await _hang_up(server)
        if fault is Fault.SLOW_OVER:
            # The client times out and hangs up long before; its hang-up cancels this wait.
            await asyncio.sleep(self.slow_over)
        return "250 2.0.0 OK queued"

    async def _take(
        self, server: SMTP, session: Session, envelope: Envelope, data: bytes, *, reply_lost: bool
    ) -> None:
        # Recorded before any reply (or none) goes out, as FakeSmtpServer does.
        headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(data)
        message_id = _message_id(data) or ""
        references = str(headers.get("References", ""))
        self.accepted.append(
            Accepted(
                message_id=message_id.strip("<>"),
                sender=envelope.mail_from or "",
                recipient=envelope.rcpt_tos[0] if envelope.rcpt_tos else "",
                subject=str(headers.get("Subject", "")),
                step_no=1 + references.count("<"),
                date=parsedate_to_datetime(str(headers["Date"])),
                reply_lost=reply_lost,
            )
        )
        login = session.auth_data if isinstance(session.auth_data, str) else None
        received = Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=data,
            message_id=message_id,
            received_at=datetime.now(UTC),
            login=login,
            tls=server.transport is not None
            and server.transport.get_extra_info("sslcontext") is not None,
        )
        await self._record(received)


def share_table(shares: Mapping[Fault, float], order: Iterable[Fault] = Fault) -> str:
    """The configured shares as one line: `421 at MAIL 2%, ...`."""
    return ", ".join(f"{fault} {shares[fault]:.1%}" for fault in order if shares.get(fault))
