"""reserve(): every guard refuses in its scenario, and a refusal writes nothing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiosqlite
import pytest

from config import DomainConfig
from core.models import CampaignState, DomainState, LeadState, MailboxState, SendState
from core.records import (
    Effects,
    RefusalReason,
    Refused,
    Reservation,
    Reserved,
    SendFinish,
    SendKind,
    UsageScope,
)
from storage.control import ControlStore
from storage.db import Database, open_db, to_ms
from storage.reports import ReportStore
from storage.sending import SendingStore
from storage.stores import Stores
from tests.storage.helpers import (
    DAY,
    GAP,
    T0,
    TODAY,
    add_lead,
    campaign,
    campaign_req,
    config,
    deliver,
    ids,
    mailbox,
    scalar,
    warmup_req,
)

R = RefusalReason


@dataclass
class World:
    stores: Stores
    conn: aiosqlite.Connection
    a1: int  # a1, a2 on a.test (domain cap 3); b1 on b.test (uncapped)
    a2: int
    b1: int
    camp: int  # 2 steps, cap 2
    other: int  # 1 step, uncapped

    @property
    def sending(self) -> SendingStore:
        return self.stores.sending

    @property
    def control(self) -> ControlStore:
        return self.stores.control

    @property
    def reports(self) -> ReportStore:
        return self.stores.reports

    async def lead(self, email: str, campaign_id: int | None = None) -> int:
        return await add_lead(self.conn, campaign_id or self.camp, email)

    async def snapshot_of_writes(self) -> tuple[object, ...]:
        """Everything a reservation may touch."""
        out: list[object] = []
        for sql in (
            "SELECT id, next_send_at, last_sent_at FROM mailboxes ORDER BY id",
            "SELECT * FROM usage ORDER BY scope, ref, day",
            "SELECT id, state, next_step, next_due_at, mailbox_id FROM leads ORDER BY id",
            "SELECT count(*) FROM sends",
        ):
            async with self.conn.execute(sql) as cursor:
                out.append([tuple(row) for row in await cursor.fetchall()])
        return tuple(out)


@pytest.fixture
async def world(stores: Stores, conn: aiosqlite.Connection) -> World:
    cfg = config(
        [mailbox("a1@a.test"), mailbox("a2@a.test"), mailbox("b1@b.test")],
        campaigns=[campaign("camp", steps=2, daily_limit=2), campaign("other", steps=1)],
        domains=[DomainConfig(name="a.test", daily_limit=3)],
    )
    await stores.config.sync_config(cfg.rules(), TODAY, now=T0)
    boxes, camps = await ids(conn, "mailboxes", "address"), await ids(conn, "campaigns", "name")
    return World(
        stores,
        conn,
        boxes["a1@a.test"],
        boxes["a2@a.test"],
        boxes["b1@b.test"],
        camps["camp"],
        camps["other"],
    )


async def refused(world: World, req: Reservation, reason: RefusalReason) -> None:
    before = await world.snapshot_of_writes()
    assert await world.sending.reserve(req) == Refused(reason)
    assert await world.snapshot_of_writes() == before
    assert not world.conn.in_transaction


async def test_reserved_campaign_step_writes_everything(world: World) -> None:
    lead = await world.lead("x@lead.test")
    req = campaign_req(
        world.a1, lead, world.camp, domain_cap=3, campaign_cap=2, message_id="<m1@a.test>"
    )
    result = await world.sending.reserve(req)
    assert isinstance(result, Reserved)
    async with world.conn.execute("SELECT * FROM sends WHERE id = ?", (result.send_id,)) as cur:
        send = await cur.fetchone()
    assert send is not None
    assert (send["kind"], send["lead_id"], send["campaign_id"], send["step_no"]) == (
        "campaign",
        lead,
        world.camp,
        1,
    )
    assert (send["mailbox_id"], send["day"], send["state"], send["attempts"]) == (
        world.a1,
        DAY,
        "reserved",
        0,
    )
    assert (send["message_id"], send["reserved_at"]) == ("<m1@a.test>", to_ms(T0))
    box = await world.reports.mailbox(world.a1)
    assert box is not None
    assert (box.next_send_at, box.last_sent_at) == (T0 + GAP, T0)
    async with world.conn.execute(
        "SELECT state, next_step, next_due_at, mailbox_id FROM leads"
    ) as cur:
        assert tuple(await cur.fetchone() or ()) == ("active", 2, None, world.a1)
    domain_a = (await ids(world.conn, "domains", "name"))["a.test"]
    assert await world.reports.usage_today(UsageScope.MAILBOX, world.a1, DAY) == 1
    assert await world.reports.usage_today(UsageScope.DOMAIN, domain_a, DAY) == 1
    assert await world.reports.usage_today(UsageScope.CAMPAIGN, world.camp, DAY) == 1


async def test_warmup_send_counts_for_mailbox_and_domain_only(world: World) -> None:
    assert isinstance(await world.sending.reserve(warmup_req(world.b1)), Reserved)
    domain_b = (await ids(world.conn, "domains", "name"))["b.test"]
    assert await world.reports.usage_today(UsageScope.MAILBOX, world.b1, DAY) == 1
    # uncapped, counted
    assert await world.reports.usage_today(UsageScope.DOMAIN, domain_b, DAY) == 1
    assert await scalar(world.conn, "SELECT count(*) FROM usage WHERE scope = 'campaign'") == 0


async def test_mailbox_state(world: World) -> None:
    for state in (MailboxState.PAUSED, MailboxState.COOLDOWN, MailboxState.DISABLED):
        await world.control.set_mailbox_state(world.a1, state, "test")
        await refused(world, warmup_req(world.a1), R.MAILBOX_STATE)
    await world.control.set_mailbox_state(world.a1, MailboxState.WARMING, "")
    assert isinstance(await world.sending.reserve(warmup_req(world.a1)), Reserved)


async def test_resting(world: World) -> None:
    await world.control.set_mailbox_resting(world.a1, T0 + timedelta(minutes=1))
    await refused(world, warmup_req(world.a1), R.RESTING)
    later = T0 + timedelta(minutes=1)
    assert isinstance(await world.sending.reserve(warmup_req(world.a1, now=later)), Reserved)


async def test_gap(world: World) -> None:
    assert isinstance(await world.sending.reserve(warmup_req(world.a1)), Reserved)
    await refused(world, warmup_req(world.a1, now=T0 + GAP - timedelta(milliseconds=1)), R.GAP)
    await refused(
        world, warmup_req(world.a1, now=T0 - timedelta(hours=1)), R.GAP
    )  # clock going back
    assert isinstance(await world.sending.reserve(warmup_req(world.a1, now=T0 + GAP)), Reserved)


async def test_domain_state(world: World) -> None:
    await world.control.set_domain_state(
        "a.test", DomainState.COOLDOWN, "block", T0 + timedelta(days=14)
    )
    await refused(world, warmup_req(world.a1), R.DOMAIN_STATE)
    assert isinstance(await world.sending.reserve(warmup_req(world.b1)), Reserved)


async def test_mailbox_limit(world: World) -> None:
    await refused(world, warmup_req(world.a1, cap=0), R.MAILBOX_LIMIT)  # the first-insert case
    assert isinstance(await world.sending.reserve(warmup_req(world.a1, cap=1)), Reserved)
    await refused(world, warmup_req(world.a1, now=T0 + GAP, cap=1), R.MAILBOX_LIMIT)
    tomorrow = Reservation(
        kind=SendKind.WARMUP,
        mailbox_id=world.a1,
        day="2026-03-03",
        now=T0 + GAP,
        next_send_at=T0 + 2 * GAP,
        mailbox_cap=1,
    )
    assert isinstance(await world.sending.reserve(tomorrow), Reserved)


async def test_domain_limit(world: World) -> None:
    assert isinstance(await world.sending.reserve(warmup_req(world.a1, domain_cap=2)), Reserved)
    assert isinstance(await world.sending.reserve(warmup_req(world.a2, domain_cap=2)), Reserved)
    await refused(world, warmup_req(world.a1, now=T0 + GAP, domain_cap=2), R.DOMAIN_LIMIT)
    await refused(world, warmup_req(world.b1, domain_cap=0), R.DOMAIN_LIMIT)


async def test_campaign_limit(world: World) -> None:
    leads = [await world.lead(f"l{n}@lead.test") for n in range(3)]
    for lead, box in zip(leads[:2], (world.a1, world.b1), strict=True):
        assert isinstance(
            await world.sending.reserve(campaign_req(box, lead, world.camp, campaign_cap=2)),
            Reserved,
        )
    await refused(
        world, campaign_req(world.a2, leads[2], world.camp, campaign_cap=2), R.CAMPAIGN_LIMIT
    )
    other = await world.lead("l0@lead.test", world.other)  # another campaign is unaffected
    assert isinstance(
        await world.sending.reserve(campaign_req(world.a2, other, world.other, campaign_cap=2)),
        Reserved,
    )


async def test_campaign_state(world: World) -> None:
    lead = await world.lead("x@lead.test")
    for state in (CampaignState.PAUSED, CampaignState.STOPPED, CampaignState.DISABLED):
        await world.control.set_campaign_state(world.camp, state, "test")
        await refused(world, campaign_req(world.a1, lead, world.camp), R.CAMPAIGN_STATE)


async def test_lead_taken(world: World) -> None:
    lead = await world.lead("x@lead.test")
    first = await world.sending.reserve(campaign_req(world.a1, lead, world.camp))
    assert isinstance(first, Reserved)
    # the same step again, from any mailbox
    await refused(world, campaign_req(world.b1, lead, world.camp), R.LEAD_TAKEN)
    # step 2 before step 1 has been sent (the sender sets next_due_at only then)
    await refused(world, campaign_req(world.a1, lead, world.camp, 2, now=T0 + GAP), R.LEAD_TAKEN)
    due = T0 + timedelta(days=3)
    await deliver(world.sending, first.send_id, lead, T0, due)  # step 1 sent, step 2 due then
    # not due yet; then due but from another mailbox than the thread's
    await refused(
        world,
        campaign_req(world.a1, lead, world.camp, 2, now=due - timedelta(seconds=1)),
        R.LEAD_TAKEN,
    )
    await refused(world, campaign_req(world.b1, lead, world.camp, 2, now=due), R.LEAD_TAKEN)
    # a lead of another campaign, and a lead that replied
    await refused(world, campaign_req(world.a1, lead, world.other, 2, now=due), R.LEAD_TAKEN)
    replied = await world.lead("r@lead.test")
    await world.sending.apply(Effects(close_lead=(replied, LeadState.REPLIED)))
    await refused(world, campaign_req(world.b1, replied, world.camp), R.LEAD_TAKEN)
    assert isinstance(
        await world.sending.reserve(campaign_req(world.a1, lead, world.camp, 2, now=due)),
        Reserved,
    )


async def test_unique_lead_step_is_the_last_line_of_defence(world: World) -> None:
    lead = await world.lead("x@lead.test")
    assert isinstance(
        await world.sending.reserve(campaign_req(world.a1, lead, world.camp)), Reserved
    )
    # pretend the lead guard was bypassed (e.g. a bad manual edit put the lead back in queue)
    await world.conn.execute("UPDATE leads SET state = 'queued', next_step = 1, mailbox_id = NULL")
    await refused(world, campaign_req(world.b1, lead, world.camp), R.LEAD_TAKEN)


def test_reservation_validates_its_shape() -> None:
    with pytest.raises(ValueError, match="needs lead_id"):
        Reservation(
            kind=SendKind.CAMPAIGN, mailbox_id=1, day=DAY, now=T0, next_send_at=T0, mailbox_cap=1
        )
    with pytest.raises(ValueError, match="no lead"):
        warmup_req(1, lead_id=3)
    with pytest.raises(ValueError, match="before now"):
        Reservation(
            kind=SendKind.WARMUP,
            mailbox_id=1,
            day=DAY,
            now=T0,
            next_send_at=T0 - GAP,
            mailbox_cap=1,
        )


async def test_unknown_mailbox_raises_and_rolls_back(world: World) -> None:
    with pytest.raises(LookupError):
        await world.sending.reserve(warmup_req(999))
    assert not world.conn.in_transaction


async def test_only_one_of_many_connections_takes_the_last_slot(
    world: World, db_path: Path
) -> None:
    leads = [await world.lead(f"l{n}@lead.test", world.other) for n in range(8)]
    conns = [await open_db(db_path) for _ in leads]
    try:
        # distinct mailboxes/leads would all fit, but the domain has one slot left of 3
        await world.sending.reserve(warmup_req(world.a2, domain_cap=3))
        await world.sending.reserve(warmup_req(world.a1, domain_cap=3))
        reqs = [
            campaign_req(
                world.a1 if n % 2 else world.a2, lead, world.other, now=T0 + GAP, domain_cap=3
            )
            for n, lead in enumerate(leads)
        ]
        results = await asyncio.gather(
            *(Stores.on(Database(c)).sending.reserve(r) for c, r in zip(conns, reqs, strict=True))
        )
    finally:
        for c in conns:
            await c.close()
    assert sum(isinstance(r, Reserved) for r in results) == 1
    assert {r.reason for r in results if isinstance(r, Refused)} <= {R.GAP, R.DOMAIN_LIMIT}
    assert await scalar(world.conn, "SELECT count(*) FROM sends") == 3


async def test_tasks_sharing_one_store_do_not_mix_transactions(world: World) -> None:
    leads = [await world.lead(f"l{n}@lead.test", world.other) for n in range(6)]
    boxes = [world.a1, world.a2, world.b1]
    reqs = [
        campaign_req(boxes[n % 3], lead, world.other, now=T0 + (n // 3) * GAP)
        for n, lead in enumerate(leads)
    ]
    results = await asyncio.gather(*(world.sending.reserve(r) for r in reqs))
    # the later sends of each mailbox may lose to the gap, but nothing raised and counts agree
    sent = sum(isinstance(r, Reserved) for r in results)
    assert sent >= 3
    assert await scalar(world.conn, "SELECT count(*) FROM sends") == sent
    assert await scalar(world.conn, "SELECT sum(sent) FROM usage WHERE scope = 'mailbox'") == sent


# --- many reservations in one transaction ---------------------------------------------------


async def test_reserve_many_a_refusal_undoes_only_its_own_writes(world: World) -> None:
    leads = [await world.lead(f"l{n}@lead.test") for n in range(3)]
    leads.append(await world.lead("o@lead.test", world.other))
    reqs = [
        campaign_req(world.a1, leads[0], world.camp, campaign_cap=2),
        campaign_req(world.a2, leads[1], world.camp, campaign_cap=2),
        # refused at the campaign cap, after its mailbox, lead and mailbox/domain counters
        # were written inside its savepoint
        campaign_req(world.b1, leads[2], world.camp, campaign_cap=2),
        campaign_req(world.b1, leads[3], world.other),
    ]
    results = await world.sending.reserve_many(reqs)
    assert [type(r) for r in results] == [Reserved, Reserved, Refused, Reserved]
    assert results[2] == Refused(R.CAMPAIGN_LIMIT)
    assert not world.conn.in_transaction
    domain_b = (await ids(world.conn, "domains", "name"))["b.test"]
    # b1 sent once (the 'other' lead), not twice; lead 2 is still queued
    assert await world.reports.usage_today(UsageScope.MAILBOX, world.b1, DAY) == 1
    assert await world.reports.usage_today(UsageScope.DOMAIN, domain_b, DAY) == 1
    assert await world.reports.usage_today(UsageScope.CAMPAIGN, world.camp, DAY) == 2
    assert await scalar(world.conn, "SELECT state FROM leads WHERE id = ?", (leads[2],)) == "queued"
    assert await scalar(world.conn, "SELECT count(*) FROM sends") == 3


async def test_reserve_many_each_request_sees_the_ones_before(world: World) -> None:
    leads = [await world.lead(f"l{n}@lead.test", world.other) for n in range(2)]
    # one mailbox twice at the same instant: the first one's gap refuses the second
    results = await world.sending.reserve_many(
        [campaign_req(world.a1, lead, world.other) for lead in leads]
    )
    assert isinstance(results[0], Reserved)
    assert results[1] == Refused(R.GAP)


async def test_reserve_many_an_error_writes_nothing(world: World) -> None:
    lead = await world.lead("x@lead.test")
    before = await world.snapshot_of_writes()
    with pytest.raises(LookupError):
        await world.sending.reserve_many(
            [campaign_req(world.a1, lead, world.camp), warmup_req(999)]
        )
    assert await world.snapshot_of_writes() == before
    assert not world.conn.in_transaction
    assert await world.sending.reserve_many([]) == []


async def test_reserved_tells_the_attempts_a_retried_step_already_made(world: World) -> None:
    lead = await world.lead("x@lead.test")
    first = await world.sending.reserve(campaign_req(world.a1, lead, world.camp))
    assert isinstance(first, Reserved)
    assert first.attempts == 0
    marked = await world.sending.record_sends(delivered=[], starting=[first.send_id], now=T0)
    assert marked == {first.send_id}
    retry = SendFinish(first.send_id, SendState.RETRY, T0, 451, "try later", retry_at=T0)
    await world.sending.settle(retry, Effects())
    again = await world.sending.reserve(campaign_req(world.a1, lead, world.camp, now=T0 + GAP))
    assert again == Reserved(first.send_id, attempts=1)
