"""What one ESP event changes (SPEC 8, 9): decided here, applied by storage with the cursor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core.esp import EspEvent
from core.ingest import Ignored
from core.models import EventKind, LeadState
from core.records import CoolDown, Effects, NewEvent, SentRef, Suppression

# A spam block on a mailbox -> its domain's cool-down, as the send-time path drafts it
# (engine.health.HealthService.cool_down_of): (domain, mailbox, why) -> the CoolDown.
CoolDownOf = Callable[[str, str, str], CoolDown]

# The events that end an address for every campaign: the lead's state and the list's reason.
_CLOSING = {
    EventKind.BOUNCE_HARD: (LeadState.BOUNCED, "hard bounce", LeadState.SUPPRESSED),
    EventKind.COMPLAINT: (LeadState.COMPLAINED, "complaint", LeadState.SUPPRESSED),
    EventKind.UNSUBSCRIBE: (LeadState.UNSUBSCRIBED, "unsubscribed", LeadState.UNSUBSCRIBED),
}
_RECORDED = frozenset(
    {EventKind.DELIVERED, EventKind.BOUNCE_SOFT, EventKind.OPEN, EventKind.CLICK, EventKind.BLOCK}
)


def source_of(esp: str) -> str:
    """The events' and the cursor's source for one [[esp]] (SPEC 8)."""
    return f"esp:{esp}"


def effects_of_event(
    event: EspEvent, ref: SentRef | None, *, now: datetime, cool_down: CoolDownOf | None = None
) -> Effects | Ignored:
    """The effects of one provider event about `ref` (the send it is about, if it is ours)."""
    if event.kind not in _CLOSING and event.kind not in _RECORDED:
        return Ignored(f"{event.kind.value} is no ESP event kind")
    if ref is None:
        # SPEC 8: an event about mail we never sent changes nothing (the caller logs it).
        return Ignored(f"{event.kind.value} about no mail this service sent")
    source = source_of(event.esp)
    stored = NewEvent(
        source=source,
        source_id=event.event_id,
        kind=event.kind,
        occurred_at=event.occurred_at,
        received_at=now,
        email=event.email or ref.email,
        mailbox_id=ref.mailbox_id,
        send_id=ref.send_id,
        campaign_id=ref.campaign_id,
        step_no=ref.step_no,
        detail=event.detail[:300] or None,
    )
    closing = _CLOSING.get(event.kind)
    if closing is not None:
        lead_state, reason, listed_as = closing
        address = event.email or ref.email
        return Effects(
            event=stored,
            close_lead=(ref.lead_id, lead_state) if ref.lead_id is not None else None,
            # The address is dead (or asked out) for every campaign: its other open leads close.
            suppress=Suppression(address, reason, source, now, listed_as) if address else None,
        )
    if event.kind is EventKind.BLOCK and cool_down is not None:
        domain = ref.mailbox.rpartition("@")[2]
        why = f"{event.esp} reported a block" + (f": {event.detail[:200]}" if event.detail else "")
        return Effects(event=stored, cool_down=cool_down(domain, ref.mailbox, why))
    # Delivered, soft bounce, open, click: only the event (the rates read it).
    return Effects(event=stored)
