"""/dns and /dns fix in the chat: the bot in-process, DNS on a local server, a fake Cloudflare."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiogram import Bot, Dispatcher
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage
from aiogram.types import InlineKeyboardMarkup

from bot.confirm import Confirmations
from bot.routers import confirm, dns, errors
from bot.views.confirm import CANCELLED, STALE
from bot.views.dns import NO_TOKEN
from config import OutreachConfig
from engine.control import ControlService
from tests.bot.data_world import ADMIN, data_world
from tests.bot.session import TOKEN, RecordingSession, callback_update, message_update
from tests.engine.dns_world import D0_DMARC, D1_DMARC, D1_SPF, RECORDS, fix_config
from tests.fakes.cloudflare import FakeCloudflare
from tests.fakes.dns_server import FakeDnsServer


class Chat:
    """The /dns, confirm and errors routers on a recording Bot API session."""

    def __init__(self, dp: Dispatcher, bot: Bot, session: RecordingSession) -> None:
        self.dp, self.bot, self.session = dp, bot, session
        self.updates = 0

    async def send(self, text: str) -> None:
        """The admin sends a command."""
        self.updates += 1
        update = message_update(text, user_id=ADMIN, update_id=self.updates)
        await self.dp.feed_update(self.bot, update)

    async def press(self, data: str, message_id: int) -> None:
        """The admin presses a button."""
        self.updates += 1
        update = callback_update(data, user_id=ADMIN, message_id=message_id, update_id=self.updates)
        await self.dp.feed_update(self.bot, update)

    def question(self) -> tuple[int, dict[str, str]]:
        """The last message with buttons: its id and button text -> callback data."""
        found: tuple[int, dict[str, str]] | None = None
        message_id = 900  # RecordingSession numbers sent messages 900, 901... in order
        for method in self.session.requests:
            if isinstance(method, SendMessage):
                markup = method.reply_markup
                if isinstance(markup, InlineKeyboardMarkup):
                    rows = markup.inline_keyboard
                    found = message_id, {b.text: str(b.callback_data) for row in rows for b in row}
                message_id += 1
        assert found is not None, "no question was asked"
        return found

    def answers(self) -> list[str]:
        """The texts of the presses' answers."""
        return [str(m.text) for m in self.session.of(AnswerCallbackQuery)]


@asynccontextmanager
async def chat_over(tmp_path: Path, config: OutreachConfig) -> AsyncIterator[Chat]:
    """The routers over a world with `config`."""
    async with data_world(tmp_path, config) as world:
        ctx = world.ctx
        dp = Dispatcher(
            ctx=ctx,
            control=ControlService(ctx.control, ctx.clock, ctx.rules),
            confirmations=Confirmations(),
        )
        for module in (errors, dns, confirm):
            dp.include_router(module.setup())
        session = RecordingSession()
        yield Chat(dp, Bot(TOKEN, session=session), session)


def _cloudflare(cf: FakeCloudflare) -> None:
    cf.add_zone("d0.test")
    cf.add_zone("d1.test")
    cf.add_record("d0.test", "d0.test", "TXT", "v=spf1 include:_spf.google.com ~all")


async def test_dns_shows_the_exact_records_to_add(tmp_path: Path) -> None:
    async with (
        FakeDnsServer(RECORDS) as server,
        FakeCloudflare(dns=server) as cf,
        chat_over(tmp_path, fix_config(server.address, cf.url)) as chat,
    ):
        await chat.send("/dns")
    text = "\n".join(chat.session.texts())
    assert "d1.test: missing SPF, DMARC" in text
    assert '  add: TXT d1.test "v=spf1 include:mailgun.org ~all"' in text
    assert '  add: TXT _dmarc.d0.test "v=DMARC1; p=none; rua=mailto:postmaster@d0.test"' in text
    assert text.endswith(
        "/dns fix adds the records marked add: through Cloudflare (after you confirm)."
    )
    assert cf.seen == []


