"""/lead <email> driven through a Dispatcher with a recording Bot API session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher

from bot.routers import errors, lead
from storage.db import to_ms
from tests.bot.data_world import ADMIN, T0, DataWorld, data_world
from tests.bot.session import TOKEN, RecordingSession, message_update


class LeadChat:
    """The errors and /lead routers over a data world, on a recording bot."""

    def __init__(self, world: DataWorld) -> None:
        self.world = world
        self.dp = Dispatcher(ctx=world.ctx)
        # As in bot/app.py: the errors router tells the chat what an AdminError says.
        for module in (errors, lead):
            self.dp.include_router(module.setup())
        self.session = RecordingSession()
        self.bot = Bot(TOKEN, session=self.session)
        self.updates = 0

    async def send(self, text: str) -> str:
        """The admin sends `text`; every text the bot answered, joined."""
        self.updates += 1
        before = len(self.session.texts())
        await self.dp.feed_update(
            self.bot, message_update(text, user_id=ADMIN, update_id=self.updates)
        )
        return "\n".join(self.session.texts()[before:])


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[LeadChat]:
    """/lead over a world where jane@ex.test got step 1 of q4, replied and was labelled."""
    async with data_world(tmp_path) as world:
        await world.add_leads("q4", ["jane@ex.test"], state="replied")
        await world.add_leads("spring-founders", ["jane@ex.test"])
        conn = world.conn
        await conn.execute("UPDATE leads SET label = 'interested' WHERE state = 'replied'")
        sent = to_ms(T0)
        cursor = await conn.execute(
            "INSERT INTO sends (kind, lead_id, campaign_id, step_no, mailbox_id, day, state, "
            "smtp_reply, reserved_at, sent_at, updated_at) "
            "SELECT 'campaign', l.id, l.campaign_id, 1, ?, '2026-11-23', 'sent', "
            "'250 2.0.0 OK queued', ?, ?, ? FROM leads l WHERE l.state = 'replied'",
            (await world.mailbox_id("m0@d0.test"), sent, sent, sent),
        )
        at = to_ms(T0 + timedelta(hours=2))
        await conn.execute(
            "INSERT INTO events (source, source_id, kind, send_id, occurred_at, received_at) "
            "VALUES ('imap', 'r1', 'reply', ?, ?, ?)",
            (cursor.lastrowid, at, at),
        )
        yield LeadChat(world)


async def test_lead_shows_each_campaign_with_steps_events_and_label(chat: LeadChat) -> None:
    text = await chat.send("/lead Jane@EX.test")
    assert text.splitlines() == [
        "Lead jane@ex.test (2 campaigns)",
        "",
        "Campaign q4: replied, reply label interested",
        "  Step 1: sent 2026-11-23 14:00 UTC from m0@d0.test - 250 2.0.0 OK queued",
        "  Events:",
        "    2026-11-23 16:00 UTC reply (imap)",
        "",
        "Campaign spring-founders: queued, reply label none",
        "  No step sent yet",
        "  No events",
    ]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/lead", "expected one e-mail address, like /lead jane@example.com; got 0 arguments"),
        ("/lead a@b.test c@d.test", "expected one e-mail address, like /lead jane@example.com"),
        ("/lead jane", "'jane' is not an e-mail address; expected one e-mail address"),
        ("/lead john@ex.test", "no lead with the address john@ex.test in any campaign"),
    ],
)
async def test_bad_or_unknown_addresses_say_so(chat: LeadChat, command: str, expected: str) -> None:
    assert expected in await chat.send(command)
