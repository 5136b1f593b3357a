"""/plan through a Dispatcher with a recording Bot API session: the PNG, the table, bad input."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher
from aiogram.methods import SendMessage, SendPhoto
from aiogram.types import BufferedInputFile

from bot.parsing import PlanCommand, parse_plan
from bot.routers import errors, plan
from bot.views.common import PHONE_COLUMNS
from bot.views.help import help_lines
from engine.admin import AdminError
from tests.bot.data_world import ADMIN, TODAY, data_config, data_world
from tests.bot.session import TOKEN, RecordingSession, message_update
from tests.bot.test_charts import png_size


@dataclass
class PlanChat:
    """The errors and /plan routers over a data world, and what the bot sent."""

    dp: Dispatcher
    bot: Bot
    session: RecordingSession

    async def send(self, text: str) -> None:
        """The admin sends a message."""
        await self.dp.feed_update(self.bot, message_update(text, user_id=ADMIN))

    def table(self) -> str:
        """The text of every table message, unescaped, joined."""
        return "\n".join(html.unescape(m.text) for m in self.session.of(SendMessage))


def unwrapped(table: str) -> str:
    """The table with the notes answer_table wrapped for a phone joined again."""
    return table.replace("\n  ", " ")


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[PlanChat]:
    """Two domains of two mailboxes (40 a day); m0@d0.test starts its warm-up today."""
    config = data_config(warming={"m0@d0.test": TODAY})
    async with data_world(tmp_path, config) as world:
        dp = Dispatcher(ctx=world.ctx)
        for module in (errors, plan):
            dp.include_router(module.setup())
        session = RecordingSession()
        yield PlanChat(dp, Bot(TOKEN, session=session), session)


async def test_30_mailboxes_reach_1200_on_day_15(chat: PlanChat) -> None:
    await chat.send("/plan 30 1200")
    (photo,) = chat.session.of(SendPhoto)
    assert isinstance(photo.photo, BufferedInputFile)
    assert png_size(photo.photo.data) == (1000, 500)
    assert photo.caption == "30 mailboxes on 10 domains: 1 200 a day reached on day 15 (2026-12-07)"
    assert all(m.parse_mode == "HTML" for m in chat.session.of(SendMessage))
    table = chat.table()
    notes = unwrapped(table)
    assert "<pre>Plan: 30 mailboxes on 10 domains, target 1 200 a day, day 1 = 2026-11-23" in notes
    # The phone's table: 34 columns, no year, letters for what limits a day.
    assert "\n  1 11-23   30       5     150 W\n" in table
    assert "\n 15 12-07    0      40   1 200 M\n" in table
    assert "lim: W warm-up, D domain caps," in table
    shown = table.replace("<pre>", "").replace("</pre>", "")
    assert max(len(line) for line in shown.splitlines()) <= PHONE_COLUMNS
    assert "reached on day 15 (2026-12-07); until then limited by warm-up ramp." in notes


async def test_without_arguments_the_configured_pool_is_planned(chat: PlanChat) -> None:
    await chat.send("/plan")
    (photo,) = chat.session.of(SendPhoto)
    assert photo.caption == (
        "4 mailboxes on 2 domains: 1 200 a day not reached (peak 160, needs 30 mailboxes)"
    )
    table = chat.table()
    # three warm mailboxes at 40 and m0@d0.test on day 1 of its ramp
    assert "\n  1 11-23    1    5-40     125 W\n" in table
    assert "\n 15 12-07    0      40     160 M\n" in table
    notes = unwrapped(table)
    assert "not reached; the pool peaks at 160 a day, limited by mailbox limits." in notes
    assert "The target needs 30 mailboxes at 40 a day; the pool has 4." in notes


async def test_one_argument_is_the_pool_size_with_the_configs_target(chat: PlanChat) -> None:
    await chat.send("/plan 45")
    (photo,) = chat.session.of(SendPhoto)
    # 45 x 29 = 1 305 on day 13 is over the config's 1 200
    assert photo.caption == "45 mailboxes on 15 domains: 1 200 a day reached on day 13 (2026-12-05)"


@pytest.mark.parametrize(
    ("command", "got"),
    [
        ("/plan 0", "got '0'"),
        ("/plan thirty", "got 'thirty'"),
        ("/plan 30 -5", "got '-5'"),
        ("/plan 20000", "got '20000'"),
        ("/plan 30 1200 5", "got 3 arguments"),
    ],
)
async def test_bad_arguments_get_the_usage(chat: PlanChat, command: str, got: str) -> None:
    await chat.send(command)
    assert not chat.session.of(SendPhoto)
    text = chat.session.texts()[-1]
    assert "expected /plan for the configured pool, or /plan <mailboxes> [target]" in text
    assert got in text


def test_parse_plan() -> None:
    assert parse_plan(None) == PlanCommand()
    assert parse_plan("  ") == PlanCommand()
    assert parse_plan("30") == PlanCommand(30)
    assert parse_plan(" 30  1200 ") == PlanCommand(30, 1200)
    assert parse_plan("10000 1000000") == PlanCommand(10_000, 1_000_000)
    for bad in ("0", "3.5", "²", "10001", "30 1000001", "a b c"):
        with pytest.raises(AdminError, match="expected /plan"):
            parse_plan(bad)


def test_help_lists_plan() -> None:
    assert "/plan [mailboxes target] - warm-up ramp: the day the daily target is reached" in (
        help_lines()
    )
