"""A small world for the bot's data commands: config, a real SQLite file, an AppContext."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import aiosqlite
from pydantic import SecretStr

import bootstrap
from config import (
    CampaignConfig,
    CostConfig,
    DnsConfig,
    DomainConfig,
    MailboxConfig,
    OutreachConfig,
    SendingConfig,
    ServerConfig,
    StepConfig,
)
from core import limits
from core.models import EventKind
from core.records import NewEvent
from engine.clock import ManualClock
from engine.context import AppContext
from engine.ports import MailSender
from storage.db import to_ms
from storage.stores import Stores

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 15:00 in Berlin
TODAY = date(2026, 11, 23)
ADMIN = 4242
TZ = "Europe/Berlin"


def _server() -> ServerConfig:
    return ServerConfig(host="smtp.test", port=587, username="u", password=SecretStr("p"))


def _steps() -> list[StepConfig]:
    return [StepConfig(subject="Hi {{ first_name }}", body="Hello {{ first_name }}")]


def data_config(
    *,
    domains: int = 2,
    warming: dict[str, date] | None = None,
    nameserver: str = "",
    selectors: list[str] | None = None,
) -> OutreachConfig:
    """Domains d0.test.., mailboxes m0@/m1@ each, campaigns q4 and spring-founders."""
    starts = warming or {}
    return OutreachConfig(
        sending=SendingConfig(timezone=TZ),
        cost=CostConfig(),
        dns=DnsConfig(nameserver=nameserver, dkim_selectors=selectors or ["s1", "google"]),
        domains=[DomainConfig(name=f"d{i}.test") for i in range(domains)],
        mailboxes=[
            MailboxConfig(
                address=f"m{j}@d{i}.test",
                daily_limit=40,
                warmup_start=starts.get(f"m{j}@d{i}.test"),
                smtp=_server(),
            )
            for i in range(domains)
            for j in range(2)
        ],
        campaigns=[
            CampaignConfig(name="q4", steps=_steps()),
            CampaignConfig(name="spring-founders", steps=_steps()),
        ],
    )


@dataclass
class DataWorld:
    """The context handlers get, and direct access to the database for arranging facts."""

    ctx: AppContext
    clock: ManualClock
    conn: aiosqlite.Connection
    stores: Stores
    events_added: int = 0
    placed: int = 0

    async def mailbox_id(self, address: str) -> int:
        """A mailbox's id."""
        row = await self.stores.control.mailbox_by_address(address)
        assert row is not None
        return row.id

    async def add_sends(self, address: str, at: datetime, n: int = 1) -> None:
        """`n` warm-up sends from `address` sent at `at`."""
        mailbox = await self.mailbox_id(address)
        day = limits.local_day(at, TZ).isoformat()
        ms = to_ms(at)
        await self.conn.executemany(
            "INSERT INTO sends (kind, mailbox_id, day, state, reserved_at, sent_at, updated_at) "
            "VALUES ('warmup', ?, ?, 'sent', ?, ?, ?)",
            [(mailbox, day, ms, ms, ms)] * n,
        )

    async def add_placements(
        self, sender: str, receiver: str, at: datetime, *, inbox: int = 0, spam: int = 0
    ) -> None:
        """Where `sender`'s warm-up mails landed at `receiver`, first seen at `at` (SPEC 7)."""
        mailbox = await self.mailbox_id(sender)
        rows = []
        for folder, n in (("inbox", inbox), ("spam", spam)):
            for _ in range(n):
                self.placed += 1
                rows.append((f"<placed{self.placed}@x>", receiver, mailbox, folder, to_ms(at)))
        await self.conn.executemany(
            "INSERT INTO placements (message_id, receiver, mailbox_id, folder, seen_at) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )

    async def hold(self, address: str) -> None:
        """Campaign mail of the mailbox held for low inbox placement (SPEC 7)."""
        await self.conn.execute(
            "UPDATE mailboxes SET placement_hold = 1 WHERE id = ?",
            (await self.mailbox_id(address),),
        )
        await self.conn.commit()

    async def add_usage(self, address: str, day: date, sent: int) -> None:
        """Slots a mailbox used on a day."""
        await self.conn.execute(
            "INSERT INTO usage (scope, ref, day, sent) VALUES ('mailbox', ?, ?, ?)",
            (await self.mailbox_id(address), day.isoformat(), sent),
        )

    async def add_event(
        self,
        kind: EventKind,
        at: datetime,
        *,
        source: str = "smtp",
        mailbox: str | None = None,
        detail: str | None = None,
        key: str | None = None,
    ) -> None:
        """One stored event."""
        self.events_added += 1
        await self.stores.events.add_event(
            NewEvent(
                source=source,
                source_id=key or f"e{self.events_added}",
                kind=kind,
                occurred_at=at,
                received_at=at,
                mailbox_id=await self.mailbox_id(mailbox) if mailbox else None,
                detail=detail,
            )
        )

    async def add_leads(self, campaign: str, emails: list[str], state: str = "queued") -> None:
        """Leads put straight into a campaign."""
        rows = list(
            await self.conn.execute_fetchall("SELECT id FROM campaigns WHERE name = ?", (campaign,))
        )
        await self.conn.executemany(
            "INSERT INTO leads (campaign_id, email, vars, state, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [(rows[0][0], e, json.dumps({"first_name": "X"}), state, to_ms(T0)) for e in emails],
        )

    async def lead_states(self, campaign: str = "q4") -> dict[str, str]:
        """email -> state of a campaign's leads."""
        rows = await self.conn.execute_fetchall(
            "SELECT l.email, l.state FROM leads l JOIN campaigns c ON c.id = l.campaign_id "
            "WHERE c.name = ?",
            (campaign,),
        )
        return {str(r[0]): str(r[1]) for r in rows}


@asynccontextmanager
async def data_world(
    tmp_path: Path,
    config: OutreachConfig | None = None,
    now: datetime = T0,
    sender: MailSender | None = None,
) -> AsyncIterator[DataWorld]:
    """A migrated database with `config` synced, and the AppContext over it."""
    config = config or data_config()
    clock = ManualClock(now)
    async with AsyncExitStack() as stack:
        service = await bootstrap.build_service(
            stack,
            db_path=tmp_path / "bot.db",
            config=config,
            clock=clock,
            chats=[ADMIN],
            sender=sender,
        )
        yield DataWorld(service.context(), clock, service.stores.db.conn, service.stores)
