"""Daily boundaries, windows and per-mailbox caps (SPEC 6.1-6.5)."""

from datetime import UTC, date, datetime, timedelta

import pytest

from core import limits
from core.models import (
    CampaignState,
    CampaignView,
    DomainState,
    DomainView,
    MailboxState,
    MailboxView,
    SendingPolicy,
    WarmupPolicy,
    Window,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type,misc]


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        # Berlin leaves summer time on 2026-10-25 at 01:00 UTC (03:00 CEST -> 02:00 CET).
        (utc(2026, 10, 24, 21, 59), date(2026, 10, 24)),  # 23:59 CEST
        (utc(2026, 10, 24, 22, 0), date(2026, 10, 25)),  # 00:00 CEST
        (utc(2026, 10, 25, 22, 59), date(2026, 10, 25)),  # 23:59 CET: a 25-hour day
        (utc(2026, 10, 25, 23, 0), date(2026, 10, 26)),
        # Berlin enters summer time on 2026-03-29 at 01:00 UTC.
        (utc(2026, 3, 28, 22, 59), date(2026, 3, 28)),  # 23:59 CET
        (utc(2026, 3, 28, 23, 0), date(2026, 3, 29)),
        (utc(2026, 3, 29, 21, 59), date(2026, 3, 29)),  # 23:59 CEST: a 23-hour day
        (utc(2026, 3, 29, 22, 0), date(2026, 3, 30)),
    ],
)
def test_day_boundary_across_dst(moment: datetime, day: date) -> None:
    assert limits.local_day(moment, "Europe/Berlin") == day


def test_day_bounds_are_23_or_25_hours_on_dst_days() -> None:
    start, end = limits.day_bounds(date(2026, 10, 25), "Europe/Berlin")
    assert (start, end) == (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    assert end - start == timedelta(hours=25)
    start, end = limits.day_bounds(date(2026, 3, 29), "Europe/Berlin")
    assert end - start == timedelta(hours=23)
    start, end = limits.day_bounds(date(2026, 11, 27), "Europe/Berlin")
    assert end - start == timedelta(hours=24)


def campaign(**kw: object) -> CampaignView:
    base: dict[str, object] = {
        "id": 1,
        "name": "q4",
        "timezone": "America/New_York",
        "days": frozenset({"mon", "tue", "wed", "thu", "fri"}),
        "window": Window.parse("09:00-17:00"),
    }
    base.update(kw)
    return CampaignView(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        # Fri 2026-11-27; New York is UTC-5 (EST), Berlin (the sending zone) UTC+1.
        (utc(2026, 11, 27, 13, 59), False),  # 08:59 NY, already 14:59 in Berlin
        (utc(2026, 11, 27, 14, 0), True),  # 09:00 NY: start included
        (utc(2026, 11, 27, 21, 59), True),  # 16:59 NY, 22:59 in Berlin
        (utc(2026, 11, 27, 22, 0), False),  # 17:00 NY: end excluded
        (utc(2026, 11, 28, 3, 0), False),  # Fri 22:00 NY although Sat in Berlin
        (utc(2026, 11, 28, 15, 0), False),  # Sat 10:00 NY: not a campaign day
        (utc(2026, 11, 30, 14, 30), True),  # Mon 09:30 NY
        # US summer time ends Sun 2026-11-01; Fri 2026-10-30 is EDT (UTC-4).
        (utc(2026, 10, 30, 13, 0), True),  # 09:00 EDT
        (utc(2026, 11, 2, 13, 0), False),  # Mon 08:00 EST: same UTC hour, now outside
        (utc(2026, 11, 2, 14, 0), True),  # Mon 09:00 EST
    ],
)
def test_campaign_window_in_its_own_timezone(moment: datetime, inside: bool) -> None:
    assert limits.in_window(campaign(), moment) is inside
    assert limits.local_day(moment, "Europe/Berlin") is not None


