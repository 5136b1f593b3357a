"""Steps reserved but never sent: recovery and a refused mark give their day's slots back."""

from __future__ import annotations

import aiosqlite
import pytest

from core.models import CampaignState, DomainState, MailboxState
from core.records import Reserved
from storage.stores import Stores
from tests.storage.helpers import (
    DAY,
    T0,
    TODAY,
    add_lead,
    campaign,
    campaign_req,
    config,
    ids,
    mailbox,
)


async def two_reserved(stores: Stores, conn: aiosqlite.Connection) -> tuple[list[int], list[int]]:
    """Two step-1 sends from two mailboxes of one domain: (send ids, lead ids)."""
    await stores.config.sync_config(
        config([mailbox("m0@a.test"), mailbox("m1@a.test")], campaigns=[campaign("c")]).rules(),
        TODAY,
        now=T0,
    )
    boxes, camps = await ids(conn, "mailboxes", "address"), await ids(conn, "campaigns", "name")
    sends, leads = [], []
    for i in range(2):
        lead = await add_lead(conn, camps["c"], f"l{i}@lead.test")
        result = await stores.sending.reserve(
            campaign_req(boxes[f"m{i}@a.test"], lead, camps["c"], message_id=f"<{i}@a.test>")
        )
        assert isinstance(result, Reserved)
        sends.append(result.send_id)
        leads.append(lead)
    return sends, leads


async def usage(conn: aiosqlite.Connection) -> dict[str, int]:
    """Today's counters summed per scope."""
    rows = await conn.execute_fetchall(
        "SELECT scope, sum(sent) FROM usage WHERE day = ? GROUP BY scope", (DAY,)
    )
    return {row[0]: row[1] for row in rows}


async def test_recovery_gives_back_the_slots_of_reserved_steps(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    (a, b), _ = await two_reserved(stores, conn)
    assert await usage(conn) == {"mailbox": 2, "domain": 2, "campaign": 2}
    assert await stores.sending.record_sends(delivered=[], starting=[a], now=T0) == {a}
    # A crash here: a is in flight (its slot is used), b never reached SMTP.
    await stores.sending.recover_sends(T0)
    assert await usage(conn) == {"mailbox": 1, "domain": 1, "campaign": 1}
    states = await conn.execute_fetchall("SELECT id, state FROM sends ORDER BY id")
    assert [tuple(r) for r in states] == [(a, "unknown"), (b, "retry")]


async def stop_domain(stores: Stores, conn: aiosqlite.Connection) -> None:
    await stores.control.set_domain_state("a.test", DomainState.COOLDOWN, "554 5.7.1 blocked")


async def pause_mailbox(stores: Stores, conn: aiosqlite.Connection) -> None:
    await stores.control.set_mailbox_states(
        [(row[0], MailboxState.PAUSED, "/pause") for row in await conn.execute_fetchall(
            "SELECT id FROM mailboxes")]
    )  # fmt: skip


async def pause_campaign(stores: Stores, conn: aiosqlite.Connection) -> None:
    (cid,) = (await ids(conn, "campaigns", "name")).values()
    await stores.control.set_campaign_state(cid, CampaignState.PAUSED, "/pause")


async def rest_mailbox(stores: Stores, conn: aiosqlite.Connection) -> None:
    for row in await conn.execute_fetchall("SELECT id FROM mailboxes"):
        await stores.control.set_mailbox_resting(row[0], T0.replace(hour=23))


@pytest.mark.parametrize("stop", [stop_domain, pause_mailbox, pause_campaign, rest_mailbox])
async def test_a_stop_after_reserving_keeps_reserved_steps_from_going_out(
    stores: Stores, conn: aiosqlite.Connection, stop: object
) -> None:
    (a, b), leads = await two_reserved(stores, conn)
    assert callable(stop)
    await stop(stores, conn)
    assert await stores.sending.record_sends(delivered=[], starting=[a, b], now=T0) == set()
    rows = await conn.execute_fetchall("SELECT state, attempts FROM sends ORDER BY id")
    assert [tuple(r) for r in rows] == [("retry", 0), ("retry", 0)]
    # The steps wait for the sender to come back; today's slots are free again.
    assert await usage(conn) == {"mailbox": 0, "domain": 0, "campaign": 0}
    lead_rows = await conn.execute_fetchall(
        "SELECT state, next_step, next_due_at IS NOT NULL FROM leads ORDER BY id"
    )
    assert [tuple(r) for r in lead_rows] == [("active", 1, 1), ("active", 1, 1)]
    assert not conn.in_transaction
