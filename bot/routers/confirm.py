"""Confirm / Cancel presses, and the /status and /resume buttons under alerts (SPEC 10)."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.confirm import Confirmations, ConfirmButton, Verdict
from bot.reply import send_lines
from bot.risky import (
    DnsFixAction,
    ReplaceCampaignAction,
    ResumeAction,
    RiskyAction,
    StopWarmupAction,
    UnsuppressAction,
)
from bot.routers.control import actor_of, status_of
from bot.views.alerts import NOTHING_TO_RESUME, AlertAction, AlertButton
from bot.views.common import chunk_lines
from bot.views.confirm import CANCELLED, NOT_YOURS, STALE, resume_question
from bot.views.control import result_lines
from bot.views.dns import fix_lines
from bot.views.suppress import unsuppress_text
from bot.views.upload import campaign_stored
from bot.views.warmup import warmup_stopped
from core.dns_advice import TxtRecord
from engine import dns_fix, suppression, uploads, warmup_admin
from engine.admin import AdminError
from engine.alert_subjects import alert_subject
from engine.context import AppContext
from engine.control import ControlService, Unknown

log = logging.getLogger("outreach.bot")

GONE = "That alert is gone; /status shows where things stand."


def setup() -> Router:
    """The router of Confirm / Cancel and of alert buttons."""
    router = Router(name="confirm")

    @router.callback_query(ConfirmButton.filter())
    async def pressed(
        query: CallbackQuery,
        *,
        callback_data: ConfirmButton,
        state: FSMContext,
        confirmations: Confirmations,
        ctx: AppContext,
        control: ControlService,
        bot: Bot,
    ) -> None:
        if query.from_user.id != callback_data.admin:
            # Another admin's question (a group chat): theirs to answer, left as it is.
            await query.answer(NOT_YOURS, show_alert=True)
            return
        verdict, action = await confirmations.take(state, callback_data, ctx.clock.now())
        if verdict is Verdict.RUN and action is not None:
            await query.answer("Confirmed.")
            try:
                lines = await perform(action, ctx, control, actor_of(query.from_user))
            except AdminError as exc:  # the world changed since the question: say how
                lines = str(exc).splitlines()
            await _show(bot, query, lines, replace=True)
            return
        outcome = CANCELLED if verdict is Verdict.CANCEL else STALE
        log.info("admin %d: confirmation %s", query.from_user.id, verdict.value)
        await query.answer(outcome, show_alert=verdict is not Verdict.CANCEL)
        await _show(bot, query, [outcome], replace=False)

    @router.callback_query(AlertButton.filter())
    async def alert_button(
        query: CallbackQuery,
        *,
        callback_data: AlertButton,
        state: FSMContext,
        confirmations: Confirmations,
        ctx: AppContext,
        control: ControlService,
        bot: Bot,
    ) -> None:
        key = await ctx.reports.alert_key(callback_data.alert_id)
        subject = alert_subject(callback_data.alert_id, key) if key is not None else None
        if subject is None or query.message is None:
            await query.answer(GONE, show_alert=True)
            return
        chat_id = query.message.chat.id
        if callback_data.action is AlertAction.STATUS:
            await query.answer()
            await send_lines(bot, chat_id, await status_of(ctx, subject.name))
            return
        if not subject.resume:  # a forged press: this alert offers no Resume
            await query.answer(NOTHING_TO_RESUME, show_alert=True)
            return
        await query.answer()
        target = await control.resolve(subject.name, allow_all=False)
        if isinstance(target, Unknown):  # removed from the config since
            await send_lines(bot, chat_id, result_lines(target))
            return
        action = ResumeAction(name=target.name, force=subject.force)
        question = resume_question(target, subject.force)
        await confirmations.ask(
            bot, state, chat_id=chat_id, admin=query.from_user.id, action=action,
            question=question, now=ctx.clock.now(),
        )  # fmt: skip

    return router


async def perform(
    action: RiskyAction, ctx: AppContext, control: ControlService, actor: str
) -> list[str]:
    """Run a confirmed action; what it did, as the chat shows it."""
    if isinstance(action, ResumeAction):
        return result_lines(await control.resume(action.name, force=action.force, actor=actor))
    if isinstance(action, UnsuppressAction):
        entry = suppression.Entry(action.domain, is_domain=True)
        return [unsuppress_text(await suppression.unsuppress(ctx, entry))]
    if isinstance(action, StopWarmupAction):
        row = await warmup_admin.stop_warmup(ctx, action.mailbox)
        return [warmup_stopped(row.address, row.daily_limit)]
    if isinstance(action, DnsFixAction):
        records = [TxtRecord(r.domain, r.name, r.content) for r in action.records]
        return fix_lines(await dns_fix.apply_fix(ctx, records))
    assert isinstance(action, ReplaceCampaignAction)
    return [campaign_stored(await uploads.store_campaign_file(ctx, action.text, action.source))]


async def _show(bot: Bot, query: CallbackQuery, lines: list[str], *, replace: bool) -> None:
    """Edit the question to show the outcome (its buttons go); overflow as new messages.

    `replace`: the outcome takes the question's place; otherwise it is added below it.
    """
    message = query.message
    if not isinstance(message, Message):  # too old to edit: the outcome comes as new messages
        if query.message is not None:
            await send_lines(bot, query.message.chat.id, lines)
        return
    if not replace and message.text:
        lines = [message.text, "", *lines]
    first, *rest = chunk_lines(lines)
    try:
        await message.edit_text(first, reply_markup=None)
    except TelegramAPIError as exc:  # e.g. the message was deleted: say it anew
        log.debug("could not edit the question (%s)", type(exc).__name__)
        rest = [first, *rest]
    for part in rest:
        await bot.send_message(message.chat.id, part)
