"""/export against the fake Bot API: a CSV whose rows match the database; "typing..." shown."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.app import build_bot, build_dispatcher, run_bot
from tests.bot.conftest import ADMIN, settings
from tests.bot.data_world import DataWorld, data_config, data_world
from tests.engine.test_dns_check import GOOD
from tests.engine.test_export import HEADER, arrange
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.telegram import TOKEN, Call, FakeTelegram


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@asynccontextmanager
async def running(world: DataWorld, fake: FakeTelegram) -> AsyncIterator[None]:
    """The bot over the world's context, polling the fake until the block ends."""
    app_settings = settings(fake.url, TOKEN)
    bot = build_bot(app_settings)
    stop = asyncio.Event()
    dispatcher = build_dispatcher(world.ctx, app_settings.admin_ids)
    task = asyncio.create_task(run_bot(bot, stop, dispatcher=dispatcher))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def documents(fake: FakeTelegram) -> list[Call]:
    return [c for c in fake.sent if c["method"] == "sendDocument"]


async def db_rows(world: DataWorld) -> list[list[str]]:
    """The export's rows read straight from the tables, independently of engine/export.py."""
    rows = await world.conn.execute_fetchall(
        """
        SELECT l.email, l.state,
               (SELECT count(*) FROM sends s WHERE s.lead_id = l.id AND s.sent_at IS NOT NULL),
               coalesce((SELECT e.kind FROM events e JOIN sends s ON s.id = e.send_id
                         WHERE s.lead_id = l.id ORDER BY e.occurred_at DESC LIMIT 1), ''),
               coalesce(l.label, '')
        FROM leads l JOIN campaigns c ON c.id = l.campaign_id
        WHERE c.name = 'q4' ORDER BY l.id
        """
    )
    return [[str(value) for value in row] for row in rows]


async def test_export_sends_a_csv_whose_rows_match_the_database(
    tmp_path: Path, fake: FakeTelegram
) -> None:
    async with data_world(tmp_path) as world:
        await arrange(world)
        from_db = await db_rows(world)
        async with running(world, fake):
            fake.push_message(ADMIN, "/export q4")
            (call,) = await fake.wait_for(lambda: documents(fake) or None, within=10)
    part = str(call["params"]["document"]).removeprefix("attach://")
    name, content = call["files"][part]
    assert name == "q4-20261123-140000.csv"
    assert str(call["params"]["caption"]) == (
        "q4: 5 leads.\nColumns: email, state, steps_sent, last_event, last_event_at, label"
    )
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"))))
    assert rows[0] == HEADER
    # Every column but the event's time, which the query above does not format.
    assert [[r[0], r[1], r[2], r[3], r[5]] for r in rows[1:]] == from_db
    assert len(from_db) == 5
    # "typing..." was shown in the chat while the file was made.
    actions = [c for c in fake.sent if c["method"] == "sendChatAction"]
    assert [(str(c["params"]["chat_id"]), c["params"]["action"]) for c in actions][:1] == [
        (str(ADMIN), "typing")
    ]


async def test_export_of_an_unknown_or_missing_campaign_says_what_was_expected(
    tmp_path: Path, fake: FakeTelegram
) -> None:
    async with data_world(tmp_path) as world, running(world, fake):
        fake.push_message(ADMIN, "/export")
        await fake.wait_for_message(ADMIN, "expected a campaign name, like /export", within=10)
        fake.push_message(ADMIN, "/export spring")
        call = await fake.wait_for_message(ADMIN, "no campaign named 'spring'", within=10)
    assert "spring-founders" in str(call["params"]["text"])
    assert documents(fake) == []


async def test_dns_shows_typing_while_it_looks_up(tmp_path: Path, fake: FakeTelegram) -> None:
    async with FakeDnsServer(GOOD) as dns:
        config = data_config(nameserver=dns.address, selectors=["s1"])
        async with data_world(tmp_path, config) as world, running(world, fake):
            fake.push_message(ADMIN, "/dns")
            await fake.wait_for_message(ADMIN, "d1.test", within=10)
    methods = [c["method"] for c in fake.sent if c["method"] in ("sendChatAction", "sendMessage")]
    assert methods[0] == "sendChatAction"  # before the answer, while the lookups ran
    assert dns.questions  # the lookups did run
