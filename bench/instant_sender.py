"""A MailSender whose server takes every message at once: no network, for tick and soak benches.

It keeps the port's one rule that matters to the engine's records: the message "goes out" only
once the gate (the database's 'sending' mark) says yes. Imports core only, so a bench that
drives the engine can hand it to bootstrap.build_service.
"""

from __future__ import annotations

from collections.abc import Awaitable

from core.message import OutgoingMessage
from core.models import Outcome, OutcomeKind
from core.specs import SmtpAccount

ACCEPTED = Outcome(OutcomeKind.SENT, 250, "2.0.0", "Ok: queued")
REFUSED_BY_GATE = Outcome(OutcomeKind.SOFT, text="not sent: the gate said no")


class InstantSender:
    """Accepts every message as soon as its gate opens; counts what it took, per mailbox."""

    def __init__(self) -> None:
        self.sent: dict[str, int] = {}

    async def send(
        self, account: SmtpAccount, message: OutgoingMessage, *, gate: Awaitable[bool] | None
    ) -> Outcome:
        """250 at once, unless the gate says no (as SmtpSender answers then)."""
        if gate is not None and not await gate:
            return REFUSED_BY_GATE
        self.sent[account.address] = self.sent.get(account.address, 0) + 1
        return ACCEPTED
