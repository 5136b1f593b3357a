"""/preview <campaign> [step] [email] and /test <campaign> [step] <address> (SPEC 10)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.chat_action import ChatActionSender

from bot.parsing import parse_preview, parse_test
from bot.reply import answer_lines
from bot.views.preview import preview_lines, sent_test_lines
from engine.context import AppContext


def setup() -> Router:
    """The router of /preview and /test."""
    router = Router(name="preview")

    @router.message(Command("preview"))
    async def preview(message: Message, command: CommandObject, ctx: AppContext) -> None:
        target = parse_preview(command.args)
        assert message.bot is not None  # a handled update always comes with its bot
        # Rendering may take a moment (a large template, a busy database): say so.
        async with ChatActionSender.typing(bot=message.bot, chat_id=message.chat.id):
            shown = await ctx.previews.preview(target.campaign, target.step, target.address)
        await answer_lines(message, preview_lines(shown))

    @router.message(Command("test"))
    async def test(message: Message, command: CommandObject, ctx: AppContext) -> None:
        target = parse_test(command.args)
        assert message.bot is not None and target.address is not None
        # The SMTP dialogue takes seconds, and waits for a running tick to finish first.
        async with ChatActionSender.typing(bot=message.bot, chat_id=message.chat.id):
            result = await ctx.test_sends.send(target.campaign, target.step, target.address)
        await answer_lines(message, sent_test_lines(result))

    return router
