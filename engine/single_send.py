"""One reserved mail out of the tick: mark it 'sending', send it, record what happened.

An admin's answer (engine/answers.py) and a warm-up mail (engine/warmup_loop.py) go out this
way: committed as 'sending' before the message data leaves (the gate), a delivery recorded, a
failure settled with its effects (a block is a block whatever the mail was, SPEC 9). Nothing
here retries: a soft failure ends the mail, and its owner decides whether to send again.
"""

from __future__ import annotations

from core import limits, outcomes
from core.message import OutgoingMessage
from core.models import Outcome, OutcomeKind, SendState
from core.provider_ids import provider_message_id
from core.records import Delivered, SendFinish
from core.specs import SmtpAccount
from engine.alerts import AlertOutbox
from engine.attempts import Attempt, attempt_effects
from engine.clock import Clock
from engine.health import HealthService
from engine.ports import MailSender, SendingStore


async def send_reserved(
    attempt: Attempt,
    account: SmtpAccount,
    message: OutgoingMessage,
    *,
    store: SendingStore,
    sender: MailSender,
    clock: Clock,
    timezone: str,
    alerts: AlertOutbox,
    health: HealthService,
) -> Outcome | None:
    """Send the reserved `attempt`; its outcome, or None when it could not be marked 'sending'.

    The caller holds the engine's exclusive block: a tick's workers use the same connections.
    """
    ledger = store.ledger(clock.now)
    mark = ledger.write(None, attempt.send_id)
    try:
        outcome = await sender.send(account, message, gate=mark)
    finally:
        marked = await mark
    if not marked:
        await ledger.close()
        return None
    at = clock.now()
    if outcome.kind is OutcomeKind.SENT:
        # lead_id None: an answer or a warm-up mail moves no lead along its sequence.
        done = Delivered(
            attempt.send_id, at, outcome.code, outcome.summary, None, None,
            provider_message_id(outcome.text),
        )  # fmt: skip
        await ledger.write(done, None)
        await ledger.close()
        return outcome
    await ledger.close()
    _, day_end = limits.day_bounds(limits.local_day(at, timezone), timezone)
    decision = outcomes.decide(outcome, attempts=1, max_attempts=1, now=at, day_end=day_end)
    state = decision.send_state
    if state is SendState.RETRY:
        state = SendState.FAILED  # nothing retries it by itself
    effects = attempt_effects(attempt, outcome, decision, at, alerts=alerts, domains=health)
    await store.settle(
        SendFinish(attempt.send_id, state, at, outcome.code, outcome.summary), effects
    )
    return outcome
