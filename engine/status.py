"""What /status and `main.py status` show, gathered from the database in one place."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime

from core import capacity, health, limits, placement, warmup
from core.models import (
    CampaignState,
    DomainState,
    MailboxState,
    MailboxView,
    RateCounts,
    WarmupPolicy,
)
from core.records import CampaignCounts, DomainRow, MailboxRow, StoredAlert, UsageScope
from core.specs import Rules
from engine.clock import Clock
from engine.control import Unknown, resolve_name
from engine.ports import ReportQueries


@dataclass(frozen=True, slots=True)
class MailboxLine:
    """A mailbox that is not simply sending: paused, cooling down, resting or warming."""

    address: str
    state: str
    reason: str
    cap: int
    sent: int


ATTENTION_LIMIT = 25  # mailboxes /status names; the others that need attention are counted

# Which mailboxes /status names first when there are more than ATTENTION_LIMIT: those an admin
# has to act on before those that only wait.
_URGENCY = {"paused": 0, "cooldown": 1, "resting": 2, "warming": 3}


@dataclass(frozen=True, slots=True)
class StatusReport:
    """Today's picture: sent / capacity / target, mailboxes by state, queues, last alerts."""

    now: datetime
    day: date
    sent: int
    capacity: capacity.Capacity
    campaigns: list[CampaignCounts]
    attention: list[MailboxLine]  # the first ATTENTION_LIMIT, most urgent first
    alerts: list[StoredAlert]
    # the mailboxes that need attention but are not in `attention`, by kind ("paused",
    # "cooldown", "resting", "warming"), most urgent kind first
    unlisted: dict[str, int] = dataclasses.field(default_factory=dict)


