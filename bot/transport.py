"""Alerts to Telegram chats: the AlertTransport of a service that runs the bot."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from bot.views.common import alert_text
from bot.views.replies import label_keyboard
from engine.alerts import RetryAfter, Severity


class TelegramTransport:
    """Sends each alert as one plain-text message; a 429 becomes RetryAfter for the outbox."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def deliver(
        self, chat_id: int, severity: Severity, text: str, *, lead_id: int | None = None
    ) -> int | None:
        """Send one alert (a reply notification with its label buttons); its message id.

        Any other failure propagates and the outbox backs off.
        """
        markup = label_keyboard(lead_id) if lead_id is not None else None
        try:
            # No parse mode: alert texts hold addresses and SMTP replies, never markup.
            sent = await self._bot.send_message(
                chat_id, alert_text(severity.value, text), parse_mode=None, reply_markup=markup
            )
        except TelegramRetryAfter as exc:
            raise RetryAfter(exc.retry_after) from None
        return sent.message_id
