"""An admin's answer to a lead's reply (SPEC 12), sent through the normal send path.

The answer goes from the thread's mailbox, in the thread (`In-Reply-To` the lead's reply,
`References` the whole thread, `Re:` its subject), with the usual footer. It takes a slot of
the mailbox's and the domain's day (cap, gap and states re-checked by the database in one
transaction) and is committed as 'sending' before its data goes out, like every other mail.
Nothing retries an answer by itself: a refused one is reported, and the admin answers again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from core import limits, templates
from core.compose import BrokenTemplate, Sender, Unsubscribe, compose_answer
from core.message import OutgoingMessage
from core.models import MailboxView, OutcomeKind
from core.records import AnswerContext, RefusalReason, Refused, Reservation, SendKind
from core.specs import Rules, SmtpAccount
from engine.alerts import AlertOutbox
from engine.attempts import Attempt
from engine.clock import Clock
from engine.health import HealthService
from engine.ports import MailSender, SendingStore
from engine.sending import SendingEngine
from engine.single_send import send_reserved


@dataclass(frozen=True, slots=True)
class Answered:
    """What became of an answer: sent, or why not (the chat is told either way)."""

    sent: bool
    why: str = ""


_REFUSED = {
    RefusalReason.MAILBOX_STATE: "its mailbox is not sending now (paused, cooling down or off)",
    RefusalReason.RESTING: "its mailbox is resting after a provider's limit or a back-off",
    RefusalReason.GAP: "its mailbox sent moments ago; answer again in a few minutes",
    RefusalReason.DOMAIN_STATE: "its domain is not sending now (cooling down or paused)",
    RefusalReason.MAILBOX_LIMIT: "its mailbox has reached today's cap",
    RefusalReason.DOMAIN_LIMIT: "its domain has reached today's cap",
}


class Answers:
    """Sends admins' answers to replies."""

    def __init__(
        self,
        *,
        store: SendingStore,
        sender: MailSender,
        engine: SendingEngine,
        clock: Clock,
        rules: Rules,
        alerts: AlertOutbox,
        health: HealthService,
        unsubscribe_secret: bytes | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._sender = sender
        self._engine = engine
        self._clock = clock
        self._rules = rules
        self._alerts = alerts
        self._health = health
        self._rng = rng or random.Random()
        self._senders = {m.address: m for m in rules.mailboxes}
        self._unsubscribe = (
            Unsubscribe(rules.unsubscribe_url, unsubscribe_secret)
            if rules.unsubscribe_url is not None and unsubscribe_secret is not None
            else None
        )

    async def answer(self, lead_id: int, text: str) -> Answered:
        """Send `text` to the lead as an answer in its thread."""
        context = await self._store.answer_context(lead_id)
        if context is None:
            return Answered(False, "that lead, its thread or its mailbox is no longer stored")
        mailbox = context.mailbox
        spec = self._senders.get(mailbox.address)
        if spec is None:
            return Answered(False, f"{mailbox.address} is no longer in the config")
        now = self._clock.now()
        msg = compose_answer(
            context,
            text,
            Sender(mailbox.address, mailbox.domain, spec.display_name),
            compile_step=lambda row: templates.compile_step(row.subject, row.body, row.html),
            rng=self._rng,
            now=now,
            postal_address=self._rules.postal_address,
            unsubscribe_link=self._unsubscribe,
        )
        if isinstance(msg, BrokenTemplate):
            return Answered(False, f"the thread's subject template is broken: {msg.why}")
        return await self._send(context, spec.account, msg)

    async def _send(
        self, context: AnswerContext, account: SmtpAccount, msg: OutgoingMessage
    ) -> Answered:
        """Reserve, mark, send and record one composed answer."""
        mailbox = context.mailbox
        lead_id = context.lead.lead_id
        now = self._clock.now()
        tz = self._rules.timezone
        today = limits.local_day(now, tz)
        view = MailboxView(
            id=mailbox.id, address=mailbox.address, domain=mailbox.domain, state=mailbox.state,
            daily_limit=mailbox.daily_limit, warmup_start=mailbox.warmup_start,
        )  # fmt: skip
        request = Reservation(
            kind=SendKind.REPLY,
            mailbox_id=mailbox.id,
            day=today.isoformat(),
            now=now,
            next_send_at=limits.next_send_at(now, self._rules.sending, self._rng.random()),
            mailbox_cap=limits.mailbox_cap(view, today, self._rules.warmup),
            domain_cap=context.domain_cap,
            lead_id=lead_id,
            campaign_id=context.campaign_id,
            message_id=msg.message_id,
        )
        # Between ticks: the tick's workers hold this mailbox's SMTP connection while they run.
        async with self._engine.exclusive():
            (result,) = await self._store.reserve_many([request])
            if isinstance(result, Refused):
                return Answered(False, _REFUSED.get(result.reason, result.reason.value))
            attempt = Attempt(
                send_id=result.send_id, message_id=msg.message_id, email=context.lead.email,
                mailbox_id=mailbox.id, mailbox=mailbox.address, domain=mailbox.domain,
                campaign_id=context.campaign_id, step_no=None,
            )  # fmt: skip
            outcome = await send_reserved(
                attempt, account, msg, store=self._store, sender=self._sender,
                clock=self._clock, timezone=tz, alerts=self._alerts, health=self._health,
            )  # fmt: skip
        if outcome is None:
            return Answered(False, "it was no longer reserved; nothing was sent")
        if outcome.kind is OutcomeKind.SENT:
            return Answered(True)
        return Answered(False, f"the server did not take it: {outcome.summary}")
