"""/suppress and /unsuppress <email or @domain>: the global suppression list."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.confirm import Confirmations
from bot.parsing import parse_entry
from bot.risky import UnsuppressAction
from bot.views.confirm import unsuppress_question
from bot.views.suppress import suppress_text, unsuppress_text
from engine import suppression
from engine.context import AppContext


def setup() -> Router:
    """The router of /suppress and /unsuppress."""
    router = Router(name="suppress")

    @router.message(Command("suppress"))
    async def suppress(message: Message, command: CommandObject, ctx: AppContext) -> None:
        entry = parse_entry(command.args, "suppress")
        admin = message.from_user.id if message.from_user else None
        result = await suppression.suppress(ctx, entry, admin)
        await message.answer(suppress_text(result))

    @router.message(Command("unsuppress"))
    async def unsuppress(
        message: Message,
        *,
        command: CommandObject,
        ctx: AppContext,
        state: FSMContext,
        bot: Bot,
        confirmations: Confirmations,
    ) -> None:
        entry = parse_entry(command.args, "unsuppress")
        if entry.is_domain:
            # SPEC 10: a whole domain back on the mailing list is asked first.
            assert message.from_user is not None  # the admin gate let a user through
            action = UnsuppressAction(domain=entry.value)
            await confirmations.ask(
                bot, state, chat_id=message.chat.id, admin=message.from_user.id, action=action,
                question=unsuppress_question(entry.value), now=ctx.clock.now(),
            )  # fmt: skip
            return
        result = await suppression.unsuppress(ctx, entry)
        await message.answer(unsuppress_text(result))

    return router
