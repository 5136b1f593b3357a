"""An admin's answer to a reply is a send of kind 'reply' (SPEC 12): it takes the mailbox's and
the domain's slots, never the campaign's, and goes out in a paused campaign."""

from __future__ import annotations

from datetime import datetime, timedelta

import aiosqlite

from core.models import CampaignState
from core.records import Reservation, Reserved, SendKind, UsageScope
from storage.stores import Stores
from tests.storage.helpers import DAY, GAP, T0, scalar
from tests.storage.test_inbox import sent_lead

HOUR = timedelta(hours=1)


def answer_req(
    mailbox_id: int, lead_id: int, campaign_id: int, mid: str, at: datetime = T0 + HOUR
) -> Reservation:
    return Reservation(
        kind=SendKind.REPLY, mailbox_id=mailbox_id, day=DAY, now=at, next_send_at=at + GAP,
        mailbox_cap=40, lead_id=lead_id, campaign_id=campaign_id, message_id=mid,
    )  # fmt: skip


async def usage(stores: Stores, scope: UsageScope, ref: int) -> int:
    return await stores.reports.usage_today(scope, ref, DAY)


async def test_an_answer_counts_for_its_mailbox_not_its_campaign_and_survives_a_pause(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    lead, _ = await sent_lead(stores, conn, "ann@x.test")
    mailbox = int(str(await scalar(conn, "SELECT mailbox_id FROM leads WHERE id = ?", (lead,))))
    campaign = int(str(await scalar(conn, "SELECT campaign_id FROM leads WHERE id = ?", (lead,))))
    before = (
        await usage(stores, UsageScope.MAILBOX, mailbox),
        await usage(stores, UsageScope.CAMPAIGN, campaign),
    )
    reserved = await stores.sending.reserve(answer_req(mailbox, lead, campaign, "<a1@a.test>"))
    assert isinstance(reserved, Reserved)
    assert await usage(stores, UsageScope.MAILBOX, mailbox) == before[0] + 1
    assert await usage(stores, UsageScope.CAMPAIGN, campaign) == before[1]

    # A paused campaign stops its steps at the 'sending' mark, not an admin's answer.
    await stores.control.set_campaign_state(campaign, CampaignState.PAUSED, "holiday")
    marked = await stores.sending.record_sends(
        delivered=[], starting=[reserved.send_id], now=T0 + timedelta(hours=1)
    )
    assert marked == {reserved.send_id}

    # Reserved, never sent, then a crash: its slots come back, the campaign's stays as it was.
    second = await stores.sending.reserve(
        answer_req(mailbox, lead, campaign, "<a2@a.test>", at=T0 + timedelta(hours=2))
    )
    assert isinstance(second, Reserved)
    assert await usage(stores, UsageScope.MAILBOX, mailbox) == before[0] + 2
    await stores.sending.recover_sends(T0 + timedelta(hours=3))
    assert await usage(stores, UsageScope.MAILBOX, mailbox) == before[0] + 1
    assert await usage(stores, UsageScope.CAMPAIGN, campaign) == before[1]
    assert await scalar(conn, "SELECT count(*) FROM sends WHERE message_id = '<a2@a.test>'") == 0
