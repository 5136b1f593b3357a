"""/preview and /test driven through a Dispatcher over a real database, with a recording sender."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from email import message_from_bytes
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher
from aiogram.methods import SendChatAction

from bot.routers import errors, preview
from core.message import OutgoingMessage
from core.models import Outcome, OutcomeKind
from core.records import UsageScope
from core.specs import SmtpAccount
from tests.bot.data_world import ADMIN, TODAY, DataWorld, data_world
from tests.bot.session import TOKEN, RecordingSession, message_update


class RecordingSender:
    """A MailSender that takes every message, or answers each with `outcome`."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, OutgoingMessage]] = []
        self.outcome = Outcome(OutcomeKind.SENT, 250, "2.0.0", "OK queued")

    async def send(
        self, account: SmtpAccount, message: OutgoingMessage, *, gate: Awaitable[bool] | None
    ) -> Outcome:
        """Record the message and the mailbox it went from."""
        if gate is not None:
            assert await gate
        self.sent.append((account.address, message))
        return self.outcome


class PreviewChat:
    """The errors and preview routers over a data world, on a recording bot."""

    def __init__(self, world: DataWorld, sender: RecordingSender) -> None:
        self.world = world
        self.sender = sender
        self.dp = Dispatcher(ctx=world.ctx)
        for module in (errors, preview):
            self.dp.include_router(module.setup())
        self.session = RecordingSession()
        self.bot = Bot(TOKEN, session=self.session)
        self.updates = 0

    async def send(self, text: str) -> list[str]:
        """The admin sends `text`; the lines the bot answered."""
        self.updates += 1
        before = len(self.session.texts())
        await self.dp.feed_update(
            self.bot, message_update(text, user_id=ADMIN, update_id=self.updates)
        )
        return "\n".join(self.session.texts()[before:]).splitlines()

    async def slots(self, address: str) -> int:
        """Slots the mailbox used today."""
        mailbox = await self.world.mailbox_id(address)
        return await self.world.ctx.reports.usage_today(
            UsageScope.MAILBOX, mailbox, TODAY.isoformat()
        )


@pytest.fixture
async def chat(tmp_path: Path) -> AsyncIterator[PreviewChat]:
    """q4 with two queued leads (jane first) and a recording SMTP sender."""
    sender = RecordingSender()
    async with data_world(tmp_path, sender=sender) as world:
        await world.add_leads("q4", ["jane@ex.test", "bob@ex.test"])
        yield PreviewChat(world, sender)


async def test_preview_renders_the_first_queued_lead_with_footer_and_headers(
    chat: PreviewChat,
) -> None:
    lines = await chat.send("/preview q4")
    assert lines[0] == "Preview of q4 step 1 of 1 for lead jane@ex.test (queued), from m0@d0.test"
    assert "From: m0@d0.test" in lines
    assert "To: jane@ex.test" in lines
    assert "Subject: Hi X" in lines
    assert "List-Unsubscribe: <mailto:m0@d0.test?subject=unsubscribe>" in lines
    body = lines[lines.index("List-Unsubscribe: <mailto:m0@d0.test?subject=unsubscribe>") + 2 :]
    assert body == ["Hello X", "", "--", 'To opt out, reply "unsubscribe".']
    # While it rendered, the chat saw "typing...".
    (action,) = chat.session.of(SendChatAction)
    assert action.action == "typing"
    assert chat.sender.sent == []


async def test_preview_flags_a_variable_the_lead_lacks(chat: PreviewChat) -> None:
    await chat.world.conn.execute("UPDATE leads SET vars = '{}' WHERE email = 'bob@ex.test'")
    lines = await chat.send("/preview q4 1 Bob@EX.test")
    assert lines[0].endswith("for lead bob@ex.test (queued), from m0@d0.test")
    assert lines[1] == (
        "Warning: no lead column or sender variable provides first_name; shown as [name?]. "
        "This lead would fail, not be sent."
    )
    assert "Subject: Hi [first_name?]" in lines


