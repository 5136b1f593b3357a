"""Steps reserved but never sent: recovery and a refused mark give their day's slots back."""

from __future__ import annotations

import aiosqlite

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
