"""The event port: the suppression list, events stored once, the polled sources' cursors."""

from __future__ import annotations

from datetime import datetime

import aiosqlite
import pytest

from core.models import EventKind
from core.records import Effects, NewEvent, Suppression
from storage.db import to_ms
from storage.stores import Stores
from tests.storage.helpers import GAP, T0, sample


async def suppress(stores: Stores, entry: str, reason: str, source: str, *, now: datetime) -> bool:
    """List an entry (and close its open leads) as the services do; True when it is new."""
    applied = await stores.events.apply(Effects(suppress=Suppression(entry, reason, source, now)))
    return applied.suppressed


async def test_suppression(stores: Stores) -> None:
    assert await suppress(stores, " Bob@Example.COM ", "hard bounce", "imap", now=T0)
    assert not await suppress(stores, "bob@example.com", "again", "mailgun", now=T0)
    assert await suppress(stores, "@spam.test", "admin", "bot", now=T0)
    assert await stores.events.is_suppressed("BOB@example.com")
    assert await stores.events.is_suppressed("anyone@SPAM.test")
    assert not await stores.events.is_suppressed("alice@example.com")
    assert not await stores.events.is_suppressed("x@sub.spam.test")
    assert await stores.events.unsuppress("@Spam.test")
    assert not await stores.events.unsuppress("@spam.test")
    assert not await stores.events.is_suppressed("anyone@spam.test")
    with pytest.raises(ValueError, match="neither"):
        await suppress(stores, "not-an-address", "x", "bot", now=T0)


async def test_events_are_stored_once(stores: Stores, conn: aiosqlite.Connection) -> None:
    boxes, camps = await sample(stores, conn)

    assert await stores.events.add_event(
        NewEvent(
            source="mailgun",
            kind=EventKind.COMPLAINT,
            email="X@Lead.test",
            mailbox_id=boxes["a2@a.test"],
            campaign_id=camps["c1"],
            step_no=1,
            detail="fbl",
            source_id="abc",
            occurred_at=T0,
            received_at=T0 + GAP,
        )
    )
    # the same (source, source_id) again; then the same id from another source
    assert not await stores.events.add_event(
        NewEvent(
            source="mailgun",
            kind=EventKind.COMPLAINT,
            source_id="abc",
            occurred_at=T0,
            received_at=T0,
        )
    )
    assert await stores.events.add_event(
        NewEvent(source="ses", kind=EventKind.OPEN, source_id="abc", occurred_at=T0, received_at=T0)
    )
    async with conn.execute("SELECT * FROM events ORDER BY id") as cursor:
        rows = list(await cursor.fetchall())
    assert len(rows) == 2
    first = rows[0]
    assert (first["kind"], first["email"], first["mailbox_id"], first["campaign_id"]) == (
        "complaint",
        "x@lead.test",
        boxes["a2@a.test"],
        camps["c1"],
    )
    assert (first["step_no"], first["detail"], first["occurred_at"]) == (1, "fbl", to_ms(T0))
    assert first["received_at"] == to_ms(T0 + GAP)


async def test_cursors(stores: Stores) -> None:
    assert await stores.events.cursor("mailgun:mg") is None
    await stores.events.set_cursor("mailgun:mg", "page-1", now=T0)
    await stores.events.set_cursor("mailgun:mg", "page-2", now=T0 + GAP)
    assert await stores.events.cursor("mailgun:mg") == "page-2"
