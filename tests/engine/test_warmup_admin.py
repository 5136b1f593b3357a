"""engine/warmup_admin.py: the /warmup table, and starting or stopping a ramp."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.models import EventKind, MailboxState
from engine.admin import AdminError
from engine.warmup_admin import (
    gather_warmup,
    start_warmup,
    stop_warmup,
)
from storage.reports import PLACEMENT_INBOX, PLACEMENT_SPAM, WARMUP_SOURCE
from tests.bot.data_world import T0, TODAY, data_config, data_world


async def test_table_day_phase_cap_sent_and_placement(tmp_path: Path) -> None:
    config = data_config(
        warming={"m0@d0.test": TODAY - timedelta(days=2), "m1@d0.test": TODAY - timedelta(days=9)}
    )
    async with data_world(tmp_path, config) as w:
        await w.add_usage("m0@d0.test", TODAY, 4)
        await w.add_usage("m0@d0.test", TODAY - timedelta(days=1), 6)  # yesterday: not shown
        for detail in (PLACEMENT_INBOX, PLACEMENT_INBOX, PLACEMENT_INBOX, PLACEMENT_SPAM):
            await w.add_event(
                EventKind.DELIVERED, T0 - timedelta(hours=3), source=WARMUP_SOURCE,
                mailbox="m0@d0.test", detail=detail,
            )  # fmt: skip
        # A placement older than the 7-day window does not count.
        await w.add_event(
            EventKind.DELIVERED, T0 - timedelta(days=9), source=WARMUP_SOURCE,
            mailbox="m0@d0.test", detail=PLACEMENT_SPAM,
        )  # fmt: skip
        report = await gather_warmup(w.ctx)

    assert report.today == TODAY
    assert report.ramp == (5, 6, 7, 8, 8, 9, 10, 12, 14, 17, 20, 24, 29, 35, 40)
    rows = {row.address: row for row in report.rows}
    assert set(rows) == {"m0@d0.test", "m1@d0.test"}  # the warm ones are not listed
    first = rows["m0@d0.test"]
    assert (first.day, first.phase, first.cap, first.sent_today) == (3, 1, 7, 4)
    assert first.placement == pytest.approx(0.75)
    second = rows["m1@d0.test"]
    assert (second.day, second.phase, second.cap, second.sent_today) == (10, 2, 17, 0)
    assert second.placement is None  # shown as n/a


async def test_start_and_stop(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        row, day = await start_warmup(w.ctx, "M0@D0.test")
        assert (row.address, day) == ("m0@d0.test", TODAY)
        stored = await w.stores.control.mailbox_by_address("m0@d0.test")
        assert stored is not None
        assert (stored.state, stored.warmup_start) == (MailboxState.WARMING, TODAY)
        assert [r.address for r in (await gather_warmup(w.ctx)).rows] == ["m0@d0.test"]

        await stop_warmup(w.ctx, "m0@d0.test")
        stored = await w.stores.control.mailbox_by_address("m0@d0.test")
        assert stored is not None
        assert (stored.state, stored.warmup_start) == (MailboxState.ACTIVE, None)
        with pytest.raises(AdminError, match="is not warming up"):
            await stop_warmup(w.ctx, "m0@d0.test")


async def test_unknown_mailbox_gets_the_closest_names(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        with pytest.raises(AdminError, match=r"no mailbox named 'm0@d0.tset'; did you mean m0@d0"):
            await start_warmup(w.ctx, "m0@d0.tset")
        with pytest.raises(AdminError, match="no mailbox named 'zzz'; known: m0@d0.test"):
            await stop_warmup(w.ctx, "zzz")


async def test_a_paused_mailbox_is_resumed_first(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        mailbox = await w.mailbox_id("m1@d1.test")
        await w.stores.control.set_mailbox_state(mailbox, MailboxState.PAUSED, "bounce rate 7%")
        with pytest.raises(AdminError, match=r"paused \(bounce rate 7%\); /resume it first"):
            await start_warmup(w.ctx, "m1@d1.test")
        stored = await w.stores.control.mailbox_by_address("m1@d1.test")
        assert stored is not None and stored.state is MailboxState.PAUSED
