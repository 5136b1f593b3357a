"""What one SMTP attempt causes beyond its own step (SPEC 8, 9), for ticks and answers alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core import outcomes
from core.models import Outcome, OutcomeKind
from core.records import Effects, NewAlert, NewEvent, Suppression
from engine.alerts import AlertOutbox, Severity
from engine.health import HealthService


@dataclass(frozen=True, slots=True)
class Attempt:
    """The send an SMTP reply is about."""

    send_id: int
    message_id: str
    email: str
    mailbox_id: int
    mailbox: str
    domain: str
    campaign_id: int | None
    step_no: int | None


def attempt_effects(
    attempt: Attempt,
    outcome: Outcome,
    decision: outcomes.Decision,
    now: datetime,
    *,
    alerts: AlertOutbox,
    domains: HealthService,
) -> Effects:
    """The event, suppression, mailbox stop or domain cool-down, and the alerts they raise."""
    address = attempt.mailbox
    event = None
    if decision.event is not None:
        event = NewEvent(
            source="smtp",
            source_id=f"{attempt.send_id}:{attempt.message_id}",
            kind=decision.event,
            occurred_at=now,
            received_at=now,
            email=attempt.email,
            mailbox_id=attempt.mailbox_id,
            send_id=attempt.send_id,
            campaign_id=attempt.campaign_id,
            step_no=attempt.step_no,
            detail=outcome.summary,
        )
    raised: list[NewAlert] = []
    if decision.pause_mailbox:
        raised.append(
            alerts.draft(
                "mailbox_paused",
                address,
                Severity.CRITICAL,
                f"Mailbox {address} paused: {decision.pause_mailbox}. Fix it, then /resume.",
            )
        )
    until = decision.rest_mailbox_until
    if until is not None and outcome.kind is OutcomeKind.PROVIDER_CAP:
        raised.append(
            alerts.draft(
                "provider_cap",
                address,
                Severity.CRITICAL,
                f"Mailbox {address} hit its provider's sending cap ({outcome.summary}); "
                f"stopped until {until:%Y-%m-%d %H:%M} UTC.",
            )
        )
    return Effects(
        event=event,
        repeatable=True,  # one attempt, one event: its effects always apply
        # The address is dead for every campaign: its other open leads close too.
        suppress=Suppression(attempt.email, "hard bounce", "smtp", now)
        if decision.suppress
        else None,
        pause_mailbox=(attempt.mailbox_id, decision.pause_mailbox)
        if decision.pause_mailbox
        else None,
        rest_mailbox=(attempt.mailbox_id, until) if until is not None else None,
        cool_down=domains.cool_down_of(attempt.domain, address, outcome.summary)
        if decision.cool_down_domain
        else None,
        alerts=tuple(raised),
    )
