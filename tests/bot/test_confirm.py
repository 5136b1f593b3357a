"""bot/confirm.py: which press runs a pending action, and that each runs at most once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from pydantic import TypeAdapter

from bot.confirm import (
    CONFIRM_FOR,
    DATA_KEY,
    Choice,
    Confirmations,
    ConfirmButton,
    Pending,
    Verdict,
    judge,
    remember,
    until_line,
)
from bot.risky import (
    ReplaceCampaignAction,
    ResumeAction,
    RiskyAction,
    StopWarmupAction,
    UnsuppressAction,
)

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
ADMIN = 111
OTHER_ADMIN = 222
GROUP = -100
ACTION = ResumeAction(name="all")


def press(pending: Pending, choice: Choice = Choice.CONFIRM) -> ConfirmButton:
    """The button of `pending`'s question."""
    return ConfirmButton(nonce=pending.nonce, choice=choice, admin=ADMIN)


def context(storage: MemoryStorage, user: int, chat: int = GROUP) -> FSMContext:
    """The FSM context aiogram gives `user` in `chat` (bot 42)."""
    return FSMContext(storage, StorageKey(bot_id=42, chat_id=chat, user_id=user))


@pytest.mark.parametrize(
    ("after", "choice", "verdict"),
    [
        (timedelta(0), Choice.CONFIRM, Verdict.RUN),
        (CONFIRM_FOR - timedelta(seconds=1), Choice.CONFIRM, Verdict.RUN),
        (CONFIRM_FOR - timedelta(seconds=1), Choice.CANCEL, Verdict.CANCEL),
        (CONFIRM_FOR, Choice.CONFIRM, Verdict.EXPIRED),
        (CONFIRM_FOR, Choice.CANCEL, Verdict.EXPIRED),
        (-timedelta(minutes=1), Choice.CONFIRM, Verdict.EXPIRED),  # the clock went back
    ],
)
def test_judge_by_age_and_choice(after: timedelta, choice: Choice, verdict: Verdict) -> None:
    pending = Pending(nonce="n1", asked_at=T0, action=ACTION)
    assert judge(pending, press(pending, choice), T0 + after) is verdict


def test_judge_a_forged_nonce_or_nothing_pending_as_unknown() -> None:
    pending = Pending(nonce="n1", asked_at=T0, action=ACTION)
    forged = ConfirmButton(nonce="n2", choice=Choice.CONFIRM, admin=ADMIN)
    assert judge(pending, forged, T0) is Verdict.UNKNOWN
    assert judge(None, press(pending), T0) is Verdict.UNKNOWN
    # Unknown wins over expired: a forged press learns nothing about the pending one.
    assert judge(pending, forged, T0 + CONFIRM_FOR * 2) is Verdict.UNKNOWN


def test_the_button_fits_telegram_and_packs_back() -> None:
    button = ConfirmButton(nonce="A" * 16, choice=Choice.CANCEL, admin=10**12)
    packed = button.pack()
    assert len(packed.encode()) <= 64
    assert ConfirmButton.unpack(packed) == button


async def test_confirm_runs_once() -> None:
    storage = MemoryStorage()
    state = context(storage, ADMIN)
    gate = Confirmations()
    nonce = await remember(state, ACTION, T0)
    button = ConfirmButton(nonce=nonce, choice=Choice.CONFIRM, admin=ADMIN)
    assert await gate.take(state, button, T0 + timedelta(seconds=5)) == (Verdict.RUN, ACTION)
    assert await gate.take(state, button, T0 + timedelta(seconds=6)) == (Verdict.UNKNOWN, None)
    assert DATA_KEY not in await state.get_data()


async def test_another_admins_press_finds_nothing_and_leaves_the_question() -> None:
    storage = MemoryStorage()
    mine, theirs = context(storage, ADMIN), context(storage, OTHER_ADMIN)
    gate = Confirmations()
    nonce = await remember(mine, ACTION, T0)
    # The other admin's FSM context (same chat, other user) has no pending action: even
    # with the right nonce and the admin field forged to theirs, nothing runs.
    forged = ConfirmButton(nonce=nonce, choice=Choice.CONFIRM, admin=OTHER_ADMIN)
    assert await gate.take(theirs, forged, T0) == (Verdict.UNKNOWN, None)
    button = ConfirmButton(nonce=nonce, choice=Choice.CONFIRM, admin=ADMIN)
    assert await gate.take(mine, button, T0) == (Verdict.RUN, ACTION)


