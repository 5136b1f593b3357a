"""/status, /pause and /resume: parse, call one service, render."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.reply import answer_lines
from bot.views.control import control_lines
from bot.views.help import USAGE
from bot.views.status import detail_lines, status_lines, unknown_lines
from engine.context import AppContext
from engine.control import ControlResult, ControlService, Unknown
from engine.status import gather_detail, gather_status


def setup() -> Router:
    """The router of /status, /pause and /resume."""
    router = Router(name="control")

    @router.message(Command("status"))
    async def status(message: Message, command: CommandObject, ctx: AppContext) -> None:
        name = (command.args or "").strip()
        if not name:
            report = await gather_status(ctx.reports, ctx.clock, ctx.rules)
            await answer_lines(message, status_lines(report))
            return
        detail = await gather_detail(ctx.reports, ctx.clock, ctx.rules, name)
        if isinstance(detail, Unknown):
            await answer_lines(message, unknown_lines(detail))
        else:
            await answer_lines(message, detail_lines(detail))

    @router.message(Command("pause"))
    async def pause(message: Message, command: CommandObject, control: ControlService) -> None:
        parts = (command.args or "").split(maxsplit=1)
        if not parts:
            await message.answer(USAGE["pause"])
            return
        reason = parts[1] if len(parts) > 1 else ""
        result = await control.pause(parts[0], reason, actor=_actor(message))
        await _render(message, result)

    @router.message(Command("resume"))
    async def resume(message: Message, command: CommandObject, control: ControlService) -> None:
        parts = (command.args or "").split()
        force = len(parts) == 2 and parts[1].casefold() == "force"
        if not parts or (len(parts) > 1 and not force):
            await message.answer(USAGE["resume"])
            return
        result = await control.resume(parts[0], force=force, actor=_actor(message))
        await _render(message, result)

    return router


def _actor(message: Message) -> str:
    user = message.from_user
    return f"admin {user.id}" if user is not None else "an admin"


async def _render(message: Message, result: ControlResult | Unknown) -> None:
    if isinstance(result, Unknown):
        await answer_lines(message, unknown_lines(result, "mailbox, domain, campaign or 'all'"))
    else:
        await answer_lines(message, control_lines(result))
