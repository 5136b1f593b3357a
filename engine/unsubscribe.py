"""The unsubscribe service behind web/unsubscribe.py: suppress the address, close the lead."""

from __future__ import annotations

from core.models import EventKind, LeadState
from core.unsubscribe import mask_address
from engine.clock import Clock
from storage.repository import Repository


class UnsubscribeService:
    """One-click unsubscribe (RFC 8058): idempotent, no login."""

    def __init__(self, repo: Repository, clock: Clock) -> None:
        self._repo = repo
        self._clock = clock

    async def unsubscribe(self, lead_id: int) -> bool:
        """Suppress the lead's address everywhere and stop its sequence; False if unknown."""
        email = await self._repo.lead_email(lead_id)
        if email is None:
            return False
        now = self._clock.now()
        await self._repo.suppress(email, "unsubscribed", "one-click", now=now)
        await self._repo.close_open_leads(LeadState.UNSUBSCRIBED, address=email)
        await self._repo.add_event(
            source="one-click",
            source_id=f"lead:{lead_id}",
            kind=EventKind.UNSUBSCRIBE,
            occurred_at=now,
            received_at=now,
            email=email,
        )
        return True

    async def describe(self, lead_id: int) -> str | None:
        """The lead's address, masked, for the confirm page."""
        email = await self._repo.lead_email(lead_id)
        return mask_address(email) if email else None
