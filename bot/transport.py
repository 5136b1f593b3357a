"""Alerts to Telegram chats: the AlertTransport of a service that runs the bot."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import InlineKeyboardMarkup

from bot.views.alerts import alert_keyboard
from bot.views.common import alert_text
from bot.views.replies import label_keyboard
from engine.alert_subjects import AlertSubject
from engine.alerts import RetryAfter, Severity


class TelegramTransport:
    """Sends each alert as one plain-text message with its buttons; a 429 becomes RetryAfter."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def deliver(
        self,
        chat_id: int,
        severity: Severity,
        text: str,
        *,
        lead_id: int | None = None,
        subject: AlertSubject | None = None,
    ) -> int | None:
        """Send one alert with its buttons; its message id.

        A reply notification gets label buttons; an alert about a mailbox, domain or campaign
        its /status and, where one applies, /resume. Any other failure propagates and the
        outbox backs off.
        """
        markup: InlineKeyboardMarkup | None = None
        if lead_id is not None:
            markup = label_keyboard(lead_id)
        elif subject is not None:
            markup = alert_keyboard(subject)
        try:
            # No parse mode: alert texts hold addresses and SMTP replies, never markup.
            sent = await self._bot.send_message(
                chat_id, alert_text(severity.value, text), parse_mode=None, reply_markup=markup
            )
        except TelegramRetryAfter as exc:
            raise RetryAfter(exc.retry_after) from None
        return sent.message_id
