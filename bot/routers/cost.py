"""/cost: this month's cost estimate from the mails really sent."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.reply import answer_lines
from bot.views.cost import cost_lines
from engine.context import AppContext
from engine.cost import gather_cost


def setup() -> Router:
    """The router of /cost."""
    router = Router(name="cost")

    @router.message(Command("cost"))
    async def cost(message: Message, ctx: AppContext) -> None:
        await answer_lines(message, cost_lines(await gather_cost(ctx)))

    return router
