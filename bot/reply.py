"""Sending a long answer: lines packed into as few messages as Telegram allows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from aiogram import Bot
from aiogram.types import Message
from aiogram.utils.chat_action import ChatActionSender

from bot.views.common import chunk_lines


async def answer_lines(message: Message, lines: Sequence[str]) -> None:
    """Answer in the message's chat, split at line ends, plain text."""
    for part in chunk_lines(lines):
        await message.answer(part)


async def send_lines(bot: Bot, chat_id: int, lines: Sequence[str]) -> None:
    """Send to a chat (a button's chat: its message may be too old to answer), split likewise."""
    for part in chunk_lines(lines):
        await bot.send_message(chat_id, part)


@asynccontextmanager
async def typing(message: Message) -> AsyncIterator[None]:
    """Show "typing..." in the message's chat while a slow answer (DNS, chart, file) is made."""
    if message.bot is None:  # a message not bound to a bot has no chat to show it in
        yield
        return
    async with ChatActionSender.typing(bot=message.bot, chat_id=message.chat.id):
        yield
