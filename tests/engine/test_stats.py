"""engine/stats.py and engine/cost.py over a real SQLite file."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.parsing import DEFAULT_DAYS
from core.models import EventKind
from core.records import NewEvent
from engine.cost import gather_cost
from engine.stats import gather_stats
from engine.status import DomainDetail, MailboxDetail, gather_detail
from tests.bot.data_world import T0, TZ, data_world


async def test_counts_per_local_day(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        # 00:30 in Berlin on the 23rd is still the 22nd in UTC: it belongs to the 23rd.
        await w.add_sends("m0@d0.test", datetime(2026, 11, 22, 23, 30, tzinfo=UTC), n=3)
        # 23:30 in Berlin on the 22nd.
        await w.add_sends("m1@d0.test", datetime(2026, 11, 22, 22, 30, tzinfo=UTC), n=2)
        await w.add_sends("m0@d1.test", datetime(2026, 11, 20, 9, 0, tzinfo=UTC), n=5)
        # Outside the 14 days: not counted.
        await w.add_sends("m0@d1.test", datetime(2026, 11, 1, 9, 0, tzinfo=UTC), n=7)
        at = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
        await w.add_event(EventKind.BOUNCE_HARD, at, mailbox="m0@d0.test")
        await w.add_event(EventKind.COMPLAINT, at, mailbox="m0@d0.test")
        await w.add_event(EventKind.REPLY, at - timedelta(days=1), mailbox="m0@d0.test")
        await w.add_event(EventKind.REPLY, at - timedelta(days=1), mailbox="m1@d0.test")
        await w.add_event(EventKind.OPEN, at, mailbox="m0@d0.test")  # not charted

        report = await gather_stats(w.stores.reports, w.clock, TZ, DEFAULT_DAYS)

    assert len(report.days) == 14
    assert report.days[0].day == date(2026, 11, 10)
    assert report.days[-1].day == date(2026, 11, 23)
    by_day = {d.day.day: d for d in report.days}
    assert (by_day[23].sent, by_day[23].bounces, by_day[23].complaints) == (3, 1, 1)
    assert (by_day[22].sent, by_day[22].replies) == (2, 2)
    assert by_day[20].sent == 5
    total = report.total()
    assert (total.sent, total.bounces, total.complaints, total.replies) == (10, 1, 1, 2)


async def test_the_same_bounce_from_two_sources_counts_once(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        await w.add_sends("m0@d0.test", T0 - timedelta(hours=1))
        send_id = int(list(await w.conn.execute_fetchall("SELECT id FROM sends"))[0][0])
        for source in ("smtp", "imap"):
            await w.stores.events.add_event(NewEvent(
                source=source, source_id="b1", kind=EventKind.BOUNCE_HARD, occurred_at=T0,
                received_at=T0, send_id=send_id,
            ))  # fmt: skip
        report = await gather_stats(w.stores.reports, w.clock, TZ, 1)
    assert [(d.sent, d.bounces) for d in report.days] == [(1, 1)]


async def test_cost_of_this_month_from_real_sends(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        # 22 full November days before the 23rd, 100 a day; 40 so far today; October ignored.
        for day in range(1, 23):
            await w.add_sends("m0@d0.test", datetime(2026, 11, day, 10, tzinfo=UTC), n=100)
        await w.add_sends("m0@d0.test", T0 - timedelta(hours=2), n=40)
        await w.add_sends("m0@d0.test", datetime(2026, 10, 31, 12, tzinfo=UTC), n=999)
        est = await gather_cost(w.ctx)
    assert est.sent_so_far == 22 * 100 + 40
    assert est.daily_average == 100
    assert est.projected == 2200 + 100 + 7 * 100  # today counts as the average, 7 days left
    assert est.domains == 2
    assert est.esp == pytest.approx(3.0 * 0.10)
    assert est.total == pytest.approx(0.30 + 2 + 7)


async def test_status_of_a_mailbox_and_a_domain_shows_window_rates(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        await w.add_sends("m0@d0.test", T0 - timedelta(hours=2), n=10)
        await w.add_sends("m1@d0.test", T0 - timedelta(days=2), n=10)
        await w.add_sends("m1@d0.test", T0 - timedelta(days=30), n=50)  # outside the window
        await w.add_event(EventKind.BOUNCE_HARD, T0 - timedelta(hours=1), mailbox="m0@d0.test")
        for _ in range(2):
            await w.add_event(EventKind.REPLY, T0 - timedelta(hours=1), mailbox="m0@d0.test")
        await w.add_event(EventKind.COMPLAINT, T0 - timedelta(days=1), mailbox="m1@d0.test")
        one = await gather_detail(w.stores.reports, w.clock, w.ctx.rules, "m0@d0.test")
        both = await gather_detail(w.stores.reports, w.clock, w.ctx.rules, "d0.test")
    assert isinstance(one, MailboxDetail)
    assert (one.rates.sends, one.rates.bounces, one.rates.replies) == (10, 1, 2)
    assert one.window_days == 7
    assert isinstance(both, DomainDetail)
    assert (both.rates.sends, both.rates.bounces, both.rates.complaints) == (20, 1, 1)


async def test_status_of_a_mailbox_shows_its_placement_and_the_hold(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        await w.add_placements("m0@d0.test", "m1@d1.test", T0 - timedelta(days=6), inbox=9, spam=3)
        # Before the 7 days the hold is judged on, and another sender's.
        await w.add_placements(
            "m0@d0.test", "m1@d1.test", T0 - timedelta(days=7, seconds=1), spam=20
        )
        await w.add_placements("m1@d0.test", "m0@d0.test", T0, spam=5)
        await w.hold("m0@d0.test")
        held = await gather_detail(w.stores.reports, w.clock, w.ctx.rules, "m0@d0.test")
        other = await gather_detail(w.stores.reports, w.clock, w.ctx.rules, "m1@d1.test")
    assert isinstance(held, MailboxDetail)
    assert (held.placement_inbox, held.placement_spam, held.placement_hold) == (9, 3, True)
    assert held.placement == pytest.approx(0.75)
    assert isinstance(other, MailboxDetail)
    assert (other.placement_inbox, other.placement_spam, other.placement_hold) == (0, 0, False)
    assert other.placement is None
