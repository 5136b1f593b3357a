"""Builders for storage tests: config objects without a TOML file, and raw inserts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import aiosqlite
from pydantic import SecretStr

from config import (
    CampaignConfig,
    DomainConfig,
    MailboxConfig,
    OutreachConfig,
    ServerConfig,
    StepConfig,
)
from core.records import Delivered, Reservation, SendKind
from storage.db import to_ms
from storage.sending import SendingStore
from storage.stores import Stores

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
DAY = "2026-03-02"
TODAY = date(2026, 3, 2)
GAP = timedelta(seconds=300)


def smtp() -> ServerConfig:
    """A placeholder SMTP login; storage never connects."""
    return ServerConfig(host="smtp.test", port=587, username="u", password=SecretStr("p"))


def mailbox(
    address: str,
    daily_limit: int = 40,
    warmup_start: date | None = None,
    display_name: str = "",
) -> MailboxConfig:
    """A [[mailboxes]] entry."""
    return MailboxConfig(
        address=address,
        daily_limit=daily_limit,
        warmup_start=warmup_start,
        display_name=display_name,
        smtp=smtp(),
    )


def campaign(name: str, steps: int = 2, daily_limit: int | None = None) -> CampaignConfig:
    """A [[campaigns]] entry with `steps` steps, three days apart."""
    return CampaignConfig(
        name=name,
        daily_limit=daily_limit,
        steps=[
            StepConfig(subject="Hello" if no == 1 else None, body=f"step {no}", wait_days=3)
            for no in range(1, steps + 1)
        ],
    )


def config(
    mailboxes: list[MailboxConfig],
    campaigns: list[CampaignConfig] | None = None,
    domains: list[DomainConfig] | None = None,
) -> OutreachConfig:
    """The whole config with only the synced tables filled."""
    return OutreachConfig(mailboxes=mailboxes, campaigns=campaigns or [], domains=domains or [])


async def add_lead(
    conn: aiosqlite.Connection, campaign_id: int, email: str, created: datetime = T0
) -> int:
    """Insert a queued lead (the importer's job, done raw here)."""
    cursor = await conn.execute(
        "INSERT INTO leads (campaign_id, email, vars, created_at) VALUES (?, ?, ?, ?)",
        (campaign_id, email, json.dumps({}), to_ms(created)),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def scalar(conn: aiosqlite.Connection, sql: str, params: tuple[object, ...] = ()) -> object:
    """The first column of the first row."""
    async with conn.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return row[0]


async def ids(conn: aiosqlite.Connection, table: str, key: str) -> dict[str, int]:
    """Map a table's natural key to its id."""
    async with conn.execute(f"SELECT {key}, id FROM {table}") as cursor:
        return {row[0]: row[1] for row in await cursor.fetchall()}


async def sample(
    stores: Stores, conn: aiosqlite.Connection
) -> tuple[dict[str, int], dict[str, int]]:
    """A synced config; (mailbox ids, campaign ids) by address and name.

    a1 (warming, limit 30) and a2 on a.test (domain cap 50), b1 on b.test, and gone@c.test
    removed by a second sync; campaigns c1 (cap 10), c2 and off.
    """
    cfg = config(
        [
            mailbox("a1@a.test", daily_limit=30, warmup_start=TODAY),
            mailbox("a2@a.test"),
            mailbox("b1@b.test"),
            mailbox("gone@c.test"),
        ],
        campaigns=[campaign("c1", daily_limit=10), campaign("c2"), campaign("off")],
        domains=[DomainConfig(name="a.test", daily_limit=50)],
    )
    await stores.config.sync_config(cfg.rules(), TODAY, now=T0)
    cfg2 = cfg.model_copy(update={"mailboxes": cfg.mailboxes[:3]})
    await stores.config.sync_config(cfg2.rules(), TODAY, now=T0)
    return await ids(conn, "mailboxes", "address"), await ids(conn, "campaigns", "name")


def warmup_req(
    mailbox_id: int,
    now: datetime = T0,
    cap: int = 40,
    *,
    domain_cap: int | None = None,
    lead_id: int | None = None,
) -> Reservation:
    """A warm-up reservation with the default gap."""
    return Reservation(
        kind=SendKind.WARMUP,
        mailbox_id=mailbox_id,
        day=DAY,
        now=now,
        next_send_at=now + GAP,
        mailbox_cap=cap,
        domain_cap=domain_cap,
        lead_id=lead_id,
    )


def campaign_req(
    mailbox_id: int,
    lead_id: int,
    campaign_id: int,
    step_no: int = 1,
    now: datetime = T0,
    cap: int = 40,
    *,
    domain_cap: int | None = None,
    campaign_cap: int | None = None,
    message_id: str | None = None,
) -> Reservation:
    """A campaign reservation with the default gap."""
    return Reservation(
        kind=SendKind.CAMPAIGN,
        mailbox_id=mailbox_id,
        day=DAY,
        now=now,
        next_send_at=now + GAP,
        mailbox_cap=cap,
        domain_cap=domain_cap,
        campaign_cap=campaign_cap,
        lead_id=lead_id,
        campaign_id=campaign_id,
        step_no=step_no,
        message_id=message_id,
    )


async def deliver(
    sending: SendingStore,
    send_id: int,
    lead_id: int | None,
    now: datetime,
    next_due_at: datetime | None,
) -> None:
    """The sender's two writes for a step that went out: marked sending, then recorded sent."""
    assert await sending.record_sends(delivered=[], starting=[send_id], now=now) == {send_id}
    done = Delivered(send_id, now, 250, "2.0.0 OK", lead_id, next_due_at)
    await sending.record_sends(delivered=[done], starting=[], now=now)
