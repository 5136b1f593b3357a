"""The event port: an event, its lead, its suppression entry and its verdicts in one commit."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import aiosqlite

from core.models import LeadState
from core.records import Applied, Effects, NewEvent, Suppression
from storage import alerts, health, reports
from storage.db import Database, run_sync, to_ms


def suppression_entry(entry: str) -> str:
    """An address or '@domain' as the suppression list holds it (lower case)."""
    value = entry.strip().lower()
    if "@" not in value or value.endswith("@") or (value.count("@") > 1):
        raise ValueError(f"{entry!r} is neither an address nor '@domain'")
    return value


def add_event_sync(db: sqlite3.Connection, event: NewEvent) -> bool:
    """Store one event; False when (source, source_id) was stored before."""
    cursor = db.execute(
        """
        INSERT INTO events (source, source_id, kind, email, mailbox_id, send_id,
                            campaign_id, step_no, occurred_at, received_at, detail, message_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (source, source_id) DO NOTHING
        """,
        (
            event.source,
            event.source_id,
            event.kind.value,
            event.email.strip().lower() if event.email else None,
            event.mailbox_id,
            event.send_id,
            event.campaign_id,
            event.step_no,
            to_ms(event.occurred_at),
            to_ms(event.received_at),
            event.detail,
            event.message_id,
        ),
    )
    return cursor.rowcount == 1


async def add_event(conn: aiosqlite.Connection, event: NewEvent) -> bool:
    """add_event_sync in one trip to the connection's thread."""
    return await run_sync(conn, lambda db: add_event_sync(db, event))


def suppress_sync(db: sqlite3.Connection, item: Suppression) -> tuple[bool, int]:
    """List the entry and close its open leads: (newly listed, leads closed)."""
    entry = suppression_entry(item.entry)
    cursor = db.execute(
        """
        INSERT INTO suppression (entry, reason, source, created_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (entry) DO NOTHING
        """,
        (entry, item.reason, item.source, to_ms(item.now)),
    )
    listed = cursor.rowcount == 1
    # Closed even when the entry was listed already: leads imported before it was listed
    # (or under another letter case) would otherwise still be mailed.
    local, _, domain = entry.partition("@")
    state = item.lead_state.value
    if local:
        closed = reports.close_open_leads_sync(db, state, address=entry)
    else:
        closed = reports.close_open_leads_sync(db, state, domain=domain)
    return listed, closed


async def suppress(conn: aiosqlite.Connection, item: Suppression) -> tuple[bool, int]:
    """suppress_sync in one trip to the connection's thread."""
    return await run_sync(conn, lambda db: suppress_sync(db, item))


def close_lead_sync(db: sqlite3.Connection, lead_id: int, state: LeadState) -> int:
    """Close one lead if it is still open; 1 when it was."""
    cursor = db.execute(
        "UPDATE leads SET state = ?, next_due_at = NULL "
        "WHERE id = ? AND state IN ('queued', 'active')",
        (state.value, lead_id),
    )
    return cursor.rowcount


async def close_lead(conn: aiosqlite.Connection, lead_id: int, state: LeadState) -> int:
    """close_lead_sync in one trip to the connection's thread."""
    return await run_sync(conn, lambda db: close_lead_sync(db, lead_id, state))


def apply_effects_sync(db: sqlite3.Connection, fx: Effects) -> Applied:
    """Apply one use case's changes inside the caller's write transaction, on the
    connection's thread (storage.db.run_sync): a batch of them is one trip, not one a statement."""
    if fx.event is not None and not add_event_sync(db, fx.event) and not fx.repeatable:
        return Applied(applied=False)
    suppressed, closed, cooled = False, 0, False
    # The named lead first: it closes in its own state (bounced, replied), then the
    # suppression closes whatever else the address still has open.
    if fx.close_lead is not None:
        closed += close_lead_sync(db, *fx.close_lead)
    if fx.close_address is not None:
        address, state = fx.close_address
        closed += reports.close_open_leads_sync(db, state.value, address=address)
    if fx.suppress is not None:
        suppressed, closed_by_entry = suppress_sync(db, fx.suppress)
        closed += closed_by_entry
    if fx.label is not None:
        lead_id, label = fx.label
        db.execute("UPDATE leads SET label = ? WHERE id = ?", (label.value, lead_id))
    if fx.pause_mailbox is not None:
        mailbox_id, reason = fx.pause_mailbox
        db.execute(
            "UPDATE mailboxes SET state = 'paused', reason = ? WHERE id = ?", (reason, mailbox_id)
        )
    if fx.rest_mailbox is not None:
        mailbox_id, until = fx.rest_mailbox
        db.execute(
            "UPDATE mailboxes SET resting_until = ? WHERE id = ?", (to_ms(until), mailbox_id)
        )
    for alert in fx.alerts:
        alerts.store_sync(db, alert)
    if fx.cool_down is not None:
        cool = fx.cool_down
        cooled = health.cool_down_domain_sync(db, cool.domain, cool.reason, cool.until)
        if cooled and cool.alert is not None:
            alerts.store_sync(db, cool.alert)
    return Applied(True, suppressed, closed, cooled)


async def apply_effects(conn: aiosqlite.Connection, fx: Effects) -> Applied:
    """apply_effects_sync in one trip to the connection's thread."""
    return await run_sync(conn, lambda db: apply_effects_sync(db, fx))


class EventStore:
    """Events and the suppression list (engine.ports.EventStore)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def apply(self, effects: Effects) -> Applied:
        """Commit an event with everything it causes, or nothing."""
        async with self._db.writing() as conn:
            return await apply_effects(conn, effects)

    async def lead_email(self, lead_id: int) -> str | None:
        """The address of one lead."""
        rows = await self._db.fetch("SELECT email FROM leads WHERE id = ?", (lead_id,))
        return str(rows[0][0]) if rows else None

    async def unsuppress(self, entry: str) -> bool:
        """Remove an address or '@domain' from the list; False when absent."""
        sql = "DELETE FROM suppression WHERE entry = ?"
        return await self._db.change(sql, (suppression_entry(entry),)) == 1

    async def is_suppressed(self, email: str) -> bool:
        """Whether the address, or its whole domain, is suppressed."""
        address = email.strip().lower()
        domain = "@" + address.rpartition("@")[2]
        rows = await self._db.fetch(
            "SELECT 1 FROM suppression WHERE entry IN (?, ?) LIMIT 1", (address, domain)
        )
        return bool(rows)

    async def add_event(self, event: NewEvent) -> bool:
        """Store one event that changes nothing else; False when it was stored before."""
        async with self._db.writing() as conn:
            return await add_event(conn, event)

    async def cursor(self, source: str) -> str | None:
        """The stored position of a polled source (an ESP), or None before its first poll."""
        found = await self._db.fetch("SELECT value FROM cursors WHERE source = ?", (source,))
        return str(found[0]["value"]) if found else None

    async def set_cursor(self, source: str, value: str, *, now: datetime) -> None:
        """Remember how far a polled source has been read."""
        await self._db.change(
            """
            INSERT INTO cursors (source, value, updated_at) VALUES (?, ?, ?)
            ON CONFLICT (source) DO UPDATE SET value = excluded.value,
                updated_at = excluded.updated_at
            """,
            (source, value, to_ms(now)),
        )
