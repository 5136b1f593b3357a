"""The chat inbox (SPEC 12): an admin labels a reply; Unsubscribe also suppresses the address."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.models import LeadState, ReplyLabel
from core.records import Effects, Suppression
from engine.admin import AdminError
from engine.context import AppContext

log = logging.getLogger("outreach.replies")


@dataclass(frozen=True, slots=True)
class Labelled:
    """What a label button did."""

    email: str
    label: ReplyLabel
    suppressed: bool  # the address is now on the suppression list (Unsubscribe)


async def label_reply(
    ctx: AppContext, lead_id: int, label: ReplyLabel, admin_id: int | None
) -> Labelled:
    """Store the label on the lead; Unsubscribe suppresses its address, in the same commit."""
    email = await ctx.events.lead_email(lead_id)
    if email is None:
        raise AdminError("that lead is no longer stored")
    suppress = None
    if label is ReplyLabel.UNSUBSCRIBE:
        source = f"bot:{admin_id}" if admin_id is not None else "bot"
        suppress = Suppression(
            email, "unsubscribe asked in a reply", source, ctx.clock.now(), LeadState.UNSUBSCRIBED
        )
    applied = await ctx.events.apply(Effects(label=(lead_id, label), suppress=suppress))
    log.info("reply of lead %s labelled %s", lead_id, label.value)
    return Labelled(email, label, suppress is not None or applied.suppressed)