async def test_a_forged_nonce_neither_runs_nor_cancels_the_question() -> None:
    state = context(MemoryStorage(), ADMIN)
    gate = Confirmations()
    nonce = await remember(state, ACTION, T0)
    for choice in Choice:
        forged = ConfirmButton(nonce=nonce[::-1], choice=choice, admin=ADMIN)
        assert await gate.take(state, forged, T0) == (Verdict.UNKNOWN, None)
    button = ConfirmButton(nonce=nonce, choice=Choice.CONFIRM, admin=ADMIN)
    assert await gate.take(state, button, T0) == (Verdict.RUN, ACTION)


async def test_an_expired_question_is_spent() -> None:
    state = context(MemoryStorage(), ADMIN)
    gate = Confirmations(ttl=timedelta(minutes=5))
    nonce = await remember(state, ACTION, T0)
    button = ConfirmButton(nonce=nonce, choice=Choice.CONFIRM, admin=ADMIN)
    late = T0 + timedelta(minutes=5)
    assert await gate.take(state, button, late) == (Verdict.EXPIRED, None)
    assert await gate.take(state, button, T0) == (Verdict.UNKNOWN, None)  # gone for good


async def test_cancel_is_spent_too() -> None:
    state = context(MemoryStorage(), ADMIN)
    gate = Confirmations()
    nonce = await remember(state, ACTION, T0)
    cancel = ConfirmButton(nonce=nonce, choice=Choice.CANCEL, admin=ADMIN)
    assert await gate.take(state, cancel, T0) == (Verdict.CANCEL, None)
    confirm = ConfirmButton(nonce=nonce, choice=Choice.CONFIRM, admin=ADMIN)
    assert await gate.take(state, confirm, T0) == (Verdict.UNKNOWN, None)


async def test_a_new_question_replaces_the_earlier_one() -> None:
    state = context(MemoryStorage(), ADMIN)
    gate = Confirmations()
    first = await remember(state, ACTION, T0)
    second = await remember(state, UnsuppressAction(domain="acme.com"), T0)
    old = ConfirmButton(nonce=first, choice=Choice.CONFIRM, admin=ADMIN)
    assert await gate.take(state, old, T0) == (Verdict.UNKNOWN, None)
    new = ConfirmButton(nonce=second, choice=Choice.CONFIRM, admin=ADMIN)
    assert await gate.take(state, new, T0) == (Verdict.RUN, UnsuppressAction(domain="acme.com"))


async def test_other_fsm_data_is_kept() -> None:
    state = context(MemoryStorage(), ADMIN)
    await state.update_data({"other": 1})
    nonce = await remember(state, ACTION, T0)
    button = ConfirmButton(nonce=nonce, choice=Choice.CONFIRM, admin=ADMIN)
    await Confirmations().take(state, button, T0)
    assert await state.get_data() == {"other": 1}


async def test_unreadable_pending_data_counts_as_nothing() -> None:
    state = context(MemoryStorage(), ADMIN)
    await state.update_data({DATA_KEY: {"nonce": "n1", "asked_at": "yesterday"}})
    button = ConfirmButton(nonce="n1", choice=Choice.CONFIRM, admin=ADMIN)
    assert await Confirmations().take(state, button, T0) == (Verdict.UNKNOWN, None)


@pytest.mark.parametrize(
    "action",
    [
        ResumeAction(name="d0.test", force=True),
        UnsuppressAction(domain="acme.com"),
        StopWarmupAction(mailbox="m0@d0.test"),
        ReplaceCampaignAction(name="q4", source="q4.toml", text='[[campaigns]]\nname = "q4"\n'),
    ],
)
def test_actions_survive_a_json_storage(action: RiskyAction) -> None:
    pending = Pending(nonce="n1", asked_at=T0, action=action)
    stored = TypeAdapter(dict[str, object]).dump_json(pending.model_dump(mode="json"))
    assert Pending.model_validate_json(stored) == pending


def test_the_deadline_line() -> None:
    assert until_line(CONFIRM_FOR) == "Nothing changes until you press Confirm (within 5 minutes)."
    assert until_line(timedelta(seconds=90)).endswith("(within 90 seconds).")
    assert until_line(timedelta(seconds=1)).endswith("(within 1 second).")
    assert until_line(timedelta(minutes=1)).endswith("(within 1 minute).")
