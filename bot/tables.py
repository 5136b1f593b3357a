"""Sending a table: monospace blocks a phone shows unwrapped, split to fit Telegram's limit."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import Message

from bot.views.common import chunk_lines, phone_lines, pre


async def answer_table(message: Message, lines: Sequence[str]) -> None:
    """Answer with `lines` in monospace (HTML <pre>, escaped), in as few messages as fit.

    The views build table rows of at most PHONE_COLUMNS; longer lines (notes) are wrapped
    here, so no line of the block wraps on a phone and breaks the columns below it.
    """
    # The limit counts text after entity parsing, so the tags and escapes cost nothing.
    for part in chunk_lines(phone_lines(lines)):
        await message.answer(pre(part.splitlines()), parse_mode="HTML")