async def gather_status(repo: ReportQueries, clock: Clock, rules: Rules) -> StatusReport:
    """Collect the status report for `clock.now()`."""
    now = clock.now()
    tz = rules.timezone
    today = limits.local_day(now, tz)
    # /status shows no rates, and the health window only feeds the snapshot's bounce rates:
    # an empty window spares counting two weeks of sends and bounces for every mailbox.
    snap = await repo.load_snapshot(
        now=now,
        day=today.isoformat(),
        window_start=now,
        followup_limit=0,
        new_per_campaign=0,
    )
    cap = capacity.capacity_today(
        snap.mailboxes, snap.domains, today, rules.warmup, rules.daily_target
    )
    waiting: list[tuple[int, str, MailboxView, int]] = []
    for mailbox, item in zip(snap.mailboxes, cap.mailboxes, strict=True):
        resting = mailbox.resting_until is not None and mailbox.resting_until > now
        if mailbox.state is MailboxState.ACTIVE and not resting:
            continue
        kind = "resting" if mailbox.state is MailboxState.ACTIVE else mailbox.state.value
        waiting.append((_URGENCY.get(kind, len(_URGENCY)), kind, mailbox, item.cap))
    waiting.sort(key=lambda entry: entry[0])  # stable: by id within a kind
    unlisted: dict[str, int] = {}
    for _, kind, _, _ in waiting[ATTENTION_LIMIT:]:
        unlisted[kind] = unlisted.get(kind, 0) + 1
    attention = []
    # Only the named mailboxes' reasons are read: one row each, not the whole pool.
    for _, _, mailbox, mailbox_cap in waiting[:ATTENTION_LIMIT]:
        row = await repo.mailbox(mailbox.id)
        reason = row.reason if row else ""
        if mailbox.resting_until is not None and mailbox.resting_until > now:
            reason = f"resting until {mailbox.resting_until:%Y-%m-%d %H:%M} UTC {reason}".strip()
        attention.append(
            MailboxLine(
                mailbox.address, mailbox.state.value, reason, mailbox_cap, mailbox.sent_today
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
        unlisted=unlisted,
    )


# --- one item in detail (/status NAME) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MailboxDetail:
    """One mailbox: its state, why, today's cap and use, and what keeps it from sending."""

    address: str
    domain: str
    state: str
    reason: str
    cap: int
    sent: int
    daily_limit: int
    warmup_day: int | None  # while warming
    warmup_phase: int | None
    resting_until: datetime | None  # in the future only
    domain_state: str
    cooldown_until: datetime | None  # its domain's, while cooling down
    last_sent_at: datetime | None
    rates: RateCounts = RateCounts()  # over the health window (SPEC 9)
    window_days: int = 7
    # Where its warm-up mails landed over the placement window (SPEC 7), and whether campaign
    # mail is held for low placement (warm-up mail goes on).
    placement_inbox: int = 0
    placement_spam: int = 0
    placement_days: int = placement.WINDOW.days
    placement_hold: bool = False

    @property
    def placement(self) -> float | None:
        """Inbox placement rate, or None under warmup.PLACEMENT_SHOWN placements."""
        return warmup.placement_rate(self.placement_inbox, self.placement_spam)


@dataclass(frozen=True, slots=True)
class DomainDetail:
    """One domain: state, why, cool-down end, cap and use, its mailboxes."""

    name: str
    state: str
    reason: str
    cooldown_until: datetime | None
    daily_limit: int | None
    sent: int
    mailboxes: list[MailboxLine]
    rates: RateCounts = RateCounts()  # its mailboxes' together, over the health window
    window_days: int = 7


@dataclass(frozen=True, slots=True)
class CampaignDetail:
    """One campaign: counts, sending window, rates over the health window."""

    counts: CampaignCounts
    timezone: str
    days: tuple[str, ...]
    hours: str
    origin: str
    window_days: int
    rates: RateCounts


Detail = MailboxDetail | DomainDetail | CampaignDetail


async def gather_detail(
    repo: ReportQueries, clock: Clock, rules: Rules, name: str
) -> Detail | Unknown:
    """One mailbox, domain or campaign named exactly, or the closest names when none is."""
    now = clock.now()
    tz = rules.timezone
    today = limits.local_day(now, tz)
    day = today.isoformat()
    mailboxes = await repo.mailboxes()
    domains = {d.name: d for d in await repo.domains()}
    campaigns = await repo.campaigns()
    live = [
        *(m.address for m in mailboxes if m.state is not MailboxState.DISABLED),
        *(d.name for d in domains.values() if d.state is not DomainState.DISABLED),
        *(c.name for c in campaigns if c.state is not CampaignState.DISABLED),
    ]
    target = resolve_name(
        name,
        mailboxes=[m.address for m in mailboxes],
        domains=list(domains),
        campaigns=[c.name for c in campaigns],
        allow_all=False,
        known=live,
    )
    if isinstance(target, Unknown):
        return target
    policy = rules.warmup
    health_policy = rules.health
    start, _ = limits.day_bounds(health.window_start(today, health_policy), tz)
    if target.kind in ("mailbox", "domain"):
        rates = await repo.mailbox_rates(start, now)
    if target.kind == "mailbox":
        row = next(m for m in mailboxes if m.address == target.name)
        detail = await _mailbox_detail(
            repo, row, domains[row.domain], today=today, now=now, policy=policy
        )
        # The 7 days the hold is judged on (core/placement.py).
        since = now - placement.WINDOW
        inbox, spam = (await repo.placement_counts([row.id], since)).get(row.id, (0, 0))
        return dataclasses.replace(
            detail,
            rates=rates.get(row.id, RateCounts()),
            window_days=health_policy.window_days,
            placement_inbox=inbox,
            placement_spam=spam,
            placement_hold=row.placement_hold,
        )
    if target.kind == "domain":
        domain = domains[target.name]
        lines = []
        per_mailbox = []
        for row in mailboxes:
            if row.domain != domain.name or row.state is MailboxState.DISABLED:
                continue
            item = await _mailbox_detail(repo, row, domain, today=today, now=now, policy=policy)
            lines.append(MailboxLine(row.address, row.state.value, row.reason, item.cap, item.sent))
            per_mailbox.append(rates.get(row.id, RateCounts()))
        return DomainDetail(
            name=domain.name,
            state=domain.state.value,
            reason=domain.reason,
            cooldown_until=domain.cooldown_until,
            daily_limit=domain.daily_limit,
            sent=await repo.usage_today(UsageScope.DOMAIN, domain.id, day),
            mailboxes=lines,
            rates=health.total(per_mailbox),
            window_days=health_policy.window_days,
        )
    camp = next(c for c in campaigns if c.name == target.name)
    counts = next(
        (c for c in await repo.campaign_counts(day) if c.id == camp.id),
        CampaignCounts(camp.id, camp.name, camp.state.value, camp.reason, camp.daily_limit,
                       0, {}),
    )  # fmt: skip
    campaign_rates = (await repo.campaign_rates(start, now)).get(camp.id, RateCounts())
    return CampaignDetail(
        counts=counts,
        timezone=camp.timezone,
        days=camp.days,
        hours=camp.hours,
        origin=camp.origin,
        window_days=health_policy.window_days,
        rates=campaign_rates,
    )


async def _mailbox_detail(
    repo: ReportQueries,
    row: MailboxRow,
    domain: DomainRow,
    *,
    today: date,
    now: datetime,
    policy: WarmupPolicy,
) -> MailboxDetail:
    view = MailboxView(
        id=row.id,
        address=row.address,
        domain=row.domain,
        state=row.state,
        daily_limit=row.daily_limit,
        warmup_start=row.warmup_start,
    )
    warming = row.state is MailboxState.WARMING and row.warmup_start is not None
    day = warmup.warmup_day(row.warmup_start, today) if warming and row.warmup_start else None
    resting = row.resting_until if row.resting_until and row.resting_until > now else None
    cooling = domain.state is DomainState.COOLDOWN
    return MailboxDetail(
        address=row.address,
        domain=row.domain,
        state=row.state.value,
        reason=row.reason,
        cap=limits.mailbox_cap(view, today, policy),
        sent=await repo.usage_today(UsageScope.MAILBOX, row.id, today.isoformat()),
        daily_limit=row.daily_limit,
        warmup_day=day,
        warmup_phase=warmup.phase(policy, day) if day is not None else None,
        resting_until=resting,
        domain_state=domain.state.value,
        cooldown_until=domain.cooldown_until if cooling else None,
        last_sent_at=row.last_sent_at,
    )


@dataclass(frozen=True, slots=True)
class CampaignsOverview:
    """/campaigns: every campaign's counts, and its rates over the health window."""

    counts: list[CampaignCounts]
    rates: dict[int, RateCounts]
    window_days: int
    labels: dict[int, dict[str, int]] = dataclasses.field(default_factory=dict)


async def gather_campaigns(repo: ReportQueries, clock: Clock, rules: Rules) -> CampaignsOverview:
    """Counts per campaign today, rates over the health window."""
    now = clock.now()
    tz = rules.timezone
    today = limits.local_day(now, tz)
    policy = rules.health
    start, _ = limits.day_bounds(health.window_start(today, policy), tz)
    return CampaignsOverview(
        counts=await repo.campaign_counts(today.isoformat()),
        rates=await repo.campaign_rates(start, now),
        window_days=policy.window_days,
        labels=await repo.label_counts(),
    )
