"""The bot in-process against the fake Bot API: routing, the admin gate, errors, transport."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher

from bot.app import RedactSecret, build_bot, build_dispatcher, run_bot
from bot.transport import TelegramTransport
from bot.views.common import ERROR_TEXT
from engine.alerts import RetryAfter, Severity
from tests.bot.conftest import ADMIN, STRANGER, BotWorld, open_world, settings
from tests.fakes.telegram import TOKEN, FakeTelegram, decode_json_field


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def world(tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[BotWorld]:
    async with open_world(tmp_path, app_settings=settings(fake.url, TOKEN)) as opened:
        yield opened


@asynccontextmanager
async def running(world: BotWorld, dp: Dispatcher | None = None) -> AsyncIterator[Bot]:
    """The bot polling the fake until the block ends, then stopped as the service stops it."""
    bot = build_bot(world.settings)
    stop = asyncio.Event()
    dispatcher = dp or build_dispatcher(world.ctx, world.settings.admin_ids)
    task = asyncio.create_task(run_bot(bot, stop, dispatcher=dispatcher))
    try:
        yield bot
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def ask(fake: FakeTelegram, text: str, expect: str, user: int = ADMIN) -> str:
    """Send a command as `user`; the text of the bot's reply that contains `expect`."""
    since = len(fake.calls)
    fake.push_message(user, text)
    call = await fake.wait_for_message(user, expect, within=5, since=since)
    return str(call["params"]["text"])


async def test_status_pause_resume_round_trip(world: BotWorld, fake: FakeTelegram) -> None:
    async with running(world):
        status = await ask(fake, "/status", "Today 2026-11-23")
        assert "Mailboxes: 4 active" in status
        assert "q4-founders" in status

        assert await ask(fake, "/pause", "Usage") == (
            "Usage: /pause <mailbox, domain, campaign or all> [reason]"
        )
        assert (await ask(fake, "/resume m0@d0.test now", "Usage")).startswith("Usage: /resume")

        reply = await ask(fake, "/pause m0@d0.test DNS check", "Paused")
        assert reply == "Paused mailbox m0@d0.test (active -> paused)."
        assert await world.mailbox_state("m0@d0.test") == (
            "paused",
            "paused by admin 111: DNS check",
        )

        detail = await ask(fake, "/status m0@d0.test", "Mailbox m0@d0.test")
        assert "State: paused - paused by admin 111: DNS check" in detail

        reply = await ask(fake, "/resume m0@d0.test", "Resumed")
        assert reply == "Resumed mailbox m0@d0.test (paused -> active)."


async def test_unknown_names_get_suggestions(world: BotWorld, fake: FakeTelegram) -> None:
    async with running(world):
        reply = await ask(fake, "/status m0@d0.tst", "unknown")
        assert "did you mean: m0@d0.test" in reply
        reply = await ask(fake, "/pause q4-founder", "unknown")
        assert "did you mean: q4-founders" in reply
        assert await world.campaign_state("q4-founders") == "active"


async def test_help_campaigns_and_the_command_menu(world: BotWorld, fake: FakeTelegram) -> None:
    async with running(world):
        assert "/unsuppress <email or @domain>" in await ask(fake, "/start", "Commands:")
        reply = await ask(fake, "/campaigns", "Campaigns")
        assert "q4-cto: active; sent today 0" in reply
        assert "Unknown command /nope" in await ask(fake, "/nope", "Unknown")
    menu = next(c for c in fake.sent if c["method"] == "setMyCommands")
    names = [item["command"] for item in decode_json_field(menu, "commands")]
    assert {"status", "pause", "resume", "campaigns", "upload", "dns"} <= set(names)


