"""/suppress and /unsuppress <email or @domain>: the global suppression list."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.parsing import parse_entry
from bot.views.suppress import suppress_text, unsuppress_text
from engine import suppression
from engine.context import AppContext


def setup() -> Router:
    """The router of /suppress and /unsuppress."""
    router = Router(name="suppress")

    @router.message(Command("suppress"))
    async def suppress(message: Message, command: CommandObject, ctx: AppContext) -> None:
        entry = parse_entry(command.args, "suppress")
        admin = message.from_user.id if message.from_user else None
        result = await suppression.suppress(ctx, entry, admin)
        await message.answer(suppress_text(result))

    @router.message(Command("unsuppress"))
    async def unsuppress(message: Message, command: CommandObject, ctx: AppContext) -> None:
        entry = parse_entry(command.args, "unsuppress")
        result = await suppression.unsuppress(ctx, entry)
        await message.answer(unsuppress_text(result))

    return router
