"""gather_status: which mailboxes /status names, in what order, and what it only counts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiosqlite
import pytest

from core.models import MailboxState
from engine.clock import ManualClock
from engine.status import ATTENTION_LIMIT, gather_status
from storage.db import Database, open_db
from storage.stores import Stores
from tests.storage.helpers import T0, TODAY, add_lead, campaign, config, ids, mailbox, warmup_req

WARMING = ATTENTION_LIMIT - 5  # with 3 paused, 2 resting, 2 cooling: 2 warming left unnamed


@pytest.fixture
async def conn(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    connection = await open_db(tmp_path / "outreach.db")
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def stores(conn: aiosqlite.Connection) -> Stores:
    """WARMING warming mailboxes and 10 active ones on calm.test, 2 on hot.test; a campaign."""
    repository = Stores.on(Database(conn))
    boxes = [mailbox(f"w{i:02d}@calm.test", warmup_start=TODAY - timedelta(days=2))
             for i in range(WARMING)]  # fmt: skip
    boxes += [mailbox(f"a{i}@calm.test") for i in range(10)]
    boxes += [mailbox(f"h{i}@hot.test") for i in range(2)]
    await repository.config.sync_config(config(boxes, [campaign("one")]).rules(), TODAY, now=T0)
    return repository


async def test_the_most_urgent_are_named_and_the_rest_counted(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    control = stores.control
    boxes = await ids(conn, "mailboxes", "address")
    camps = await ids(conn, "campaigns", "name")
    for i in range(3):
        await add_lead(conn, camps["one"], f"p{i}@lead.test")
    for i in (7, 8, 9):
        await stores.control.set_mailbox_state(
            boxes[f"a{i}@calm.test"], MailboxState.PAUSED, f"why {i}"
        )
    for i in (5, 6):
        await control.set_mailbox_resting(boxes[f"a{i}@calm.test"], T0 + timedelta(hours=1))
    await control.set_mailbox_resting(boxes["a4@calm.test"], T0 - timedelta(hours=1))  # over
    await stores.health.cool_down_domain("hot.test", "spam block", T0 + timedelta(days=14))
    await stores.sending.reserve(warmup_req(boxes["w00@calm.test"]))
    settings = config([mailbox("x@calm.test")])  # only its sending and warm-up tables are read

    report = await gather_status(stores.reports, ManualClock(T0), settings.rules())

    named = [(line.address, line.state) for line in report.attention]
    assert len(named) == ATTENTION_LIMIT
    assert named[:7] == [
        ("a7@calm.test", "paused"),
        ("a8@calm.test", "paused"),
        ("a9@calm.test", "paused"),
        ("h0@hot.test", "cooldown"),
        ("h1@hot.test", "cooldown"),
        ("a5@calm.test", "active"),
        ("a6@calm.test", "active"),
    ]
    assert named[7:] == [(f"w{i:02d}@calm.test", "warming") for i in range(ATTENTION_LIMIT - 7)]
    assert report.unlisted == {"warming": WARMING - (ATTENTION_LIMIT - 7)}
    lines = {line.address: line for line in report.attention}
    assert lines["a7@calm.test"].reason == "why 7"
    assert lines["h0@hot.test"].reason == "spam block"
    assert lines["a5@calm.test"].reason == "resting until 2026-03-02 10:00 UTC"
    assert (lines["w00@calm.test"].sent, lines["w00@calm.test"].cap) == (1, 7)  # day 3: 7
    assert (lines["a7@calm.test"].sent, lines["a7@calm.test"].cap) == (0, 0)
    assert report.sent == 1
    assert {s.value: n for s, n in report.capacity.by_state().items()} == {
        "active": 7,
        "warming": WARMING,
        "paused": 3,
        "cooldown": 2,
    }
    assert report.capacity.total == 7 * 40 + WARMING * 7
    assert [(c.name, c.leads) for c in report.campaigns] == [("one", {"queued": 3})]


async def test_a_small_pool_names_everyone_that_needs_attention(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes = await ids(conn, "mailboxes", "address")
    await stores.control.set_mailbox_state(
        boxes["a0@calm.test"], MailboxState.PAUSED, "by an admin"
    )
    for i in range(WARMING):
        await stores.control.set_mailbox_warmup(
            boxes[f"w{i:02d}@calm.test"], None, MailboxState.ACTIVE
        )

    report = await gather_status(
        stores.reports, ManualClock(T0), config([mailbox("x@calm.test")]).rules()
    )

    assert [(line.address, line.reason) for line in report.attention] == [
        ("a0@calm.test", "by an admin")
    ]
    assert report.unlisted == {}
