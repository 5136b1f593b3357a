"""Where warm-up mail landed (SPEC 7): placements by Message-ID, their counts, and the hold."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime

from core.placement import PlacementCount, WarmupOrigin
from core.records import FolderCursor, NewAlert, Placement
from storage import alerts
from storage.db import Database, run_sync, sync_transaction, to_ms
from storage.ingest import folder_cursor_value, read_folder_cursor, write_cursor_sync
from storage.sent_refs import MAX_PARAMS


def _domain_lowered(message_id: str) -> str:
    """`<local@Domain>` with its domain part lower-cased: a server may re-case it, the left
    part is the sender's own and kept as it is (RFC 5322 compares ids as they are)."""
    local, at, domain = message_id.rpartition("@")
    return f"{local}{at}{domain.lower()}" if at else message_id


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    wanted = list(dict.fromkeys(values))
    for at in range(0, len(wanted), MAX_PARAMS):
        yield wanted[at : at + MAX_PARAMS]


class PlacementStore:
    """The warm-up loop's receiving side (engine.ports.PlacementStore)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def folder_cursor(self, source: str) -> FolderCursor | None:
        """How far `source` (a receiver's folder) was searched; None before the first time."""
        return await read_folder_cursor(self._db, source)

    async def origins(self, message_ids: Sequence[str]) -> dict[str, WarmupOrigin]:
        """The loop's mails among `message_ids` ('<...>'), keyed as asked: who sent each."""
        asked: dict[str, list[str]] = {}
        for message_id in message_ids:
            for variant in {message_id, _domain_lowered(message_id)}:
                asked.setdefault(variant, []).append(message_id)
        out: dict[str, WarmupOrigin] = {}
        for chunk in _chunks(asked):
            marks = ", ".join("?" for _ in chunk)
            rows = await self._db.fetch(
                f"""
                SELECT w.message_id, w.mailbox_id, m.address,
                       EXISTS (SELECT 1 FROM warmup_mails a WHERE a.answers = w.message_id)
                FROM warmup_mails w JOIN mailboxes m ON m.id = w.mailbox_id
                WHERE w.message_id IN ({marks})
                """,
                chunk,
            )
            for row in rows:
                origin = WarmupOrigin(str(row[0]), int(row[1]), str(row[2]), bool(row[3]))
                for message_id in asked[origin.message_id]:
                    out[message_id] = origin
        return out

    async def record(
        self,
        placements: Sequence[Placement],
        source: str,
        cursor: FolderCursor | None,
        now: datetime,
    ) -> int:
        """Store first sightings and move `source` to `cursor` (None: leave it), one commit.

        A mail seen before keeps its first folder: rescued from spam, it shows up again in
        the inbox and still counts as spam. Returns how many were new.
        """
        rows = [
            (p.message_id, p.receiver, p.mailbox_id, "spam" if p.spam else "inbox",
             to_ms(p.seen_at))
            for p in placements
        ]  # fmt: skip

        def work(db: sqlite3.Connection) -> int:
            with sync_transaction(db):
                before = db.total_changes
                db.executemany(
                    "INSERT OR IGNORE INTO placements (message_id, receiver, mailbox_id, folder, "
                    "seen_at) VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                new = db.total_changes - before
                if cursor is not None:
                    write_cursor_sync(db, source, folder_cursor_value(cursor), now)
                return new

        # One trip to the connection's thread, not four (BEGIN, inserts, cursor, COMMIT): the
        # receiving side commits once for every folder with news at every poll.
        async with self._db.lock:
            return await run_sync(self._db.conn, work)

    async def counts(self, since: datetime, until: datetime) -> list[PlacementCount]:
        """Per sending mailbox, placements seen in [since, until] and its hold; every held
        mailbox is listed, with or without placements."""
        rows = await self._db.fetch(
            """
            WITH placed AS (
                SELECT mailbox_id, sum(folder = 'inbox') AS inbox, sum(folder = 'spam') AS spam
                FROM placements WHERE seen_at >= ? AND seen_at <= ?
                GROUP BY mailbox_id
            )
            SELECT m.id, m.address, coalesce(w.inbox, 0), coalesce(w.spam, 0), m.placement_hold
            FROM mailboxes m LEFT JOIN placed w ON w.mailbox_id = m.id
            WHERE w.mailbox_id IS NOT NULL OR m.placement_hold = 1
            ORDER BY m.id
            """,
            (to_ms(since), to_ms(until)),
        )
        return [
            PlacementCount(int(r[0]), str(r[1]), int(r[2]), int(r[3]), bool(r[4])) for r in rows
        ]

    async def set_hold(self, mailbox_id: int, held: bool, alert: NewAlert) -> bool:
        """Hold or release a mailbox's campaign mail and raise `alert`, one commit; False (and
        no alert) when it already was so."""
        async with self._db.writing() as conn:
            changed = list(
                await conn.execute_fetchall(
                    "UPDATE mailboxes SET placement_hold = ? "
                    "WHERE id = ? AND placement_hold != ? RETURNING id",
                    (int(held), mailbox_id, int(held)),
                )
            )
            if not changed:
                return False
            await alerts.store(conn, alert)
            return True
