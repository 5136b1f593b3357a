"""engine/warmup_admin.py: the /warmup table, and starting or stopping a ramp."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core import limits
from core.models import MailboxState
from core.records import WarmupToday
from engine.admin import AdminError
from engine.warmup_admin import (
    gather_warmup,
    start_warmup,
    stop_warmup,
)
from storage.db import to_ms
from tests.bot.data_world import T0, TODAY, TZ, DataWorld, data_config, data_world


async def _warmup_send(
    w: DataWorld, sender: str, at: datetime, *, state: str = "sent", answers: str | None = None
) -> None:
    """One warm-up mail of `sender` in the loop's table and as a send of today."""
    mailbox = await w.mailbox_id(sender)
    message_id = f"<w{next(_ids)}@x>"
    day = at.astimezone(limits.zone(TZ)).date().isoformat()
    await w.conn.execute(
        "INSERT INTO warmup_mails (day, mailbox_id, recipient, due_at, message_id, answers) "
        "VALUES (?, ?, 'x@y.test', ?, ?, ?)",
        (day, mailbox, to_ms(at), message_id, answers),
    )
    await w.conn.execute(
        "INSERT INTO sends (kind, mailbox_id, day, state, message_id, reserved_at, sent_at, "
        "updated_at) VALUES ('warmup', ?, ?, ?, ?, ?, ?, ?)",
        (mailbox, day, state, message_id, to_ms(at), to_ms(at), to_ms(at)),
    )


_ids = itertools.count()


async def test_table_day_phase_cap_traffic_and_placement(tmp_path: Path) -> None:
    config = data_config(
        warming={"m0@d0.test": TODAY - timedelta(days=2), "m1@d0.test": TODAY - timedelta(days=9)}
    )
    async with data_world(tmp_path, config) as w:
        await w.add_usage("m0@d0.test", TODAY, 4)
        await w.add_usage("m0@d0.test", TODAY - timedelta(days=1), 6)  # yesterday: not shown
        earlier = T0 - timedelta(hours=3)
        # m0 sent three warm-up mails today, one of them an answer, and one more failed;
        # yesterday's do not count.
        await _warmup_send(w, "m0@d0.test", earlier)
        await _warmup_send(w, "m0@d0.test", earlier)
        await _warmup_send(w, "m0@d0.test", earlier, answers="<w-original@x>")
        await _warmup_send(w, "m0@d0.test", earlier, state="failed")
        await _warmup_send(w, "m0@d0.test", T0 - timedelta(days=1))
        # Where m0's mails landed: 15 inbox and 5 spam this week (75 % of 20), one spam 9 days
        # ago (outside the window). m0 received two today (from m1) and one yesterday.
        await w.add_placements("m0@d0.test", "m1@d1.test", earlier, inbox=15, spam=5)
        await w.add_placements("m0@d0.test", "m1@d1.test", T0 - timedelta(days=9), spam=1)
        await w.add_placements("m1@d0.test", "m0@d0.test", earlier, inbox=1, spam=1)
        await w.add_placements("m1@d0.test", "m0@d0.test", T0 - timedelta(days=1), inbox=1)
        await w.conn.execute("UPDATE mailboxes SET placement_hold = 1 WHERE address = 'm1@d1.test'")
        await w.conn.commit()
        report = await gather_warmup(w.ctx)
        short = await gather_warmup(w.ctx, listed=2)

    assert report.today == TODAY
    assert report.placement_days == 7
    assert report.ramp == (5, 6, 7, 8, 8, 9, 10, 12, 14, 17, 20, 24, 29, 35, 40)
    # Warming ones first, then the warm ones (the loop keeps maintenance traffic on them).
    assert [(r.address, r.state) for r in report.rows] == [
        ("m0@d0.test", "warming"), ("m1@d0.test", "warming"),
        ("m0@d1.test", "active"), ("m1@d1.test", "active"),
    ]  # fmt: skip
    rows = {row.address: row for row in report.rows}
    first = rows["m0@d0.test"]
    assert (first.day, first.phase, first.cap, first.sent_today) == (3, 1, 7, 4)
    assert first.today == WarmupToday(sent=3, received=2, replied=1)
    assert (first.inbox, first.spam) == (15, 5)
    assert first.placement == pytest.approx(0.75)
    second = rows["m1@d0.test"]
    assert (second.day, second.phase, second.cap, second.sent_today) == (10, 2, 17, 0)
    assert second.today == WarmupToday()
    assert (second.placed, second.placement) == (3, None)  # too few: shown as n/a
    warm = rows["m1@d1.test"]
    assert (warm.day, warm.phase, warm.cap, warm.held) == (None, None, 40, True)
    assert warm.today == WarmupToday(received=20)
    assert not first.held
    assert [r.address for r in short.rows] == ["m0@d0.test", "m1@d0.test"]
    assert short.unlisted == {"active": 2}


async def test_start_and_stop(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        row, day = await start_warmup(w.ctx, "M0@D0.test")
        assert (row.address, day) == ("m0@d0.test", TODAY)
        stored = await w.stores.control.mailbox_by_address("m0@d0.test")
        assert stored is not None
        assert (stored.state, stored.warmup_start) == (MailboxState.WARMING, TODAY)
        warming = [r.address for r in (await gather_warmup(w.ctx)).rows if r.state == "warming"]
        assert warming == ["m0@d0.test"]

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
