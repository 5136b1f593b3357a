"""plan(snapshot, now): SPEC 6 rules composed."""

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

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
