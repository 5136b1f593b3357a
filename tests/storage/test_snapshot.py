"""The planner's snapshot (SendingStore.load_snapshot): mailboxes, domains, campaigns, due work."""

from __future__ import annotations

from datetime import timedelta

import aiosqlite
import pytest

from core.models import (
    CampaignState,
    DomainState,
    DueStep,
    EventKind,
    MailboxState,
    Window,
)
from core.records import NewEvent, Reserved
from storage.db import to_ms
from storage.snapshot import DUE_FOLLOWUPS, WINDOW_SENDS
from storage.stores import Stores
from tests.storage.helpers import (
    DAY,
    GAP,
    T0,
    TODAY,
    add_lead,
    campaign_req,
    deliver,
    sample,
    warmup_req,
)

WINDOW = T0 - timedelta(days=7)


async def threaded(
    conn: aiosqlite.Connection, campaign_id: int, email: str, box: int, due_hours: float
) -> int:
    """A lead whose step 2 falls due `due_hours` after T0, in a thread of mailbox `box`."""
    lead = await add_lead(conn, campaign_id, email)
    await conn.execute(
        "UPDATE leads SET state = 'active', next_step = 2, mailbox_id = ?, next_due_at = ? "
        "WHERE id = ?",
        (box, to_ms(T0 + timedelta(hours=due_hours)), lead),
    )
    return lead


async def test_snapshot_views(stores: Stores, conn: aiosqlite.Connection) -> None:
    boxes, camps = await sample(stores, conn)
    lead = await add_lead(conn, camps["c1"], "x@lead.test")
    assert isinstance(
        await stores.sending.reserve(campaign_req(boxes["a1@a.test"], lead, camps["c1"])), Reserved
    )
    assert isinstance(await stores.sending.reserve(warmup_req(boxes["a2@a.test"])), Reserved)
    await stores.control.set_mailbox_resting(boxes["b1@b.test"], T0 + timedelta(hours=2))
    await stores.control.set_campaign_state(camps["off"], CampaignState.PAUSED, "admin")

    snap = await stores.sending.load_snapshot(
        T0, DAY, WINDOW, followup_limit=10, new_per_campaign=10
    )

    views = {m.address: m for m in snap.mailboxes}
    assert set(views) == {"a1@a.test", "a2@a.test", "b1@b.test"}  # removed mailbox left out
    a1 = views["a1@a.test"]
    assert (a1.id, a1.domain, a1.state, a1.daily_limit, a1.warmup_start) == (
        boxes["a1@a.test"],
        "a.test",
        MailboxState.WARMING,
        30,
        TODAY,
    )
    assert (a1.sent_today, a1.next_send_at, a1.last_sent_at) == (1, T0 + GAP, T0)
    assert views["b1@b.test"].resting_until == T0 + timedelta(hours=2)
    assert views["b1@b.test"].sent_today == 0
    domains = {d.name: d for d in snap.domains}
    assert set(domains) == {"a.test", "b.test"}
    assert (domains["a.test"].daily_limit, domains["a.test"].sent_today) == (50, 2)
    assert domains["b.test"].state is DomainState.ACTIVE
    c1 = next(c for c in snap.campaigns if c.name == "c1")
    assert (c1.id, c1.daily_limit, c1.sent_today, c1.timezone) == (camps["c1"], 10, 1, "UTC")
    assert c1.window == Window(9 * 60, 17 * 60)
    assert c1.days == frozenset({"mon", "tue", "wed", "thu", "fri"})
    assert {c.name: c.state for c in snap.campaigns}["off"] is CampaignState.PAUSED


