"""Today's capacity: mailbox caps from the warm-up ramp, bounded per domain."""

from __future__ import annotations

from datetime import date, timedelta

from core.capacity import capacity_today, state_from_config
from core.models import DomainState, DomainView, MailboxState, MailboxView, WarmupPolicy

TODAY = date(2026, 11, 27)
POLICY = WarmupPolicy()


def mailbox(
    n: int,
    domain: str,
    state: MailboxState = MailboxState.ACTIVE,
    limit: int = 40,
    start: date | None = None,
) -> MailboxView:
    return MailboxView(n, f"m{n}@{domain}", domain, state, limit, warmup_start=start)


def test_state_from_config_follows_the_ramp() -> None:
    assert state_from_config(None, 40, TODAY, POLICY) is MailboxState.ACTIVE
    # the default ramp reaches 40 on day 15
    day14 = TODAY - timedelta(days=13)
    day15 = TODAY - timedelta(days=14)
    assert state_from_config(day14, 40, TODAY, POLICY) is MailboxState.WARMING
    assert state_from_config(day15, 40, TODAY, POLICY) is MailboxState.ACTIVE
    # a low limit is reached sooner: 10 on day 7
    assert state_from_config(TODAY - timedelta(days=6), 10, TODAY, POLICY) is MailboxState.ACTIVE
    # a future start counts as day 1
    assert state_from_config(TODAY + timedelta(days=3), 40, TODAY, POLICY) is MailboxState.WARMING


def test_capacity_is_the_sum_over_domains_of_the_capped_mailbox_sums() -> None:
    start_day8 = TODAY - timedelta(days=7)  # cap 12
    mailboxes = [
        mailbox(1, "a.com"),
        mailbox(2, "a.com"),
        mailbox(3, "a.com"),
        mailbox(4, "b.com", MailboxState.WARMING, start=start_day8),
        mailbox(5, "b.com", MailboxState.PAUSED),
        mailbox(6, "c.com"),
        mailbox(7, "d.com"),
        mailbox(8, "nowhere.com"),
    ]
    domains = [
        DomainView("a.com", daily_limit=100),
        DomainView("b.com"),
        DomainView("c.com", state=DomainState.COOLDOWN),
        DomainView("d.com", daily_limit=50),
        DomainView("e.com", daily_limit=10),
    ]
    capacity = capacity_today(mailboxes, domains, TODAY, POLICY, target=300)
    per_domain = {d.name: (d.mailboxes, d.mailbox_caps, d.capacity) for d in capacity.domains}
    assert per_domain == {
        "a.com": (3, 120, 100),
        "b.com": (2, 12, 12),
        "c.com": (1, 40, 0),
        "d.com": (1, 40, 40),
        "e.com": (0, 0, 0),
    }
    assert capacity.total == 152
    assert capacity.shortfall == 148
    assert capacity.by_state() == {
        MailboxState.ACTIVE: 6,
        MailboxState.WARMING: 1,
        MailboxState.PAUSED: 1,
    }
    warming = next(m for m in capacity.mailboxes if m.state is MailboxState.WARMING)
    assert (warming.cap, warming.warmup_day) == (12, 8)
    assert capacity_today(mailboxes, domains, TODAY, POLICY, target=100).shortfall == 0
