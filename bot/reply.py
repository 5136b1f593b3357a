"""Sending a long answer: lines packed into as few messages as Telegram allows."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram import Bot
from aiogram.types import Message

from bot.views.common import chunk_lines


async def answer_lines(message: Message, lines: Sequence[str]) -> None:
    """Answer in the message's chat, split at line ends, plain text."""
    for part in chunk_lines(lines):
        await message.answer(part)


async def send_lines(bot: Bot, chat_id: int, lines: Sequence[str]) -> None:
    """Send to a chat (a button's chat: its message may be too old to answer), split likewise."""
    for part in chunk_lines(lines):
        await bot.send_message(chat_id, part)