def test_all_day_window() -> None:
    c = campaign(window=Window.parse("00:00-24:00"), timezone="UTC")
    assert limits.in_window(c, utc(2026, 11, 27, 0, 0))
    assert limits.in_window(c, utc(2026, 11, 27, 23, 59))


@pytest.mark.parametrize(
    "text", ["17:00-09:00", "09:00-09:00", "9-17", "09:00", "25:00-26:00", "09:60-10:00", "x"]
)
def test_bad_windows_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Window.parse(text)


def mailbox(**kw: object) -> MailboxView:
    base: dict[str, object] = {
        "id": 1,
        "address": "a@x.com",
        "domain": "x.com",
        "state": MailboxState.ACTIVE,
        "daily_limit": 40,
    }
    base.update(kw)
    return MailboxView(**base)  # type: ignore[arg-type]


POLICY = WarmupPolicy()
TODAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    ("state", "start", "cap"),
    [
        (MailboxState.ACTIVE, None, 40),
        (MailboxState.WARMING, TODAY, 5),  # day 1
        (MailboxState.WARMING, TODAY - timedelta(days=9), 17),  # day 10
        (MailboxState.WARMING, None, 40),  # warming with no start date: its own limit
        (MailboxState.PAUSED, None, 0),
        (MailboxState.COOLDOWN, None, 0),
        (MailboxState.DISABLED, None, 0),
    ],
)
def test_mailbox_cap(state: MailboxState, start: date | None, cap: int) -> None:
    mb = mailbox(state=state, warmup_start=start)
    assert limits.mailbox_cap(mb, TODAY, POLICY) == cap
    assert limits.mailbox_left(
        mailbox(state=state, warmup_start=start, sent_today=3), TODAY, POLICY
    ) == max(0, cap - 3)


def test_mailbox_ready_respects_gap_and_rest() -> None:
    now = utc(2026, 11, 27, 12)
    assert limits.mailbox_ready(mailbox(), now)
    assert limits.mailbox_ready(mailbox(next_send_at=now), now)
    assert not limits.mailbox_ready(mailbox(next_send_at=now + timedelta(seconds=1)), now)
    assert not limits.mailbox_ready(mailbox(resting_until=now + timedelta(hours=1)), now)
    assert not limits.mailbox_ready(mailbox(state=MailboxState.PAUSED), now)
    assert limits.mailbox_ready(mailbox(state=MailboxState.WARMING), now)


def test_week_one_is_warmup_traffic_only() -> None:
    day3 = mailbox(state=MailboxState.WARMING, warmup_start=TODAY - timedelta(days=2))
    day8 = mailbox(state=MailboxState.WARMING, warmup_start=TODAY - timedelta(days=7))
    assert not limits.takes_campaign_mail(day3, TODAY, POLICY, during_warmup=False)
    assert limits.takes_campaign_mail(day3, TODAY, POLICY, during_warmup=True)
    assert limits.takes_campaign_mail(day8, TODAY, POLICY, during_warmup=False)
    assert limits.takes_campaign_mail(mailbox(), TODAY, POLICY, during_warmup=False)


def test_domain_and_campaign_left() -> None:
    assert limits.domain_left(DomainView("x.com")) is None
    assert limits.domain_left(DomainView("x.com", daily_limit=6, sent_today=4)) == 2
    assert limits.domain_left(DomainView("x.com", daily_limit=6, sent_today=9)) == 0
    assert limits.domain_left(DomainView("x.com", state=DomainState.COOLDOWN)) == 0
    assert limits.campaign_left(campaign()) is None
    assert limits.campaign_left(campaign(daily_limit=10, sent_today=7)) == 3
    assert limits.campaign_left(campaign(state=CampaignState.PAUSED)) == 0


def test_next_send_at_adds_gap_and_drawn_jitter() -> None:
    now = utc(2026, 11, 27, 12)
    policy = SendingPolicy(min_gap_seconds=300, jitter_seconds=240)
    assert limits.next_send_at(now, policy, 0.0) == now + timedelta(seconds=300)
    assert limits.next_send_at(now, policy, 0.5) == now + timedelta(seconds=420)
