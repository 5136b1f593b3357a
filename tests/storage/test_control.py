"""The control port's state writers, and the stored rows they change."""

from __future__ import annotations

from datetime import timedelta

import aiosqlite

from core.models import CampaignState, DomainState, MailboxState
from storage.stores import Stores
from tests.storage.helpers import T0, sample


async def test_state_writers_and_reads(stores: Stores, conn: aiosqlite.Connection) -> None:
    await sample(stores, conn)
    control = stores.control
    assert await control.set_domain_state(
        " A.test ", DomainState.COOLDOWN, "block", T0 + timedelta(days=14)
    )
    assert not await control.set_domain_state("nope.test", DomainState.PAUSED, "x")
    assert not await control.set_mailbox_state(999, MailboxState.PAUSED, "x")
    assert not await control.set_campaign_state(999, CampaignState.PAUSED, "x")
    domain = next(d for d in await control.domains() if d.name == "a.test")
    assert (domain.state, domain.reason, domain.cooldown_until) == (
        DomainState.COOLDOWN,
        "block",
        T0 + timedelta(days=14),
    )
    box = await control.mailbox_by_address("gone@c.test")
    assert box is not None
    assert (box.state, box.in_config) == (MailboxState.DISABLED, False)
    assert await stores.reports.mailbox(999) is None
    assert len(await control.mailboxes()) == 4
