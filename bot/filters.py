"""The one admin gate: every update from anyone not in ADMIN_IDS is refused before routing."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject, Update, User

from bot.views.common import private_text

log = logging.getLogger("outreach.bot")

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class AdminGate(BaseMiddleware):
    """Outer middleware on the dispatcher's updates: admins pass, everyone else is told no.

    Sitting on the dispatcher rather than on each router, it also guards routers added later;
    a refused update reaches no handler, so nothing changes.
    """

    def __init__(self, admin_ids: Iterable[int]) -> None:
        self._admins = frozenset(admin_ids)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        """Pass an admin's update on; refuse any other, logged."""
        user = data.get("event_from_user")
        if isinstance(user, User) and user.id in self._admins:
            return await handler(event, data)
        if not isinstance(event, Update):  # registered on updates: never happens
            return None
        await self._refuse(event, user)
        return None

    async def _refuse(self, update: Update, user: User | None) -> None:
        if user is None:
            log.warning("refused update %d without a user (%s)", update.update_id,
                        update.event_type)  # fmt: skip
            return
        if update.message is not None:
            log.warning("refused user %d: %s", user.id, _command(update.message))
            await update.message.answer(private_text(user.id))
        elif update.callback_query is not None:
            log.warning("refused user %d: button %r", user.id,
                        (update.callback_query.data or "")[:64])  # fmt: skip
            await update.callback_query.answer(private_text(user.id), show_alert=True)
        else:
            log.warning("refused user %d: %s update", user.id, update.event_type)


def _command(message: Message) -> str:
    """The command line (clipped, quoted against log injection), or what kind of message."""
    text = (message.text or message.caption or "").strip()
    if text.startswith("/"):
        return repr(text[:64])
    return "a document" if message.document is not None else "a message that is not a command"
