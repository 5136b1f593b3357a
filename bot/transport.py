"""Alerts to Telegram chats: the AlertTransport of a service that runs the bot."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from bot.views.common import alert_text
from engine.alerts import RetryAfter, Severity


class TelegramTransport:
    """Sends each alert as one plain-text message; a 429 becomes RetryAfter for the outbox."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def deliver(self, chat_id: int, severity: Severity, text: str) -> None:
        """Send one alert; any other failure propagates and the outbox backs off."""
        try:
            # No parse mode: alert texts hold addresses and SMTP replies, never markup.
            await self._bot.send_message(chat_id, alert_text(severity.value, text), parse_mode=None)
        except TelegramRetryAfter as exc:
            raise RetryAfter(exc.retry_after) from None
