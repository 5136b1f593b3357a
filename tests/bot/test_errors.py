"""bot/routers/errors.py: an AdminError's text reaches the chat; any other error does not."""

from __future__ import annotations

from aiogram import Bot, Dispatcher, F, Router
from aiogram.methods import AnswerCallbackQuery, SendMessage
from aiogram.types import CallbackQuery, Message, Update

from bot.routers import errors
from bot.views.common import ERROR_TEXT
from engine.admin import AdminError
from tests.bot.session import TOKEN, RecordingSession, callback_update, message_update

ADMIN = 111


def failing() -> Router:
    """Handlers that raise what the command routers may raise."""
    router = Router(name="failing")

    @router.message(F.text == "/refused")
    async def refused(message: Message) -> None:
        raise AdminError("no campaign named 'q5'; did you mean q4?\nsecond line")

    @router.message(F.text == "/broken")
    async def broken(message: Message) -> None:
        raise RuntimeError("/srv/outreach/db.sqlite: SQL logic error")

    @router.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        raise AdminError("x" * 300)

    return router


async def feed(*updates: Update) -> RecordingSession:
    """Dispatch `updates` through the errors router and the failing handlers."""
    dp = Dispatcher()
    dp.include_routers(errors.setup(), failing())
    session = RecordingSession()
    bot = Bot(TOKEN, session=session)
    for update in updates:
        await dp.feed_update(bot, update)
    return session


async def test_an_admin_error_is_answered_with_its_text() -> None:
    session = await feed(message_update("/refused", user_id=ADMIN))
    (sent,) = session.of(SendMessage)
    assert sent.text == "no campaign named 'q5'; did you mean q4?\nsecond line"


async def test_any_other_error_gets_the_fixed_line_only() -> None:
    session = await feed(message_update("/broken", user_id=ADMIN))
    assert session.texts() == [ERROR_TEXT]


async def test_an_admin_error_on_a_button_is_an_alert() -> None:
    session = await feed(callback_update("any", user_id=ADMIN, message_id=5))
    (answer,) = session.of(AnswerCallbackQuery)
    assert answer.show_alert is True
    assert answer.text == "x" * errors.ALERT_LIMIT
