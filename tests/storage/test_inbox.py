"""The inbox port: folder cursors, our sends by Message-ID, and a batch committed whole."""

from __future__ import annotations

from datetime import timedelta

import aiosqlite
import pytest

from core.models import EventKind, LeadState
from core.records import Effects, FolderCursor, NewEvent, Reserved, Suppression
from storage.stores import Stores
from tests.storage.helpers import T0, add_lead, campaign_req, deliver, sample, scalar

SOURCE = "imap:a2@a.test:INBOX"


async def sent_lead(stores: Stores, conn: aiosqlite.Connection, email: str) -> tuple[int, int]:
    """A lead of c1 whose step 1 went out from a2@a.test as <id-EMAIL@a.test>: (lead, send)."""
    boxes, camps = await sample(stores, conn)
    lead = await add_lead(conn, camps["c1"], email)
    reserved = await stores.sending.reserve(
        campaign_req(boxes["a2@a.test"], lead, camps["c1"], message_id=f"<id-{email}>")
    )
    assert isinstance(reserved, Reserved)
    await deliver(stores.sending, reserved.send_id, lead, T0, T0 + timedelta(days=3))
    return lead, reserved.send_id


def reply(send_id: int, lead_id: int, source_id: str = "a2@a.test:<r1@x.test>") -> Effects:
    """A reply's effects as the engine builds them: the event and the closed lead."""
    event = NewEvent(
        source="imap", source_id=source_id, kind=EventKind.REPLY, occurred_at=T0,
        received_at=T0, email="ann@x.test", send_id=send_id, message_id="<r1@x.test>",
    )  # fmt: skip
    return Effects(event=event, close_lead=(lead_id, LeadState.REPLIED))


async def test_a_folder_cursor_moves_only_with_a_committed_batch(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    lead, send = await sent_lead(stores, conn, "ann@x.test")
    assert await stores.inbox.folder_cursor(SOURCE) is None

    refs = await stores.inbox.sends_by_message_ids(["<id-ann@x.test>", "<nope@x.test>"])
    assert list(refs) == ["<id-ann@x.test>"]
    ref = refs["<id-ann@x.test>"]
    assert (ref.send_id, ref.lead_id, ref.email, ref.mailbox, ref.step_no) == (
        send, lead, "ann@x.test", "a2@a.test", 1,
    )  # fmt: skip
    assert ref.campaign == "c1"

    applied = await stores.inbox.ingest([reply(send, lead)], SOURCE, FolderCursor(7, 12), now=T0)
    assert [a.applied for a in applied] == [True]
    assert await stores.inbox.folder_cursor(SOURCE) == FolderCursor(7, 12)
    assert await scalar(conn, "SELECT state FROM leads WHERE id = ?", (lead,)) == "replied"
    assert await scalar(conn, "SELECT message_id FROM events WHERE kind = 'reply'") == "<r1@x.test>"

    # Read again (a UIDVALIDITY change): the same event id changes nothing a second time.
    again = await stores.inbox.ingest([reply(send, lead)], SOURCE, FolderCursor(8, 3), now=T0)
    assert [a.applied for a in again] == [False]
    assert await scalar(conn, "SELECT count(*) FROM events") == 1
    assert await stores.inbox.folder_cursor(SOURCE) == FolderCursor(8, 3)


async def test_a_failing_batch_leaves_events_leads_and_cursor_as_they_were(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    lead, send = await sent_lead(stores, conn, "ann@x.test")
    await stores.inbox.ingest([], SOURCE, FolderCursor(7, 10), now=T0)
    broken = Effects(suppress=Suppression("not an address", "x", "imap", T0))
    with pytest.raises(ValueError, match="neither"):
        await stores.inbox.ingest([reply(send, lead), broken], SOURCE, FolderCursor(7, 20), now=T0)
    assert await stores.inbox.folder_cursor(SOURCE) == FolderCursor(7, 10)
    assert await scalar(conn, "SELECT count(*) FROM events") == 0
    assert await scalar(conn, "SELECT state FROM leads WHERE id = ?", (lead,)) == "active"
