"""The one errors router: a failing handler is logged in full and the chat told only that."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import ErrorEvent

from bot.views import ERROR_TEXT

log = logging.getLogger("outreach.bot")


def setup() -> Router:
    """The router that catches what any handler raises."""
    router = Router(name="errors")

    @router.errors()
    async def on_error(event: ErrorEvent) -> bool:
        update = event.update
        log.error("update %d failed", update.update_id, exc_info=event.exception)
        # The exception's text may carry paths, SQL or a secret: the chat gets a fixed line.
        try:
            if update.message is not None:
                await update.message.answer(ERROR_TEXT)
            elif update.callback_query is not None:
                await update.callback_query.answer(ERROR_TEXT, show_alert=True)
        except Exception as exc:  # the chat may be unreachable: the log has the story
            log.warning("could not tell the chat about the failure (%s)", type(exc).__name__)
        return True

    return router
