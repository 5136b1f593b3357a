"""A small sending world for engine tests: config, DB, engine, fake SMTP and a manual clock."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from config import (
    CampaignConfig,
    DomainConfig,
    MailboxConfig,
    OutreachConfig,
    SendingConfig,
    ServerConfig,
    StepConfig,
)
from core import limits
from engine.alerts import AlertOutbox
from engine.clock import ManualClock
from engine.health import HealthService
from engine.sending import SendingEngine
from mail.smtp import SmtpSender
from storage.db import to_ms
from storage.stores import Stores
from tests.fakes.smtp_server import FakeSmtpServer

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 15:00 in Berlin
USER, PASSWORD = "pool", "s3cret-smtp-pass"


def steps(n: int = 2, wait_days: int = 3) -> list[StepConfig]:
    """A sequence: step 1 with a subject, follow-ups waiting `wait_days`."""
    out = [StepConfig(subject="{Hi|Hello} {{ first_name }}", body="Hi {{ first_name }}, ...")]
    out += [StepConfig(body=f"Bump {i}", wait_days=wait_days) for i in range(2, n + 1)]
    return out


def world_config(
    port: int,
    *,
    domains: int = 3,
    per_domain: int = 2,
    mailbox_limit: int = 4,
    domain_limit: int | None = 6,
    min_gap: int = 0,
    jitter: int = 0,
    hours: str = "00:00-24:00",
    days: list[str] | None = None,
    campaign_limit: int | None = None,
    n_steps: int = 2,
    max_attempts: int = 3,
) -> OutreachConfig:
    """Domains d0.test.. with mailboxes m0@.. on the fake server."""
    server = ServerConfig(
        host="127.0.0.1", port=port, security="none", username=USER, password=SecretStr(PASSWORD)
    )
    return OutreachConfig(
        sending=SendingConfig(
            timezone="Europe/Berlin",
            min_gap_seconds=min_gap,
            jitter_seconds=jitter,
            max_attempts=max_attempts,
            postal_address="Brand Ltd, 1 Main St",
        ),  # fmt: skip
        domains=[DomainConfig(name=f"d{i}.test", daily_limit=domain_limit) for i in range(domains)],
        mailboxes=[
            MailboxConfig(address=f"m{j}@d{i}.test", daily_limit=mailbox_limit, smtp=server)
            for i in range(domains)
            for j in range(per_domain)
        ],
        campaigns=[
            CampaignConfig(
                name="q4",
                timezone="America/New_York",
                hours=hours,
                days=days or ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                daily_limit=campaign_limit,
                steps=steps(n_steps),
            )  # fmt: skip
        ],
    )


@dataclass
class World:
    """Everything a sending test touches."""

    config: OutreachConfig
    stores: Stores
    engine: SendingEngine
    clock: ManualClock
    server: FakeSmtpServer
    alerts: AlertOutbox
    health: HealthService
    sender: SmtpSender

    async def add_leads(self, emails: list[str], campaign: str = "q4") -> None:
        """Queue leads directly (the importer has its own tests)."""
        async with self.stores.db.reading() as conn:  # a test-only shortcut around the importer
            rows = list(await conn.execute_fetchall(
                "SELECT id FROM campaigns WHERE name = ?", (campaign,)))  # fmt: skip
            await conn.executemany(
                "INSERT INTO leads (campaign_id, email, vars, created_at) VALUES (?, ?, ?, ?)",
                [
                    (
                        rows[0][0],
                        e,
                        json.dumps({"first_name": e.split("@")[0].title()}),
                        to_ms(self.clock.now()),
                    )
                    for e in emails
                ],  # fmt: skip
            )

    async def scalar(self, sql: str, *params: object) -> object:
        """One value from the DB."""
        rows = await self.stores.db.fetch(sql, params)
        return rows[0][0] if rows else None

    async def rows(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        """Rows from the DB as tuples."""
        return [tuple(r) for r in await self.stores.db.fetch(sql, params)]

    def day(self) -> str:
        """Today in the sending timezone."""
        return limits.local_day(self.clock.now(), self.config.sending.timezone).isoformat()


@asynccontextmanager
async def make_world(
    tmp_path: Path,
    server: FakeSmtpServer,
    *,
    smtp_timeout: float = 2.0,
    adjust: Callable[[OutreachConfig], OutreachConfig] | None = None,
    **kw: object,
) -> AsyncIterator[World]:
    """Open a DB, sync the config, wire the engine to the running fake server.

    `adjust` changes the config before it is used (warm-up starts, seeds, ...).
    """
    config = world_config(server.port, **kw)  # type: ignore[arg-type]
    if adjust is not None:
        config = adjust(config)
    clock = ManualClock(T0)
    stores = await Stores.open(tmp_path / "test.db")
    rules = config.rules()
    await stores.config.sync_config(rules, limits.local_day(T0, "Europe/Berlin"), now=T0)
    alerts = AlertOutbox(stores.alerts, clock, [], timedelta(minutes=60))
    health = HealthService(stores.health, stores.events, clock, rules, alerts)
    sender = SmtpSender(timeout=smtp_timeout)
    engine = SendingEngine(
        store=stores.sending, sender=sender, clock=clock, rules=rules, alerts=alerts,
        domains=health, rng=random.Random(7),
    )  # fmt: skip
    try:
        yield World(config, stores, engine, clock, server, alerts, health, sender)
    finally:
        await sender.close()
        await stores.close()


async def run_ticks(world: World, n: int, step: timedelta = timedelta(seconds=20)) -> None:
    """Tick `n` times, the clock `step` further after each."""
    for _ in range(n):
        await world.engine.tick()
        world.clock.advance(step)
