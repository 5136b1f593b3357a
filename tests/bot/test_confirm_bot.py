"""Confirm / Cancel and alert buttons, the bot in-process against the fake Bot API (SPEC 10)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot

from bot.app import build_bot, build_dispatcher, run_bot
from bot.confirm import CONFIRM_FOR
from bot.transport import TelegramTransport
from bot.views.confirm import CANCELLED, NOT_YOURS, STALE
from engine.alert_subjects import AlertSubject
from engine.alerts import Severity
from engine.health import HealthService
from tests.bot.conftest import ADMIN, BotWorld, bot_config, open_world, settings
from tests.fakes.telegram import TOKEN, Call, FakeTelegram, decode_json_field

ADMIN_2 = 222
GROUP = -1001


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def world(tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[BotWorld]:
    config = bot_config(warming="m0@d0.test")
    async with open_world(tmp_path, config, settings(fake.url, TOKEN)) as opened:
        yield opened


@asynccontextmanager
async def running(world: BotWorld, admins: Collection[int] = (ADMIN,)) -> AsyncIterator[Bot]:
    """The bot polling the fake until the block ends."""
    bot = build_bot(world.settings)
    stop = asyncio.Event()
    dispatcher = build_dispatcher(world.ctx, admins)
    task = asyncio.create_task(run_bot(bot, stop, dispatcher=dispatcher))
    try:
        yield bot
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def buttons(call: Call) -> dict[str, str]:
    """Button text -> callback data of a sent message."""
    markup = decode_json_field(call, "reply_markup")
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


async def said(
    fake: FakeTelegram, expect: str, *, text: str | None = None, user: int = ADMIN,
    chat: int | None = None, document: str | None = None, caption: str | None = None,
) -> Call:  # fmt: skip
    """Send a message; the bot's message containing `expect` to that chat."""
    since = len(fake.calls)
    fake.push_message(user, text, chat_id=chat, document=document, caption=caption)
    where = chat if chat is not None else user
    return await fake.wait_for_message(where, expect, within=5, since=since)


async def press(
    fake: FakeTelegram, data: str, message_id: int, *, user: int = ADMIN, chat: int | None = None
) -> dict[str, Any]:
    """Press a button; the press's answer (answerCallbackQuery) once the handler is done."""
    since = len(fake.calls)
    fake.push_callback(user, data, message_id, chat_id=chat)

    def answered() -> dict[str, Any] | None:
        calls = fake.calls[since:]
        for call in calls:
            if call["method"] == "answerCallbackQuery":
                return call["params"]
        return None

    answer: dict[str, Any] = await fake.wait_for(answered, within=5)
    return answer


async def edited(fake: FakeTelegram, message_id: int, contains: str) -> str:
    """The text the bot edited its message `message_id` to, once it contains `contains`."""

    def found() -> str | None:
        for call in fake.sent:
            text = str(call["params"].get("text", ""))
            if (
                call["method"] == "editMessageText"
                and call["message_id"] == message_id
                and contains in text
            ):
                return text
        return None

    text: str = await fake.wait_for(found, within=5)
    return text


async def states(world: BotWorld) -> set[str]:
    """Every campaign's and mailbox's state."""
    campaigns = {c.state.value for c in await world.stores.control.campaigns()}
    return campaigns | {m.state.value for m in await world.stores.control.mailboxes()}


async def test_resume_all_changes_nothing_until_confirm(
    world: BotWorld, fake: FakeTelegram
) -> None:
    await world.control.pause("all", actor="admin 111")
    async with running(world):
        asked = await said(fake, "Resume everything", text="/resume all")
        assert asked["params"]["text"] == (
            "Resume everything /pause all paused?\n"
            "Nothing changes until you press Confirm (within 5 minutes)."
        )
        assert set(buttons(asked)) == {"Confirm", "Cancel"}
        assert await states(world) == {"paused"}

        question = asked["message_id"]
        assert question is not None
        answer = await press(fake, buttons(asked)["Confirm"], question)
        assert answer["text"] == "Confirmed."
        text = await edited(fake, question, "Resumed everything")
        assert text.startswith("Resumed everything: 2 campaigns, 4 mailboxes.")
        assert await states(world) == {"active", "warming"}

        # A second press of the same Confirm: spent, nothing runs again.
        await world.control.pause("all", actor="admin 111")
        answer = await press(fake, buttons(asked)["Confirm"], question)
        assert (answer["text"], answer["show_alert"]) == (STALE, "true")
        assert await states(world) == {"paused"}


