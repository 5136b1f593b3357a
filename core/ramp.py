"""The capacity planner of SPEC 2: a pool's warm-up ramp day by day and when it meets the target.

Every number comes from the engine's own rules: a mailbox's state on a day from
`capacity.state_from_config`, its cap from `limits.mailbox_cap` (the warm-up cap while warming)
and the pool's capacity from `capacity.capacity_today` (domain caps applied). Nothing here
re-derives the ramp, so the plan cannot drift from what the engine will let the pool send.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, timedelta

from core.capacity import Capacity, capacity_today, state_from_config
from core.models import SENDING_STATES, DomainView, MailboxState, MailboxView, WarmupPolicy
from core.specs import DomainSpec, MailboxSpec, Rules

MAX_DAYS = 365  # a ramp that never reaches its ceiling (a tiny growth) is shown for a year
MAILBOXES_PER_DOMAIN = 3  # SPEC 1's typical install: 10 domains x 3 mailboxes


def default_daily_limit() -> int:
    """The daily_limit a mailbox gets when the config names none."""
    (limit,) = (f.default for f in fields(MailboxSpec) if f.name == "daily_limit")
    assert isinstance(limit, int)
    return limit


def default_domains(mailboxes: int) -> int:
    """Domains for a pool of `mailboxes` when none are given: three mailboxes a domain."""
    return max(1, math.ceil(mailboxes / MAILBOXES_PER_DOMAIN))


class Limit(enum.StrEnum):
    """What holds a day's capacity below what the mailboxes could send unbounded."""

    WARMUP = "warm-up ramp"
    DOMAIN_CAPS = "domain caps"
    MAILBOX_LIMITS = "mailbox limits"


@dataclass(frozen=True, slots=True)
class PoolMailbox:
    """A mailbox of the planned pool: its limit and the first day of its warm-up (None: warm)."""

    address: str
    daily_limit: int
    warmup_start: date | None

    @property
    def domain(self) -> str:
        """The part after the @."""
        return self.address.rpartition("@")[2]


@dataclass(frozen=True, slots=True)
class Pool:
    """The mailboxes and domains a plan is made for."""

    mailboxes: tuple[PoolMailbox, ...]
    domains: tuple[DomainSpec, ...]


def configured_pool(mailboxes: Iterable[MailboxSpec], domains: Iterable[DomainSpec]) -> Pool:
    """The configured pool, each mailbox with its own limit and warm-up start."""
    return Pool(
        tuple(PoolMailbox(m.address, m.daily_limit, m.warmup_start) for m in mailboxes),
        tuple(domains),
    )


def new_pool(
    mailboxes: int,
    domains: int,
    daily_limit: int,
    start: date,
    domain_limit: int | None = None,
) -> Pool:
    """`mailboxes` new mailboxes spread evenly over `domains` domains, all starting on `start`."""
    names = [f"domain{i + 1}.example" for i in range(domains)]
    return Pool(
        tuple(
            PoolMailbox(f"m{n + 1}@{names[n % domains]}", daily_limit, start)
            for n in range(mailboxes)
        ),
        tuple(DomainSpec(name, daily_limit=domain_limit) for name in names),
    )


def mailbox_views(pool: Pool, day: date, policy: WarmupPolicy) -> tuple[MailboxView, ...]:
    """The pool's mailboxes as the engine sees them on `day`: warming until warm, then active."""
    return tuple(
        MailboxView(
            id=n,
            address=m.address,
            domain=m.domain,
            state=state_from_config(m.warmup_start, m.daily_limit, day, policy),
            daily_limit=m.daily_limit,
            warmup_start=m.warmup_start,
        )
        for n, m in enumerate(pool.mailboxes, start=1)
    )


def domain_views(pool: Pool) -> tuple[DomainView, ...]:
    """The pool's domains as the engine sees them (all active, nothing sent yet)."""
    return tuple(DomainView(d.name, daily_limit=d.daily_limit) for d in pool.domains)


def pool_capacity(pool: Pool, day: date, policy: WarmupPolicy, target: int) -> Capacity:
    """What the engine lets the pool send on `day`."""
    return capacity_today(mailbox_views(pool, day, policy), domain_views(pool), day, policy, target)


@dataclass(frozen=True, slots=True)
class RampDay:
    """One day of the ramp."""

    day: int  # 1-based
    date: date
    warming: int  # mailboxes still on the ramp
    active: int  # mailboxes at full volume
    cap_low: int  # lowest per-mailbox cap among the pool's mailboxes
    cap_high: int  # highest
    mailbox_caps: int  # sum of the mailboxes' caps, before domain caps
    capacity: int  # what the pool may send: the domain caps applied
    cumulative: int  # sent from day 1 up to this day if every slot is used
    limits: frozenset[Limit]


