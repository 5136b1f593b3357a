"""/export <campaign>: every lead of the campaign as a CSV document."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import FSInputFile, Message

from bot.reply import typing
from bot.views.export import EXPORT_USAGE, export_caption
from engine.admin import AdminError
from engine.context import AppContext
from engine.export import export_for_chat


def setup() -> Router:
    """The router of /export."""
    router = Router(name="export")

    @router.message(Command("export"))
    async def export(message: Message, command: CommandObject, ctx: AppContext) -> None:
        name = (command.args or "").strip()  # a campaign name may hold spaces
        if not name:
            raise AdminError(EXPORT_USAGE)
        # An unknown name raises AdminError (errors router); the file goes once it is sent.
        async with typing(message), export_for_chat(ctx.reports, ctx.clock, name) as done:
            await message.answer_document(
                FSInputFile(done.path, filename=done.path.name), caption=export_caption(done)
            )

    return router
