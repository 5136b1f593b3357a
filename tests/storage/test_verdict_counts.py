"""The window counts a commit of new events decides its verdicts on: the same numbers as the
health job's, read without going over every event of the window (SQLite VM steps, not time)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import aiosqlite

from core.records import MailboxHealth
from storage.db import run_sync, to_ms
from storage.health import VERDICT_KINDS, window_counts
from storage.stores import Stores
from tests.storage.helpers import T0, sample


async def counted(
    conn: aiosqlite.Connection, kinds: tuple[str, ...] | None
) -> tuple[int, list[MailboxHealth]]:
    """VM steps (in tens) of one window count, and its rows."""
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    def arm(db: sqlite3.Connection) -> None:
        db.set_progress_handler(tick, 10)

    def disarm(db: sqlite3.Connection) -> None:
        db.set_progress_handler(None, 0)

    await run_sync(conn, arm)
    try:
        rows = await window_counts(
            conn, T0 - timedelta(days=7), T0 + timedelta(days=1), kinds=kinds
        )
    finally:
        await run_sync(conn, disarm)
    return steps, rows


async def add_events(conn: aiosqlite.Connection, mailbox: int, campaign: int, kind: str,
                     first: int, count: int) -> None:  # fmt: skip
    rows = [("esp:mg", f"{kind}-{n}", kind, mailbox, campaign, 1, to_ms(T0), to_ms(T0))
            for n in range(first, first + count)]  # fmt: skip
    await conn.executemany(
        "INSERT INTO events (source, source_id, kind, mailbox_id, campaign_id, step_no, "
        "occurred_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


async def test_verdict_counts_read_bounces_and_complaints_only(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, camps = await sample(stores, conn)
    box, campaign = boxes["a2@a.test"], camps["c1"]
    await add_events(conn, box, campaign, "delivered", 0, 20)
    await add_events(conn, box, campaign, "bounce_hard", 0, 2)
    await add_events(conn, box, campaign, "complaint", 0, 20)
    few, _ = await counted(conn, VERDICT_KINDS)
    # 100 times the deliveries and 10 times the complaints of a busy window.
    await add_events(conn, box, campaign, "delivered", 20, 2000)
    await add_events(conn, box, campaign, "complaint", 20, 180)
    many, rows = await counted(conn, VERDICT_KINDS)
    # Linear in the complaints (10x), not in the deliveries nor in complaints squared.
    assert many < 20 * few, (few, many)
    # The numbers the verdicts read are the health job's numbers.
    _, full = await counted(conn, None)
    verdict = {r.address: (r.counts.sends, r.counts.bounces, r.counts.complaints,
                           r.complaint_campaign, r.complaint_step) for r in rows}  # fmt: skip
    whole = {r.address: (r.counts.sends, r.counts.bounces, r.counts.complaints,
                         r.complaint_campaign, r.complaint_step) for r in full}  # fmt: skip
    assert verdict == whole
    assert verdict["a2@a.test"][1:] == (2, 200, "c1", 1)
    assert [r.counts.delivered for r in full if r.address == "a2@a.test"] == [2020]
