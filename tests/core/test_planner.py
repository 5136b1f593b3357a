"""plan(snapshot, now): SPEC 6 rules composed."""

from collections import Counter, deque
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import limits, planner, rotation
from core.models import (
    CampaignView,
    DomainState,
    DomainView,
    DueStep,
    MailboxState,
    MailboxView,
    SendingPolicy,
    Snapshot,
    Window,
)
from core.planner import plan

NOW = datetime(2026, 11, 27, 15, tzinfo=UTC)  # Friday
ALL_DAYS = frozenset({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})
NO_GAP = SendingPolicy(min_gap_seconds=0, jitter_seconds=0)


def mb(id_: int, domain: str = "x.com", **kw: object) -> MailboxView:
    base: dict[str, object] = {
        "id": id_, "address": f"m{id_}@{domain}", "domain": domain,
        "state": MailboxState.ACTIVE, "daily_limit": 40,
    }  # fmt: skip
    base.update(kw)
    return MailboxView(**base)  # type: ignore[arg-type]


def camp(id_: int, **kw: object) -> CampaignView:
    base: dict[str, object] = {
        "id": id_, "name": f"c{id_}", "timezone": "UTC", "days": ALL_DAYS,
        "window": Window.parse("00:00-24:00"),
    }  # fmt: skip
    base.update(kw)
    return CampaignView(**base)  # type: ignore[arg-type]


def new(campaign: int, n: int, first: int = 1) -> tuple[DueStep, ...]:
    return tuple(DueStep(first + i, campaign, 1) for i in range(n))


def snap(**kw: object) -> Snapshot:
    base: dict[str, object] = {
        "mailboxes": (mb(1),), "domains": (DomainView("x.com"),), "campaigns": (camp(1),),
    }  # fmt: skip
    base.update(kw)
    return Snapshot(**base)  # type: ignore[arg-type]


def test_followups_go_before_new_threads() -> None:
    s = snap(
        mailboxes=(mb(1, daily_limit=5, sent_today=4),),
        followups=(DueStep(99, 1, 2, mailbox_id=1),),
        new_leads=new(1, 3),
    )
    assert [(p.lead_id, p.step_no) for p in plan(s, NOW)] == [(99, 2)]


def test_followup_waits_for_its_own_mailbox() -> None:
    busy = mb(1, next_send_at=NOW + timedelta(minutes=3))
    s = snap(
        mailboxes=(busy, mb(2)),
        followups=(DueStep(99, 1, 2, mailbox_id=1),),
    )
    assert plan(s, NOW) == []  # mailbox 2 is free but never takes another's thread
    paused = mb(1, state=MailboxState.PAUSED)
    assert plan(snap(mailboxes=(paused, mb(2)), followups=s.followups), NOW) == []


def test_one_send_per_mailbox_per_tick_with_a_gap() -> None:
    s = snap(mailboxes=(mb(1), mb(2), mb(3)), new_leads=new(1, 10))
    plans = plan(s, NOW)
    assert sorted(p.mailbox_id for p in plans) == [1, 2, 3]


def test_limits_hold_with_no_gap() -> None:
    # 3 domains x 2 mailboxes, limit 4 each, domain cap 6: 18 sends, 4/6 split per domain.
    mailboxes = tuple(
        mb(i * 2 + j + 1, domain=f"d{i}.com", daily_limit=4) for i in range(3) for j in range(2)
    )
    domains = tuple(DomainView(f"d{i}.com", daily_limit=6) for i in range(3))
    s = snap(mailboxes=mailboxes, domains=domains, new_leads=new(1, 100), sending=NO_GAP)
    plans = plan(s, NOW)
    assert len(plans) == 18
    assert max(Counter(p.mailbox_id for p in plans).values()) <= 4
    assert Counter(p.domain for p in plans) == {"d0.com": 6, "d1.com": 6, "d2.com": 6}
    assert len({p.lead_id for p in plans}) == 18


