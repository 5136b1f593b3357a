"""The window counts a commit of new events decides its verdicts on: the same numbers as the
health job's, read without going over every event of the window (SQLite VM steps, not time)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import aiosqlite

from core.records import MailboxHealth
from storage.db import run_sync, to_ms
from storage.health import VERDICT_KINDS, SendCounts, window_counts
from storage.stores import Stores
from tests.storage.helpers import T0, sample


async def counted(
    conn: aiosqlite.Connection,
    kinds: tuple[str, ...] | None,
    *,
    sends: SendCounts | None = None,
    start: datetime = T0 - timedelta(days=7),
    end: datetime = T0 + timedelta(days=1),
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
        rows = await window_counts(conn, start, end, kinds=kinds, sends=sends)
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


async def add_sends(conn: aiosqlite.Connection, mailbox: int, at: datetime, count: int) -> None:
    """`count` warm-up sends of `mailbox` recorded sent at `at` (raw rows)."""
    rows = [("warmup", mailbox, "2026-03-02", "sent", to_ms(at), to_ms(at), to_ms(at))] * count
    await conn.executemany(
        "INSERT INTO sends (kind, mailbox_id, day, state, reserved_at, sent_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


async def test_kept_send_counts_are_the_full_counts(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, _ = await sample(stores, conn)
    a1, a2, b1 = boxes["a1@a.test"], boxes["a2@a.test"], boxes["b1@b.test"]
    start = T0 - timedelta(days=7)
    kept = SendCounts(settle=timedelta(minutes=1), refresh=timedelta(hours=1))

    async def both(now: datetime, since: datetime = start) -> dict[str, int]:
        """The kept count at `now`, asserted equal to the whole count, by address."""
        _, rows = await counted(conn, VERDICT_KINDS, sends=kept, start=since, end=now)
        _, full = await counted(conn, VERDICT_KINDS, start=since, end=now)
        assert rows == full
        return {r.address: r.counts.sends for r in rows}

    await add_sends(conn, a1, start - timedelta(seconds=1), 5)  # before the window
    await add_sends(conn, a1, start, 3)  # its first instant
    await add_sends(conn, a2, T0 - timedelta(days=2), 40)
    await add_sends(conn, b1, T0, 7)  # at the read's own instant
    assert await both(T0) == {"a1@a.test": 3, "a2@a.test": 40, "b1@b.test": 7}
    # Sends since: the first instant after the last read's settled part (stamped within a
    # minute of that read, committed after it), the next read's settled part, its last minute.
    await add_sends(conn, a2, T0 - timedelta(seconds=60) + timedelta(milliseconds=1), 1)
    await add_sends(conn, a2, T0 + timedelta(seconds=10), 2)
    await add_sends(conn, b1, T0 + timedelta(seconds=100), 4)
    now = T0 + timedelta(seconds=110)
    assert await both(now) == {"a1@a.test": 3, "a2@a.test": 43, "b1@b.test": 11}
    await add_sends(conn, a1, now, 1)  # the same instant read again
    assert (await both(now))["a1@a.test"] == 4
    await add_sends(conn, a2, T0 + timedelta(minutes=10), 1)
    assert (await both(T0 + timedelta(minutes=30)))["a2@a.test"] == 44
    # The clock went back: the send of minute 10 is after now again.
    assert (await both(T0 + timedelta(minutes=5)))["a2@a.test"] == 43
    moved = T0 - timedelta(days=6)  # a window a day on drops the first day's sends
    assert await both(T0 + timedelta(minutes=6), moved) == {
        "a1@a.test": 1,
        "a2@a.test": 43,
        "b1@b.test": 11,
    }
    assert (await both(T0 + timedelta(days=1), moved))["a2@a.test"] == 44


async def test_a_send_committed_late_is_missed_until_the_refresh(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, _ = await sample(stores, conn)
    box = boxes["a2@a.test"]
    start = T0 - timedelta(days=7)
    kept = SendCounts(settle=timedelta(minutes=1), refresh=timedelta(hours=1))
    await add_sends(conn, box, T0, 10)
    assert (await kept.read(conn, to_ms(start), to_ms(T0 + timedelta(minutes=5))))[box] == 10
    # Stamped 4 minutes before the last read's end, committed after it: the rate it feeds is
    # read from one send fewer (higher: the safe side) until the hourly whole count.
    await add_sends(conn, box, T0 + timedelta(minutes=1), 1)
    assert (await kept.read(conn, to_ms(start), to_ms(T0 + timedelta(minutes=30))))[box] == 10
    assert (await kept.read(conn, to_ms(start), to_ms(T0 + timedelta(minutes=65))))[box] == 11


async def test_a_kept_count_reads_only_the_new_sends(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, _ = await sample(stores, conn)
    kept = SendCounts()
    for box in boxes.values():
        await add_sends(conn, box, T0 - timedelta(days=1), 2000)
    first, _ = await counted(conn, VERDICT_KINDS, sends=kept, end=T0)
    await add_sends(conn, boxes["a2@a.test"], T0, 3)
    again, rows = await counted(conn, VERDICT_KINDS, sends=kept, end=T0 + timedelta(seconds=30))
    # The whole count walks 8,000 index entries; the next read its new few, not them again.
    assert again * 20 < first, (first, again)
    assert {r.address: r.counts.sends for r in rows}["a2@a.test"] == 2003


async def test_the_health_job_keeps_its_send_counts_between_runs(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, _ = await sample(stores, conn)
    for box in boxes.values():
        await add_sends(conn, box, T0 - timedelta(days=1), 2000)
    start = T0 - timedelta(days=7)

    async def run(end: datetime) -> tuple[int, list[MailboxHealth]]:
        """VM steps (in tens) of the health job's window count, and its rows."""
        steps = 0

        def tick() -> int:
            nonlocal steps
            steps += 1
            return 0

        await run_sync(conn, lambda db: db.set_progress_handler(tick, 10))
        try:
            rows = await stores.health.window_counts(start, end)
        finally:
            await run_sync(conn, lambda db: db.set_progress_handler(None, 0))
        return steps, rows

    first, _ = await run(T0)
    await add_sends(conn, boxes["a2@a.test"], T0, 3)
    again, rows = await run(T0 + timedelta(minutes=5))  # the job's next run
    assert again * 20 < first, (first, again)
    _, full = await counted(conn, None, start=start, end=T0 + timedelta(minutes=5))
    assert rows == full  # the same counts as a whole count
    assert {r.address: r.counts.sends for r in rows}["a2@a.test"] == 2003
