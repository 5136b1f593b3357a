"""Fixtures for bot tests: a synced SQLite world with a manual clock, and its AppContext."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

import bootstrap
from config import (
    CampaignConfig,
    DomainConfig,
    MailboxConfig,
    OutreachConfig,
    SendingConfig,
    ServerConfig,
    Settings,
    StepConfig,
)
from engine.clock import ManualClock
from engine.context import AppContext
from engine.control import ControlService
from storage.stores import Stores

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # a Monday, 15:00 in Berlin
TODAY = date(2026, 11, 23)
ADMIN = 111
STRANGER = 999


def bot_config(*, warming: str | None = None) -> OutreachConfig:
    """Domains d0.test, d1.test with m0@, m1@ each; `warming` starts its warm-up today."""
    server = ServerConfig(host="127.0.0.1", port=2525, security="none", username="u",
                          password=SecretStr("smtp-secret-pw"))  # fmt: skip
    return OutreachConfig(
        sending=SendingConfig(timezone="Europe/Berlin", postal_address="Brand Ltd"),
        domains=[DomainConfig(name="d0.test", daily_limit=60), DomainConfig(name="d1.test")],
        mailboxes=[
            MailboxConfig(
                address=f"m{j}@d{i}.test",
                daily_limit=40,
                smtp=server,
                warmup_start=TODAY if warming == f"m{j}@d{i}.test" else None,
            )
            for i in range(2)
            for j in range(2)
        ],
        campaigns=[
            CampaignConfig(name=name, steps=[StepConfig(subject="Hi", body="Hello")])
            for name in ("q4-founders", "q4-cto")
        ],
    )


@dataclass
class BotWorld:
    """What a bot test touches."""

    stores: Stores
    clock: ManualClock
    config: OutreachConfig
    control: ControlService
    ctx: AppContext
    settings: Settings

    async def mailbox_state(self, address: str) -> tuple[str, str]:
        """(state, reason) of one mailbox."""
        row = await self.stores.control.mailbox_by_address(address)
        assert row is not None
        return row.state.value, row.reason

    async def domain_state(self, name: str) -> str:
        """State of one domain."""
        return next(d.state.value for d in await self.stores.control.domains() if d.name == name)

    async def campaign_state(self, name: str) -> str:
        """State of one campaign."""
        return next(c.state.value for c in await self.stores.control.campaigns() if c.name == name)


def settings(api_url: str = "http://127.0.0.1:9", token: str = "1:x") -> Settings:
    """Settings of a bot with one admin, read from nothing but these arguments."""
    return Settings(
        _env_file=None,
        bot_token=SecretStr(token),
        admin_ids=[ADMIN],
        telegram_api_url=api_url,
        database_path=Path("unused.db"),
    )


@asynccontextmanager
async def open_world(
    tmp_path: Path, config: OutreachConfig | None = None, app_settings: Settings | None = None
) -> AsyncIterator[BotWorld]:
    """A migrated DB in tmp_path with `config` synced at T0, and the services over it."""
    config = config or bot_config()
    clock = ManualClock(T0)
    app_settings = app_settings or settings()
    async with AsyncExitStack() as stack:
        service = await bootstrap.build_service(
            stack, db_path=tmp_path / "bot.db", config=config, clock=clock,
            chats=app_settings.alert_chats,
        )  # fmt: skip
        yield BotWorld(
            service.stores, clock, config, service.control, service.context(), app_settings
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[BotWorld]:
    """The default world: four active mailboxes on two domains, two campaigns."""
    async with open_world(tmp_path) as opened:
        yield opened
