"""The ESP port: each feed's cursor, the sends its events are about, and one commit of pages."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

from core.esp import EspEvent, PageMatch
from core.records import Applied, Effects, SentRef, Verdicts
from storage.db import Database, run_sync
from storage.health import SendCounts
from storage.ingest import commit_batch, read_cursor
from storage.sent_refs import ascii_lower, chunks, latest_sent_to_sync, refs_by_sync, rows

# How long before an event the mail it is about may have gone out, for the recipient match:
# the longest event retention of the providers (Postmark keeps 45 days), and then some.
LOOKBACK = timedelta(days=60)


class EspStore:
    """What polling ESPs needs (engine.ports.EspStore)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # The window's sends, kept between commits: a page's verdicts don't count them all.
        self._sends = SendCounts()

    async def cursor(self, source: str) -> str | None:
        """Where the feed `source` ("esp:<name>") reads on; None before its first page."""
        return await read_cursor(self._db, source)

    async def sends_for(
        self, events: Sequence[EspEvent], domains: Sequence[str]
    ) -> dict[str, SentRef]:
        """event id -> the send it is about: by the provider's message id, else our
        Message-ID, else the latest mail sent to the recipient from one of `domains` (any
        domain when empty) up to LOOKBACK before the event. A few statements for a whole
        page, not one per event."""
        return (await self.match(None, events, domains)).refs

    async def match(
        self, source: str | None, events: Sequence[EspEvent], domains: Sequence[str]
    ) -> PageMatch:
        """The page's event ids stored before under `source` (none looked up when None), and
        sends_for of the others: one trip to the connection's thread for the whole page."""
        page = list(events)
        async with self._db.reading() as conn:
            return await run_sync(conn, lambda db: _match(db, source, page, domains))

    async def ingest(
        self,
        batch: Sequence[Effects],
        source: str,
        cursor: str,
        *,
        now: datetime,
        verdicts: Verdicts | None = None,
    ) -> list[Applied]:
        """Apply a page's events, the verdicts they call for and the feed's cursor, one commit."""
        return await commit_batch(
            self._db, batch, source, cursor, now=now, verdicts=verdicts, sends=self._sends
        )


def _match(
    db: sqlite3.Connection, source: str | None, events: list[EspEvent], domains: Sequence[str]
) -> PageMatch:
    # A page read again (Mailgun's trailing window, a restart, SNS redelivering) is mostly
    # stored events: one indexed look-up of their ids (UNIQUE (source, source_id)) spares
    # matching them to sends and the core's effects, only to be refused by the same UNIQUE.
    known: set[str] = set()
    if source is not None:
        for chunk in chunks(e.event_id for e in events):
            marks = ", ".join("?" for _ in chunk)
            sql = f"SELECT source_id FROM events WHERE source = ? AND source_id IN ({marks})"
            known.update(str(row[0]) for row in rows(db, sql, [source, *chunk]))
    rest = [e for e in events if e.event_id not in known]
    return PageMatch(frozenset(known), _sends_for(db, rest, domains) if rest else {})


def _sends_for(
    db: sqlite3.Connection, events: list[EspEvent], domains: Sequence[str]
) -> dict[str, SentRef]:
    found: dict[str, SentRef] = {}
    by_provider = refs_by_sync(
        db, "provider_id", [e.provider_message_id for e in events if e.provider_message_id]
    )
    for e in events:
        if e.provider_message_id and e.provider_message_id in by_provider:
            found[e.event_id] = by_provider[e.provider_message_id]
    rest = [e for e in events if e.event_id not in found]
    by_mid = refs_by_sync(db, "message_id", [f"<{e.message_id}>" for e in rest if e.message_id])
    for e in rest:
        if e.message_id and f"<{e.message_id}>" in by_mid:
            found[e.event_id] = by_mid[f"<{e.message_id}>"]
    rest = [e for e in rest if e.event_id not in found and e.email]
    if rest:
        # An event is about mail sent before it, and no provider keeps events longer
        # than LOOKBACK: only that window's sends are candidates.
        since = min(e.occurred_at for e in rest) - LOOKBACK
        until = max(e.occurred_at for e in rest)
        emails = [e.email for e in rest]
        by_email = latest_sent_to_sync(db, emails, domains, since, until)
        for e in rest:
            ref = by_email.get(ascii_lower(e.email))
            if ref is not None:
                found[e.event_id] = ref
    return found