async def test_strangers_change_nothing_and_learn_their_id(
    world: BotWorld, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "outreach.bot")
    async with running(world):
        reply = await ask(fake, "/pause all", "private", user=STRANGER)
        assert reply == f"This bot is private. Your user id is {STRANGER}."
        since = len(fake.calls)
        fake.push_callback(STRANGER, "pause:all", message_id=5)
        call = await fake.wait_for(
            lambda: next((c for c in fake.calls[since:] if c["method"] == "answerCallbackQuery"),
                         None), within=5)  # fmt: skip
        assert call["params"]["text"] == f"This bot is private. Your user id is {STRANGER}."
        assert call["params"]["show_alert"] == "true"
        # An admin's stale button is answered too, so the client stops spinning.
        since = len(fake.calls)
        fake.push_callback(ADMIN, "pause:all", message_id=5)
        await fake.wait_for(
            lambda: any(c["method"] == "answerCallbackQuery" for c in fake.calls[since:]), 5
        )
    assert {c.state.value for c in await world.stores.control.campaigns()} == {"active"}
    assert {m.state.value for m in await world.stores.control.mailboxes()} == {"active"}
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refusals == [f"refused user {STRANGER}: '/pause all'",
                        f"refused user {STRANGER}: button 'pause:all'"]  # fmt: skip


class Broken:
    """A control service whose every call fails with a message that must not reach a chat."""

    async def pause(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("sqlite at /srv/secret/path said no")


async def test_a_failing_handler_gets_the_fixed_error_line(
    world: BotWorld, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    dp = build_dispatcher(world.ctx, world.settings.admin_ids)
    dp["control"] = Broken()
    async with running(world, dp):
        assert await ask(fake, "/pause m0@d0.test", "wrong") == ERROR_TEXT
    assert not any("/srv/secret" in text for text in fake.messages_to(ADMIN))
    failure = next(r for r in caplog.records if r.getMessage().startswith("update"))
    assert failure.exc_info is not None  # the log has the traceback


async def test_transport_maps_429_and_lets_other_failures_through(
    world: BotWorld, fake: FakeTelegram
) -> None:
    bot = build_bot(world.settings)
    transport = TelegramTransport(bot)
    try:
        fake.fail_next("sendMessage", 1, retry_after=7)
        with pytest.raises(RetryAfter) as caught:
            await transport.deliver(ADMIN, Severity.CRITICAL, "Domain d0.test cools down")
        assert caught.value.seconds == 7
        await transport.deliver(ADMIN, Severity.CRITICAL, "Domain d0.test cools down")
        assert fake.messages_to(ADMIN) == ["CRITICAL: Domain d0.test cools down"]
        await transport.deliver(ADMIN, Severity.INFO, "x" * 5000)
        assert len(fake.messages_to(ADMIN)[-1]) <= 4096
        await fake.down_for(0.5, mode="502")
        with pytest.raises(Exception) as down:
            await transport.deliver(ADMIN, Severity.INFO, "lost?")
        assert not isinstance(down.value, RetryAfter)
    finally:
        await bot.session.close()


async def test_files_come_from_the_configured_server(world: BotWorld, fake: FakeTelegram) -> None:
    fake.add_file("F1", b"email\na@b.test\n", "leads.csv", "text/csv")
    bot = build_bot(world.settings)
    try:
        file = await bot.get_file("F1")
        assert file.file_path is not None
        data = await bot.download_file(file.file_path)
        assert data is not None and data.read() == b"email\na@b.test\n"
    finally:
        await bot.session.close()


async def test_polling_survives_an_unreachable_api_at_start(
    world: BotWorld, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    await fake.down_for(1.5)  # connections refused: getMe fails before polling runs
    async with running(world):
        assert "Today" in await ask(fake, "/status", "Today")
    assert any("polling failed to start" in r.getMessage() for r in caplog.records)


def test_the_token_is_redacted_from_log_lines_and_tracebacks() -> None:
    record = logging.LogRecord("x", logging.ERROR, "f", 1, "GET /bot%s/getMe", (TOKEN,), None)
    try:
        raise ValueError(f"https://api.telegram.org/bot{TOKEN}/getUpdates")
    except ValueError as exc:
        record.exc_info = (type(exc), exc, exc.__traceback__)
    RedactSecret(TOKEN).filter(record)
    text = logging.Formatter().format(record)
    assert TOKEN not in text
    assert "GET /bot***/getMe" in text and "bot***/getUpdates" in text
