"""SQL of the durable alert outbox: alerts, one delivery row per chat, quiet periods."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import aiosqlite

from core.records import NewAlert, PendingDelivery, StoredAlert
from storage.db import Database, from_ms, run_sync, to_ms


def add_sync(
    db: sqlite3.Connection,
    *,
    key: str,
    severity: str,
    text: str,
    chats: list[int],
    now: datetime,
    quiet_since: datetime,
    lead_id: int | None = None,
) -> int | None:
    """Store an alert and its deliveries unless the same key was raised after `quiet_since`
    (on the connection's thread, inside the caller's transaction: storage.db.run_sync)."""
    recent = db.execute(
        "SELECT 1 FROM alerts WHERE key = ? AND created_at > ? LIMIT 1", (key, to_ms(quiet_since))
    ).fetchall()
    if recent:
        return None
    cursor = db.execute(
        "INSERT INTO alerts (key, severity, text, created_at, lead_id) VALUES (?, ?, ?, ?, ?)",
        (key, severity, text, to_ms(now), lead_id),
    )
    alert_id = cursor.lastrowid
    assert alert_id is not None
    db.executemany(
        "INSERT INTO alert_deliveries (alert_id, chat_id, next_attempt_at) VALUES (?, ?, ?)",
        [(alert_id, chat, to_ms(now)) for chat in chats],
    )
    return alert_id


async def add(
    conn: aiosqlite.Connection,
    *,
    key: str,
    severity: str,
    text: str,
    chats: list[int],
    now: datetime,
    quiet_since: datetime,
    lead_id: int | None = None,
) -> int | None:
    """add_sync in one trip to the connection's thread."""
    return await run_sync(
        conn,
        lambda db: add_sync(
            db,
            key=key,
            severity=severity,
            text=text,
            chats=chats,
            now=now,
            quiet_since=quiet_since,
            lead_id=lead_id,
        ),  # fmt: skip
    )


async def due(conn: aiosqlite.Connection, now: datetime, limit: int) -> list[PendingDelivery]:
    """Pending deliveries, oldest alert first; a chat whose oldest is not due yet waits whole."""
    rows = await conn.execute_fetchall(
        """
        SELECT d.alert_id, d.chat_id, d.attempts, d.next_attempt_at, a.severity, a.text,
               a.created_at, a.lead_id, a.key
        FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id
        WHERE d.state = 'pending'
        ORDER BY d.chat_id, d.alert_id
        LIMIT ?
        """,
        (limit,),
    )
    out: list[PendingDelivery] = []
    blocked: set[int] = set()
    for row in rows:
        chat = row["chat_id"]
        # Order per chat: nothing overtakes an earlier alert that is still waiting.
        if chat in blocked or row["next_attempt_at"] > to_ms(now):
            blocked.add(chat)
            continue
        out.append(
            PendingDelivery(
                row["alert_id"], chat, row["severity"], row["text"], row["attempts"],
                from_ms(row["created_at"]), row["lead_id"], row["key"],
            )
        )  # fmt: skip
    return out


async def mark_sent(
    conn: aiosqlite.Connection,
    alert_id: int,
    chat_id: int,
    now: datetime,
    message_id: int | None = None,
) -> None:
    """The chat has it (as its message `message_id`, when the transport says)."""
    await conn.execute(
        "UPDATE alert_deliveries SET state = 'sent', sent_at = ?, attempts = attempts + 1, "
        "message_id = ? WHERE alert_id = ? AND chat_id = ?",
        (to_ms(now), message_id, alert_id, chat_id),
    )


async def postpone(
    conn: aiosqlite.Connection, alert_id: int, chat_id: int, until: datetime, *, count: bool
) -> None:
    """Try this delivery again at `until` (counting an attempt unless it was rate limiting)."""
    await conn.execute(
        "UPDATE alert_deliveries SET next_attempt_at = ?, attempts = attempts + ? "
        "WHERE alert_id = ? AND chat_id = ?",
        (to_ms(until), 1 if count else 0, alert_id, chat_id),
    )


async def recent(conn: aiosqlite.Connection, limit: int) -> list[StoredAlert]:
    """The latest alerts, newest first."""
    rows = await conn.execute_fetchall(
        "SELECT id, key, severity, text, created_at FROM alerts ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    return [
        StoredAlert(r["id"], r["key"], r["severity"], r["text"], from_ms(r["created_at"]))
        for r in rows
    ]


def store_sync(db: sqlite3.Connection, alert: NewAlert) -> int | None:
    """add_sync() for an alert drafted by the outbox (inside the caller's transaction)."""
    return add_sync(
        db, key=alert.key, severity=alert.severity, text=alert.text, chats=list(alert.chats),
        now=alert.now, quiet_since=alert.quiet_since, lead_id=alert.lead_id,
    )  # fmt: skip


async def store(conn: aiosqlite.Connection, alert: NewAlert) -> int | None:
    """add() for an alert drafted by the outbox (inside the caller's transaction)."""
    return await run_sync(conn, lambda db: store_sync(db, alert))


class AlertStore:
    """The durable alert outbox (engine.ports.AlertStore)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_alert(self, alert: NewAlert) -> int | None:
        """Store an alert for each chat, unless its key was raised after `quiet_since`."""
        async with self._db.writing() as conn:
            return await store(conn, alert)

    async def due_alerts(self, now: datetime, limit: int = 100) -> list[PendingDelivery]:
        """Deliveries to attempt now, in order per chat."""
        async with self._db.reading() as conn:
            return await due(conn, now, limit)

    async def alert_sent(
        self, alert_id: int, chat_id: int, now: datetime, message_id: int | None = None
    ) -> None:
        """Mark one delivery done (as chat message `message_id`, when known)."""
        async with self._db.writing() as conn:
            await mark_sent(conn, alert_id, chat_id, now, message_id)

    async def alert_postpone(
        self, alert_id: int, chat_id: int, until: datetime, *, count: bool
    ) -> None:
        """Try one delivery again later."""
        async with self._db.writing() as conn:
            await postpone(conn, alert_id, chat_id, until, count=count)
