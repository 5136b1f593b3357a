"""The data routers driven through a Dispatcher with a recording Bot API session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher
from aiogram.methods import AnswerCallbackQuery, EditMessageText, GetFile, SendMessage, SendPhoto
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Update

from bot.confirm import Confirmations
from bot.routers import cost, dns, errors, stats, suppress, upload, warmup
from tests.bot.data_world import ADMIN, DataWorld, data_world
from tests.bot.session import TOKEN, RecordingSession, callback_update, document, message_update
from tests.bot.test_charts import png_size

CAMPAIGN_TOML = b"""
[[campaigns]]
name = "from-chat"
[[campaigns.steps]]
subject = "Hi"
body = "Hello"
"""


@dataclass
class Chat:
    """A dispatcher with the data routers, a bot on a recording session, and the world."""

    dp: Dispatcher
    bot: Bot
    session: RecordingSession
    world: DataWorld
    updates: int = 0

    async def send(
        self,
        text: str | None = None,
        *,
        doc: dict[str, object] | None = None,
        caption: str | None = None,
    ) -> None:
        """The admin sends a message."""
        self.updates += 1
        update = message_update(
            text, user_id=ADMIN, document=doc, caption=caption, update_id=self.updates
        )
        await self.feed(update)

    async def press(self, data: str, message_id: int) -> None:
        """The admin presses a button."""
        self.updates += 1
        await self.feed(
            callback_update(data, user_id=ADMIN, message_id=message_id, update_id=self.updates)
        )

    async def feed(self, update: Update) -> None:
        """Dispatch one update to the routers."""
        await self.dp.feed_update(self.bot, update)

    def last_text(self) -> str:
        """The latest text the bot sent or edited."""
        return self.session.texts()[-1]


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[Chat]:
    """The data routers over a fresh world."""
    async with data_world(tmp_path) as world:
        dp = Dispatcher(ctx=world.ctx, confirmations=Confirmations())
        # As in bot/app.py: the errors router tells the chat what an AdminError says.
        for module in (errors, upload, stats, warmup, cost, suppress, dns):
            dp.include_router(module.setup())
        session = RecordingSession()
        bot = Bot(TOKEN, session=session)
        yield Chat(dp, bot, session, world)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/stats 400", "expected a number of days from 1 to 365, like /stats 30"),
        ("/stats week", "expected a number of days from 1 to 365"),
        ("/warmup pause m0@d0.test", "expected /warmup, /warmup start <mailbox>"),
        ("/warmup start", "name exactly one mailbox"),
        ("/warmup start m0@d0.tst", "no mailbox named 'm0@d0.tst'; did you mean m0@d0.test"),
        ("/suppress", "expected an e-mail address like jane@example.com, or @example.com"),
        ("/unsuppress jane", "'jane' is not an e-mail address; expected an e-mail address"),
        ("/upload q5", "no campaign named 'q5'; did you mean q4?"),
    ],
)
async def test_bad_arguments_say_what_was_expected(chat: Chat, command: str, expected: str) -> None:
    await chat.send(command)
    assert expected in chat.last_text()
    assert not chat.session.of(SendPhoto)


async def test_stats_sends_a_png_chart_and_the_numbers(chat: Chat) -> None:
    await chat.send("/stats 7")
    (photo,) = chat.session.of(SendPhoto)
    assert isinstance(photo.photo, BufferedInputFile)
    assert png_size(photo.photo.data) == (1000, 500)
    assert photo.caption.startswith("Last 7 day(s): 0 sent")
    (table,) = chat.session.of(SendMessage)
    assert table.parse_mode == "HTML"
    assert table.text.startswith("<pre>2026-11-17 .. 2026-11-23\ndays, Europe/Berlin\n")
    assert table.text.count("\n11-") == 7


async def test_warmup_sends_the_ramp_chart_and_a_table_with_the_warm_mailboxes(
    chat: Chat,
) -> None:
    world = chat.world
    await world.hold("m1@d1.test")
    await chat.send("/warmup")
    (photo,) = chat.session.of(SendPhoto)
    assert isinstance(photo.photo, BufferedInputFile)
    (table,) = chat.session.of(SendMessage)
    assert table.parse_mode == "HTML"
    lines = table.text.removeprefix("<pre>").removesuffix("</pre>").splitlines()
    assert "day ph cap snt rcv rep inbox    of" in lines
    # No mailbox of the data world warms up: all four are warm, with maintenance traffic.
    at = lines.index("warm, 10% of the cap as warm-up:")
    assert lines[at + 1 : at + 3] == ["m0@d0.test", "  -  -  40   0   0   0   n/a     0"]
    assert "m1@d1.test (held)" in lines


async def test_a_file_above_20_mb_is_refused_before_downloading(chat: Chat) -> None:
    big = document("f1", "leads.csv", 21 * 1024 * 1024)
    await chat.send(doc=big, caption="/upload q4")
    assert "21.0 MB; files above 20.0 MB are refused" in chat.last_text()
    assert not chat.session.of(GetFile)


async def test_other_extensions_are_refused_saying_what_is_accepted(chat: Chat) -> None:
    await chat.send(doc=document("f1", "leads.xls", 100), caption="/upload q4")
    assert "send leads as .csv or .xlsx, or a campaign as .toml" in chat.last_text()
    assert not chat.session.of(GetFile)


async def test_upload_without_campaign_offers_buttons_then_imports(chat: Chat) -> None:
    await chat.send("/upload")
    (prompt,) = chat.session.of(SendMessage)
    assert isinstance(prompt.reply_markup, InlineKeyboardMarkup)
    buttons = [b for row in prompt.reply_markup.inline_keyboard for b in row]
    ids = {c.name: c.id for c in await chat.world.stores.control.campaigns()}
    assert [(b.text, b.callback_data) for b in buttons] == [
        ("q4", f"upload:{ids['q4']}"),
        ("spring-founders", f"upload:{ids['spring-founders']}"),
    ]

    await chat.press(f"upload:{ids['spring-founders']}", message_id=900)
    (edit,) = chat.session.of(EditMessageText)
    assert (edit.message_id, edit.text) == (
        900,
        "Send the .csv or .xlsx file for campaign 'spring-founders' within 5 minutes.",
    )

    content = b"email,first_name\nann@acme.com,Ann\nbob@acme.com,Bob\nnope,X\n"
    chat.session.files["f1"] = content
    await chat.send(doc=document("f1", "leads.csv", len(content)))
    assert chat.session.of(GetFile)[0].file_id == "f1"
    texts = chat.session.texts()
    assert "Importing leads.csv into 'spring-founders'..." in texts
    assert "Import into 'spring-founders' done: 3 rows read." in texts
    report = chat.last_text()
    assert report.startswith("Import into campaign 'spring-founders'\nrows read: 3\nimported: 2")
    assert "invalid: 1" in report
    assert set(await chat.world.lead_states("spring-founders")) == {"ann@acme.com", "bob@acme.com"}

    # The announcement was used up: the next document needs a new /upload.
    await chat.send(doc=document("f1", "leads.csv", len(content)))
    assert chat.last_text().startswith("Send a .csv or .xlsx leads file with the caption")


@pytest.mark.parametrize("data", ["upload:²", "upload:" + "9" * 30, "upload:x"])
async def test_a_forged_upload_button_is_a_campaign_that_is_gone(chat: Chat, data: str) -> None:
    # 'upload:²' made int() raise: the press ended in the error log, unanswered.
    await chat.press(data, message_id=900)
    (answer,) = chat.session.of(AnswerCallbackQuery)
    assert answer.text == "That campaign is gone; send /upload again."
    assert not chat.session.of(EditMessageText)


async def test_upload_campaign_then_document(chat: Chat) -> None:
    await chat.send("/upload q4")
    assert chat.last_text() == "Send the .csv or .xlsx file for campaign 'q4' within 5 minutes."
    content = b"email,first_name\nann@acme.com,Ann\n"
    chat.session.files["f2"] = content
    await chat.send(doc=document("f2", "leads.csv", len(content)))
    assert "imported: 1" in chat.last_text()


async def test_a_campaign_file_needs_no_campaign(chat: Chat) -> None:
    chat.session.files["t1"] = CAMPAIGN_TOML
    await chat.send(doc=document("t1", "campaign.toml", len(CAMPAIGN_TOML)), caption="/upload")
    assert chat.last_text() == (
        "Campaign 'from-chat' created with 1 step(s). Upload its leads with /upload from-chat."
    )
    assert "from-chat" in {c.name for c in await chat.world.stores.control.campaigns()}


async def test_suppress_and_cost_answer(chat: Chat) -> None:
    await chat.world.add_leads("q4", ["ann@acme.com"])
    await chat.send("/suppress @acme.com")
    assert chat.last_text() == (
        "@acme.com added to the suppression list. 1 open lead(s) of that domain closed in all "
        "campaigns."
    )
    await chat.send("/cost")
    assert chat.last_text().endswith("Total: $9.00")  # 2 domains x $1 + $7 server, no mail yet
