"""/lead's query: an address's leads in every campaign, with their sends and events."""

from __future__ import annotations

from datetime import timedelta

import aiosqlite

from core.models import EventKind, LeadState, ReplyLabel, SendState
from core.records import LeadEvent, LeadStep
from storage.db import to_ms
from storage.stores import Stores
from tests.storage.helpers import DAY, T0, TODAY, add_lead, campaign, config, ids, mailbox

HOUR = timedelta(hours=1)


async def add_send(
    conn: aiosqlite.Connection,
    lead_id: int,
    campaign_id: int,
    step_no: int,
    mailbox_id: int,
    state: str,
    *,
    sent_hours: int | None,
    updated_hours: int,
    reply: str | None = None,
) -> int:
    """One campaign send of a lead, raw."""
    sent = None if sent_hours is None else to_ms(T0 + sent_hours * HOUR)
    cursor = await conn.execute(
        "INSERT INTO sends (kind, lead_id, campaign_id, step_no, mailbox_id, day, state, "
        "smtp_reply, reserved_at, sent_at, updated_at) "
        "VALUES ('campaign', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (lead_id, campaign_id, step_no, mailbox_id, DAY, state, reply, to_ms(T0), sent,
         to_ms(T0 + updated_hours * HOUR)),
    )  # fmt: skip
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def add_event(
    conn: aiosqlite.Connection,
    key: str,
    kind: str,
    hours: int,
    *,
    send_id: int | None = None,
    email: str | None = None,
    campaign_id: int | None = None,
) -> None:
    """One stored event, raw."""
    at = to_ms(T0 + hours * HOUR)
    await conn.execute(
        "INSERT INTO events (source, source_id, kind, email, send_id, campaign_id, occurred_at, "
        "received_at) VALUES ('imap', ?, ?, ?, ?, ?, ?, ?)",
        (key, kind, email, send_id, campaign_id, at, at),
    )


async def test_every_campaign_of_an_address_with_its_sends_events_and_label(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    await stores.config.sync_config(
        config(
            [mailbox("a@x.test"), mailbox("b@y.test")], [campaign("one"), campaign("two")]
        ).rules(),
        TODAY,
    )
    camps = await ids(conn, "campaigns", "name")
    boxes = await ids(conn, "mailboxes", "address")
    first = await add_lead(conn, camps["one"], "Jane@Ex.test")
    second = await add_lead(conn, camps["two"], "jane@ex.test")
    other = await add_lead(conn, camps["one"], "john@ex.test")
    await conn.execute(
        "UPDATE leads SET state = 'replied', label = 'interested' WHERE id = ?", (first,)
    )
    await conn.execute("UPDATE leads SET state = 'active' WHERE id = ?", (second,))
    s1 = await add_send(
        conn, first, camps["one"], 1, boxes["a@x.test"], "sent", sent_hours=1, updated_hours=1,
        reply="250 2.0.0\r\n OK  queued as 12345",
    )  # fmt: skip
    await add_send(
        conn, first, camps["one"], 2, boxes["b@y.test"], "failed", sent_hours=None,
        updated_hours=5, reply="550 no such user",
    )  # fmt: skip
    await add_send(conn, second, camps["two"], 1, boxes["b@y.test"], "sent", sent_hours=2,
                   updated_hours=2)  # fmt: skip
    s_other = await add_send(conn, other, camps["one"], 1, boxes["a@x.test"], "sent",
                             sent_hours=1, updated_hours=1)  # fmt: skip
    await add_event(conn, "by-send", "reply", 3, send_id=s1)
    await add_event(conn, "by-campaign", "unsubscribe", 4, email="JANE@ex.test",
                    campaign_id=camps["two"])  # fmt: skip
    await add_event(conn, "by-address", "complaint", 6, email="jane@EX.test")
    await add_event(conn, "not-hers", "bounce_hard", 3, send_id=s_other, email="john@ex.test")

    cards = await stores.reports.lead_cards("jane@ex.test")

    assert [(c.lead_id, c.email, c.campaign) for c in cards] == [
        (first, "Jane@Ex.test", "one"),
        (second, "jane@ex.test", "two"),
    ]
    one, two = cards
    assert (one.state, one.label) == (LeadState.REPLIED, ReplyLabel.INTERESTED)
    assert (two.state, two.label) == (LeadState.ACTIVE, None)
    assert one.steps == (
        LeadStep(1, SendState.SENT, T0 + HOUR, True, "a@x.test",
                 "250 2.0.0\r\n OK  queued as 12345"),
        LeadStep(2, SendState.FAILED, T0 + 5 * HOUR, False, "b@y.test", "550 no such user"),
    )  # fmt: skip
    assert two.steps == (LeadStep(1, SendState.SENT, T0 + 2 * HOUR, True, "b@y.test", None),)
    # By its send, by its campaign, and an address-only event on every card.
    complaint = LeadEvent(EventKind.COMPLAINT, T0 + 6 * HOUR, "imap")
    assert one.events == (LeadEvent(EventKind.REPLY, T0 + 3 * HOUR, "imap"), complaint)
    assert two.events == (LeadEvent(EventKind.UNSUBSCRIBE, T0 + 4 * HOUR, "imap"), complaint)


async def test_an_address_that_is_no_lead_gives_no_cards(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    await stores.config.sync_config(config([mailbox("a@x.test")], [campaign("one")]).rules(), TODAY)
    await add_lead(conn, (await ids(conn, "campaigns", "name"))["one"], "jane@ex.test")
    assert await stores.reports.lead_cards("jane@ex.tes") == []
    assert await stores.reports.lead_cards("jan@ex.test") == []
