"""/dns: SPF, DKIM, DMARC and MX of every configured domain, with what is missing."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.reply import answer_lines, typing
from bot.views.dns import dns_lines
from engine.context import AppContext
from engine.dns_check import check_dns


def setup() -> Router:
    """The router of /dns."""
    router = Router(name="dns")

    @router.message(Command("dns"))
    async def dns(message: Message, ctx: AppContext) -> None:
        async with typing(message):
            results = await check_dns(ctx)  # AdminError (a bad [dns].nameserver): errors router
        await answer_lines(message, dns_lines(results))

    return router
