"""The inbox port: how far each folder was read, our sends by Message-ID, and ingestion."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.records import Applied, Effects, FolderCursor, SentRef, Verdicts
from storage.db import Database, to_ms
from storage.events import apply_effects
from storage.health import window_counts

_MAX_PARAMS = 500  # Message-IDs looked up per statement


class InboxStore:
    """What reading mailboxes needs (engine.ports.InboxStore)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def folder_cursor(self, source: str) -> FolderCursor | None:
        """How far `source` (a mailbox's folder) has been read; None before its first read."""
        found = await self._db.fetch("SELECT value FROM cursors WHERE source = ?", (source,))
        if not found:
            return None
        uidvalidity, _, last_uid = str(found[0]["value"]).partition(":")
        return FolderCursor(int(uidvalidity), int(last_uid))

    async def sends_by_message_ids(self, message_ids: Sequence[str]) -> dict[str, SentRef]:
        """The mails we sent with these Message-IDs (any case of the id's domain part)."""
        wanted = list(dict.fromkeys(message_ids))
        out: dict[str, SentRef] = {}
        for at in range(0, len(wanted), _MAX_PARAMS):
            chunk = wanted[at : at + _MAX_PARAMS]
            marks = ", ".join("?" for _ in chunk)
            rows = await self._db.fetch(
                f"""
                SELECT s.id, s.message_id, s.mailbox_id, m.address, l.email, s.lead_id,
                       s.campaign_id, c.name, s.step_no
                FROM sends s
                JOIN mailboxes m ON m.id = s.mailbox_id
                LEFT JOIN leads l ON l.id = s.lead_id
                LEFT JOIN campaigns c ON c.id = s.campaign_id
                WHERE s.message_id IN ({marks})
                """,
                chunk,
            )
            for r in rows:
                out[str(r[1])] = SentRef(
                    send_id=r[0], message_id=r[1], mailbox_id=r[2], mailbox=r[3], email=r[4],
                    lead_id=r[5], campaign_id=r[6], campaign=r[7], step_no=r[8],
                )  # fmt: skip
        return out

    async def ingest(
        self,
        batch: Sequence[Effects],
        source: str,
        cursor: FolderCursor,
        *,
        now: datetime,
        verdicts: Verdicts | None = None,
    ) -> list[Applied]:
        """Apply a folder's new mails and move its cursor past them, in one transaction.

        With `verdicts` (window start, policy), the health verdicts the new counts call for
        are applied in the same transaction too (SPEC 8: event, lead, suppression and verdict
        commit together). A crash before the commit leaves everything as it was: the mails
        are read again and, their events having stable ids, applied once.
        """
        async with self._db.writing() as conn:
            applied = [await apply_effects(conn, effects) for effects in batch]
            if verdicts is not None:
                window_start, decide = verdicts
                for effects in decide(await window_counts(conn, window_start, now)):
                    await apply_effects(conn, effects)
            await conn.execute(
                """
                INSERT INTO cursors (source, value, updated_at) VALUES (?, ?, ?)
                ON CONFLICT (source) DO UPDATE SET value = excluded.value,
                    updated_at = excluded.updated_at
                """,
                (source, f"{cursor.uidvalidity}:{cursor.last_uid}", to_ms(now)),
            )
            return applied
