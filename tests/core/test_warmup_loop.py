"""The warm-up loop's day: volumes inside the cap, a spread plan, replies at a human pace."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from core import limits
from core.models import MailboxState, MailboxView, WarmupPolicy, Window
from core.warmup_loop import (
    DEFAULT_WINDOW,
    REPLY_DELAY_MAX,
    REPLY_DELAY_MIN,
    PlannedWarmup,
    answers,
    day_plan,
    maintenance_volume,
    reply_plan,
    warmup_volume,
    window_bounds,
)
from core.warmup_mail import Party, Received

POLICY = WarmupPolicy()
START = date(2026, 12, 1)  # a Tuesday
GAP = timedelta(seconds=300)
NO_REPLIES = WarmupPolicy(reply_rate=0.0)


def campaign_allowance(
    mailbox: MailboxView, today: date, policy: WarmupPolicy, *, during_warmup: bool
) -> int:
    """Campaign mail the planner allows a mailbox on a fresh day once the loop took its share."""
    if not limits.takes_campaign_mail(mailbox, today, policy, during_warmup=during_warmup):
        return 0
    volume = warmup_volume(mailbox, today, policy, week1_campaigns=during_warmup)
    return limits.campaign_room(dataclasses.replace(mailbox, warmup_volume=volume), today, policy)


SEEDS = ("seed.one@example.org", "seed.two@example.net")


def box(
    id_: int,
    address: str,
    *,
    state: MailboxState = MailboxState.ACTIVE,
    limit: int = 40,
    warmup_start: date | None = None,
) -> MailboxView:
    return MailboxView(
        id=id_,
        address=address,
        domain=address.rpartition("@")[2],
        state=state,
        daily_limit=limit,
        warmup_start=warmup_start,
    )


NEW = box(1, "new@brand-news.com", state=MailboxState.WARMING, warmup_start=START)
POOL = (
    NEW,
    box(2, "alex@brand-news.com"),
    box(3, "sam@brand-mail.com"),
    box(4, "kim@brand-mail.com", state=MailboxState.WARMING, warmup_start=START - timedelta(9)),
    box(5, "off@brand-mail.com", state=MailboxState.PAUSED),
)


def plan(day: date, seed: int = 1, *, week1_campaigns: bool = False) -> list[PlannedWarmup]:
    return day_plan(
        POOL,
        SEEDS,
        day,
        DEFAULT_WINDOW,
        random.Random(seed),
        policy=POLICY,
        min_gap=GAP,
        week1_campaigns=week1_campaigns,
    )


def test_day_1_of_a_new_mailbox_plans_5_warmup_mails_and_allows_no_campaign_mail() -> None:
    assert warmup_volume(NEW, START, POLICY) == 5
    assert campaign_allowance(NEW, START, POLICY, during_warmup=False) == 0
    mine = [p for p in plan(START) if p.sender == NEW.address]
    assert len(mine) == 5  # answers later take the place of some (storage/warmup.py)
    assert all(p.mailbox_id == NEW.id for p in mine)


def test_day_8_sends_at_most_12_in_total_most_of_it_warmup() -> None:
    day8 = START + timedelta(days=7)
    volume = warmup_volume(NEW, day8, POLICY)
    allowance = campaign_allowance(NEW, day8, POLICY, during_warmup=False)
    assert (volume, allowance) == (10, 2)
    assert volume + allowance <= 12
    assert len([p for p in plan(day8) if p.sender == NEW.address]) == 10


def test_week_1_gives_a_during_warmup_campaign_the_smaller_half() -> None:
    assert warmup_volume(NEW, START, POLICY, week1_campaigns=True) == 3
    assert campaign_allowance(NEW, START, POLICY, during_warmup=True) == 2
    mine = [p for p in plan(START, week1_campaigns=True) if p.sender == NEW.address]
    assert len(mine) == 3


@pytest.mark.parametrize("limit", [1, 3, 5, 12, 25, 40, 120])
@pytest.mark.parametrize("during_warmup", [False, True])
def test_warmup_and_campaign_mail_never_exceed_the_cap(limit: int, during_warmup: bool) -> None:
    for state in MailboxState:
        for offset in range(0, 40):
            today = START + timedelta(days=offset)
            mailbox = box(9, "m@x.com", state=state, limit=limit, warmup_start=START)
            cap = limits.mailbox_cap(mailbox, today, POLICY)
            volume = warmup_volume(mailbox, today, POLICY, week1_campaigns=during_warmup)
            allowance = campaign_allowance(mailbox, today, POLICY, during_warmup=during_warmup)
            assert 0 <= volume <= cap
            assert allowance >= 0
            assert volume + allowance <= cap
            if state in {MailboxState.ACTIVE, MailboxState.WARMING}:
                assert volume >= 1  # a sending mailbox always keeps some warm-up traffic


def test_warm_mailboxes_keep_the_maintenance_share_at_least_one() -> None:
    assert maintenance_volume(40, POLICY) == 4
    assert maintenance_volume(45, POLICY) == 5  # 4.5 rounds half up
    assert maintenance_volume(3, POLICY) == 1
    assert maintenance_volume(0, POLICY) == 0
    assert warmup_volume(box(2, "a@x.com"), START, POLICY) == 4
    assert campaign_allowance(box(2, "a@x.com"), START, POLICY, during_warmup=False) == 36
    share = WarmupPolicy(maintenance_share=0.25)
    assert warmup_volume(box(2, "a@x.com", limit=120), START, share) == 30


@pytest.mark.parametrize(
    "state", [MailboxState.PAUSED, MailboxState.COOLDOWN, MailboxState.DISABLED]
)
def test_a_mailbox_that_may_not_send_plans_nothing(state: MailboxState) -> None:
    mailbox = box(7, "p@x.com", state=state, warmup_start=START)
    assert warmup_volume(mailbox, START, POLICY) == 0
    assert campaign_allowance(mailbox, START, POLICY, during_warmup=True) == 0
    assert not [p for p in plan(START) if p.sender == "off@brand-mail.com"]


def test_phase_2_keeps_the_last_week_1_volume_until_warm() -> None:
    volumes = [warmup_volume(NEW, START + timedelta(days=d), POLICY) for d in range(16)]
    caps = [limits.mailbox_cap(NEW, START + timedelta(days=d), POLICY) for d in range(16)]
    assert caps[:7] == volumes[:7] == [5, 6, 7, 8, 8, 9, 10]
    assert volumes[7:14] == [10] * 7
    assert caps[7:14] == [12, 14, 17, 20, 24, 29, 35]


def test_nothing_is_planned_outside_the_window_and_a_sender_keeps_its_gap() -> None:
    for seed in range(20):
        for day in (START, START + timedelta(days=8)):
            start, end = window_bounds(day, DEFAULT_WINDOW, "UTC")
            planned = plan(day, seed)
            assert planned
            assert all(start <= p.not_before < end for p in planned)
            by_sender: dict[str, list[datetime]] = {}
            for p in planned:
                by_sender.setdefault(p.sender, []).append(p.not_before)
            for times in by_sender.values():
                times.sort()
                assert all(b - a >= GAP for a, b in zip(times, times[1:], strict=False))


def test_mails_are_spread_over_the_whole_window_not_a_burst() -> None:
    start, end = window_bounds(START, DEFAULT_WINDOW, "UTC")
    active = box(2, "alex@brand-news.com", limit=400)  # maintenance 40 mails
    planned = day_plan(
        (active, *POOL[2:4]),
        SEEDS,
        START,
        DEFAULT_WINDOW,
        random.Random(3),
        policy=NO_REPLIES,
        min_gap=GAP,
    )
    mine = sorted(p.not_before for p in planned if p.sender == active.address)
    assert len(mine) == 40
    hours = Counter((t - start) // timedelta(hours=1) for t in mine)
    assert set(hours) == set(range(10))  # every hour of the 10-hour window has mail
    assert max(hours.values()) <= 5
    assert mine[-1] - mine[0] > (end - start) * 0.8


def test_a_window_in_a_dst_zone_is_kept_on_the_day_clocks_change() -> None:
    change = date(2026, 3, 29)  # Europe/Berlin springs forward at 02:00
    window = Window(9 * 60, 17 * 60)
    start, end = window_bounds(change, window, "Europe/Berlin")
    assert (start, end) == (
        datetime(2026, 3, 29, 7, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 15, 0, tzinfo=UTC),
    )
    planned = day_plan(
        POOL,
        SEEDS,
        change,
        window,
        random.Random(1),
        policy=POLICY,
        min_gap=GAP,
        tz="Europe/Berlin",
    )
    assert planned and all(start <= p.not_before < end for p in planned)
    midnight, next_midnight = window_bounds(change, Window(0, 24 * 60), "Europe/Berlin")
    assert next_midnight - midnight == timedelta(hours=23)


def test_recipients_prefer_another_domain_never_itself_and_rotate() -> None:
    for seed in range(10):
        for p in plan(START + timedelta(days=8), seed):
            assert p.recipient != p.sender
            assert p.recipient.rpartition("@")[2] != p.sender.rpartition("@")[2]
    # The warm mailbox's 4 new mails go to different recipients, of 3 other-domain boxes and
    # 2 seeds.
    alex = [p.recipient for p in plan(START) if p.sender == "alex@brand-news.com"]
    assert len(alex) == len(set(alex)) == 4


def test_a_large_pool_draws_distinct_recipients_of_other_domains() -> None:
    # 600 new mailboxes, three a domain, half of them readable, and a seed that is also a
    # pool mailbox: each of day 1's 5 mails goes to a different reader of another domain or
    # a seed, never to itself; the same seed gives the same plan.
    pool = [
        box(n, f"m{n}@d{n // 3}.com", state=MailboxState.WARMING, warmup_start=START)
        for n in range(600)
    ]
    readers = {m.address for m in pool if m.id % 2 == 0}
    seeds = ("seed@seeds.org", "m1@d0.com")

    def run(seed: int) -> list[PlannedWarmup]:
        return day_plan(
            pool, seeds, START, DEFAULT_WINDOW, random.Random(seed), policy=POLICY, min_gap=GAP,
            receivers=readers,
        )  # fmt: skip

    planned = run(3)
    assert planned == run(3)
    by_sender: dict[str, list[str]] = {}
    for p in planned:
        by_sender.setdefault(p.sender, []).append(p.recipient)
    assert len(by_sender) == 600 and all(len(r) == len(set(r)) == 5 for r in by_sender.values())
    for sender, recipients in by_sender.items():
        domain = sender.rpartition("@")[2]
        for recipient in recipients:
            assert recipient != sender
            assert recipient in seeds or (
                recipient in readers and recipient.rpartition("@")[2] != domain
            )
    # Spread over the pool, not a few favourites: 3,000 mails reach most of the 302 inboxes.
    assert len({p.recipient for p in planned}) > 250


def test_a_single_domain_pool_without_seeds_writes_within_its_domain() -> None:
    pool = (box(1, "a@one.com"), box(2, "b@one.com"))
    planned = day_plan(
        pool, (), START, DEFAULT_WINDOW, random.Random(1), policy=POLICY, min_gap=GAP
    )
    assert {(p.sender, p.recipient) for p in planned} == {
        ("a@one.com", "b@one.com"),
        ("b@one.com", "a@one.com"),
    }


def test_a_lone_mailbox_without_seeds_plans_nothing() -> None:
    planned = day_plan(
        (NEW,), (), START, DEFAULT_WINDOW, random.Random(1), policy=POLICY, min_gap=GAP
    )
    assert planned == []


def test_a_window_too_short_for_the_gaps_plans_only_what_fits() -> None:
    short = Window(9 * 60, 9 * 60 + 12)  # 12 minutes: two mails 5 minutes apart fit, not three
    planned = day_plan(
        (box(2, "a@one.com", limit=400), box(3, "b@two.com")),
        (),
        START,
        short,
        random.Random(1),
        policy=POLICY,
        min_gap=GAP,
    )
    assert len([p for p in planned if p.sender == "a@one.com"]) == 2


def test_each_mailbox_plans_its_whole_volume_as_new_mails() -> None:
    for offset in (0, 3, 8, 20):
        day = START + timedelta(days=offset)
        sent = Counter(p.sender for p in plan(day, offset))
        for mailbox in POOL:
            volume = warmup_volume(mailbox, day, POLICY)
            assert volume <= limits.mailbox_cap(mailbox, day, POLICY)
            expected = 0 if mailbox.state is MailboxState.PAUSED else volume
            assert sent[mailbox.address] == expected


def test_the_plan_is_deterministic_for_a_seed() -> None:
    day = START + timedelta(days=3)
    assert plan(day, 7) == plan(day, 7)
    assert plan(day, 7) != plan(day, 8)


def received(
    count: int, rng: random.Random, receiver: str = "sam@brand-mail.com"
) -> list[Received]:
    return [
        Received(
            f"<{rng.getrandbits(128):032x}@brand-news.com>",
            "Lunch",
            Party("alex@brand-news.com"),
            Party(receiver),
        )
        for _ in range(count)
    ]


def test_the_reply_share_is_within_two_points_of_reply_rate() -> None:
    mails = received(5000, random.Random(1))
    for rate in (0.1, 0.3, 0.5):
        planned = reply_plan(mails, rate, random.Random(2), datetime(2026, 12, 1, 9, tzinfo=UTC))
        assert abs(len(planned) / len(mails) - rate) <= 0.02
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert reply_plan(mails, 0.0, random.Random(2), now) == []
    assert len(reply_plan(mails, 1.0, random.Random(2), now)) == len(mails)


def test_the_decision_to_answer_is_stable_for_a_message() -> None:
    mails = received(200, random.Random(4))
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    first = {p.original.message_id for p in reply_plan(mails, 0.3, random.Random(1), now)}
    again = {p.original.message_id for p in reply_plan(mails, 0.3, random.Random(99), now)}
    assert first == again
    assert all(answers(m, 0.3) for m in first)


def test_replies_come_after_a_human_delay_inside_the_window() -> None:
    window = Window(9 * 60, 17 * 60)
    mails = received(400, random.Random(5))
    # Mid-morning: most answers land the same day, 20 min to 4 h later.
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    planned = reply_plan(mails, 1.0, random.Random(6), now, window=window)
    delays = [p.at - now for p in planned]
    assert all(REPLY_DELAY_MIN <= d <= REPLY_DELAY_MAX for d in delays)
    assert min(delays) < timedelta(minutes=40) and max(delays) > timedelta(hours=3)
    # Evening: nothing goes out at night; answers wait for the next morning's window.
    evening = datetime(2026, 12, 1, 16, 50, tzinfo=UTC)
    late = reply_plan(mails, 1.0, random.Random(6), evening, window=window)
    start, end = window_bounds(date(2026, 12, 2), window, "UTC")
    assert all(p.at >= evening + REPLY_DELAY_MIN for p in late)
    assert all(start <= p.at < start + timedelta(hours=1) for p in late)
    for p in (*planned, *late):
        assert window.contains(p.at.time())
    assert [p.at for p in late] == sorted(p.at for p in late)


def test_replies_in_another_zone_follow_its_window() -> None:
    window = Window(9 * 60, 17 * 60)
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 22:00 in New York the day before
    planned = reply_plan(
        received(50, random.Random(8)),
        1.0,
        random.Random(1),
        now,
        window=window,
        tz="America/New_York",
    )
    start, _ = window_bounds(date(2026, 12, 1), window, "America/New_York")
    assert all(start <= p.at < start + timedelta(hours=1) for p in planned)


def test_a_receiver_answers_no_more_than_it_may_still_send() -> None:
    mails = received(30, random.Random(9)) + received(30, random.Random(10), "kim@brand-mail.com")
    now = datetime(2026, 12, 1, 10, tzinfo=UTC)
    planned = reply_plan(
        mails, 1.0, random.Random(1), now, left={"sam@brand-mail.com": 3, "kim@brand-mail.com": 0}
    )
    counts = Counter(p.original.receiver.address for p in planned)
    assert counts == {"sam@brand-mail.com": 3}


def test_reply_plans_are_deterministic_for_a_seed() -> None:
    mails = received(100, random.Random(11))
    now = datetime(2026, 12, 1, 10, tzinfo=UTC)
    assert reply_plan(mails, 0.3, random.Random(5), now) == reply_plan(
        mails, 0.3, random.Random(5), now
    )


def test_only_the_receivers_given_among_the_pool_get_warmup_mail() -> None:
    readable = {"alex@brand-news.com"}
    planned = day_plan(
        POOL, (), START, DEFAULT_WINDOW, random.Random(1), policy=POLICY, min_gap=GAP,
        receivers=readable,
    )  # fmt: skip
    assert planned
    assert {p.recipient for p in planned} == readable
    assert "alex@brand-news.com" not in {p.sender for p in planned}  # nobody else to write to