def test_rotation_spreads_within_a_tick() -> None:
    s = snap(mailboxes=(mb(1), mb(2), mb(3, sent_today=2)), new_leads=new(1, 7), sending=NO_GAP)
    counts = Counter(p.mailbox_id for p in plan(s, NOW))
    # Fewest sends today first: 1 and 2 catch up with 3, then all three take turns.
    assert counts == {1: 3, 2: 3, 3: 1}


def test_campaigns_share_fairly_and_the_behind_one_starts() -> None:
    s = snap(
        mailboxes=tuple(mb(i) for i in range(1, 6)),
        campaigns=(camp(1, sent_today=10), camp(2, sent_today=3)),
        new_leads=new(1, 10) + new(2, 10, first=100),
    )
    plans = plan(s, NOW)
    assert [p.campaign_id for p in plans] == [2, 1, 2, 1, 2]


def test_campaign_cap_and_window() -> None:
    s = snap(mailboxes=tuple(mb(i) for i in range(1, 6)), campaigns=(camp(1, daily_limit=12,
             sent_today=10),), new_leads=new(1, 10))  # fmt: skip
    assert len(plan(s, NOW)) == 2
    closed = camp(1, window=Window.parse("09:00-10:00"))
    assert plan(snap(campaigns=(closed,), new_leads=new(1, 3)), NOW) == []
    weekend_only = camp(1, days=frozenset({"sat", "sun"}))
    assert plan(snap(campaigns=(weekend_only,), new_leads=new(1, 3)), NOW) == []


def test_warming_mailbox_week_one_only_for_opted_in_campaigns() -> None:
    today = date(2026, 11, 27)
    week1 = mb(1, state=MailboxState.WARMING, warmup_start=today - timedelta(days=2))
    assert plan(snap(mailboxes=(week1,), new_leads=new(1, 3)), NOW) == []
    opted = camp(1, during_warmup=True)
    assert len(plan(snap(mailboxes=(week1,), campaigns=(opted,), new_leads=new(1, 3)), NOW)) == 1
    full = mb(1, state=MailboxState.WARMING, warmup_start=today - timedelta(days=2), sent_today=7)
    assert plan(snap(mailboxes=(full,), campaigns=(opted,), new_leads=new(1, 3)), NOW) == []


def test_domain_cooldown_and_resting_mailbox_send_nothing() -> None:
    cooling = DomainView("x.com", state=DomainState.COOLDOWN)
    assert plan(snap(domains=(cooling,), new_leads=new(1, 3)), NOW) == []
    resting = mb(1, resting_until=NOW + timedelta(hours=5))
    assert plan(snap(mailboxes=(resting,), new_leads=new(1, 3)), NOW) == []


@settings(max_examples=200, deadline=None)
@given(
    limits=st.lists(st.integers(0, 6), min_size=1, max_size=6),
    sent=st.lists(st.integers(0, 8), min_size=6, max_size=6),
    domain_caps=st.lists(st.one_of(st.none(), st.integers(0, 10)), min_size=2, max_size=2),
    campaign_caps=st.lists(st.one_of(st.none(), st.integers(0, 10)), min_size=2, max_size=2),
    leads=st.integers(0, 40),
    gap=st.booleans(),
)
def test_plan_never_exceeds_any_cap(
    limits: list[int],
    sent: list[int],
    domain_caps: list[int | None],
    campaign_caps: list[int | None],
    leads: int,
    gap: bool,
) -> None:
    mailboxes = tuple(
        mb(i + 1, domain=f"d{i % 2}.com", daily_limit=max(lim, 1), sent_today=sent[i])
        for i, lim in enumerate(limits)
    )
    domains = tuple(
        DomainView(f"d{i}.com", daily_limit=cap, sent_today=sum(
            m.sent_today for m in mailboxes if m.domain == f"d{i}.com"))
        for i, cap in enumerate(domain_caps)
    )  # fmt: skip
    campaigns = tuple(camp(i + 1, daily_limit=cap) for i, cap in enumerate(campaign_caps))
    policy = SendingPolicy(min_gap_seconds=300 if gap else 0, jitter_seconds=0)
    s = snap(
        mailboxes=mailboxes, domains=domains, campaigns=campaigns, sending=policy,
        new_leads=new(1, leads) + new(2, leads, first=1000),
    )  # fmt: skip
    plans = plan(s, NOW)
    per_mailbox = Counter(p.mailbox_id for p in plans)
    for m in mailboxes:
        assert m.sent_today + per_mailbox[m.id] <= max(m.daily_limit, m.sent_today)
        if gap:
            assert per_mailbox[m.id] <= 1
    per_domain = Counter(p.domain for p in plans)
    for d in domains:
        if d.daily_limit is not None:
            assert per_domain[d.name] == 0 or d.sent_today + per_domain[d.name] <= d.daily_limit
    per_campaign = Counter(p.campaign_id for p in plans)
    for c in campaigns:
        if c.daily_limit is not None:
            assert per_campaign[c.id] <= c.daily_limit
    assert len({(p.lead_id, p.step_no) for p in plans}) == len(plans)


