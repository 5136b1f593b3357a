"""The one errors router: an AdminError's text goes to the chat; anything else only to the log."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from bot.reply import answer_lines
from bot.views.common import ERROR_TEXT
from engine.admin import AdminError

log = logging.getLogger("outreach.bot")

ALERT_LIMIT = 200  # characters a callback query's answer may show


def setup() -> Router:
    """The router that catches what any handler raises."""
    router = Router(name="errors")

    # Registered first: the first errors handler whose filter matches takes the error.
    @router.errors(ExceptionTypeFilter(AdminError))
    async def on_admin_error(event: ErrorEvent) -> bool:
        update = event.update
        # Written for the admin (what was wrong, what was expected): shown as it is, split at
        # line ends into as many messages as it needs (a campaign file's error list is long).
        text = str(event.exception)
        try:
            if update.message is not None:
                await answer_lines(update.message, text.splitlines())
            elif update.callback_query is not None:
                await update.callback_query.answer(text[:ALERT_LIMIT], show_alert=True)
        except Exception as exc:  # the chat may be unreachable: nothing more to tell it
            log.warning("could not tell the chat what was wrong (%s)", type(exc).__name__)
        return True

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
