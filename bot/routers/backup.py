"""/backup: a gzipped consistent copy of the database as a document."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import FSInputFile, Message

from bot.reply import answer_lines
from bot.views.backup import backup_caption, too_large_lines
from core.backup import UPLOAD_LIMIT, fits_upload
from engine.backup import backup_for_chat
from engine.context import AppContext


def setup(limit: int = UPLOAD_LIMIT) -> Router:
    """The router of /backup; `limit` is the largest file it sends (Telegram's upload limit)."""
    router = Router(name="backup")

    @router.message(Command("backup"))
    async def backup(message: Message, ctx: AppContext) -> None:
        async with backup_for_chat(ctx.backups, ctx.clock) as copy:
            if not fits_upload(copy, limit):
                await answer_lines(message, too_large_lines(copy, limit))
                return
            # Streamed from the file while the block holds it; removed once it has been sent.
            await message.answer_document(
                FSInputFile(copy.path, filename=copy.path.name), caption=backup_caption(copy)
            )

    return router
