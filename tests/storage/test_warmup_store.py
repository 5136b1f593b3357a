"""The warm-up loop's store: shares and mails per day, answers in new mails' places, and the
warm-up share as the snapshot and the reservations see it."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import aiosqlite

from core import limits
from core.models import MailboxState
from core.records import Reserved, WarmupMail, WarmupShare
from storage import warmup
from storage.stores import Stores
from tests.storage.helpers import DAY, T0, TODAY, config, deliver, ids, mailbox, warmup_req


async def pool(stores: Stores, conn: aiosqlite.Connection) -> dict[str, int]:
    cfg = config([mailbox("a1@a.test"), mailbox("b1@b.test"), mailbox("c1@c.test")])
    await stores.config.sync_config(cfg.rules(), TODAY, now=T0)
    return await ids(conn, "mailboxes", "address")


def new(box: int, n: int, minutes: int) -> WarmupMail:
    return WarmupMail(box, "b1@b.test", T0 + timedelta(minutes=minutes), f"<n{box}-{n}@a.test>")


async def test_a_mailbox_keeps_its_first_share_and_a_second_plan_adds_nothing(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    box = await pool(stores, conn)
    store = stores.warmup
    assert sorted(await store.unplanned(DAY)) == sorted(box.values())
    mails = [new(box["a1@a.test"], n, 10 * n) for n in range(3)]
    assert await store.plan_day(DAY, [WarmupShare(box["a1@a.test"], 3)], mails) == 3
    again = [new(box["a1@a.test"], n, 10 * n + 1) for n in range(3, 6)]
    later = [WarmupShare(box["a1@a.test"], 3), WarmupShare(box["b1@b.test"], 0)]
    assert await store.plan_day(DAY, later, again) == 0
    assert sorted(await store.unplanned(DAY)) == [box["c1@c.test"]]
    assert len(await store.due_mails(T0, T0 + timedelta(hours=1))) == 3


async def test_due_mails_are_those_of_the_day_so_far_not_yet_sent(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    box = await pool(stores, conn)
    a1 = box["a1@a.test"]
    mails = [new(a1, n, 30 * n) for n in range(4)]  # T0, +30, +60, +90 minutes
    await stores.warmup.plan_day(DAY, [WarmupShare(a1, 4)], mails)
    now = T0 + timedelta(minutes=60)
    due = await stores.warmup.due_mails(T0, now)
    assert [m.message_id for m in due] == [m.message_id for m in mails[:3]]
    # The first goes out: a sends row with its Message-ID is the proof.
    first = dataclasses.replace(warmup_req(a1), message_id=mails[0].message_id)
    (taken,) = await stores.sending.reserve_many([first])
    assert isinstance(taken, Reserved)
    due = await stores.warmup.due_mails(T0, now)
    assert [m.message_id for m in due] == [m.message_id for m in mails[1:3]]
    # What was due before `since` (yesterday's, or before a pause) is dropped, not sent late.
    assert [m.message_id for m in await stores.warmup.due_mails(now, now)] == [mails[2].message_id]


async def test_an_answer_takes_the_latest_unsent_new_mail_s_place(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    box = await pool(stores, conn)
    a1 = box["a1@a.test"]
    mails = [new(a1, n, 30 * n) for n in range(3)]
    await stores.warmup.plan_day(DAY, [WarmupShare(a1, 3)], mails)
    assert await stores.warmup.reply_room(DAY) == {a1: 3}
    assert await stores.warmup.reply_room(DAY, a1) == {a1: 3}
    assert await stores.warmup.reply_room(DAY, box["b1@b.test"]) == {}  # only the one asked

    def answer(n: int) -> WarmupMail:
        return WarmupMail(
            a1, "c1@c.test", T0 + timedelta(minutes=5), f"<r{n}@a.test>", answers=f"<o{n}@c.test>",
            subject="Hi", thread=("<t@c.test>",),
        )  # fmt: skip

    assert await stores.warmup.plan_answers(DAY, [answer(1), answer(1)]) == 1
    rows = await conn.execute_fetchall("SELECT message_id FROM warmup_mails ORDER BY due_at")
    assert [r[0] for r in rows] == [mails[0].message_id, "<r1@a.test>", mails[1].message_id]
    assert await stores.warmup.reply_room(DAY) == {a1: 2}
    assert await stores.warmup.plan_answers(DAY, [answer(2), answer(3), answer(4)]) == 2
    assert await stores.warmup.reply_room(DAY) == {}  # no new mail left to give way
    stored = await stores.warmup.due_mails(T0, T0 + timedelta(hours=2))
    assert len(stored) == 3 and all(m.answers is not None for m in stored)
    assert stored[0].thread == ("<t@c.test>",) and stored[0].subject == "Hi"


async def test_warmup_reservations_fill_the_share_campaigns_get_the_rest(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    box = await pool(stores, conn)
    a1 = box["a1@a.test"]
    await stores.warmup.plan_day(DAY, [WarmupShare(a1, 4)], [])
    for n in range(3):
        now = T0 + timedelta(minutes=10 * n)
        (taken,) = await stores.sending.reserve_many([warmup_req(a1, now)])
        assert isinstance(taken, Reserved)
        if n < 2:
            await deliver(stores.sending, taken.send_id, None, now, None)
    later = T0 + timedelta(hours=1)
    snap = await stores.sending.load_snapshot(later, DAY, T0, 10, 10)
    (view,) = [m for m in snap.mailboxes if m.id == a1]
    assert (view.warmup_volume, view.warmup_sent, view.sent_today) == (4, 3, 3)
    # Cap 40: the loop keeps 4 (3 used), campaigns may send 36.
    assert limits.campaign_room(view, TODAY, snap.warmup) == 36
    # A crash before the third went out: it is given back, to the loop's share too.
    await stores.sending.recover_sends(later)
    snap = await stores.sending.load_snapshot(later, DAY, T0, 10, 10)
    (view,) = [m for m in snap.mailboxes if m.id == a1]
    assert (view.warmup_sent, view.sent_today) == (2, 2)


async def test_a_placement_hold_keeps_campaign_mail_off_the_mailbox(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    box = await pool(stores, conn)
    await conn.execute("UPDATE mailboxes SET placement_hold = 1 WHERE id = ?", (box["a1@a.test"],))
    snap = await stores.sending.load_snapshot(T0, DAY, T0, 10, 10)
    held = {m.address: m.placement_hold for m in snap.mailboxes}
    assert held == {"a1@a.test": True, "b1@b.test": False, "c1@c.test": False}
    (view,) = [m for m in snap.mailboxes if m.address == "a1@a.test"]
    assert view.state is MailboxState.ACTIVE
    assert not limits.takes_campaign_mail(view, TODAY, snap.warmup, during_warmup=True)


async def test_an_answer_due_on_a_day_not_yet_planned_waits_for_that_day_s_plan(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    box = await pool(stores, conn)
    a1 = box["a1@a.test"]
    tomorrow = "2026-03-03"
    late = WarmupMail(
        a1, "b1@b.test", T0 + timedelta(days=1), "<r@a.test>", answers="<o@b.test>", subject="Hi"
    )
    assert await stores.warmup.plan_answers(tomorrow, [late]) == 1
    assert await stores.warmup.answers_ahead(tomorrow) == {a1: 1}
    assert await stores.warmup.answers_ahead(DAY) == {}
    assert await stores.warmup.reply_room(tomorrow) == {}  # today's new mails are untouched


async def test_a_day_s_mails_are_read_by_the_day_index_not_every_new_mail_ever(
    conn: aiosqlite.Connection,
) -> None:
    for sql, params, search in (
        (warmup._REPLACEABLE, (DAY, 1), "(day=? AND mailbox_id=?)"),  # noqa: SLF001
        (warmup._ROOM, (DAY,), "(day=?)"),  # noqa: SLF001
        (warmup._ROOM_OF, (DAY, 1), "(day=? AND mailbox_id=?)"),  # noqa: SLF001
    ):
        plan = list(await conn.execute_fetchall("EXPLAIN QUERY PLAN " + sql, params))
        assert f"warmup_mails_day {search}" in str(plan[0][3]), [row[3] for row in plan]


async def test_the_pool_of_a_tick_s_senders_holds_only_those_that_may_send(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    box = await pool(stores, conn)
    await conn.execute("UPDATE mailboxes SET state = 'paused' WHERE id = ?", (box["c1@c.test"],))
    everyone = [m.address for m in await stores.warmup.pool()]
    assert everyone == ["a1@a.test", "b1@b.test"]
    asked = await stores.warmup.pool({box["a1@a.test"], box["c1@c.test"]})
    assert [m.address for m in asked] == ["a1@a.test"]
    assert await stores.warmup.pool(set()) == []
    member = await stores.warmup.member("a1@a.test")
    assert member is not None and (member.id, member.domain) == (box["a1@a.test"], "a.test")
    assert await stores.warmup.member("c1@c.test") is None  # paused: it sends nothing
    assert await stores.warmup.member("nobody@a.test") is None
