"""/suppress and /unsuppress: the global suppression list, and the leads it closes."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.records import Effects, Suppression
from engine.context import AppContext

log = logging.getLogger("outreach.suppression")


@dataclass(frozen=True, slots=True)
class Entry:
    """A suppression list entry: a lower-case address, or a domain (stored as '@domain')."""

    value: str
    is_domain: bool

    @property
    def stored(self) -> str:
        """How the suppression table holds it."""
        return f"@{self.value}" if self.is_domain else self.value


@dataclass(frozen=True, slots=True)
class SuppressResult:
    """What /suppress changed."""

    entry: Entry
    added: bool  # False: it was on the list already
    closed_leads: int


@dataclass(frozen=True, slots=True)
class UnsuppressResult:
    """What /unsuppress changed."""

    entry: Entry
    removed: bool  # False: it was not on the list
    domain_still_suppressed: bool  # an address whose whole domain stays on the list


async def suppress(ctx: AppContext, entry: Entry, admin_id: int | None) -> SuppressResult:
    """Put the entry on the list and close every open lead it covers, in every campaign."""
    source = f"bot:{admin_id}" if admin_id is not None else "bot"
    # Closed even when the entry was listed already (see storage): one commit for both.
    applied = await ctx.events.apply(
        Effects(suppress=Suppression(entry.stored, "by an admin", source, ctx.clock.now()))
    )
    log.info(
        "suppressed %s (new: %s), %d open lead(s) closed",
        entry.stored, applied.suppressed, applied.closed_leads,
    )  # fmt: skip
    return SuppressResult(entry, applied.suppressed, applied.closed_leads)


async def unsuppress(ctx: AppContext, entry: Entry) -> UnsuppressResult:
    """Take the entry off the list; leads closed by it stay closed."""
    removed = await ctx.events.unsuppress(entry.stored)
    still = not entry.is_domain and await ctx.events.is_suppressed(entry.value)
    log.info("unsuppressed %s (was listed: %s)", entry.stored, removed)
    return UnsuppressResult(entry, removed, still)
