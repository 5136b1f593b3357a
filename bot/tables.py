"""Sending a table: monospace blocks, split at line ends to fit Telegram's message limit."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import Message

from bot.views.common import chunk_lines, pre


async def answer_table(message: Message, lines: Sequence[str]) -> None:
    """Answer with `lines` in monospace (HTML <pre>, escaped), in as few messages as fit."""
    # The limit counts text after entity parsing, so the tags and escapes cost nothing.
    for part in chunk_lines(lines):
        await message.answer(pre(part.splitlines()), parse_mode="HTML")
