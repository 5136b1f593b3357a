"""The capacity planner: SPEC 2's 30 mailboxes on day 15, and the engine's rules day by day."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from config import MailboxConfig
from core import limits
from core.capacity import capacity_today, state_from_config
from core.models import DomainView, MailboxView, WarmupPolicy
from core.ramp import (
    Limit,
    Pool,
    PoolMailbox,
    default_daily_limit,
    default_domains,
    new_pool,
    plan_for,
    plan_ramp,
)
from core.specs import DomainSpec, MailboxSpec, MailServer, Rules

START = date(2026, 12, 1)
SERVER = MailServer("smtp.test", 587, "starttls", "u", "p")
SPEC7 = [5, 6, 7, 8, 8, 9, 10, 12, 14, 17, 20, 24, 29, 35, 40]


def test_the_defaults_reach_1200_with_30_mailboxes_on_day_15() -> None:
    plan = plan_for(Rules(), START, mailboxes=30, target=1200)
    assert plan.mailboxes == 30
    assert plan.domains == 10
    assert [d.cap_high for d in plan.days] == SPEC7
    assert [d.capacity for d in plan.days] == [30 * cap for cap in SPEC7]
    reached = plan.target_day
    assert reached is not None
    assert (reached.day, reached.date, reached.capacity) == (15, date(2026, 12, 15), 1200)
    assert plan.days[13].capacity == 1050  # day 14 is short of it
    assert plan.days[-1].cumulative == 30 * sum(SPEC7) == 7320
    assert plan.limited_by() == (Limit.WARMUP,)
    assert (plan.steady_capacity, plan.steady_limit, plan.mailboxes_needed) == (
        1200,
        Limit.MAILBOX_LIMITS,
        30,
    )
    assert plan.complete


def test_a_pool_too_small_never_reaches_the_target_and_says_how_many_it_needs() -> None:
    plan = plan_for(Rules(), START, mailboxes=12, target=1200)
    assert plan.target_day is None
    assert plan.steady_capacity == 480
    assert plan.limited_by() == (Limit.MAILBOX_LIMITS,)
    assert plan.mailboxes_needed == 30
    assert len(plan.days) == 15  # shown until every mailbox is warm


def test_domain_caps_hold_the_pool_below_its_mailboxes() -> None:
    # 30 mailboxes on 10 domains capped at 100: 3 x 40 = 120 per domain is cut to 100.
    plan = plan_for(Rules(), START, mailboxes=30, target=1200, domain_limit=100)
    assert plan.target_day is None
    assert (plan.steady_capacity, plan.steady_limit) == (1000, Limit.DOMAIN_CAPS)
    # day 14: 3 x 35 = 105 per domain, already over the cap
    assert plan.days[13].limits == frozenset({Limit.WARMUP, Limit.DOMAIN_CAPS})
    assert plan.days[13].capacity == 1000
    assert plan.days[-1].limits == frozenset({Limit.DOMAIN_CAPS})


def test_new_pool_spreads_mailboxes_over_domains_three_a_domain_by_default() -> None:
    assert default_domains(30) == 10
    assert default_domains(31) == 11
    assert default_domains(1) == 1
    pool = new_pool(7, 3, 40, START)
    per_domain = [sum(m.domain == d.name for m in pool.mailboxes) for d in pool.domains]
    assert per_domain == [3, 2, 2]
    assert all(m.warmup_start == START and m.daily_limit == 40 for m in pool.mailboxes)


def test_the_default_daily_limit_is_the_configs() -> None:
    assert default_daily_limit() == MailboxConfig.model_fields["daily_limit"].default == 40


def test_the_configured_pool_keeps_each_mailboxs_limit_and_start() -> None:
    server = SERVER
    rules = Rules(
        daily_target=100,
        domains=(DomainSpec("a.test", daily_limit=60), DomainSpec("b.test")),
        mailboxes=(
            MailboxSpec("warm@a.test", server, daily_limit=58),  # warm: 58 + 5 over the cap 60
            MailboxSpec("new@a.test", server, warmup_start=START),
            MailboxSpec("half@b.test", server, warmup_start=START - timedelta(days=7)),  # day 8
        ),
    )
    plan = plan_for(rules, START)
    first = plan.days[0]
    assert (first.warming, first.active, first.cap_low, first.cap_high) == (2, 1, 5, 58)
    assert first.mailbox_caps == 58 + 5 + 12
    assert first.capacity == 60 + 12
    assert first.limits == frozenset({Limit.WARMUP, Limit.DOMAIN_CAPS})
    reached = plan.target_day
    assert reached is not None
    # b.test's mailbox reaches 40 on its day 15 = plan day 8: 60 + 40 = 100
    assert reached.day == 8
    assert plan.mailboxes_needed == 3  # 100 at 40 a day
    assert plan.steady_capacity == 100
    assert len(plan.days) == 15  # until new@a.test is warm


def test_a_warm_pool_is_one_day() -> None:
    server = SERVER
    rules = Rules(
        daily_target=40,
        domains=(DomainSpec("a.test"),),
        mailboxes=(MailboxSpec("m@a.test", server),),
    )
    plan = plan_for(rules, START)
    assert len(plan.days) == 1
    assert plan.target_day == plan.days[0]
    assert plan.limited_by() == ()


def test_a_ramp_that_never_ends_is_cut_and_marked() -> None:
    slow = WarmupPolicy(daily_growth=0.001)
    plan = plan_ramp(new_pool(3, 1, 40, START), slow, 120, START, per_mailbox=40, max_days=20)
    assert len(plan.days) == 20
    assert not plan.complete
    assert plan.target_day is None


# --- the property: each day's capacity is what the engine's rules allow ------------------

policies = st.builds(
    WarmupPolicy,
    phase1_days=st.integers(1, 10),
    phase1_start=st.integers(1, 20),
    phase1_end=st.integers(1, 30),
    daily_growth=st.sampled_from([0.05, 0.1, 0.2, 0.25, 0.5, 1.0]),
    target=st.integers(1, 80),
)
DOMAINS = ("a.test", "b.test", "c.test")
mailboxes = st.lists(
    st.builds(
        PoolMailbox,
        address=st.sampled_from(DOMAINS).map(lambda d: f"m@{d}"),
        daily_limit=st.integers(1, 100),
        warmup_start=st.none() | st.integers(-30, 10).map(lambda n: START + timedelta(days=n)),
    ),
    max_size=8,
)
domain_caps = st.tuples(*(st.none() | st.integers(1, 150) for _ in DOMAINS))


@settings(max_examples=150, deadline=None)
@given(policy=policies, pool_mailboxes=mailboxes, caps=domain_caps, target=st.integers(1, 600))
def test_each_days_capacity_is_what_the_engine_allows(
    policy: WarmupPolicy,
    pool_mailboxes: list[PoolMailbox],
    caps: tuple[int | None, ...],
    target: int,
) -> None:
    domains = tuple(
        DomainSpec(name, daily_limit=cap) for name, cap in zip(DOMAINS, caps, strict=True)
    )
    pool = Pool(tuple(pool_mailboxes), domains)
    plan = plan_ramp(pool, policy, target, START, per_mailbox=40, max_days=60)
    assert [d.day for d in plan.days] == list(range(1, len(plan.days) + 1))
    cumulative = 0
    for row in plan.days:
        assert row.date == START + timedelta(days=row.day - 1)
        views = [
            MailboxView(
                n,
                m.address,
                m.domain,
                state_from_config(m.warmup_start, m.daily_limit, row.date, policy),
                m.daily_limit,
                warmup_start=m.warmup_start,
            )
            for n, m in enumerate(pool_mailboxes)
        ]
        # Sum the engine's per-mailbox caps per domain, each bounded by its domain's cap.
        allowed = 0
        for domain in domains:
            summed = sum(
                limits.mailbox_cap(v, row.date, policy) for v in views if v.domain == domain.name
            )
            allowed += summed if domain.daily_limit is None else min(summed, domain.daily_limit)
        engine = capacity_today(
            views, [DomainView(d.name, daily_limit=d.daily_limit) for d in domains],
            row.date, policy, target,
        )  # fmt: skip
        assert row.capacity == allowed == engine.total
        cumulative += allowed
        assert row.cumulative == cumulative
    if plan.complete:
        # The last row is the steady state: every mailbox warm, nothing changes after it.
        assert plan.days[-1].warming == 0
        assert plan.days[-1].capacity == plan.steady_capacity
    reached = plan.target_day
    if reached is not None:
        assert all(d.capacity < target for d in plan.days[: reached.day - 1])
        assert reached.capacity >= target
