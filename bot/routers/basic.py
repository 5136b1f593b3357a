"""/start and /help."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from bot.reply import answer_lines
from bot.views.help import help_lines


def setup() -> Router:
    """The router of /start and /help."""
    router = Router(name="basic")

    @router.message(CommandStart())
    @router.message(Command("help"))
    async def help_(message: Message) -> None:
        await answer_lines(message, help_lines())

    return router
