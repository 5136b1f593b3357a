"""sync_config: the TOML mirrored into the database, runtime state kept across syncs."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import aiosqlite
import pytest

from config import DomainConfig
from core.models import (
    CampaignState,
    DomainState,
    LeadState,
    MailboxState,
)
from core.records import KindCounts, Reserved, UsageScope
from storage.db import StorageError
from storage.stores import Stores
from storage.sync import REMOVED
from tests.storage.helpers import (
    DAY,
    T0,
    TODAY,
    add_lead,
    campaign,
    campaign_req,
    config,
    ids,
    mailbox,
    scalar,
)


async def states(stores: Stores) -> dict[str, tuple[MailboxState, str]]:
    return {m.address: (m.state, m.reason) for m in await stores.control.mailboxes()}


async def test_first_sync_adds_everything_and_picks_warming_or_active(stores: Stores) -> None:
    cfg = config(
        [
            mailbox("warm@a.test"),
            mailbox("new@a.test", warmup_start=TODAY - timedelta(days=2)),
            mailbox("future@b.test", warmup_start=TODAY + timedelta(days=5)),
            mailbox("done@b.test", warmup_start=TODAY - timedelta(days=60)),
            # limit 8 is reached on ramp day 4 (5, 6, 7, 8)
            mailbox("small@b.test", daily_limit=8, warmup_start=TODAY - timedelta(days=3)),
        ],
        campaigns=[campaign("c1", steps=2, daily_limit=50)],
        domains=[DomainConfig(name="A.test", daily_limit=60, esp="mg")],
    )
    report = await stores.config.sync_config(cfg.rules(), TODAY, now=T0)
    assert report.domains == KindCounts(added=2)
    assert report.mailboxes == KindCounts(added=5)
    assert report.campaigns == KindCounts(added=1)
    assert await states(stores) == {
        "warm@a.test": (MailboxState.ACTIVE, ""),
        "new@a.test": (MailboxState.WARMING, ""),
        "future@b.test": (MailboxState.WARMING, ""),
        "done@b.test": (MailboxState.ACTIVE, ""),
        "small@b.test": (MailboxState.ACTIVE, ""),
    }
    domains = {d.name: d for d in await stores.control.domains()}
    assert (domains["a.test"].daily_limit, domains["a.test"].esp) == (60, "mg")
    assert (domains["b.test"].daily_limit, domains["b.test"].esp) == (None, None)  # implied
    (stored,) = await stores.control.campaigns()
    assert (stored.name, stored.daily_limit, stored.hours, stored.created_at) == (
        "c1",
        50,
        "09:00-17:00",
        T0,
    )
    assert stored.days == ("mon", "tue", "wed", "thu", "fri")


async def test_resync_keeps_runtime_state(stores: Stores, conn: aiosqlite.Connection) -> None:
    cfg = config([mailbox("a@a.test"), mailbox("b@a.test")], campaigns=[campaign("c1")])
    await stores.config.sync_config(cfg.rules(), TODAY, now=T0)
    boxes, camps = await ids(conn, "mailboxes", "address"), await ids(conn, "campaigns", "name")
    lead = await add_lead(conn, camps["c1"], "lead@x.test")
    assert isinstance(
        await stores.sending.reserve(campaign_req(boxes["a@a.test"], lead, camps["c1"])), Reserved
    )
    await stores.control.set_mailbox_state(boxes["b@a.test"], MailboxState.PAUSED, "by admin")
    await stores.control.set_mailbox_resting(boxes["a@a.test"], T0 + timedelta(hours=1))
    await stores.control.set_domain_state(
        "a.test", DomainState.COOLDOWN, "spam block", T0 + timedelta(days=14)
    )
    await stores.control.set_campaign_state(camps["c1"], CampaignState.PAUSED, "by admin")
    before = await stores.control.mailboxes()

    report = await stores.config.sync_config(cfg.rules(), TODAY + timedelta(days=1), now=T0)

    assert report.mailboxes == report.domains == report.campaigns == KindCounts()
    assert await stores.control.mailboxes() == before
    (domain,) = await stores.control.domains()
    assert (domain.state, domain.reason) == (DomainState.COOLDOWN, "spam block")
    assert domain.cooldown_until == T0 + timedelta(days=14)
    (camp,) = await stores.control.campaigns()
    assert (camp.state, camp.reason) == (CampaignState.PAUSED, "by admin")
    assert await stores.reports.usage_today(UsageScope.MAILBOX, boxes["a@a.test"], DAY) == 1
    assert await scalar(conn, "SELECT next_step FROM leads WHERE id = ?", (lead,)) == 2


async def test_config_changes_are_applied(stores: Stores, conn: aiosqlite.Connection) -> None:
    await stores.config.sync_config(
        config([mailbox("a@a.test", daily_limit=40, display_name="A")]).rules(), TODAY
    )
    report = await stores.config.sync_config(
        config(
            [mailbox("a@a.test", daily_limit=30, display_name="Alex", warmup_start=TODAY)],
            domains=[DomainConfig(name="a.test", daily_limit=90)],
        ).rules(),
        TODAY,
    )
    assert report.mailboxes == KindCounts(updated=1)
    assert report.domains == KindCounts(updated=1)
    (box,) = await stores.control.mailboxes()
    assert (box.display_name, box.daily_limit, box.warmup_start) == ("Alex", 30, TODAY)
    assert box.state is MailboxState.WARMING  # a new ramp starting today
    (domain,) = await stores.control.domains()
    assert domain.daily_limit == 90


async def test_runtime_warmup_restart_survives_an_unchanged_config(stores: Stores) -> None:
    cfg = config([mailbox("a@a.test", warmup_start=TODAY - timedelta(days=90))])
    await stores.config.sync_config(cfg.rules(), TODAY)
    (box,) = await stores.control.mailboxes()
    assert box.state is MailboxState.ACTIVE
    restart = TODAY - timedelta(days=7)  # e.g. re-entry at phase 2 after a cool-down
    await stores.control.set_mailbox_warmup(box.id, restart, MailboxState.WARMING)

    await stores.config.sync_config(cfg.rules(), TODAY)
    (box,) = await stores.control.mailboxes()
    assert (box.warmup_start, box.state) == (restart, MailboxState.WARMING)


async def test_paused_mailbox_stays_paused_when_its_config_changes(stores: Stores) -> None:
    await stores.config.sync_config(config([mailbox("a@a.test")]).rules(), TODAY)
    (box,) = await stores.control.mailboxes()
    await stores.control.set_mailbox_state(box.id, MailboxState.PAUSED, "bounces")
    await stores.config.sync_config(config([mailbox("a@a.test", daily_limit=20)]).rules(), TODAY)
    (box,) = await stores.control.mailboxes()
    assert (box.state, box.reason, box.daily_limit) == (MailboxState.PAUSED, "bounces", 20)


async def test_removed_objects_are_disabled_and_come_back(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    full = config(
        [mailbox("a@a.test"), mailbox("b@b.test", warmup_start=TODAY)],
        campaigns=[campaign("c1"), campaign("c2")],
    )
    await stores.config.sync_config(full.rules(), TODAY)
    boxes, camps = await ids(conn, "mailboxes", "address"), await ids(conn, "campaigns", "name")
    lead = await add_lead(conn, camps["c2"], "lead@x.test")
    assert isinstance(
        await stores.sending.reserve(campaign_req(boxes["b@b.test"], lead, camps["c2"])), Reserved
    )

    report = await stores.config.sync_config(
        config([mailbox("a@a.test")], campaigns=[campaign("c1")]).rules(), TODAY
    )
    assert report.mailboxes == KindCounts(disabled=1)
    assert report.domains == KindCounts(disabled=1)
    assert report.campaigns == KindCounts(disabled=1)
    removed = (MailboxState.DISABLED, REMOVED)
    assert (await states(stores))["b@b.test"] == removed
    assert {(d.name, d.state, d.in_config) for d in await stores.control.domains()} == {
        ("a.test", DomainState.ACTIVE, True),
        ("b.test", DomainState.DISABLED, False),
    }
    assert {(c.name, c.state) for c in await stores.control.campaigns()} == {
        ("c1", CampaignState.ACTIVE),
        ("c2", CampaignState.DISABLED),
    }
    # history is kept
    assert (
        await scalar(conn, "SELECT count(*) FROM sends WHERE mailbox_id = ?", (boxes["b@b.test"],))
        == 1
    )
    assert await scalar(conn, "SELECT count(*) FROM leads") == 1

    report = await stores.config.sync_config(full.rules(), TODAY)
    assert report.mailboxes == report.domains == report.campaigns == KindCounts(restored=1)
    assert (await states(stores))["b@b.test"] == (MailboxState.WARMING, "")
    assert all(d.state is DomainState.ACTIVE for d in await stores.control.domains())
    assert all(c.state is CampaignState.ACTIVE for c in await stores.control.campaigns())
    assert await ids(conn, "mailboxes", "address") == boxes  # same rows, not new ones


async def test_steps_are_upserted_and_trimmed(stores: Stores, conn: aiosqlite.Connection) -> None:
    await stores.config.sync_config(
        config([mailbox("a@a.test")], campaigns=[campaign("c1", 3)]).rules(), TODAY
    )
    cid = (await ids(conn, "campaigns", "name"))["c1"]
    box = (await ids(conn, "mailboxes", "address"))["a@a.test"]
    waiting = await add_lead(conn, cid, "waiting@x.test")
    await conn.execute(
        "UPDATE leads SET state = 'active', next_step = 3, next_due_at = 1, mailbox_id = ? "
        "WHERE id = ?",
        (box, waiting),
    )
    fresh = await add_lead(conn, cid, "fresh@x.test")

    shorter = campaign("c1", 1)
    report = await stores.config.sync_config(
        config([mailbox("a@a.test")], campaigns=[shorter]).rules(), TODAY
    )
    assert report.campaigns == KindCounts(updated=1)
    async with conn.execute("SELECT step_no, body FROM steps WHERE campaign_id = ?", (cid,)) as cur:
        assert [tuple(row) for row in await cur.fetchall()] == [(1, "step 1")]
    async with conn.execute("SELECT id, state FROM leads ORDER BY id") as cur:
        assert [tuple(row) for row in await cur.fetchall()] == [
            (waiting, LeadState.FINISHED.value),
            (fresh, LeadState.QUEUED.value),
        ]

    longer = campaign("c1", 2)
    report = await stores.config.sync_config(
        config([mailbox("a@a.test")], campaigns=[longer]).rules(), TODAY
    )
    assert report.campaigns == KindCounts(updated=1)
    assert await scalar(conn, "SELECT count(*) FROM steps WHERE campaign_id = ?", (cid,)) == 2


async def test_uploaded_campaigns_are_not_disabled_by_a_sync(stores: Stores) -> None:
    await stores.config.sync_config(
        config([mailbox("a@a.test")], campaigns=[campaign("toml")]).rules(), TODAY
    )
    uploaded = await stores.control.upsert_campaign(campaign("bot").spec(), now=T0)
    await stores.config.sync_config(
        config([mailbox("a@a.test")], campaigns=[campaign("toml")]).rules(), TODAY
    )
    stored = {c.name: c for c in await stores.control.campaigns()}
    assert stored["bot"].id == uploaded
    assert (stored["bot"].state, stored["bot"].origin) == (CampaignState.ACTIVE, "upload")
    assert (
        await stores.control.upsert_campaign(campaign("bot", daily_limit=5).spec(), now=T0)
        == uploaded
    )
    with pytest.raises(StorageError, match="defined in the config file"):
        await stores.control.upsert_campaign(campaign("toml").spec(), now=T0)


async def test_a_failed_sync_changes_nothing(stores: Stores, conn: aiosqlite.Connection) -> None:
    await stores.config.sync_config(config([mailbox("a@a.test")]).rules(), TODAY)
    # make the second mailbox's insert fail after the first mailbox's update has run
    await conn.execute(
        "CREATE TRIGGER no_b BEFORE INSERT ON mailboxes "
        "WHEN NEW.address = 'b@a.test' BEGIN SELECT RAISE(ABORT, 'nope'); END"
    )
    with pytest.raises(sqlite3.IntegrityError, match="nope"):
        await stores.config.sync_config(
            config([mailbox("a@a.test", daily_limit=9), mailbox("b@a.test")]).rules(), TODAY
        )
    (box,) = await stores.control.mailboxes()
    assert box.daily_limit == 40