def _plan_scanning_every_mailbox(s: Snapshot, now: datetime) -> list[tuple[int, int]]:
    """The former planner: every mailbox looked at again for each new thread (the reference)."""
    budget = planner._Budget(s, now)
    plans: list[tuple[int, int]] = []
    for step in s.followups:
        box = budget.mailboxes.get(step.mailbox_id) if step.mailbox_id is not None else None
        if box is None or not budget.campaign_open(step.campaign_id):
            continue
        if budget.mailbox_allowed(box, budget.campaigns[step.campaign_id]):
            budget.spend(box, step.campaign_id)
            plans.append((step.lead_id, box.id))
    queues: dict[int, deque[DueStep]] = {}
    for step in s.new_leads:
        if budget.campaign_open(step.campaign_id):
            queues.setdefault(step.campaign_id, deque()).append(step)
    order = deque(sorted(queues, key=lambda cid: (budget.campaigns[cid].sent_today, cid)))
    while order:
        cid = order.popleft()
        if not queues[cid] or not budget.campaign_open(cid):
            continue
        campaign = budget.campaigns[cid]
        every = [m for m in budget.mailboxes.values() if budget.mailbox_allowed(m, campaign)]
        box = rotation.choose(every)
        if box is None:
            continue
        step = queues[cid].popleft()
        budget.spend(box, cid)
        plans.append((step.lead_id, box.id))
        order.append(cid)
    return plans


@settings(max_examples=150, deadline=None)
@given(
    boxes=st.lists(
        st.tuples(
            st.integers(0, 3),  # domain
            st.integers(0, 5),  # sent today
            st.sampled_from(["ready", "gap", "resting", "week1", "paused"]),
            st.integers(0, 3),  # bounces in 100
        ),
        min_size=1,
        max_size=30,
    ),
    domain_caps=st.lists(st.one_of(st.none(), st.integers(0, 12)), min_size=4, max_size=4),
    campaign_caps=st.lists(st.one_of(st.none(), st.integers(0, 15)), min_size=3, max_size=3),
    leads=st.integers(0, 25),
    gap=st.booleans(),
    opted=st.booleans(),
)
def test_plan_is_the_plan_of_looking_at_every_mailbox(
    boxes: list[tuple[int, int, str, int]],
    domain_caps: list[int | None],
    campaign_caps: list[int | None],
    leads: int,
    gap: bool,
    opted: bool,
) -> None:
    today = date(2026, 11, 27)
    shapes: dict[str, dict[str, object]] = {
        "ready": {},
        "gap": {"next_send_at": NOW + timedelta(minutes=3)},
        "resting": {"resting_until": NOW + timedelta(hours=1)},
        "week1": {"state": MailboxState.WARMING, "warmup_start": today - timedelta(days=1)},
        "paused": {"state": MailboxState.PAUSED},
    }
    mailboxes = tuple(
        mb(i + 1, domain=f"d{d}.com", daily_limit=5, sent_today=sent, bounce_rate=rate / 100,
           last_sent_at=NOW - timedelta(minutes=i % 7), **shapes[shape])
        for i, (d, sent, shape, rate) in enumerate(boxes)
    )  # fmt: skip
    domains = tuple(DomainView(f"d{i}.com", daily_limit=cap) for i, cap in enumerate(domain_caps))
    campaigns = tuple(
        camp(i + 1, daily_limit=cap, during_warmup=opted and i == 0)
        for i, cap in enumerate(campaign_caps)
    )
    followups = tuple(
        DueStep(5000 + i, 1 + i % 3, 2, mailbox_id=1 + (i * 7) % len(boxes)) for i in range(8)
    )
    s = snap(
        mailboxes=mailboxes, domains=domains, campaigns=campaigns, followups=followups,
        new_leads=new(1, leads) + new(2, leads, first=1000) + new(3, leads, first=2000),
        sending=SendingPolicy(min_gap_seconds=300 if gap else 0, jitter_seconds=0),
    )  # fmt: skip
    assert [(p.lead_id, p.mailbox_id) for p in plan(s, NOW)] == _plan_scanning_every_mailbox(s, NOW)


