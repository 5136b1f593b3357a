"""/warmup [start|stop <mailbox>]: the warm-up table and ramp chart, or one mailbox's ramp."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, Message

from bot import charts
from bot.parsing import Action, parse_warmup
from bot.tables import answer_table
from bot.views.warmup import warmup_lines, warmup_started, warmup_stopped
from engine import warmup_admin
from engine.context import AppContext


def setup() -> Router:
    """The router of /warmup."""
    router = Router(name="warmup")

    @router.message(Command("warmup"))
    async def warmup(message: Message, command: CommandObject, ctx: AppContext) -> None:
        parsed = parse_warmup(command.args)
        if parsed.action is Action.START:
            row, day = await warmup_admin.start_warmup(ctx, parsed.mailbox)
            await message.answer(warmup_started(row.address, day))
        elif parsed.action is Action.STOP:
            row = await warmup_admin.stop_warmup(ctx, parsed.mailbox)
            await message.answer(warmup_stopped(row.address, row.daily_limit))
        else:
            report = await warmup_admin.gather_warmup(ctx)
            png = await charts.render(charts.ramp_chart, report)
            await message.answer_photo(BufferedInputFile(png, filename="warmup.png"))
            await answer_table(message, warmup_lines(report))

    return router
