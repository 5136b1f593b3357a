"""Builds the bot and its dispatcher, and runs long polling until the service stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from contextlib import suppress
from datetime import timedelta

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.types import BotCommand

from bot.confirm import CONFIRM_FOR, Confirmations
from bot.filters import AdminGate
from bot.routers import all_routers, errors, fallback
from bot.transport import TelegramTransport
from bot.views.help import COMMANDS
from config import Settings
from engine.context import AppContext
from engine.control import ControlService

log = logging.getLogger("outreach.bot")

POLL_SECONDS = 25  # long-poll wait per getUpdates; Telegram answers at once when updates come
RETRY_MIN_SECONDS = 1.0  # polling could not start (Telegram down): first wait before retrying
RETRY_MAX_SECONDS = 60.0


def build_bot(settings: Settings) -> Bot:
    """The Bot for BOT_TOKEN, talking to TELEGRAM_API_URL when set (methods and files alike)."""
    if settings.bot_token is None:
        raise ValueError("build_bot needs BOT_TOKEN")
    session = (
        AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
        if settings.telegram_api_url
        else AiohttpSession()
    )
    return Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=None, link_preview_is_disabled=True),
    )


def build_dispatcher(
    ctx: AppContext, admin_ids: Collection[int], *, confirm_for: timedelta = CONFIRM_FOR
) -> Dispatcher:
    """The dispatcher: the admin gate, the errors router, every command group, a fallback."""
    # Workflow data: handlers name `ctx`, `control` or `confirmations` as parameters and aiogram
    # passes them. Pending confirmations live in the FSM: aiogram's memory storage by default.
    dp = Dispatcher(
        ctx=ctx,
        control=ControlService(ctx.control, ctx.clock, ctx.rules),
        confirmations=Confirmations(confirm_for),
    )
    dp.update.outer_middleware(AdminGate(admin_ids))
    dp.include_router(errors.setup())
    dp.include_routers(*all_routers())
    dp.include_router(fallback.setup())  # last: only what nothing else took
    dp.startup.register(_announce_commands)
    return dp


def start_bot(
    ctx: AppContext, settings: Settings, stop: asyncio.Event
) -> tuple[TelegramTransport, asyncio.Task[None]]:
    """The service's bot: the alert transport over it, and its polling task (ends on `stop`)."""
    assert settings.bot_token is not None
    redact_in_logs(settings.bot_token.get_secret_value())
    bot = build_bot(settings)
    dispatcher = build_dispatcher(
        ctx, settings.admin_ids, confirm_for=timedelta(seconds=settings.confirm_seconds)
    )
    task = asyncio.create_task(run_bot(bot, stop, dispatcher=dispatcher), name="bot")
    return TelegramTransport(bot), task


async def _announce_commands(bot: Bot) -> None:
    """Let Telegram's command menu show our commands; the bot works without it."""
    try:
        await bot.set_my_commands(
            [BotCommand(command=c.name, description=c.does) for c in COMMANDS]
        )
    except Exception as exc:  # the menu is a nicety: never let it keep polling from starting
        log.warning("could not set the bot's command menu (%s)", type(exc).__name__)


async def run_bot(bot: Bot, stop: asyncio.Event, *, dispatcher: Dispatcher) -> None:
    """Long-poll until `stop` is set, restarting after failures; the bot session is closed."""
    dp = dispatcher
    delay = RETRY_MIN_SECONDS
    try:
        while not stop.is_set():
            try:
                if await _poll_until(dp, bot, stop):
                    return
            except TelegramUnauthorizedError:
                log.error("Telegram refused the bot token; the bot stays off until a restart")
                return
            except Exception as exc:
                # aiogram retries getUpdates by itself; this is a failure before polling ran
                # (getMe while Telegram is unreachable). Try again, slower each time.
                log.warning("bot polling failed to start (%s); retrying in %.0f s",
                            type(exc).__name__, delay)  # fmt: skip
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
    finally:
        await bot.session.close()


async def _poll_until(dp: Dispatcher, bot: Bot, stop: asyncio.Event) -> bool:
    """Poll until `stop` (True) or until polling ends by itself (its error is raised)."""
    polling = asyncio.create_task(
        dp.start_polling(
            bot, polling_timeout=POLL_SECONDS, handle_signals=False, close_bot_session=False
        ),
        name="bot-polling",
    )
    stopping = asyncio.create_task(stop.wait(), name="bot-stop")
    try:
        await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if polling.done():
        polling.result()  # raises what ended it
        return stop.is_set()
    try:
        await dp.stop_polling()
    except RuntimeError:  # not started yet: nothing is running inside it
        polling.cancel()
    await asyncio.gather(polling, return_exceptions=True)
    return True


class RedactSecret(logging.Filter):
    """Replaces a secret in every record a handler writes, tracebacks included."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drop it."""
        message = record.getMessage()
        if self._secret in message:
            record.msg, record.args = message.replace(self._secret, "***"), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self._secret in record.exc_text:
            record.exc_text = record.exc_text.replace(self._secret, "***")
        return True


def redact_in_logs(secret: str) -> None:
    """Keep `secret` (the bot token: it sits in every Bot API URL) out of every log handler."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecret(secret))
