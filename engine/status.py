"""What /status and `main.py status` show, gathered from the database in one place."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime

from config import OutreachConfig
from core import capacity, health, limits
from engine.clock import Clock
from storage.alerts import StoredAlert
from storage.repository import Repository
from storage.status import CampaignCounts


@dataclass(frozen=True, slots=True)
class MailboxLine:
    """A mailbox that is not simply sending: paused, cooling down, resting or warming."""

    address: str
    state: str
    reason: str
    cap: int
    sent: int


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Today's picture: sent / capacity / target, mailboxes by state, queues, last alerts."""

    now: datetime
    day: date
    sent: int
    capacity: capacity.Capacity
    campaigns: list[CampaignCounts]
    attention: list[MailboxLine]
    alerts: list[StoredAlert]


async def gather_status(repo: Repository, clock: Clock, config: OutreachConfig) -> StatusReport:
    """Collect the status report for `clock.now()`."""
    now = clock.now()
    tz = config.sending.timezone
    today = limits.local_day(now, tz)
    policy = config.health.policy()
    window_start, _ = limits.day_bounds(health.window_start(today, policy), tz)
    snap = await repo.load_snapshot(
        now=now,
        day=today.isoformat(),
        window_start=window_start,
        followup_limit=0,
        new_per_campaign=0,
    )
    warmup = config.warmup.policy()
    cap = capacity.capacity_today(
        snap.mailboxes, snap.domains, today, warmup, config.sending.daily_target
    )
    rows = {m.address: m for m in await repo.mailboxes()}
    attention = []
    for mailbox in snap.mailboxes:
        row = rows.get(mailbox.address)
        resting = mailbox.resting_until is not None and mailbox.resting_until > now
        if mailbox.state.value == "active" and not resting:
            continue
        reason = row.reason if row else ""
        if resting and mailbox.resting_until is not None:
            reason = f"resting until {mailbox.resting_until:%Y-%m-%d %H:%M} UTC {reason}".strip()
        attention.append(
            MailboxLine(
                mailbox.address,
                mailbox.state.value,
                reason,
                limits.mailbox_cap(dataclasses.replace(mailbox, sent_today=0), today, warmup),
                mailbox.sent_today,
            )
        )
    return StatusReport(
        now=now,
        day=today,
        sent=await repo.sent_on(today.isoformat()),
        capacity=cap,
        campaigns=await repo.campaign_counts(today.isoformat()),
        attention=attention,
        alerts=await repo.recent_alerts(5),
    )