async def test_an_expired_confirm_changes_nothing(world: BotWorld, fake: FakeTelegram) -> None:
    await world.control.pause("all", actor="admin 111")
    async with running(world):
        asked = await said(fake, "Resume everything", text="/resume all force")
        assert asked["params"]["text"].startswith(
            "Resume everything? Every pause, system stop and cool-down ends now."
        )
        world.clock.advance(CONFIRM_FOR)
        question = asked["message_id"]
        assert question is not None
        answer = await press(fake, buttons(asked)["Confirm"], question)
        assert answer["text"] == STALE
        text = await edited(fake, question, STALE)
        assert text.startswith("Resume everything?")  # the question stays, its buttons go
        assert await states(world) == {"paused"}


async def test_a_forged_confirm_changes_nothing(world: BotWorld, fake: FakeTelegram) -> None:
    await world.control.pause("all", actor="admin 111")
    async with running(world):
        asked = await said(fake, "Resume everything", text="/resume all")
        question = asked["message_id"]
        assert question is not None
        forged = "confirm:AAAAAAAAAAAAAAAA:yes:111"
        assert (await press(fake, forged, question))["text"] == STALE
        assert await states(world) == {"paused"}
        # The real question still stands: a forged press can't cancel it.
        await press(fake, buttons(asked)["Confirm"], question)
        await edited(fake, question, "Resumed everything")
        assert "paused" not in await states(world)


async def test_only_the_asking_admin_can_answer(world: BotWorld, fake: FakeTelegram) -> None:
    await world.control.pause("all", actor="admin 111")
    async with running(world, admins=(ADMIN, ADMIN_2)):
        asked = await said(fake, "Resume everything", text="/resume all", chat=GROUP)
        question = asked["message_id"]
        assert question is not None
        confirm = buttons(asked)["Confirm"]
        answer = await press(fake, confirm, question, user=ADMIN_2, chat=GROUP)
        assert (answer["text"], answer["show_alert"]) == (NOT_YOURS, "true")
        # The button rewritten to name the other admin: their own FSM has nothing pending.
        forged = confirm.removesuffix(f":{ADMIN}") + f":{ADMIN_2}"
        answer = await press(fake, forged, question, user=ADMIN_2, chat=GROUP)
        assert answer["text"] == STALE
        assert await states(world) == {"paused"}
        await press(fake, confirm, question, user=ADMIN, chat=GROUP)
        await edited(fake, question, "Resumed everything")
        assert "paused" not in await states(world)


async def test_unsuppress_a_domain_asks_and_cancel_keeps_it(
    world: BotWorld, fake: FakeTelegram
) -> None:
    async with running(world):
        await said(fake, "added to the suppression list", text="/suppress @acme.com")
        await said(fake, "added to the suppression list", text="/suppress ann@acme.test")
        # One address needs no question.
        await said(fake, "removed from the suppression list", text="/unsuppress ann@acme.test")
        assert not await world.stores.events.is_suppressed("ann@acme.test")

        asked = await said(fake, "Take @acme.com off", text="/unsuppress @acme.com")
        question = asked["message_id"]
        assert question is not None
        assert (await press(fake, buttons(asked)["Cancel"], question))["text"] == CANCELLED
        await edited(fake, question, CANCELLED)
        assert await world.stores.events.is_suppressed("bob@acme.com")

        asked = await said(fake, "Take @acme.com off", text="/unsuppress @acme.com")
        question = asked["message_id"]
        assert question is not None
        await press(fake, buttons(asked)["Confirm"], question)
        assert await edited(fake, question, "removed") == (
            "@acme.com removed from the suppression list. Leads it closed stay closed."
        )
        assert not await world.stores.events.is_suppressed("bob@acme.com")


async def test_warmup_stop_asks_and_refuses_at_once_what_it_could_not_do(
    world: BotWorld, fake: FakeTelegram
) -> None:
    async with running(world):
        refused = await said(fake, "not warming up", text="/warmup stop m1@d0.test")
        assert refused["params"]["text"] == "m1@d0.test is not warming up (it is active)"
        asked = await said(fake, "Stop the warm-up", text="/warmup stop M0@d0.test")
        assert asked["params"]["text"].startswith(
            "Stop the warm-up of m0@d0.test? It then sends up to its full daily limit of 40"
        )
        assert (await world.mailbox_state("m0@d0.test"))[0] == "warming"
        question = asked["message_id"]
        assert question is not None
        await press(fake, buttons(asked)["Confirm"], question)
        await edited(fake, question, "stopped warming up")
        assert (await world.mailbox_state("m0@d0.test"))[0] == "active"


CAMPAIGN = """
[[campaigns]]
name = "from-chat"
hours = "{hours}"
[[campaigns.steps]]
subject = "Hi"
body = "Hello"
"""


