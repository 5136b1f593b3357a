"""/lead <email>: every campaign an address is a lead in, with its sends, events and label."""

from __future__ import annotations

from core.records import LeadCard
from engine.admin import AdminError
from engine.context import AppContext


async def lead_cards(ctx: AppContext, address: str) -> list[LeadCard]:
    """The address's leads, one card per campaign; AdminError when it is no lead anywhere."""
    cards = await ctx.reports.lead_cards(address)
    if not cards:
        raise AdminError(f"no lead with the address {address} in any campaign")
    return cards
