"""Arranging a lead's history straight in the database: its campaign sends and their events."""

from __future__ import annotations

from datetime import datetime

from core import limits
from core.models import EventKind
from core.records import NewEvent
from storage.db import to_ms
from tests.bot.data_world import TZ, DataWorld


async def lead_id(world: DataWorld, campaign: str, email: str) -> int:
    """The id of one lead."""
    rows = list(
        await world.conn.execute_fetchall(
            "SELECT l.id FROM leads l JOIN campaigns c ON c.id = l.campaign_id "
            "WHERE c.name = ? AND l.email = ?",
            (campaign, email),
        )
    )
    return int(rows[0][0])


async def campaign_send(
    world: DataWorld,
    campaign: str,
    email: str,
    step: int,
    at: datetime,
    *,
    mailbox: str = "m0@d0.test",
    state: str = "sent",
) -> int:
    """A campaign send of `step` to a lead; sent at `at` unless its state says otherwise."""
    lead = await lead_id(world, campaign, email)
    ms = to_ms(at)
    async with world.conn.execute(
        "INSERT INTO sends (kind, lead_id, campaign_id, step_no, mailbox_id, day, state, "
        "reserved_at, sent_at, updated_at) "
        "SELECT 'campaign', l.id, l.campaign_id, ?, ?, ?, ?, ?, ?, ? FROM leads l WHERE l.id = ?",
        (step, await world.mailbox_id(mailbox), limits.local_day(at, TZ).isoformat(), state,
         ms, ms if state == "sent" else None, ms, lead),
    ) as cursor:  # fmt: skip
        assert cursor.lastrowid is not None
        return cursor.lastrowid


async def send_event(world: DataWorld, send_id: int, kind: EventKind, at: datetime) -> None:
    """An event about one send, as the inbox or an ESP stores it."""
    world.events_added += 1
    await world.stores.events.add_event(
        NewEvent(
            source="imap",
            source_id=f"s{world.events_added}",
            kind=kind,
            occurred_at=at,
            received_at=at,
            send_id=send_id,
        )
    )


async def set_label(world: DataWorld, campaign: str, email: str, label: str) -> None:
    """Label a lead's reply as an admin's button press does."""
    await world.conn.execute(
        "UPDATE leads SET label = ? WHERE id = ?", (label, await lead_id(world, campaign, email))
    )
