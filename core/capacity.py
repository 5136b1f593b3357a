"""Today's sending capacity of the pool, per mailbox and domain, against the daily target."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from core import limits, warmup
from core.models import (
    DomainState,
    DomainView,
    MailboxState,
    MailboxView,
    WarmupPolicy,
)


def state_from_config(
    warmup_start: date | None, daily_limit: int, today: date, policy: WarmupPolicy
) -> MailboxState:
    """A configured mailbox is warming while its ramp is below its ceiling, else active."""
    if warmup_start is None:
        return MailboxState.ACTIVE
    day = warmup.warmup_day(warmup_start, today)
    warm = warmup.is_warm(policy, day, daily_limit)
    return MailboxState.ACTIVE if warm else MailboxState.WARMING


@dataclass(frozen=True, slots=True)
class MailboxCapacity:
    """One mailbox today: its state and how many mails it may send."""

    address: str
    domain: str
    state: MailboxState
    cap: int
    warmup_day: int | None = None  # set while warming


@dataclass(frozen=True, slots=True)
class DomainCapacity:
    """One domain today: its mailboxes' caps, bounded by its own cap."""

    name: str
    state: DomainState
    daily_limit: int | None
    mailboxes: int
    mailbox_caps: int  # sum of its mailboxes' caps today
    capacity: int  # what the domain may send today


@dataclass(frozen=True, slots=True)
class Capacity:
    """The pool today: per mailbox, per domain, and the total against the target."""

    mailboxes: tuple[MailboxCapacity, ...]
    domains: tuple[DomainCapacity, ...]
    target: int

    @property
    def total(self) -> int:
        """Sends the pool may make today."""
        return sum(domain.capacity for domain in self.domains)

    @property
    def shortfall(self) -> int:
        """How far the total is below the target, 0 when it is not."""
        return max(0, self.target - self.total)

    def by_state(self) -> dict[MailboxState, int]:
        """Number of mailboxes in each state (states with none left out), in enum order."""
        counts = dict.fromkeys(MailboxState, 0)
        for mailbox in self.mailboxes:
            counts[mailbox.state] += 1
        return {state: n for state, n in counts.items() if n}


def mailbox_capacity(mailbox: MailboxView, today: date, policy: WarmupPolicy) -> MailboxCapacity:
    """A mailbox's cap today, as the engine's limits compute it."""
    day = None
    if mailbox.state is MailboxState.WARMING and mailbox.warmup_start is not None:
        day = warmup.warmup_day(mailbox.warmup_start, today)
    return MailboxCapacity(
        address=mailbox.address,
        domain=mailbox.domain,
        state=mailbox.state,
        cap=limits.mailbox_cap(mailbox, today, policy),
        warmup_day=day,
    )


def capacity_today(
    mailboxes: Iterable[MailboxView],
    domains: Iterable[DomainView],
    today: date,
    policy: WarmupPolicy,
    target: int,
) -> Capacity:
    """Sum over domains of min(domain cap, its mailboxes' caps); unknown domains count nothing."""
    per_mailbox = tuple(mailbox_capacity(m, today, policy) for m in mailboxes)
    caps: dict[str, int] = {}
    counts: dict[str, int] = {}
    for mailbox in per_mailbox:
        caps[mailbox.domain] = caps.get(mailbox.domain, 0) + mailbox.cap
        counts[mailbox.domain] = counts.get(mailbox.domain, 0) + 1
    per_domain = []
    for domain in domains:
        summed = caps.get(domain.name, 0)
        if domain.state is not DomainState.ACTIVE:
            capacity = 0
        elif domain.daily_limit is None:
            capacity = summed
        else:
            capacity = min(domain.daily_limit, summed)
        per_domain.append(
            DomainCapacity(
                name=domain.name,
                state=domain.state,
                daily_limit=domain.daily_limit,
                mailboxes=counts.get(domain.name, 0),
                mailbox_caps=summed,
                capacity=capacity,
            )
        )
    return Capacity(per_mailbox, tuple(per_domain), target)
