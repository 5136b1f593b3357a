"""/stats [days]: a PNG chart of sends, bounces, complaints and replies per day, and the table."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot import charts
from bot.parsing import parse_days
from bot.reply import typing
from bot.tables import answer_table
from bot.views.stats import stats_caption, stats_lines
from engine.context import AppContext
from engine.stats import gather_stats


def setup() -> Router:
    """The router of /stats."""
    router = Router(name="stats")

    @router.message(Command("stats"))
    async def stats(message: Message, command: CommandObject, ctx: AppContext) -> None:
        days = parse_days(command.args)
        async with typing(message):
            report = await gather_stats(ctx.reports, ctx.clock, ctx.rules.timezone, days)
            png = await charts.render(charts.stats_chart, report)
        await message.answer_photo(
            BufferedInputFile(png, filename="stats.png"), caption=stats_caption(report)
        )
        await answer_table(message, stats_lines(report))

    return router
