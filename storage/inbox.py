"""The inbox port: how far each folder was read, our sends by Message-ID, and ingestion."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.records import Applied, Effects, FolderCursor, SentRef, Verdicts
from storage.db import Database
from storage.health import SendCounts
from storage.ingest import commit_batch, folder_cursor_value, read_folder_cursor
from storage.sent_refs import refs_by


class InboxStore:
    """What reading mailboxes needs (engine.ports.InboxStore)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # The window's sends, kept between commits: a page's verdicts don't count them all.
        self._sends = SendCounts()

    async def folder_cursor(self, source: str) -> FolderCursor | None:
        """How far `source` (a mailbox's folder) has been read; None before its first read."""
        return await read_folder_cursor(self._db, source)

    async def sends_by_message_ids(self, message_ids: Sequence[str]) -> dict[str, SentRef]:
        """The mails we sent with these Message-IDs (any case of the id's domain part)."""
        return await refs_by(self._db, "message_id", message_ids)

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
        value = folder_cursor_value(cursor)
        return await commit_batch(
            self._db, batch, source, value, now=now, verdicts=verdicts, sends=self._sends
        )
