"""/warmup: the warm-up table of SPEC 7 and 10, and starting or stopping one mailbox's ramp."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from core import limits, warmup
from core.addresses import normalise_address
from core.models import MailboxState, WarmupPolicy
from core.records import MailboxRow
from engine.admin import AdminError, unknown
from engine.context import AppContext

log = logging.getLogger("outreach.warmup")


@dataclass(frozen=True, slots=True)
class WarmupRow:
    """One warming mailbox today."""

    address: str
    day: int | None  # None when it warms without a start date (then its own limit applies)
    phase: int | None
    cap: int
    daily_limit: int
    sent_today: int
    inbox: int  # warm-up mails the loop found in the inbox over the placement window
    spam: int  # ... and in Spam/Junk

    @property
    def placement(self) -> float | None:
        """Inbox placement rate, or None when the warm-up loop has reported nothing."""
        seen = self.inbox + self.spam
        return self.inbox / seen if seen else None


@dataclass(frozen=True, slots=True)
class WarmupReport:
    """What /warmup shows: the table and the configured ramp."""

    today: date
    policy: WarmupPolicy
    rows: tuple[WarmupRow, ...]
    placement_days: int
    ramp: tuple[int, ...]  # cap of day 1, 2, ... up to the target


async def gather_warmup(ctx: AppContext) -> WarmupReport:
    """Each warming mailbox's day, phase, cap, sends today and inbox placement."""
    tz = ctx.rules.timezone
    today = limits.local_day(ctx.clock.now(), tz)
    policy = ctx.rules.warmup
    window = ctx.rules.health.window_days
    since, _ = limits.day_bounds(today - timedelta(days=window - 1), tz)
    warming = await ctx.reports.warming_rows(today.isoformat())
    placements = await ctx.reports.placement_counts([m.id for m in warming], since)
    rows = []
    for mailbox in warming:
        inbox, spam = placements.get(mailbox.id, (0, 0))
        if mailbox.warmup_start is None:
            day = phase = None
            cap = mailbox.daily_limit
        else:
            day = warmup.warmup_day(date.fromisoformat(mailbox.warmup_start), today)
            phase = warmup.phase(policy, day)
            cap = warmup.warmup_cap(policy, day, mailbox.daily_limit)
        rows.append(
            WarmupRow(
                mailbox.address,
                day,
                phase,
                cap,
                mailbox.daily_limit,
                mailbox.sent_today,
                inbox,
                spam,
            )  # fmt: skip
        )
    return WarmupReport(
        today=today,
        policy=policy,
        rows=tuple(rows),
        placement_days=window,
        ramp=tuple(warmup.ramp(policy, policy.target)),
    )


async def _find(ctx: AppContext, name: str) -> MailboxRow:
    """A mailbox in the config by address, any letter case; AdminError with the closest."""
    address = normalise_address(name)
    row = await ctx.control.mailbox_by_address(address) if address else None
    if row is not None and row.state is not MailboxState.DISABLED:
        return row
    mailboxes = [m for m in await ctx.control.mailboxes() if m.state is not MailboxState.DISABLED]
    folded = name.strip().casefold()
    for mailbox in mailboxes:
        if mailbox.address.casefold() == folded:
            return mailbox
    raise unknown("mailbox", name, [m.address for m in mailboxes])


async def start_warmup(ctx: AppContext, name: str) -> tuple[MailboxRow, date]:
    """Restart a mailbox's ramp at day 1 today; refused while it is paused or cooling down."""
    row = await _find(ctx, name)
    if row.state is MailboxState.PAUSED:
        why = f" ({row.reason})" if row.reason else ""
        raise AdminError(f"{row.address} is paused{why}; /resume it first")
    if row.state is MailboxState.COOLDOWN:
        raise AdminError(
            f"{row.address} is cooling down with its domain; it re-enters warm-up by itself "
            "when the cool-down ends"
        )
    today = limits.local_day(ctx.clock.now(), ctx.rules.timezone)
    await ctx.control.set_mailbox_warmup(
        row.id, today, MailboxState.WARMING, "warm-up started by admin"
    )
    log.info("warm-up of %s started on %s by an admin", row.address, today)
    return row, today


async def warming_mailbox(ctx: AppContext, name: str) -> MailboxRow:
    """The warming mailbox `name` whose ramp a stop would end; AdminError saying why not."""
    row = await _find(ctx, name)
    if row.state is not MailboxState.WARMING:
        raise AdminError(f"{row.address} is not warming up (it is {row.state.value})")
    return row


async def stop_warmup(ctx: AppContext, name: str) -> MailboxRow:
    """End a mailbox's ramp: it sends at its full daily limit from now on."""
    row = await warming_mailbox(ctx, name)
    await ctx.control.set_mailbox_warmup(
        row.id, None, MailboxState.ACTIVE, "warm-up stopped by admin"
    )
    log.info("warm-up of %s stopped by an admin", row.address)
    return row
