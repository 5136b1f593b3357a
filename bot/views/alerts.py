"""The buttons under an alert about a mailbox, domain or campaign: its /status and /resume."""

from __future__ import annotations

import enum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from engine.alert_subjects import AlertSubject

NOTHING_TO_RESUME = "That alert has nothing to resume."


class AlertAction(enum.StrEnum):
    """What an alert button asks for."""

    STATUS = "status"
    RESUME = "resume"


class AlertButton(CallbackData, prefix="alert"):
    """A press under a stored alert: the subject is read again from the alert's key."""

    alert_id: int
    action: AlertAction


def alert_keyboard(subject: AlertSubject) -> InlineKeyboardMarkup:
    """/status of the subject, and /resume (force) when the alert says it stopped."""
    buttons = [
        InlineKeyboardButton(
            text=f"/status {subject.name}",
            callback_data=AlertButton(alert_id=subject.alert_id, action=AlertAction.STATUS).pack(),
        )
    ]
    if subject.resume:
        text = f"/resume {subject.name}" + (" force" if subject.force else "")
        buttons.append(
            InlineKeyboardButton(
                text=text,
                callback_data=AlertButton(
                    alert_id=subject.alert_id, action=AlertAction.RESUME
                ).pack(),
            )
        )
    return InlineKeyboardMarkup(inline_keyboard=[buttons])
