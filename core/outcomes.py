"""What to do after one delivery attempt: the SPEC 8 actions for each SMTP outcome."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.models import EventKind, LeadState, Outcome, OutcomeKind, SendState

BACKOFF_REST = timedelta(minutes=15)  # a 421 rests the mailbox this long
SOFT_RETRY_BASE = timedelta(minutes=10)  # 10, 20, 40 ... minutes between soft retries


@dataclass(frozen=True, slots=True)
class Decision:
    """The shell's to-do list for one finished attempt."""

    send_state: SendState
    lead_state: LeadState | None = None  # close the lead in this state
    retry_at: datetime | None = None  # with send_state RETRY
    refund_attempt: bool = False  # the mailbox, not the recipient, was at fault
    suppress: bool = False  # add the address to the global suppression list
    event: EventKind | None = None
    pause_mailbox: str | None = None  # reason
    rest_mailbox_until: datetime | None = None
    cool_down_domain: bool = False


def soft_retry_delay(attempts: int) -> timedelta:
    """Back-off before attempt `attempts + 1`: doubling from SOFT_RETRY_BASE."""
    factor: int = 2 ** max(0, attempts - 1)
    return SOFT_RETRY_BASE * factor


def decide(  # noqa: PLR0911 - one return per outcome kind reads best as a table
    outcome: Outcome, *, attempts: int, max_attempts: int, now: datetime, day_end: datetime
) -> Decision:
    """Map an attempt's outcome to actions; `attempts` counts this one."""
    match outcome.kind:
        case OutcomeKind.SENT:
            return Decision(SendState.SENT)
        case OutcomeKind.HARD_BOUNCE:
            return Decision(
                SendState.FAILED, LeadState.BOUNCED, suppress=True, event=EventKind.BOUNCE_HARD
            )
        case OutcomeKind.SOFT:
            if attempts < max_attempts:
                return Decision(
                    SendState.RETRY,
                    retry_at=now + soft_retry_delay(attempts),
                    event=EventKind.BOUNCE_SOFT,
                )
            return Decision(SendState.FAILED, LeadState.FAILED, event=EventKind.BOUNCE_SOFT)
        case OutcomeKind.BACKOFF:
            until = now + BACKOFF_REST
            return Decision(
                SendState.RETRY, retry_at=until, refund_attempt=True, rest_mailbox_until=until
            )
        case OutcomeKind.BLOCK:
            # The step waits for its mailbox; the domain's cool-down keeps it from going out.
            return Decision(
                SendState.RETRY,
                retry_at=now,
                refund_attempt=True,
                event=EventKind.BLOCK,
                cool_down_domain=True,
            )
        case OutcomeKind.AUTH:
            return Decision(
                SendState.RETRY,
                retry_at=now,
                refund_attempt=True,
                # Bad credentials or TLS set-up, or the server refuses this sender address.
                pause_mailbox=f"the server refuses this mailbox: {outcome.summary}",
            )
        case OutcomeKind.PROVIDER_CAP:
            return Decision(
                SendState.RETRY, retry_at=day_end, refund_attempt=True, rest_mailbox_until=day_end
            )
        case OutcomeKind.FAILED:
            return Decision(SendState.FAILED, LeadState.FAILED)
        case OutcomeKind.UNKNOWN:
            # It may have been delivered: never send it again, and stop the sequence.
            return Decision(SendState.UNKNOWN, LeadState.FAILED)
