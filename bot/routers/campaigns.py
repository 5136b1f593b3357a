"""/campaigns."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.reply import answer_lines
from bot.views.campaigns import campaigns_lines
from engine.context import AppContext
from engine.status import gather_campaigns


def setup() -> Router:
    """The router of /campaigns."""
    router = Router(name="campaigns")

    @router.message(Command("campaigns"))
    async def campaigns(message: Message, ctx: AppContext) -> None:
        overview = await gather_campaigns(ctx.reports, ctx.clock, ctx.rules)
        await answer_lines(
            message,
            campaigns_lines(overview.counts, overview.rates, overview.window_days, overview.labels),
        )

    return router
