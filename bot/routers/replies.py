"""The chat inbox (SPEC 12): label a reply with its buttons, answer it by replying."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from bot.views.replies import (
    NOT_A_REPLY,
    LabelButton,
    answered_text,
    label_keyboard,
    labelled_text,
)
from engine import replies
from engine.context import AppContext


def setup() -> Router:
    """The router of the label buttons under reply notifications."""
    router = Router(name="replies")

    @router.callback_query(LabelButton.filter())
    async def label(query: CallbackQuery, callback_data: LabelButton, ctx: AppContext) -> None:
        admin = query.from_user.id if query.from_user else None
        result = await replies.label_reply(ctx, callback_data.lead_id, callback_data.label, admin)
        message = query.message
        if isinstance(message, Message) and message.text is not None:
            await message.edit_text(
                labelled_text(message.text, result),
                reply_markup=label_keyboard(callback_data.lead_id),
            )
        await query.answer(f"Labelled: {callback_data.label.value.replace('_', ' ')}")

    @router.message(F.reply_to_message, F.text, ~F.text.startswith("/"))
    async def answer(message: Message, ctx: AppContext) -> None:
        original = message.reply_to_message
        assert original is not None and message.text is not None  # the filters say so
        lead_id = await ctx.reports.lead_of_message(message.chat.id, original.message_id)
        if lead_id is None:
            await message.reply(NOT_A_REPLY)
            return
        result = await ctx.answers.answer(lead_id, message.text)
        await message.reply(answered_text(result))

    return router
