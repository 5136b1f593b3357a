"""/warmup [start|stop <mailbox>]: the warm-up table and ramp chart, or one mailbox's ramp."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, Message

from bot import charts
from bot.confirm import Confirmations
from bot.parsing import Action, parse_warmup
from bot.risky import StopWarmupAction
from bot.tables import answer_table
from bot.views.confirm import warmup_stop_question
from bot.views.warmup import warmup_lines, warmup_started
from engine import warmup_admin
from engine.context import AppContext


def setup() -> Router:
    """The router of /warmup."""
    router = Router(name="warmup")

    @router.message(Command("warmup"))
    async def warmup(
        message: Message,
        *,
        command: CommandObject,
        ctx: AppContext,
        state: FSMContext,
        bot: Bot,
        confirmations: Confirmations,
    ) -> None:
        parsed = parse_warmup(command.args)
        if parsed.action is Action.START:
            row, day = await warmup_admin.start_warmup(ctx, parsed.mailbox)
            await message.answer(warmup_started(row.address, day))
        elif parsed.action is Action.STOP:
            # SPEC 10: the mailbox would jump to its full limit; refused at once if it is not
            # warming, asked first otherwise.
            assert message.from_user is not None  # the admin gate let a user through
            row = await warmup_admin.warming_mailbox(ctx, parsed.mailbox)
            action = StopWarmupAction(mailbox=row.address)
            question = warmup_stop_question(row.address, row.daily_limit)
            await confirmations.ask(
                bot, state, chat_id=message.chat.id, admin=message.from_user.id, action=action,
                question=question, now=ctx.clock.now(),
            )  # fmt: skip
        else:
            report = await warmup_admin.gather_warmup(ctx)
            png = await charts.render(charts.ramp_chart, report)
            await message.answer_photo(BufferedInputFile(png, filename="warmup.png"))
            await answer_table(message, warmup_lines(report))

    return router
