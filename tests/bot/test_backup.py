"""/backup against the fake Bot API: a gzipped consistent copy as a document, admins only."""

from __future__ import annotations

import asyncio
import gzip
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiogram import Dispatcher

from bot.app import build_bot, build_dispatcher, run_bot
from bot.filters import AdminGate
from bot.routers import backup, errors
from tests.bot.conftest import ADMIN, STRANGER, BotWorld, open_world, settings
from tests.fakes.telegram import TOKEN, Call, FakeTelegram


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def world(tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[BotWorld]:
    async with open_world(tmp_path, app_settings=settings(fake.url, TOKEN)) as opened:
        yield opened


@asynccontextmanager
async def running(world: BotWorld, dp: Dispatcher | None = None) -> AsyncIterator[None]:
    """The bot polling the fake until the block ends."""
    bot = build_bot(world.settings)
    stop = asyncio.Event()
    dispatcher = dp or build_dispatcher(world.ctx, world.settings.admin_ids)
    task = asyncio.create_task(run_bot(bot, stop, dispatcher=dispatcher))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def documents(fake: FakeTelegram) -> list[Call]:
    return [c for c in fake.sent if c["method"] == "sendDocument"]


def open_copy(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)


def scratch_left(tmp_path: Path) -> list[str]:
    return [p.name for p in tmp_path.iterdir() if p.name.startswith(".backup-")]


async def test_backup_sends_a_gzipped_copy_that_opens_and_holds_the_data(
    world: BotWorld, fake: FakeTelegram, tmp_path: Path
) -> None:
    async with running(world):
        fake.push_message(ADMIN, "/backup")
        (call,) = await fake.wait_for(lambda: documents(fake) or None, within=10)
    assert str(call["params"]["chat_id"]) == str(ADMIN)
    # aiogram names the file part itself and points at it: document=attach://<part>.
    part = str(call["params"]["document"]).removeprefix("attach://")
    name, packed = call["files"][part]
    assert name == "outreach-20261123-140000.db.gz"  # the world's manual clock
    caption = str(call["params"]["caption"])
    assert caption.startswith("Database backup, consistent as of 2026-11-23 14:00:00 UTC;")
    assert "Restore it with the service stopped" in caption

    copy = tmp_path / "restored.db"
    copy.write_bytes(gzip.decompress(packed))
    with open_copy(copy) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        names = {r[0] for r in db.execute("SELECT name FROM campaigns")}
        mailboxes = db.execute("SELECT count(*) FROM mailboxes").fetchone()[0]
    assert names == {"q4-founders", "q4-cto"}
    assert mailboxes == 4
    assert f"{copy.stat().st_size:,} bytes) unpacked" in caption
    assert scratch_left(tmp_path) == []  # the scratch copy is gone once sent


async def test_a_copy_over_the_upload_limit_is_refused_with_its_size(
    world: BotWorld, fake: FakeTelegram, tmp_path: Path
) -> None:
    # The real limit is 50 MB; a tiny one shows the same path without a 50 MB database.
    dp = Dispatcher(ctx=world.ctx)
    dp.update.outer_middleware(AdminGate(world.settings.admin_ids))
    dp.include_router(errors.setup())
    dp.include_router(backup.setup(limit=1000))
    async with running(world, dp):
        fake.push_message(ADMIN, "/backup")
        call = await fake.wait_for_message(ADMIN, "was not sent", within=10)
    text = str(call["params"]["text"])
    assert text.startswith("The backup is 0.0 MB (")
    assert "bytes) gzipped; Telegram lets a bot send at most 0 MB" in text
    assert "python main.py backup FILE" in text
    assert documents(fake) == []
    assert scratch_left(tmp_path) == []


async def test_strangers_get_no_copy(world: BotWorld, fake: FakeTelegram) -> None:
    async with running(world):
        fake.push_message(STRANGER, "/backup")
        call = await fake.wait_for_message(STRANGER, "private", within=10)
        assert call["params"]["text"] == f"This bot is private. Your user id is {STRANGER}."
        # The admin's /help after it lists /backup, and still no document went anywhere.
        fake.push_message(ADMIN, "/help")
        await fake.wait_for_message(ADMIN, "/backup - a consistent copy", within=10)
    assert documents(fake) == []