async def test_dns_fix_adds_the_missing_records_after_confirm_and_checks_again(
    tmp_path: Path,
) -> None:
    async with FakeDnsServer(RECORDS) as server, FakeCloudflare(dns=server) as cf:
        _cloudflare(cf)
        async with chat_over(tmp_path, fix_config(server.address, cf.url)) as chat:
            await chat.send("/dns fix")
            question_id, buttons = chat.question()
            asked = chat.session.texts()[-1]
            assert asked.startswith("Add 3 TXT record(s) through Cloudflare?\n")
            assert '- TXT d1.test "v=spf1 include:mailgun.org ~all"' in asked
            assert set(buttons) == {"Confirm", "Cancel"}
            assert cf.seen == [] and cf.created == []  # nothing happens before Confirm

            await chat.press(buttons["Confirm"], question_id)
            (edit,) = chat.session.of(EditMessageText)
            assert edit.message_id == question_id
            lines = str(edit.text).splitlines()
            assert lines[:3] == [
                'Added TXT _dmarc.d0.test "v=DMARC1; p=none; rua=mailto:postmaster@d0.test"',
                'Added TXT d1.test "v=spf1 include:mailgun.org ~all"',
                'Added TXT _dmarc.d1.test "v=DMARC1; p=none; rua=mailto:postmaster@d1.test"',
            ]
            assert "Checked again:" in lines
            assert "d0.test: all present" in lines and "d1.test: all present" in lines
            assert cf.created == [D0_DMARC, D1_SPF, D1_DMARC]

            await chat.press(buttons["Confirm"], question_id)  # a second press: spent
            assert chat.answers()[-1] == STALE
            await chat.send("/dns fix")  # nothing left to add: no question
            assert chat.session.texts()[-1].startswith("Nothing /dns fix can add")
    assert len(cf.posts()) == 3


async def test_cancel_changes_nothing(tmp_path: Path) -> None:
    async with FakeDnsServer(RECORDS) as server, FakeCloudflare(dns=server) as cf:
        _cloudflare(cf)
        async with chat_over(tmp_path, fix_config(server.address, cf.url)) as chat:
            await chat.send("/dns fix")
            question_id, buttons = chat.question()
            await chat.press(buttons["Cancel"], question_id)
    assert chat.answers() == [CANCELLED]
    assert cf.seen == [] and len(cf.records) == 1


async def test_a_refused_token_gets_a_clear_reply(tmp_path: Path) -> None:
    async with FakeDnsServer(RECORDS) as server, FakeCloudflare(dns=server) as cf:
        _cloudflare(cf)
        config = fix_config(server.address, cf.url, token="revoked-Zq9-token")
        async with chat_over(tmp_path, config) as chat:
            await chat.send("/dns fix")
            question_id, buttons = chat.question()
            await chat.press(buttons["Confirm"], question_id)
    (edit,) = chat.session.of(EditMessageText)
    text = str(edit.text)
    assert text.startswith(
        "Cloudflare refused the token (9109: Invalid access token). Check that "
        "[dns].cloudflare_token is valid and has DNS edit permission for these zones.\n"
        "Nothing changed.\n"
    )
    assert "revoked-Zq9-token" not in "\n".join(chat.session.texts())
    assert cf.posts() == [] and len(cf.records) == 1


async def test_without_a_token_or_with_a_bad_argument(tmp_path: Path) -> None:
    async with FakeDnsServer(RECORDS) as server:
        config = fix_config(server.address, "http://127.0.0.1:9/client/v4", token=None)
        async with chat_over(tmp_path, config) as chat:
            await chat.send("/dns fix")
            assert chat.session.texts()[-1] == NO_TOKEN
            await chat.send("/dns repair")
            assert "expected /dns or /dns fix; got 'repair'" in chat.session.texts()[-1]
            await chat.send("/dns")
            assert "(or set [dns] cloudflare_token and use /dns fix)" in chat.session.texts()[-1]
