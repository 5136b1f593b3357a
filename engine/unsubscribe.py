"""The unsubscribe service behind web/unsubscribe.py: suppress the address, close the lead."""

from __future__ import annotations

from core.models import EventKind, LeadState
from core.records import Effects, NewEvent, Suppression
from core.unsubscribe import mask_address
from engine.clock import Clock
from engine.ports import EventStore


class UnsubscribeService:
    """One-click unsubscribe (RFC 8058): idempotent, no login."""

    def __init__(self, store: EventStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def unsubscribe(self, lead_id: int) -> bool:
        """Suppress the lead's address everywhere and stop its sequence; False if unknown."""
        email = await self._store.lead_email(lead_id)
        if email is None:
            return False
        now = self._clock.now()
        # The event, the suppression entry and the closed leads commit together; a repeated
        # click applies again (idempotent), e.g. after an admin took the address off the list.
        await self._store.apply(
            Effects(
                event=NewEvent(
                    source="one-click",
                    source_id=f"lead:{lead_id}",
                    kind=EventKind.UNSUBSCRIBE,
                    occurred_at=now,
                    received_at=now,
                    email=email,
                ),
                repeatable=True,
                suppress=Suppression(
                    email, "unsubscribed", "one-click", now, LeadState.UNSUBSCRIBED
                ),
            )
        )
        return True

    async def describe(self, lead_id: int) -> str | None:
        """The lead's address, masked, for the confirm page."""
        email = await self._store.lead_email(lead_id)
        return mask_address(email) if email else None

    async def is_unsubscribed(self, lead_id: int) -> bool:
        """True when the lead's address is suppressed already (the confirm page is moot)."""
        email = await self._store.lead_email(lead_id)
        return email is not None and await self._store.is_suppressed(email)
