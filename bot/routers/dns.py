"""/dns [fix]: the mail records of every domain, what to add, and adding it through Cloudflare."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot.confirm import Confirmations
from bot.reply import answer_lines, typing
from bot.risky import DnsFixAction, DnsRecord
from bot.views.dns import EXPECTED, NO_TOKEN, NOTHING_TO_FIX, dns_lines, fix_question
from engine.admin import AdminError
from engine.context import AppContext
from engine.dns_fix import dns_report, plan


def setup() -> Router:
    """The router of /dns."""
    router = Router(name="dns")

    @router.message(Command("dns"))
    async def dns(
        message: Message,
        *,
        command: CommandObject,
        ctx: AppContext,
        state: FSMContext,
        bot: Bot,
        confirmations: Confirmations,
    ) -> None:
        args = (command.args or "").strip().lower()
        if args not in ("", "fix"):
            raise AdminError(f"{EXPECTED}; got {args[:40]!r}")
        if args == "fix" and ctx.dns_host is None:
            await message.answer(NO_TOKEN)
            return
        # AdminError (a bad [dns].nameserver) goes to the errors router.
        async with typing(message):
            reports = await dns_report(ctx)
        if args == "":
            await answer_lines(message, dns_lines(reports, can_fix=ctx.dns_host is not None))
            return
        records = plan(reports)
        if not records:
            await answer_lines(message, [NOTHING_TO_FIX, "", *dns_lines(reports)])
            return
        assert message.from_user is not None  # the admin gate let a user through
        action = DnsFixAction(
            records=tuple(DnsRecord(domain=r.domain, name=r.name, content=r.content)
                          for r in records)
        )  # fmt: skip
        await confirmations.ask(
            bot, state, chat_id=message.chat.id, admin=message.from_user.id, action=action,
            question=fix_question(records), now=ctx.clock.now(),
        )  # fmt: skip

    return router