def test_planning_looks_at_the_mailboxes_that_may_send_not_at_all_of_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 5,000 mailboxes, 11 of them due: a new thread must not look at all 5,000 again (the
    # former planner asked mailbox_ready 5,000 times per new lead, seconds a tick at scale).
    due = set(range(1, 5001, 450))
    mailboxes = tuple(
        mb(i, domain=f"d{i % 800}.com",
           next_send_at=None if i in due else NOW + timedelta(minutes=1 + i % 7))
        for i in range(1, 5001)
    )  # fmt: skip
    domains = tuple(DomainView(f"d{i}.com") for i in range(800))
    s = snap(
        mailboxes=mailboxes, domains=domains, campaigns=(camp(1), camp(2)),
        new_leads=new(1, 200) + new(2, 200, first=1000),
    )  # fmt: skip
    asked = Counter[int]()
    ready = limits.mailbox_ready

    def counted(mailbox: MailboxView, now: datetime) -> bool:
        asked[mailbox.id] += 1
        return ready(mailbox, now)

    monkeypatch.setattr(limits, "mailbox_ready", counted)
    plans = plan(s, NOW)
    assert sorted(p.mailbox_id for p in plans) == sorted(due)
    # Once each to find who may send, then only the due ones, once per planned thread at most.
    assert all(asked[i] == 1 for i in range(1, 5001) if i not in due)
    assert max(asked[i] for i in due) <= 2 + len(plans)


def test_campaigns_fill_only_what_the_warmup_loop_leaves() -> None:
    # Cap 40; the loop keeps 6 today and has sent 2 of them; campaigns have sent 30.
    box = mb(1, sent_today=32, warmup_volume=6, warmup_sent=2)
    today = NOW.date()
    assert limits.campaign_room(box, today, snap().warmup) == 4
    s = snap(mailboxes=(box,), sending=NO_GAP, new_leads=new(1, 20))
    assert len(plan(s, NOW)) == 4
    # The loop sent more than it kept (answers next morning): the cap still bounds the sum.
    over = mb(1, sent_today=38, warmup_volume=4, warmup_sent=8)
    assert limits.campaign_room(over, today, snap().warmup) == 2


def test_a_mailbox_held_for_low_placement_takes_no_campaign_mail() -> None:
    held = mb(1, placement_hold=True)
    s = snap(mailboxes=(held, mb(2)), sending=NO_GAP, new_leads=new(1, 5))
    assert {p.mailbox_id for p in plan(s, NOW)} == {2}
    follow = snap(mailboxes=(held,), followups=(DueStep(9, 1, 2, mailbox_id=1),))
    assert plan(follow, NOW) == []


def test_campaigns_leave_a_capped_domain_the_loop_s_pending_share() -> None:
    domain = DomainView("x.com", daily_limit=20, sent_today=10, warmup_pending=6)
    assert limits.domain_room(domain) == 4
    s = snap(mailboxes=(mb(1), mb(2)), domains=(domain,), sending=NO_GAP, new_leads=new(1, 20))
    assert len(plan(s, NOW)) == 4
    assert limits.domain_room(DomainView("y.com", warmup_pending=6)) is None  # uncapped
    assert limits.domain_room(DomainView("z.com", daily_limit=5, warmup_pending=9)) == 0
