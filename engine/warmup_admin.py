"""/warmup: the warm-up table of SPEC 7 and 10, and starting or stopping one mailbox's ramp."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from core import limits, placement, warmup
from core.addresses import normalise_address
from core.models import MailboxState, WarmupPolicy
from core.records import MailboxRow, WarmupToday
from engine.admin import AdminError, unknown
from engine.context import AppContext

log = logging.getLogger("outreach.warmup")


LISTED = 60  # /warmup details at most this many mailboxes; the others are counted


@dataclass(frozen=True, slots=True)
class WarmupRow:
    """One mailbox of the warm-up loop today: its ramp, its warm-up traffic, its placement."""

    address: str
    state: str  # "warming", or "active": warm, keeping maintenance traffic
    day: int | None  # None when warm, or warming without a start date (its own limit applies)
    phase: int | None
    cap: int
    daily_limit: int
    sent_today: int  # every slot used today, campaign and warm-up mail
    today: WarmupToday = WarmupToday()  # warm-up mails sent, received and answered today
    inbox: int = 0  # its warm-up mails found in the inbox over the placement window
    spam: int = 0  # ... and in Spam/Junk
    held: bool = False  # placement under 50 %: campaign mail held, warm-up goes on

    @property
    def placed(self) -> int:
        """How many of its warm-up mails were found at their receivers in the window."""
        return self.inbox + self.spam

    @property
    def placement(self) -> float | None:
        """Inbox placement rate, or None under warmup.PLACEMENT_SHOWN placements."""
        return warmup.placement_rate(self.inbox, self.spam)


@dataclass(frozen=True, slots=True)
class WarmupReport:
    """What /warmup shows: the table and the configured ramp."""

    today: date
    policy: WarmupPolicy
    rows: tuple[WarmupRow, ...]  # warming ones first, then warm ones; at most LISTED
    placement_days: int
    ramp: tuple[int, ...]  # cap of day 1, 2, ... up to the target
    unlisted: dict[str, int] = field(default_factory=dict)  # state -> mailboxes not in rows


async def gather_warmup(ctx: AppContext, *, listed: int = LISTED) -> WarmupReport:
    """Each mailbox of the loop: day, phase, cap, today's warm-up traffic, 7-day placement."""
    tz = ctx.rules.timezone
    now = ctx.clock.now()
    today = limits.local_day(now, tz)
    policy = ctx.rules.warmup
    pool = await ctx.reports.warming_rows(today.isoformat())
    shown, rest = pool[:listed], pool[listed:]
    unlisted: dict[str, int] = {}
    for mailbox in rest:
        unlisted[mailbox.state] = unlisted.get(mailbox.state, 0) + 1
    # Counted for the listed mailboxes only: each is a few index lookups, not the whole pool.
    start, end = limits.day_bounds(today, tz)
    traffic = await ctx.reports.warmup_today(
        {m.id: m.address for m in shown}, today.isoformat(), start, end
    )
    # The 7 days the hold is judged on (core/placement.py), so the rate shown is the one
    # that holds or releases campaign mail.
    placements = await ctx.reports.placement_counts([m.id for m in shown], now - placement.WINDOW)
    rows = []
    for mailbox in shown:
        inbox, spam = placements.get(mailbox.id, (0, 0))
        if mailbox.state != "warming" or mailbox.warmup_start is None:
            day = phase = None
            cap = mailbox.daily_limit
        else:
            day = warmup.warmup_day(date.fromisoformat(mailbox.warmup_start), today)
            phase = warmup.phase(policy, day)
            cap = warmup.warmup_cap(policy, day, mailbox.daily_limit)
        rows.append(
            WarmupRow(
                address=mailbox.address,
                state=mailbox.state,
                day=day,
                phase=phase,
                cap=cap,
                daily_limit=mailbox.daily_limit,
                sent_today=mailbox.sent_today,
                today=traffic.get(mailbox.id, WarmupToday()),
                inbox=inbox,
                spam=spam,
                held=mailbox.placement_hold,
            )  # fmt: skip
        )
    return WarmupReport(
        today=today,
        policy=policy,
        rows=tuple(rows),
        placement_days=placement.WINDOW.days,
        ramp=tuple(warmup.ramp(policy, policy.target)),
        unlisted=unlisted,
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