async def test_a_campaign_file_replacing_one_asks_first(
    world: BotWorld, fake: FakeTelegram
) -> None:
    fake.add_file("T1", CAMPAIGN.format(hours="08:00-18:00").encode(), "new.toml")
    fake.add_file("T2", CAMPAIGN.format(hours="09:00-17:00").encode(), "new.toml")

    async def hours() -> str:
        campaigns = await world.stores.control.campaigns()
        return next(c.hours for c in campaigns if c.name == "from-chat")

    async with running(world):
        await said(fake, "created", document="T1", caption="/upload")
        assert await hours() == "08:00-18:00"
        asked = await said(fake, "exists", document="T2", caption="/upload")
        assert asked["params"]["text"].startswith(
            "Campaign 'from-chat' exists. Replace it with new.toml (1 step(s))?"
        )
        assert await hours() == "08:00-18:00"
        question = asked["message_id"]
        assert question is not None
        await press(fake, buttons(asked)["Confirm"], question)
        assert await edited(fake, question, "replaced") == (
            "Campaign 'from-chat' replaced with 1 step(s). Upload its leads with /upload from-chat."
        )
        assert await hours() == "09:00-17:00"


async def test_a_cool_down_alert_offers_status_and_a_resume_that_asks(
    world: BotWorld, fake: FakeTelegram
) -> None:
    health = HealthService(
        world.stores.health, world.stores.events, world.clock, world.ctx.rules, world.ctx.alerts
    )
    await health.cool_down("d0.test", "m1@d0.test", "554 blocked using zen.spamhaus.org")
    async with running(world) as bot:
        assert await world.ctx.alerts.deliver_due(TelegramTransport(bot)) == 1
        alert = await fake.wait_for_message(ADMIN, "cooling down until")
        offered = buttons(alert)
        assert set(offered) == {"/status d0.test", "/resume d0.test force"}
        message = alert["message_id"]
        assert message is not None

        since = len(fake.calls)
        await press(fake, offered["/status d0.test"], message)
        status = await fake.wait_for_message(ADMIN, "Domain d0.test", since=since)
        assert "cooldown" in str(status["params"]["text"])

        since = len(fake.calls)
        await press(fake, offered["/resume d0.test force"], message)
        asked = await fake.wait_for_message(ADMIN, "Resume domain d0.test", since=since)
        assert str(asked["params"]["text"]).startswith(
            "Resume domain d0.test with force? A cool-down or system stop of it ends now."
        )
        assert await world.domain_state("d0.test") == "cooldown"
        question = asked["message_id"]
        assert question is not None
        await press(fake, buttons(asked)["Confirm"], question)
        text = await edited(fake, question, "Resumed domain d0.test")
        assert text.startswith("Resumed domain d0.test (cooldown -> active).")
        assert await world.domain_state("d0.test") == "active"
        assert fake.text_of(ADMIN, message) == str(alert["params"]["text"])  # alert untouched


async def test_alert_buttons_that_do_not_apply_change_nothing(
    world: BotWorld, fake: FakeTelegram
) -> None:
    await world.ctx.alerts.raise_alert("dns_missing", "d0.test", Severity.WARNING, "no SPF")
    async with running(world) as bot:
        await world.ctx.alerts.deliver_due(TelegramTransport(bot))
        alert = await fake.wait_for_message(ADMIN, "no SPF")
        assert set(buttons(alert)) == {"/status d0.test"}  # nothing stopped: no Resume
        message = alert["message_id"]
        assert message is not None
        alert_id = buttons(alert)["/status d0.test"].split(":")[1]
        answer = await press(fake, f"alert:{alert_id}:resume", message)
        assert answer["text"] == "That alert has nothing to resume."
        answer = await press(fake, "alert:99999:status", message)
        assert answer["text"].startswith("That alert is gone")


async def test_alerts_about_nothing_in_particular_have_no_buttons(
    world: BotWorld, fake: FakeTelegram
) -> None:
    bot = build_bot(world.settings)
    try:
        transport = TelegramTransport(bot)
        await transport.deliver(ADMIN, Severity.CRITICAL, "3 sends interrupted")
        subject = AlertSubject(5, "m0@d0.test", resume=True, force=False)
        await transport.deliver(ADMIN, Severity.CRITICAL, "m0 paused", subject=subject)
    finally:
        await bot.session.close()
    plain, paused = [c for c in fake.sent if c["method"] == "sendMessage"]
    assert "reply_markup" not in plain["params"]
    assert buttons(paused) == {
        "/status m0@d0.test": "alert:5:status",
        "/resume m0@d0.test": "alert:5:resume",
    }
