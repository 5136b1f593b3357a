"""The event port: the suppression list, events stored once, the polled sources' cursors."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import aiosqlite
import pytest

from core.models import EventKind
from core.records import Effects, NewEvent, Suppression
from storage.db import run_sync, to_ms
from storage.reports import close_open_leads_sync
from storage.stores import Stores
from tests.storage.helpers import GAP, T0, sample


async def suppress(stores: Stores, entry: str, reason: str, source: str, *, now: datetime) -> bool:
    """List an entry (and close its open leads) as the services do; True when it is new."""
    applied = await stores.events.apply(Effects(suppress=Suppression(entry, reason, source, now)))
    return applied.suppressed


async def test_suppression(stores: Stores) -> None:
    assert await suppress(stores, " Bob@Example.COM ", "hard bounce", "imap", now=T0)
    assert not await suppress(stores, "bob@example.com", "again", "mailgun", now=T0)
    assert await suppress(stores, "@spam.test", "admin", "bot", now=T0)
    assert await stores.events.is_suppressed("BOB@example.com")
    assert await stores.events.is_suppressed("anyone@SPAM.test")
    assert not await stores.events.is_suppressed("alice@example.com")
    assert not await stores.events.is_suppressed("x@sub.spam.test")
    assert await stores.events.unsuppress("@Spam.test")
    assert not await stores.events.unsuppress("@spam.test")
    assert not await stores.events.is_suppressed("anyone@spam.test")
    with pytest.raises(ValueError, match="neither"):
        await suppress(stores, "not-an-address", "x", "bot", now=T0)


async def test_events_are_stored_once(stores: Stores, conn: aiosqlite.Connection) -> None:
    boxes, camps = await sample(stores, conn)

    assert await stores.events.add_event(
        NewEvent(
            source="mailgun",
            kind=EventKind.COMPLAINT,
            email="X@Lead.test",
            mailbox_id=boxes["a2@a.test"],
            campaign_id=camps["c1"],
            step_no=1,
            detail="fbl",
            source_id="abc",
            occurred_at=T0,
            received_at=T0 + GAP,
        )
    )
    # the same (source, source_id) again; then the same id from another source
    assert not await stores.events.add_event(
        NewEvent(
            source="mailgun",
            kind=EventKind.COMPLAINT,
            source_id="abc",
            occurred_at=T0,
            received_at=T0,
        )
    )
    assert await stores.events.add_event(
        NewEvent(source="ses", kind=EventKind.OPEN, source_id="abc", occurred_at=T0, received_at=T0)
    )
    async with conn.execute("SELECT * FROM events ORDER BY id") as cursor:
        rows = list(await cursor.fetchall())
    assert len(rows) == 2
    first = rows[0]
    assert (first["kind"], first["email"], first["mailbox_id"], first["campaign_id"]) == (
        "complaint",
        "x@lead.test",
        boxes["a2@a.test"],
        camps["c1"],
    )
    assert (first["step_no"], first["detail"], first["occurred_at"]) == (1, "fbl", to_ms(T0))
    assert first["received_at"] == to_ms(T0 + GAP)


async def test_cursors(stores: Stores) -> None:
    assert await stores.events.cursor("mailgun:mg") is None
    await stores.events.set_cursor("mailgun:mg", "page-1", now=T0)
    await stores.events.set_cursor("mailgun:mg", "page-2", now=T0 + GAP)
    assert await stores.events.cursor("mailgun:mg") == "page-2"


async def test_suppressing_an_address_reads_only_its_leads(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    """Every ESP hard bounce closes its address's leads: the work must not grow with the
    number of leads (it scanned them all: ~40 ms a bounce at 100,000 leads). Counted in
    SQLite VM steps, not time."""
    _, camps = await sample(stores, conn)
    campaign = camps["c1"]

    async def steps_to_close(address: str) -> tuple[int, int]:
        def work(db: sqlite3.Connection) -> tuple[int, int]:
            steps = 0

            def tick() -> int:
                nonlocal steps
                steps += 1
                return 0  # go on

            db.set_progress_handler(tick, 10)
            try:
                closed = close_open_leads_sync(db, "bounced", address=address)
            finally:
                db.set_progress_handler(None, 0)
            return steps, closed

        return await run_sync(conn, work)

    async def add_leads(first: int, count: int) -> None:
        rows = [(campaign, f"lead{n:06d}@example.com", "{}", to_ms(T0))
                for n in range(first, first + count)]  # fmt: skip
        await conn.executemany(
            "INSERT INTO leads (campaign_id, email, vars, created_at) VALUES (?, ?, ?, ?)", rows
        )

    await add_leads(0, 50)
    await conn.execute(
        "INSERT INTO leads (campaign_id, email, vars, created_at) VALUES (?, ?, ?, ?)",
        (campaign, "Mixed.Case@example.com", "{}", to_ms(T0)),
    )
    few, closed = await steps_to_close("lead000007@example.com")
    assert closed == 1
    await add_leads(50, 5000)
    many, closed = await steps_to_close("lead004321@example.com")
    assert closed == 1
    assert many < 2 * few + 20, (few, many)  # not 100 times the work for 100 times the leads
    # Any letter case still matches (SQLite's lower() and ours fold ASCII the same way).
    assert (await steps_to_close("mixed.case@EXAMPLE.com"))[1] == 1