async def test_snapshot_bounce_rate_over_the_window(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, _ = await sample(stores, conn)
    box = boxes["a2@a.test"]
    sends = []
    for n in range(4):
        now = T0 - timedelta(days=1) + n * GAP
        result = await stores.sending.reserve(warmup_req(box, now=now))
        assert isinstance(result, Reserved)
        await deliver(stores.sending, result.send_id, None, now, None)
        sends.append(result.send_id)
    # an old send outside the window does not count
    old = T0 - timedelta(days=30)
    await conn.execute(
        "INSERT INTO sends (kind, mailbox_id, day, state, reserved_at, sent_at, updated_at) "
        "VALUES ('warmup', ?, '2026-01-30', 'sent', ?, ?, ?)",
        (box, *[int(old.timestamp() * 1000)] * 3),
    )
    for source, source_id in (("imap", "dsn-1"), ("mailgun", "ev-9")):  # one bounce, twice reported
        assert await stores.events.add_event(
            NewEvent(
                source=source,
                source_id=source_id,
                kind=EventKind.BOUNCE_HARD,
                occurred_at=T0 - timedelta(hours=1),
                received_at=T0,
                mailbox_id=box,
                send_id=sends[0],
            )
        )
    await stores.events.add_event(
        NewEvent(
            source="imap",
            source_id="soft",
            kind=EventKind.BOUNCE_SOFT,
            occurred_at=T0 - timedelta(hours=1),
            received_at=T0,
            mailbox_id=box,
        )
    )
    snap = await stores.sending.load_snapshot(
        T0, DAY, WINDOW, followup_limit=10, new_per_campaign=10
    )
    rates = {m.id: m.bounce_rate for m in snap.mailboxes}
    assert rates[box] == pytest.approx(1 / 4)
    assert rates[boxes["a1@a.test"]] == 0.0


async def test_snapshot_counts_the_window_of_ready_mailboxes_only(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, _ = await sample(stores, conn)
    ready, resting = boxes["a2@a.test"], boxes["b1@b.test"]
    at = int((T0 - timedelta(hours=3)).timestamp() * 1000)
    # Reserved on the day before the window starts (just before midnight), sent inside it:
    # the day index's slack must still count it.
    for box, day in ((ready, "2026-02-22"), (ready, DAY), (resting, DAY)):
        await conn.execute(
            "INSERT INTO sends (kind, mailbox_id, day, state, reserved_at, sent_at, updated_at) "
            "VALUES ('warmup', ?, ?, 'sent', ?, ?, ?)",
            (box, day, at, at if day == DAY else to_ms(WINDOW) + 1000, at),
        )
    await conn.commit()
    send_ids = [int(r[0]) for r in await conn.execute_fetchall("SELECT id FROM sends")]
    for number, (box, send_id) in enumerate(zip((ready, resting), send_ids[1:], strict=True)):
        assert await stores.events.add_event(
            NewEvent(
                source="imap",
                source_id=f"dsn-{number}",
                kind=EventKind.BOUNCE_HARD,
                occurred_at=T0 - timedelta(hours=1),
                received_at=T0,
                mailbox_id=box,
                send_id=send_id,
            )  # fmt: skip
        )
    await stores.control.set_mailbox_resting(resting, T0 + timedelta(hours=2))

    snap = await stores.sending.load_snapshot(
        T0, DAY, WINDOW, followup_limit=10, new_per_campaign=10
    )

    rates = {m.id: m.bounce_rate for m in snap.mailboxes}
    assert rates[ready] == pytest.approx(1 / 2)
    # Resting: it may not send now, so the rotation never ranks it; its window is not read.
    assert rates[resting] == 0.0


async def test_senders_only_leaves_out_mailboxes_that_may_not_send_now(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, _ = await sample(stores, conn)
    # a1 waits out its gap after this send; b1 rests; a2 may send.
    assert isinstance(await stores.sending.reserve(warmup_req(boxes["a1@a.test"])), Reserved)
    await stores.control.set_mailbox_resting(boxes["b1@b.test"], T0 + timedelta(hours=2))

    every = await stores.sending.load_snapshot(
        T0, DAY, WINDOW, followup_limit=10, new_per_campaign=10
    )
    senders = await stores.sending.load_snapshot(
        T0, DAY, WINDOW, followup_limit=10, new_per_campaign=10, senders_only=True
    )

    assert {m.address for m in every.mailboxes} == {"a1@a.test", "a2@a.test", "b1@b.test"}
    assert [m.address for m in senders.mailboxes] == ["a2@a.test"]
    assert senders.mailboxes[0] == next(m for m in every.mailboxes if m.address == "a2@a.test")
    assert (senders.domains, senders.campaigns, senders.new_leads) == (
        every.domains,
        every.campaigns,
        every.new_leads,
    )


async def test_an_empty_window_reads_no_sends(stores: Stores, conn: aiosqlite.Connection) -> None:
    # /status asks with window_start == now: it shows no rates, so nothing is counted.
    boxes, _ = await sample(stores, conn)
    statements: list[str] = []
    await conn.set_trace_callback(statements.append)
    snap = await stores.sending.load_snapshot(T0, DAY, T0, followup_limit=0, new_per_campaign=0)
    await conn.set_trace_callback(None)  # type: ignore[arg-type]
    assert {m.id for m in snap.mailboxes} == set(boxes.values()) - {boxes["gone@c.test"]}
    assert any("FROM mailboxes" in s for s in statements)  # the trace sees the reads
    assert not [s for s in statements if "FROM sends" in s or "FROM events" in s]


async def test_window_sends_read_each_mailboxs_days_not_the_whole_week(
    conn: aiosqlite.Connection,
) -> None:
    plan = [
        str(row[3])
        for row in await conn.execute_fetchall(
            "EXPLAIN QUERY PLAN " + WINDOW_SENDS, ("[1, 2]", DAY, 0, 1)
        )
    ]
    # A covering read: sent_at is tested in the index, no row of the table is fetched.
    assert any(
        "COVERING INDEX sends_mailbox_day (mailbox_id=? AND day>?)" in step for step in plan
    ), plan
    assert not any("sends_sent_at" in step for step in plan), plan


async def test_snapshot_due_work(stores: Stores, conn: aiosqlite.Connection) -> None:
    boxes, camps = await sample(stores, conn)
    a2, b1 = boxes["a2@a.test"], boxes["b1@b.test"]
    queued = {
        name: [await add_lead(conn, cid, f"q{n}@{name}.test") for n in range(4)]
        for name, cid in camps.items()
    }

    async def in_thread(name: str, n: int, box: int, due_hours: float) -> int:
        return await threaded(conn, camps[name], f"t{n}@{name}.test", box, due_hours)

    c1_old = await in_thread("c1", 1, a2, -5)
    c1_new = await in_thread("c1", 2, a2, -1)
    await in_thread("c1", 3, a2, +1)  # not due yet
    c2_mid = await in_thread("c2", 1, b1, -3)
    await in_thread("off", 1, b1, -9)  # paused campaign
    paused_box = await in_thread("c2", 2, boxes["a1@a.test"], -8)  # its mailbox is paused
    await stores.control.set_mailbox_state(boxes["a1@a.test"], MailboxState.PAUSED, "admin")
    await stores.control.set_campaign_state(camps["off"], CampaignState.PAUSED, "admin")

    snap = await stores.sending.load_snapshot(T0, DAY, WINDOW, followup_limit=3, new_per_campaign=2)
    assert snap.followups == (
        DueStep(c1_old, camps["c1"], 2, a2),
        DueStep(c2_mid, camps["c2"], 2, b1),
        DueStep(c1_new, camps["c1"], 2, a2),
    )
    assert paused_box not in {f.lead_id for f in snap.followups}
    assert snap.new_leads == tuple(
        DueStep(lead, camps[name], 1) for name in ("c1", "c2") for lead in queued[name][:2]
    )
    snap = await stores.sending.load_snapshot(T0, DAY, WINDOW, followup_limit=1, new_per_campaign=0)
    assert [f.lead_id for f in snap.followups] == [c1_old]
    assert snap.new_leads == ()


async def test_new_per_sender_reads_no_more_new_leads_than_mailboxes_that_may_send(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, camps = await sample(stores, conn)
    queued = {
        name: [await add_lead(conn, cid, f"q{n}@{name}.test") for n in range(4)]
        for name, cid in camps.items()
    }

    async def new_leads(per_sender: bool) -> list[int]:
        snap = await stores.sending.load_snapshot(
            T0, DAY, WINDOW, followup_limit=0, new_per_campaign=3, senders_only=True,
            new_per_sender=per_sender,
        )  # fmt: skip
        return [step.lead_id for step in snap.new_leads]

    # a1, a2 and b1 may send: three senders, as many as the limit.
    every = [lead for name in camps for lead in queued[name][:3]]
    assert await new_leads(False) == await new_leads(True) == every
    # a1 waits out its gap, b1 rests: one sender takes at most one new lead a campaign a tick.
    assert isinstance(await stores.sending.reserve(warmup_req(boxes["a1@a.test"])), Reserved)
    await stores.control.set_mailbox_resting(boxes["b1@b.test"], T0 + timedelta(hours=2))
    assert await new_leads(True) == [queued[name][0] for name in camps]
    assert await new_leads(False) == every  # with no gap a sender may take several
    # Nobody may send: nothing is read.
    await stores.control.set_mailbox_resting(boxes["a2@a.test"], T0 + timedelta(hours=2))
    assert await new_leads(True) == []


async def test_new_leads_of_hundreds_of_campaigns_in_campaign_then_id_order(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    # More campaigns than one compound statement may hold (SQLite: 500 terms; read 100 a go).
    await sample(stores, conn)
    expected = []
    for n in range(530):
        cursor = await conn.execute(
            "INSERT INTO campaigns (name, timezone, days, hours, created_at) "
            "VALUES (?, 'UTC', '[]', '00:00-24:00', 0)",
            (f"many{n}",),
        )
        assert cursor.lastrowid is not None
        # Inserted out of id order within the campaign: read back in id order.
        second = await add_lead(conn, cursor.lastrowid, f"b{n}@many.test")
        first = await add_lead(conn, cursor.lastrowid, f"a{n}@many.test")
        expected += [DueStep(lead, cursor.lastrowid, 1) for lead in sorted((first, second))]
    snap = await stores.sending.load_snapshot(T0, DAY, WINDOW, followup_limit=0, new_per_campaign=5)
    assert [s for s in snap.new_leads if s.lead_id in {e.lead_id for e in expected}] == expected


async def test_followups_only_of_mailboxes_that_may_send_now(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, camps = await sample(stores, conn)
    a1, a2, b1 = boxes["a1@a.test"], boxes["a2@a.test"], boxes["b1@b.test"]
    await threaded(conn, camps["c1"], "w@c1.test", a1, -9)  # the oldest, but a1 waits
    on_b1 = await threaded(conn, camps["c1"], "r@c1.test", b1, -8)
    on_a2 = await threaded(conn, camps["c2"], "n@c2.test", a2, -1)
    # a1 waits out its gap after this send; b1 rests.
    assert isinstance(await stores.sending.reserve(warmup_req(a1)), Reserved)
    await stores.control.set_mailbox_resting(b1, T0 + timedelta(hours=2))

    async def due(limit: int) -> list[int]:
        found = []
        for only in (False, True):
            snap = await stores.sending.load_snapshot(
                T0, DAY, WINDOW, followup_limit=limit, new_per_campaign=0, senders_only=only
            )
            found.append([step.lead_id for step in snap.followups])
        assert found[0] == found[1]  # the engine's senders_only snapshot gives the same
        return found[1]

    # The older follow-ups of mailboxes that cannot send take no room in the limit (SPEC 6.7).
    assert await due(1) == [on_a2]
    await stores.control.set_mailbox_resting(b1, None)
    await stores.control.set_domain_state("b.test", DomainState.COOLDOWN, "bounces")
    assert await due(5) == [on_a2]
    await stores.control.set_domain_state("b.test", DomainState.ACTIVE, "")
    assert await due(5) == [on_b1, on_a2]  # oldest first
    assert await due(0) == []


async def test_due_followups_read_the_mailboxes_own_rows(conn: aiosqlite.Connection) -> None:
    plan = [
        str(row[3])
        for row in await conn.execute_fetchall(
            "EXPLAIN QUERY PLAN " + DUE_FOLLOWUPS, ("[1, 2]", 0, "[1]", 500)
        )
    ]
    # The listed mailboxes drive the query; each reads its own due rows from the index.
    assert plan[0].startswith("SCAN r"), plan
    assert any(
        "SEARCH l USING INDEX leads_mailbox_due (mailbox_id=? AND next_due_at<?)" in step
        for step in plan
    ), plan
    assert not any("leads_due" in step for step in plan), plan
