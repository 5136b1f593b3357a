"""/plan [mailboxes target]: the pool's warm-up ramp as a PNG and a table, as `main.py plan`."""

from __future__ import annotations

import asyncio

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot import charts
from bot.parsing import parse_plan
from bot.tables import answer_table
from bot.views.plan import plan_caption, plan_lines
from core.limits import local_day
from core.ramp import plan_for
from engine.context import AppContext


def setup() -> Router:
    """The router of /plan."""
    router = Router(name="plan")

    @router.message(Command("plan"))
    async def plan(message: Message, command: CommandObject, ctx: AppContext) -> None:
        asked = parse_plan(command.args)
        today = local_day(ctx.clock.now(), ctx.rules.timezone)
        # Thousands of mailboxes over weeks of days is real CPU: keep it off the event loop.
        ramp = await asyncio.to_thread(
            plan_for, ctx.rules, today, mailboxes=asked.mailboxes, target=asked.target
        )
        png = await charts.render(charts.plan_chart, ramp)
        await message.answer_photo(
            BufferedInputFile(png, filename="plan.png"), caption=plan_caption(ramp)
        )
        await answer_table(message, plan_lines(ramp, narrow=True))

    return router
