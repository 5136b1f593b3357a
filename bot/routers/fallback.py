"""Last in line: admins' messages and buttons no other router took."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

FALLBACK_BUTTON = "This button is no longer valid."


def setup() -> Router:
    """The router that answers what nothing else matched."""
    router = Router(name="fallback")

    @router.message(F.text.startswith("/"))
    async def unknown_command(message: Message) -> None:
        word = (message.text or "").split(maxsplit=1)[0][:64]
        await message.answer(f"Unknown command {word}. /help lists the commands.")

    @router.message(F.text)
    async def plain_text(message: Message) -> None:
        await message.answer("Send a command; /help lists them.")

    @router.callback_query()
    async def stale_button(query: CallbackQuery) -> None:
        await query.answer(FALLBACK_BUTTON)

    return router
