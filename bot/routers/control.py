"""/status, /pause and /resume: parse, call one service, render; risky resumes ask first."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import Message, User

from bot.confirm import Confirmations
from bot.reply import answer_lines
from bot.risky import ResumeAction
from bot.views.confirm import resume_question
from bot.views.control import result_lines
from bot.views.help import USAGE
from bot.views.status import detail_lines, status_lines, unknown_lines
from engine.context import AppContext
from engine.control import ControlService, Unknown
from engine.status import gather_detail, gather_status


def setup() -> Router:
    """The router of /status, /pause and /resume."""
    router = Router(name="control")

    @router.message(Command("status"))
    async def status(message: Message, command: CommandObject, ctx: AppContext) -> None:
        await answer_lines(message, await status_of(ctx, (command.args or "").strip()))

    @router.message(Command("pause"))
    async def pause(message: Message, command: CommandObject, control: ControlService) -> None:
        parts = (command.args or "").split(maxsplit=1)
        if not parts:
            await message.answer(USAGE["pause"])
            return
        reason = parts[1] if len(parts) > 1 else ""
        result = await control.pause(parts[0], reason, actor=actor_of(message.from_user))
        await answer_lines(message, result_lines(result))

    @router.message(Command("resume"))
    async def resume(
        message: Message,
        *,
        command: CommandObject,
        control: ControlService,
        ctx: AppContext,
        state: FSMContext,
        bot: Bot,
        confirmations: Confirmations,
    ) -> None:
        parts = (command.args or "").split()
        force = len(parts) == 2 and parts[1].casefold() == "force"
        if not parts or (len(parts) > 1 and not force):
            await message.answer(USAGE["resume"])
            return
        assert message.from_user is not None  # the admin gate let a user through
        target = await control.resolve(parts[0])
        if isinstance(target, Unknown):
            await answer_lines(message, result_lines(target))
        elif target.kind == "all" or force:
            # SPEC 10: these end more than one pause, or stops the system made; asked first.
            action = ResumeAction(name=target.name, force=force)
            await confirmations.ask(
                bot, state, chat_id=message.chat.id, admin=message.from_user.id, action=action,
                question=resume_question(target, force), now=ctx.clock.now(),
            )  # fmt: skip
        else:
            result = await control.resume(target.name, actor=actor_of(message.from_user))
            await answer_lines(message, result_lines(result))

    return router


async def status_of(ctx: AppContext, name: str) -> list[str]:
    """/status, or /status NAME (also an alert's status button)."""
    if not name:
        return status_lines(await gather_status(ctx.reports, ctx.clock, ctx.rules))
    detail = await gather_detail(ctx.reports, ctx.clock, ctx.rules, name)
    return unknown_lines(detail) if isinstance(detail, Unknown) else detail_lines(detail)


def actor_of(user: User | None) -> str:
    """Who did it, for reasons and logs."""
    return f"admin {user.id}" if user is not None else "an admin"