async def test_preview_without_queued_leads_uses_a_sample_lead(chat: PreviewChat) -> None:
    lines = await chat.send("/preview spring-founders")
    assert lines[0] == (
        "Preview of spring-founders step 1 of 1 for a sample lead (the campaign has no "
        "queued lead), from m0@d0.test"
    )
    assert "Subject: Hi Sample" in lines


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/preview nope", "no campaign named 'nope'; known campaigns: q4, spring-founders"),
        ("/preview q4 3", "campaign q4 has steps 1 to 1; no step 3"),
        ("/preview q4 1 zed@ex.test", "zed@ex.test is not a lead of campaign q4"),
        ("/preview", "expected /preview <campaign> [step] [email], like /preview q4 2 "),
        ("/test q4 2", "name the address to send the test to; expected /test <campaign> "),
        ("/test q4 not-an-address", "'not-an-address' is not an e-mail address; expected /test"),
    ],
)
async def test_wrong_arguments_are_explained(chat: PreviewChat, text: str, expected: str) -> None:
    lines = await chat.send(text)
    assert lines[0].startswith(expected), lines


async def test_test_sends_one_mail_counts_a_slot_and_changes_no_lead(chat: PreviewChat) -> None:
    before = await chat.world.lead_states()
    lines = await chat.send("/test q4 Me@Admin.test")
    assert lines == [
        "Test of q4 step 1 to Me@admin.test: sent from m0@d0.test (counts against its cap; "
        "no lead changed)."
    ]
    ((mailbox, message),) = chat.sender.sent
    parsed = message_from_bytes(message.data)
    assert (mailbox, message.recipient, parsed["Subject"]) == (
        "m0@d0.test",
        "Me@admin.test",
        "Hi X",
    )
    assert await chat.slots("m0@d0.test") == 1
    assert await chat.world.lead_states() == before
    sends = await chat.world.conn.execute_fetchall("SELECT count(*) FROM sends")
    assert list(sends)[0][0] == 0  # no sends row: nothing to trace, recover or retry
    assert chat.session.of(SendChatAction)


async def test_test_moves_on_past_a_mailbox_at_its_cap(chat: PreviewChat) -> None:
    await chat.world.add_usage("m0@d0.test", TODAY, 40)
    lines = await chat.send("/test q4 me@admin.test")
    assert lines[0].endswith("sent from m0@d1.test (counts against its cap; no lead changed).")
    assert await chat.slots("m0@d1.test") == 1


async def test_test_is_refused_when_no_mailbox_has_a_slot(chat: PreviewChat) -> None:
    for address in ("m0@d0.test", "m1@d0.test", "m0@d1.test", "m1@d1.test"):
        await chat.world.add_usage(address, TODAY, 40)
    lines = await chat.send("/test q4 me@admin.test")
    assert lines == [
        "Test of q4 step 1 to me@admin.test: not sent, no mailbox could take it now: "
        "m0@d0.test: at today's cap; m0@d1.test: at today's cap; m1@d0.test: at today's cap; "
        "m1@d1.test: at today's cap."
    ]
    assert chat.sender.sent == []


async def test_a_refused_test_mail_is_reported(chat: PreviewChat) -> None:
    chat.sender.outcome = Outcome(OutcomeKind.HARD_BOUNCE, 550, "5.1.1", "no such user")
    lines = await chat.send("/test q4 me@admin.test")
    assert lines == [
        "Test of q4 step 1 to me@admin.test: not sent, the server did not take it: "
        "550 5.1.1 no such user."
    ]
    assert await chat.world.lead_states() == {"jane@ex.test": "queued", "bob@ex.test": "queued"}


async def test_test_fills_what_the_first_queued_lead_lacks_with_a_sample(
    chat: PreviewChat,
) -> None:
    await chat.world.conn.execute('UPDATE leads SET vars = \'{"first_name": " "}\'')
    lines = await chat.send("/test q4 me@admin.test")
    assert lines[0].endswith("sent from m0@d0.test (counts against its cap; no lead changed).")
    ((_, message),) = chat.sender.sent
    assert message_from_bytes(message.data)["Subject"] == "Hi Sample"


async def test_preview_of_a_thread_comes_from_its_mailbox_even_while_paused(
    chat: PreviewChat,
) -> None:
    box = await chat.world.mailbox_id("m1@d1.test")
    await chat.world.conn.execute(
        "UPDATE leads SET mailbox_id = ?, state = 'active' WHERE email = 'jane@ex.test'", (box,)
    )
    await chat.world.conn.execute("UPDATE mailboxes SET state = 'paused' WHERE id = ?", (box,))
    lines = await chat.send("/preview q4 1 jane@ex.test")
    assert lines[0] == "Preview of q4 step 1 of 1 for lead jane@ex.test (active), from m1@d1.test"
    assert "From: m1@d1.test" in lines