@dataclass(frozen=True, slots=True)
class RampPlan:
    """The ramp, the first day at the target and what the target needs at steady state."""

    start: date
    target: int
    mailboxes: int
    domains: int
    per_mailbox: int  # a new mailbox's daily_limit: the unit of "mailboxes needed"
    days: tuple[RampDay, ...]
    steady_capacity: int  # every mailbox warm
    steady_limit: Limit  # what bounds the steady capacity
    complete: bool  # False when some mailbox was still warming after MAX_DAYS

    @property
    def target_day(self) -> RampDay | None:
        """The first day the pool's capacity reaches the target, None if it never does."""
        return next((d for d in self.days if d.capacity >= self.target), None)

    @property
    def mailboxes_needed(self) -> int:
        """Mailboxes of `per_mailbox` a day that carry the target once warm."""
        return math.ceil(self.target / self.per_mailbox)

    def limited_by(self) -> tuple[Limit, ...]:
        """What keeps the pool from the target: on the days before it, or for good."""
        reached = self.target_day
        if reached is None:
            return (self.steady_limit,)
        before = [d for d in self.days if d.day < reached.day]
        return tuple(limit for limit in Limit if any(limit in d.limits for d in before))


def _limits(capacity: Capacity, views: tuple[MailboxView, ...]) -> frozenset[Limit]:
    found = set()
    if any(v.state is MailboxState.WARMING for v in views):
        found.add(Limit.WARMUP)
    if any(d.capacity < d.mailbox_caps for d in capacity.domains):
        found.add(Limit.DOMAIN_CAPS)
    if not found:
        found.add(Limit.MAILBOX_LIMITS)
    return frozenset(found)


def _steady(pool: Pool, start: date, policy: WarmupPolicy, target: int) -> Capacity:
    # Once warm, the engine's cap of an active mailbox is its daily_limit.
    views = tuple(
        MailboxView(n, m.address, m.domain, MailboxState.ACTIVE, m.daily_limit)
        for n, m in enumerate(pool.mailboxes, start=1)
    )
    return capacity_today(views, domain_views(pool), start, policy, target)


def plan_ramp(
    pool: Pool,
    policy: WarmupPolicy,
    target: int,
    start: date,
    *,
    per_mailbox: int,
    max_days: int = MAX_DAYS,
) -> RampPlan:
    """Day by day from `start` until every mailbox is warm and the target is met (or can't be)."""
    days: list[RampDay] = []
    cumulative = 0
    complete = False
    for n in range(1, max_days + 1):
        today = start + timedelta(days=n - 1)
        views = mailbox_views(pool, today, policy)
        capacity = capacity_today(views, domain_views(pool), today, policy, target)
        caps = [m.cap for m in capacity.mailboxes if m.state in SENDING_STATES] or [0]
        cumulative += capacity.total
        warming = sum(v.state is MailboxState.WARMING for v in views)
        days.append(
            RampDay(
                day=n,
                date=today,
                warming=warming,
                active=len(views) - warming,
                cap_low=min(caps),
                cap_high=max(caps),
                mailbox_caps=sum(d.mailbox_caps for d in capacity.domains),
                capacity=capacity.total,
                cumulative=cumulative,
                limits=_limits(capacity, views),
            )
        )
        if warming == 0:  # from here on nothing changes: the capacity is the steady one
            complete = True
            break
    steady = _steady(pool, start, policy, target)
    steady_limit = (
        Limit.DOMAIN_CAPS
        if any(d.capacity < d.mailbox_caps for d in steady.domains)
        else Limit.MAILBOX_LIMITS
    )
    return RampPlan(
        start=start,
        target=target,
        mailboxes=len(pool.mailboxes),
        domains=len(pool.domains),
        per_mailbox=per_mailbox,
        days=tuple(days),
        steady_capacity=steady.total,
        steady_limit=steady_limit,
        complete=complete,
    )


def plan_for(
    rules: Rules,
    start: date,
    *,
    mailboxes: int | None = None,
    target: int | None = None,
    domains: int | None = None,
    domain_limit: int | None = None,
) -> RampPlan:
    """The plan `plan` and `/plan` show: the configured pool, or `mailboxes` new ones."""
    per_mailbox = default_daily_limit()
    if mailboxes is None:
        pool = configured_pool(rules.mailboxes, rules.domains)
    else:
        spread = domains if domains is not None else default_domains(mailboxes)
        pool = new_pool(mailboxes, spread, per_mailbox, start, domain_limit)
    goal = rules.daily_target if target is None else target
    return plan_ramp(pool, rules.warmup, goal, start, per_mailbox=per_mailbox)
