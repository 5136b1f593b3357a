"""/lead <email>: that lead in every campaign it is in."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.parsing import parse_lead
from bot.reply import answer_lines
from bot.views.lead import lead_lines
from engine.context import AppContext
from engine.lead_card import lead_cards


def setup() -> Router:
    """The router of /lead."""
    router = Router(name="lead")

    @router.message(Command("lead"))
    async def lead(message: Message, command: CommandObject, ctx: AppContext) -> None:
        address = parse_lead(command.args)
        await answer_lines(message, lead_lines(await lead_cards(ctx, address)))

    return router
