"""The chat inbox's buttons: label a reply (SPEC 12)."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery, Message

from bot.views.replies import LabelButton, label_keyboard, labelled_text
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

    return router
