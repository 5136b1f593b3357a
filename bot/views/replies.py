"""The chat inbox (SPEC 12): label buttons under a reply notification, and what a press did."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from core.models import ReplyLabel
from engine.answers import Answered
from engine.replies import Labelled

BUTTONS = (
    (ReplyLabel.INTERESTED, "Interested"),
    (ReplyLabel.NOT_INTERESTED, "Not interested"),
    (ReplyLabel.UNSUBSCRIBE, "Unsubscribe"),
)
LABEL_TEXT = dict(BUTTONS)
LABEL_LINE = "Label: "
NOT_A_REPLY = (
    "That message is not a reply notification. To answer a lead, reply to the notification "
    "of their reply."
)


class LabelButton(CallbackData, prefix="label"):
    """A press of one label button: which lead, which label (fits Telegram's 64 bytes)."""

    lead_id: int
    label: ReplyLabel


def label_keyboard(lead_id: int) -> InlineKeyboardMarkup:
    """Interested / Not interested / Unsubscribe for one lead's reply."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=text, callback_data=LabelButton(lead_id=lead_id, label=label).pack()
                )
                for label, text in BUTTONS
            ]
        ]
    )


def labelled_text(notification: str, result: Labelled) -> str:
    """The notification with its label line set (a second press replaces the first)."""
    kept = [line for line in notification.splitlines() if not line.startswith(LABEL_LINE)]
    line = f"{LABEL_LINE}{LABEL_TEXT[result.label]}"
    if result.suppressed:
        line += f" ({result.email} is suppressed)"
    return "\n".join([*kept, "", line]).strip()


def answered_text(result: Answered) -> str:
    """What became of an admin's answer."""
    return "Sent." if result.sent else f"Not sent: {result.why}."
