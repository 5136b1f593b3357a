"""The ESP port: matching a page's events to our sends, and a page committed with its cursor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import aiosqlite
import pytest

from core.esp import EspEvent
from core.esp_ingest import effects_of_event
from core.models import EventKind, LeadState
from core.records import (
    Delivered,
    Effects,
    MailboxHealth,
    NewEvent,
    Reserved,
    Suppression,
)
from storage.esp import LOOKBACK
from storage.stores import Stores
from tests.storage.helpers import T0, add_lead, campaign_req, sample, scalar

SOURCE = "esp:mg"


async def send(
    stores: Stores,
    conn: aiosqlite.Connection,
    mailbox: str,
    campaign: int,
    email: str,
    *,
    at: timedelta = timedelta(0),
    provider_id: str | None = None,
) -> int:
    """A step 1 sent from `mailbox` to a new lead `email` at T0 + `at`; its send id."""
    boxes = {
        row[0]: row[1] for row in await conn.execute_fetchall("SELECT address, id FROM mailboxes")
    }
    lead = await add_lead(conn, campaign, email)
    reserved = await stores.sending.reserve(
        campaign_req(boxes[mailbox], lead, campaign, message_id=f"<{lead}-{email}>", now=T0 + at)
    )
    assert isinstance(reserved, Reserved)
    sid = reserved.send_id
    await stores.sending.record_sends(delivered=[], starting=[sid], now=T0 + at)
    done = Delivered(sid, T0 + at, 250, "Ok", lead, T0 + timedelta(days=3), provider_id)
    await stores.sending.record_sends(delivered=[done], starting=[], now=T0 + at)
    return sid


def ev(event_id: str, email: str = "", **kw: object) -> EspEvent:
    fields: dict[str, object] = {
        "esp": "mg", "event_id": event_id, "kind": EventKind.DELIVERED, "email": email,
        "occurred_at": T0 + timedelta(hours=1),
    }  # fmt: skip
    fields.update(kw)
    return EspEvent(**fields)  # type: ignore[arg-type]


async def test_events_find_their_send_by_provider_id_then_message_id_then_recipient(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    _, camps = await sample(stores, conn)
    c1, c2 = camps["c1"], camps["c2"]
    by_provider = await send(stores, conn, "a2@a.test", c1, "ann@x.test", provider_id="pm-1")
    minutes = timedelta(minutes=10)
    by_mid = await send(stores, conn, "a2@a.test", c1, "bob@x.test", at=minutes)
    older = await send(stores, conn, "a2@a.test", c1, "cat@x.test", at=2 * minutes)
    latest = await send(stores, conn, "a1@a.test", c2, "Cat@X.test", at=3 * minutes)
    elsewhere = await send(stores, conn, "b1@b.test", c1, "dan@x.test")
    bob_mid = str(await scalar(conn, "SELECT message_id FROM sends WHERE id = ?", (by_mid,)))
    events = [
        # The provider id wins over a Message-ID that names another send.
        ev("e1", "ann@x.test", provider_message_id="pm-1", message_id=bob_mid.strip("<>")),
        ev("e2", "zed@x.test", message_id=bob_mid.strip("<>")),  # our Message-ID, without <>
        ev("e3", "cat@x.test"),  # by recipient, any letter case: the latest send to it
        ev("e4", "dan@x.test"),  # sent from b.test only: not this ESP's domain
        ev("e5", "nobody@x.test", provider_message_id="pm-x", message_id="nope@a.test"),
    ]
    found = await stores.esp.sends_for(events, ["a.test"])
    assert {k: v.send_id for k, v in found.items()} == {
        "e1": by_provider,
        "e2": by_mid,
        "e3": latest,
    }
    assert older != latest
    ref = found["e3"]
    assert (ref.mailbox, ref.email, ref.campaign, ref.step_no) == (
        "a1@a.test",
        "Cat@X.test",
        "c2",
        1,
    )
    # An ESP that lists no domain: the recipient matches whatever domain sent to it.
    anywhere = await stores.esp.sends_for(events[3:4], [])
    assert anywhere["e4"].send_id == elsewhere
    assert await stores.esp.sends_for([], ["a.test"]) == {}
    # An event long after the send (beyond any provider's retention) is not pinned on it.
    late = ev("e6", "cat@x.test", occurred_at=T0 + LOOKBACK + timedelta(hours=2))
    assert await stores.esp.sends_for([late], ["a.test"]) == {}
    # Nor is one about mail sent after it happened.
    early = ev("e7", "cat@x.test", occurred_at=T0 - timedelta(hours=1))
    assert await stores.esp.sends_for([early], ["a.test"]) == {}


async def test_a_page_commits_with_its_cursor_and_a_re_read_counts_nothing_twice(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    _, camps = await sample(stores, conn)
    sid = await send(stores, conn, "a2@a.test", camps["c1"], "ann@x.test", provider_id="pm-1")
    page = [ev("e1", "ann@x.test", provider_message_id="pm-1", kind=EventKind.COMPLAINT)]
    refs = await stores.esp.sends_for(page, ["a.test"])
    effects = effects_of_event(page[0], refs["e1"], now=T0)
    assert isinstance(effects, Effects)
    assert await stores.esp.cursor(SOURCE) is None

    applied = await stores.esp.ingest([effects], SOURCE, "page-2", now=T0)
    assert [a.applied for a in applied] == [True] and applied[0].suppressed
    assert await stores.esp.cursor(SOURCE) == "page-2"
    assert await scalar(conn, "SELECT state FROM leads WHERE email = 'ann@x.test'") == "complained"
    assert await scalar(conn, "SELECT entry FROM suppression") == "ann@x.test"
    assert await scalar(
        conn, "SELECT source || ' ' || source_id || ' ' || send_id FROM events"
    ) == (f"esp:mg e1 {sid}")

    again = await stores.esp.ingest([effects], SOURCE, "page-3", now=T0)
    assert [a.applied for a in again] == [False]
    assert await scalar(conn, "SELECT count(*) FROM events") == 1
    assert await stores.esp.cursor(SOURCE) == "page-3"


async def test_match_sets_a_pages_stored_events_aside_and_matches_only_the_rest(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    _, camps = await sample(stores, conn)
    sid = await send(stores, conn, "a2@a.test", camps["c1"], "ann@x.test", provider_id="pm-1")
    first = ev("e1", "ann@x.test", provider_message_id="pm-1")
    matched = await stores.esp.match(SOURCE, [first], ["a.test"])
    assert matched.known == frozenset() and matched.refs["e1"].send_id == sid
    effects = effects_of_event(first, matched.refs["e1"], now=T0)
    assert isinstance(effects, Effects)
    await stores.esp.ingest([effects], SOURCE, "page-1", now=T0)

    # The page read again with a new event about the same send: only the new one is matched.
    second = ev("e2", "ann@x.test", provider_message_id="pm-1", kind=EventKind.OPEN)
    again = await stores.esp.match(SOURCE, [first, second], ["a.test"])
    assert again.known == frozenset({"e1"}) and set(again.refs) == {"e2"}
    assert again.refs["e2"].send_id == sid
    # The same ids under another feed's source are not stored there.
    other = await stores.esp.match("esp:other", [first, second], ["a.test"])
    assert other.known == frozenset() and set(other.refs) == {"e1", "e2"}


async def test_a_failing_page_moves_neither_the_events_nor_the_cursor(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    _, camps = await sample(stores, conn)
    await send(stores, conn, "a2@a.test", camps["c1"], "ann@x.test", provider_id="pm-1")
    page = [ev("e1", "ann@x.test", provider_message_id="pm-1", kind=EventKind.BOUNCE_HARD)]
    refs = await stores.esp.sends_for(page, ["a.test"])
    effects = effects_of_event(page[0], refs["e1"], now=T0)
    assert isinstance(effects, Effects)
    await stores.esp.ingest([], SOURCE, "page-1", now=T0)
    broken = Effects(suppress=Suppression("not an address", "x", SOURCE, T0))
    with pytest.raises(ValueError, match="neither"):
        await stores.esp.ingest([effects, broken], SOURCE, "page-2", now=T0)
    assert await stores.esp.cursor(SOURCE) == "page-1"
    assert await scalar(conn, "SELECT count(*) FROM events") == 0
    assert await scalar(conn, "SELECT state FROM leads WHERE email = 'ann@x.test'") == "active"


async def test_a_page_is_committed_in_a_few_trips_to_the_database_thread(
    stores: Stores, conn: aiosqlite.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every statement awaited on its own is a thread hand-over (~1,000 for a page of 300
    bounces: the ESP bench ran at ~500 events/s); the page's effects go over in one."""
    trips = 0
    # aiosqlite's one way onto its thread (untyped there)
    execute: Callable[..., Awaitable[Any]] = conn._execute  # noqa: SLF001

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal trips
        trips += 1
        return await execute(fn, *args, **kwargs)

    monkeypatch.setattr(conn, "_execute", counted)
    page = [
        Effects(
            event=NewEvent(SOURCE, f"ev-{n}", EventKind.BOUNCE_HARD, T0, T0, email=f"l{n}@x.test"),
            suppress=Suppression(f"l{n}@x.test", "hard bounce", SOURCE, T0, LeadState.BOUNCED),
        )
        for n in range(300)
    ]
    applied = await stores.esp.ingest(page, SOURCE, "c1", now=T0)
    assert [a.applied for a in applied] == [True] * 300
    assert trips <= 4  # BEGIN, the page, the cursor, COMMIT
    trips = 0
    again = await stores.esp.ingest(page, SOURCE, "c2", now=T0)  # a re-read: nothing new
    assert not any(a.applied for a in again)
    assert trips <= 4
    assert await scalar(conn, "SELECT count(*) FROM events") == 300
    assert await scalar(conn, "SELECT count(*) FROM suppression") == 300


async def test_verdicts_are_decided_only_when_the_page_stored_something(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    """A page read again changes no count: no window count for it (one per page made the
    ESP bench's re-read pass grow with the square of the events)."""
    decided: list[int] = []

    def decide(rows: Sequence[MailboxHealth]) -> list[Effects]:
        decided.append(len(rows))
        return []

    page = [
        Effects(event=NewEvent(SOURCE, f"ev-{n}", EventKind.BOUNCE_HARD, T0, T0, email="a@x.test"))
        for n in range(3)
    ]
    await stores.esp.ingest(page, SOURCE, "c1", now=T0, verdicts=(T0, decide))
    assert len(decided) == 1
    again = await stores.esp.ingest(page, SOURCE, "c2", now=T0, verdicts=(T0, decide))
    assert not any(a.applied for a in again)
    assert len(decided) == 1  # nothing new: not decided again
    assert await scalar(conn, "SELECT value FROM cursors WHERE source = ?", (SOURCE,)) == "c2"
