"""Confirm / Cancel for risky commands (SPEC 10): nothing changes until the asking admin confirms.

The pending action lives in aiogram's FSM context (one per chat and user) with a random nonce
and the time it was asked. Its buttons carry the nonce and the admin; a press runs the action
only when both match the pending one and it is younger than `CONFIRM_FOR`. A stale, forged or
second press finds nothing to run. A new question replaces the admin's earlier one.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from bot.risky import RiskyAction

log = logging.getLogger("outreach.bot")

CONFIRM_FOR = timedelta(minutes=5)
DATA_KEY = "confirm"  # the FSM data field holding the pending action
NONCE_BYTES = 12  # 16 URL-safe characters: the button data stays far below Telegram's 64 bytes


class Choice(enum.StrEnum):
    """Which of the two buttons was pressed."""

    CONFIRM = "yes"
    CANCEL = "no"


class ConfirmButton(CallbackData, prefix="confirm"):
    """A press of Confirm or Cancel: the question's nonce and the admin who was asked."""

    nonce: str
    choice: Choice
    admin: int


class Pending(BaseModel):
    """The action an admin was asked to confirm, its nonce and when it was asked."""

    model_config = ConfigDict(frozen=True)

    nonce: str
    asked_at: AwareDatetime
    action: RiskyAction


class Verdict(enum.StrEnum):
    """What a press comes to."""

    RUN = "run"  # Confirm of the pending action, in time
    CANCEL = "cancel"  # Cancel of the pending action
    EXPIRED = "expired"  # the pending action, too late
    UNKNOWN = "unknown"  # no pending action with that nonce (forged, replaced, done already)


def judge(
    pending: Pending | None, button: ConfirmButton, now: datetime, ttl: timedelta = CONFIRM_FOR
) -> Verdict:
    """What a press of `button` does to `pending`, the asking admin's pending action."""
    if pending is None or not secrets.compare_digest(pending.nonce, button.nonce):
        return Verdict.UNKNOWN
    if not timedelta(0) <= now - pending.asked_at < ttl:
        return Verdict.EXPIRED  # a clock that went back is no reason to trust an old question
    return Verdict.RUN if button.choice is Choice.CONFIRM else Verdict.CANCEL


def confirm_keyboard(nonce: str, admin: int) -> InlineKeyboardMarkup:
    """Confirm and Cancel for one question."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=text,
                    callback_data=ConfirmButton(nonce=nonce, choice=choice, admin=admin).pack(),
                )
                for choice, text in ((Choice.CONFIRM, "Confirm"), (Choice.CANCEL, "Cancel"))
            ]
        ]
    )


async def remember(state: FSMContext, action: RiskyAction, now: datetime) -> str:
    """Make `action` the admin's pending one (replacing any earlier); its nonce."""
    nonce = secrets.token_urlsafe(NONCE_BYTES)
    pending = Pending(nonce=nonce, asked_at=now, action=action)
    await state.update_data({DATA_KEY: pending.model_dump(mode="json")})
    return nonce


class Confirmations:
    """Asks, and takes presses one at a time so two presses of one Confirm can't both run it.

    One per dispatcher (workflow data `confirmations`); `ttl` is how long a question stands.
    """

    def __init__(self, ttl: timedelta = CONFIRM_FOR) -> None:
        self.ttl = ttl
        self._lock = asyncio.Lock()

    async def ask(
        self,
        bot: Bot,
        state: FSMContext,
        *,
        chat_id: int,
        admin: int,
        action: RiskyAction,
        question: str,
        now: datetime,
    ) -> None:
        """Send `question` with Confirm / Cancel; `action` waits in the FSM for a press."""
        nonce = await remember(state, action, now)
        text = f"{question}\n{until_line(self.ttl)}"
        await bot.send_message(chat_id, text, reply_markup=confirm_keyboard(nonce, admin))

    async def take(
        self, state: FSMContext, button: ConfirmButton, now: datetime
    ) -> tuple[Verdict, RiskyAction | None]:
        """Judge a press; the pending action leaves the FSM unless the press was not for it."""
        async with self._lock:
            data = await state.get_data()
            pending = _pending(data.get(DATA_KEY))
            verdict = judge(pending, button, now, self.ttl)
            if verdict is not Verdict.UNKNOWN:
                # Spent, whatever the press was: a second press finds nothing. A press with
                # another nonce leaves it alone, so a forged button can't cancel a question.
                await state.set_data({k: v for k, v in data.items() if k != DATA_KEY})
        if verdict is Verdict.RUN and pending is not None:
            return verdict, pending.action
        return verdict, None


def until_line(ttl: timedelta) -> str:
    """The line under every question."""
    seconds = int(ttl.total_seconds())
    count, unit = (seconds // 60, "minute") if seconds % 60 == 0 else (seconds, "second")
    within = f"{count} {unit}" + ("" if count == 1 else "s")
    return f"Nothing changes until you press Confirm (within {within})."


def _pending(raw: object) -> Pending | None:
    if raw is None:
        return None
    try:
        return Pending.model_validate(raw)
    except ValidationError:  # written by an older version: treat as nothing pending
        log.warning("dropped a pending confirmation that no longer reads")
        return None
