"""record_sends(): delivered steps recorded and the next ones marked in flight, in one go."""

from __future__ import annotations

from datetime import timedelta

import aiosqlite

from core.records import Delivered, Reserved
from storage.db import to_ms
from storage.stores import Stores
from tests.storage.helpers import (
    GAP,
    T0,
    TODAY,
    add_lead,
    campaign,
    campaign_req,
    config,
    ids,
    mailbox,
)


async def reserved(stores: Stores, conn: aiosqlite.Connection, n: int) -> list[tuple[int, int]]:
    """`n` reserved step-1 sends of a two-step campaign: (send id, lead id) each."""
    await stores.config.sync_config(
        config([mailbox(f"m{i}@a.test") for i in range(n)], campaigns=[campaign("c")]).rules(),
        TODAY,
        now=T0,
    )
    boxes, camps = await ids(conn, "mailboxes", "address"), await ids(conn, "campaigns", "name")
    out = []
    for i in range(n):
        lead = await add_lead(conn, camps["c"], f"l{i}@lead.test")
        req = campaign_req(boxes[f"m{i}@a.test"], lead, camps["c"], message_id=f"<m{i}@a.test>")
        result = await stores.sending.reserve(req)
        assert isinstance(result, Reserved)
        out.append((result.send_id, lead))
    return out


async def rows(conn: aiosqlite.Connection, sql: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in await conn.execute_fetchall(sql)]


async def test_marks_only_reserved_sends(stores: Stores, conn: aiosqlite.Connection) -> None:
    (a, _), (b, _) = await reserved(stores, conn, 2)
    await conn.execute("UPDATE sends SET state = 'retry' WHERE id = ?", (b,))
    marked = await stores.sending.record_sends(delivered=[], starting=[a, b], now=T0)
    assert marked == {a}  # b is no longer 'reserved': it must not go out
    assert await rows(conn, "SELECT id, state, attempts, updated_at FROM sends ORDER BY id") == [
        (a, "sending", 1, to_ms(T0)),
        (b, "retry", 0, to_ms(T0)),
    ]
    assert not conn.in_transaction


async def test_records_deliveries_and_marks_the_next_in_one_transaction(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    (a, lead_a), (b, lead_b), (c, _) = await reserved(stores, conn, 3)
    assert await stores.sending.record_sends(delivered=[], starting=[a, b], now=T0) == {a, b}
    due = T0 + timedelta(days=3)
    at = T0 + GAP
    marked = await stores.sending.record_sends(
        delivered=[
            Delivered(a, at, 250, "250 2.0.0 ok", lead_a, due),  # a step follows
            Delivered(b, at, 250, "250 2.0.0 ok", lead_b, None),  # that was the last step
        ],
        starting=[c],
        now=at,
    )
    assert marked == {c}
    assert await rows(
        conn, "SELECT id, state, sent_at, smtp_code, smtp_reply FROM sends ORDER BY id"
    ) == [
        (a, "sent", to_ms(at), 250, "250 2.0.0 ok"),
        (b, "sent", to_ms(at), 250, "250 2.0.0 ok"),
        (c, "sending", None, None, None),
    ]
    assert await rows(
        conn, "SELECT state, next_due_at, thread_message_id FROM leads ORDER BY id"
    ) == [
        ("active", to_ms(due), "<m0@a.test>"),
        ("finished", None, "<m1@a.test>"),
        ("active", None, None),
    ]


async def test_a_closed_lead_stays_closed(stores: Stores, conn: aiosqlite.Connection) -> None:
    ((a, lead),) = await reserved(stores, conn, 1)
    await stores.sending.record_sends(delivered=[], starting=[a], now=T0)
    await conn.execute("UPDATE leads SET state = 'replied' WHERE id = ?", (lead,))
    done = Delivered(a, T0, 250, "ok", lead, T0 + timedelta(days=3))
    await stores.sending.record_sends(delivered=[done], starting=[], now=T0)
    assert await rows(conn, "SELECT state, next_due_at FROM leads") == [("replied", None)]
    assert await rows(conn, "SELECT state FROM sends") == [("sent",)]


async def test_the_relays_message_id_is_stored_with_the_send(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    (a, lead_a), (b, lead_b) = await reserved(stores, conn, 2)
    await stores.sending.record_sends(delivered=[], starting=[a, b], now=T0)
    reply = "Ok 0100018c-ses-000000"
    delivered = [
        Delivered(a, T0, 250, reply, lead_a, None, "0100018c-ses-000000"),
        Delivered(b, T0, 250, "250 2.0.0 ok", lead_b, None),  # a relay that names no id
    ]
    await stores.sending.record_sends(delivered=delivered, starting=[], now=T0)
    assert await rows(conn, "SELECT id, provider_id FROM sends ORDER BY id") == [
        (a, "0100018c-ses-000000"),
        (b, None),
    ]
