"""A /test send's slot (SPEC 10): the mailbox's and domain's day, every guard, and no sends row."""

from __future__ import annotations

from datetime import datetime

import aiosqlite
import pytest

from core.models import MailboxState
from core.records import RefusalReason, Refused, Reservation, SendKind, UsageScope
from storage.stores import Stores
from tests.storage.helpers import DAY, GAP, T0, add_lead, sample, scalar, warmup_req


def slot_req(
    mailbox_id: int, now: datetime = T0, cap: int = 40, domain_cap: int | None = None
) -> Reservation:
    """A test send's request with the default gap."""
    return Reservation(
        kind=SendKind.TEST, mailbox_id=mailbox_id, day=DAY, now=now, next_send_at=now + GAP,
        mailbox_cap=cap, domain_cap=domain_cap, campaign_id=1, message_id="<t@a.test>",
    )  # fmt: skip


async def test_a_test_send_counts_for_mailbox_and_domain_and_writes_no_send(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, campaigns = await sample(stores, conn)
    lead = await add_lead(conn, campaigns["c1"], "ann@x.test")
    domain = int(str(await scalar(conn, "SELECT id FROM domains WHERE name = 'a.test'")))
    assert await stores.sending.take_slot(slot_req(boxes["a2@a.test"], domain_cap=50)) is None
    assert await stores.reports.usage_today(UsageScope.MAILBOX, boxes["a2@a.test"], DAY) == 1
    assert await stores.reports.usage_today(UsageScope.DOMAIN, domain, DAY) == 1
    assert await stores.reports.usage_today(UsageScope.CAMPAIGN, campaigns["c1"], DAY) == 0
    assert await scalar(conn, "SELECT count(*) FROM sends") == 0
    assert await scalar(conn, "SELECT state FROM leads WHERE id = ?", (lead,)) == "queued"
    # Its gap holds the mailbox like any mail's would.
    refused = await stores.sending.reserve(warmup_req(boxes["a2@a.test"], T0 + GAP / 2))
    assert refused == Refused(RefusalReason.GAP)


async def test_a_test_send_is_refused_at_the_cap_and_in_a_stopped_mailbox(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, _ = await sample(stores, conn)
    assert await stores.sending.take_slot(slot_req(boxes["b1@b.test"], cap=0)) == Refused(
        RefusalReason.MAILBOX_LIMIT
    )
    await stores.control.set_mailbox_state(boxes["b1@b.test"], MailboxState.PAUSED, "test")
    assert await stores.sending.take_slot(slot_req(boxes["b1@b.test"])) == Refused(
        RefusalReason.MAILBOX_STATE
    )
    # A refusal writes nothing: no usage row, no gap.
    assert await scalar(conn, "SELECT count(*) FROM usage WHERE sent > 0") == 0
    assert (
        await scalar(conn, "SELECT next_send_at FROM mailboxes WHERE id = ?", (boxes["b1@b.test"],))
        is None
    )


def test_a_test_send_names_no_lead_or_step() -> None:
    with pytest.raises(ValueError, match="no lead or step"):
        Reservation(
            kind=SendKind.TEST, mailbox_id=1, day=DAY, now=T0, next_send_at=T0, mailbox_cap=1,
            lead_id=3,
        )  # fmt: skip


async def test_take_slot_takes_only_test_sends(stores: Stores) -> None:
    with pytest.raises(ValueError, match="only a test send"):
        await stores.sending.take_slot(warmup_req(1))


async def test_a_test_send_never_becomes_a_sends_row(stores: Stores) -> None:
    with pytest.raises(ValueError, match="take_slot"):
        await stores.sending.reserve(slot_req(1))
