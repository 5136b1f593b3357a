"""What every polled source shares: its stored cursor, and one commit of a batch with it.

The IMAP folders (storage/inbox.py) and the ESP feeds (storage/esp.py) both apply a batch of
effects, the health verdicts the new counts call for, and the source's new position in one
transaction: a crash before the commit re-reads the batch, and the events' stable ids keep
anything from counting twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from core.records import Applied, Effects, FolderCursor, Verdicts
from storage.db import Database, run_sync, to_ms
from storage.events import apply_effects, apply_effects_sync
from storage.health import VERDICT_KINDS, SendCounts, window_counts


async def read_cursor(db: Database, source: str) -> str | None:
    """The stored position of a polled source, or None before its first commit."""
    found = await db.fetch("SELECT value FROM cursors WHERE source = ?", (source,))
    return str(found[0]["value"]) if found else None


async def read_folder_cursor(db: Database, source: str) -> FolderCursor | None:
    """How far an IMAP folder (a source) was read; None before its first commit."""
    found = await read_cursor(db, source)
    if found is None:
        return None
    uidvalidity, _, last_uid = found.partition(":")
    return FolderCursor(int(uidvalidity), int(last_uid))


def folder_cursor_value(cursor: FolderCursor) -> str:
    """An IMAP folder's position as the cursors table keeps it: `UIDVALIDITY:last UID`."""
    return f"{cursor.uidvalidity}:{cursor.last_uid}"


async def commit_batch(
    db: Database,
    batch: Sequence[Effects],
    source: str,
    cursor: str,
    *,
    now: datetime,
    verdicts: Verdicts | None = None,
    sends: SendCounts | None = None,
) -> list[Applied]:
    """Apply `batch`, the verdicts (window start, policy) if given, and move `source` to
    `cursor`, in one transaction; `sends` keeps the window's sends between batches."""
    async with db.writing() as conn:
        # The whole batch in one trip to the connection's thread: one trip per statement
        # made a page of 300 events wait on ~1,000 thread hand-overs (bench/bench_esp.py).
        applied = await run_sync(conn, lambda db: [apply_effects_sync(db, fx) for fx in batch])
        # Verdicts follow from the window's counts, which only a newly stored event changes:
        # a page read again (the trailing re-read, a restart) is not worth a window count.
        if verdicts is not None and any(result.applied for result in applied):
            window_start, decide = verdicts
            counts = await window_counts(conn, window_start, now, kinds=VERDICT_KINDS, sends=sends)
            for effects in decide(counts):
                await apply_effects(conn, effects)
        await write_cursor(conn, source, cursor, now)
        return applied


_WRITE_CURSOR = """
INSERT INTO cursors (source, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (source) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
"""


async def write_cursor(conn: aiosqlite.Connection, source: str, value: str, now: datetime) -> None:
    """Move `source` to `value` (inside the caller's transaction)."""
    await conn.execute(_WRITE_CURSOR, (source, value, to_ms(now)))


def write_cursor_sync(db: sqlite3.Connection, source: str, value: str, now: datetime) -> None:
    """write_cursor for code on the connection's thread (see storage.db.run_sync)."""
    db.execute(_WRITE_CURSOR, (source, value, to_ms(now)))
