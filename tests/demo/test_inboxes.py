"""demo/inboxes.py behind the demo's SMTP sink: warm-up mail filed by a seeded draw, read back
through the WarmupMailbox port (candidates after a cursor, rescue, mark read)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import aiosmtplib
import pytest

from core.records import FolderCursor
from core.specs import ImapAccount, MailServer
from core.warmup_mail import Party, Received, is_warmup, warmup_message, warmup_reply
from demo.inboxes import INBOX, JUNK, UIDVALIDITY, DemoInboxes
from demo.sink import DemoSink

SECRET = b"demo secret"
PASSWORD = "pw"
ANN = Party("ann@good.example", "Ann Lee")
BOB = Party("bob@bad.example", "Bob Kay")
SEED = "seed@inbox.example"
NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def account(address: str) -> ImapAccount:
    server = MailServer(host="127.0.0.1", port=1, security="none", username=address)
    return ImapAccount(address, server)


class Quiet:
    """A recipient model that accepts everything and plans nothing."""

    def at_rcpt(self, sender: str, recipient: str) -> tuple[int, str] | None:
        return None

    def delivered(self, sender: str, recipient: str, message_id: str | None) -> None:
        return None


@dataclass
class Rig:
    sink: DemoSink
    inboxes: DemoInboxes
    rng: random.Random

    async def send(self, sender: Party, recipient: str, data: bytes) -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=self.sink.port, start_tls=False)
        await smtp.connect()
        try:
            await smtp.login(sender.address, PASSWORD)
            errors, _ = await smtp.sendmail(sender.address, [recipient], data)
            assert errors == {}
        finally:
            await smtp.quit()

    def warmup(self, sender: Party, recipient: Party) -> bytes:
        return warmup_message(
            sender, recipient, self.rng, NOW, SECRET, postal_address="1 Main St"
        ).as_bytes()


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    # bad.example's mail goes to Junk every time, everyone else's never: the draw is seeded,
    # the shares make it certain.
    inboxes = DemoInboxes(
        [ANN.address, BOB.address, SEED], seed=3, spam_share=0.0, domain_spam={"bad.example": 1.0}
    )
    sink = DemoSink(Quiet(), {ANN.address: PASSWORD, BOB.address: PASSWORD}, inboxes)
    await sink.start()
    try:
        yield Rig(sink, inboxes, random.Random(5))
    finally:
        await sink.stop()


async def test_the_sink_files_warm_up_mail_by_the_senders_spam_share(rig: Rig) -> None:
    await rig.send(ANN, BOB.address, rig.warmup(ANN, BOB))
    await rig.send(BOB, ANN.address, rig.warmup(BOB, ANN))
    await rig.send(BOB, SEED, rig.warmup(BOB, Party(SEED)))
    await rig.send(ANN, "lead@elsewhere.example", rig.warmup(ANN, Party("x@elsewhere.example")))
    assert (rig.inboxes.count(BOB.address, INBOX), rig.inboxes.count(BOB.address, JUNK)) == (1, 0)
    assert (rig.inboxes.count(ANN.address, INBOX), rig.inboxes.count(ANN.address, JUNK)) == (0, 1)
    assert rig.inboxes.count(SEED, JUNK) == 1
    assert (rig.inboxes.delivered, rig.inboxes.junked) == (3, 2)  # not the outside address
    assert rig.inboxes.take_news() == 3 and rig.inboxes.take_news() == 0

    folders = await rig.inboxes.folders(account(ANN.address))
    assert (folders.inbox, folders.junk) == (INBOX, JUNK)
    batch = await rig.inboxes.warmup_candidates(account(ANN.address), JUNK, None)
    (seen,) = batch.seen
    assert seen.sender == BOB.address and not seen.seen
    assert is_warmup(seen.message_id, seen.token, SECRET)  # the header the loop checks


async def test_a_draw_between_the_extremes_splits_the_mail(rig: Rig) -> None:
    inboxes = DemoInboxes([SEED], seed=11, spam_share=0.25)
    head = rig.warmup(ANN, Party(SEED)).split(b"\r\n\r\n", 1)[0]
    folders = [inboxes.deliver(ANN.address, SEED, head) for _ in range(400)]
    assert 0.18 < folders.count(JUNK) / 400 < 0.32
    again = DemoInboxes([SEED], seed=11, spam_share=0.25)
    assert [again.deliver(ANN.address, SEED, head) for _ in range(400)] == folders  # seeded


async def test_candidates_after_a_cursor_skip_other_mail_and_keep_thread_headers(rig: Rig) -> None:
    first = warmup_message(ANN, BOB, rig.rng, NOW, SECRET, message_id="<first@good.example>")
    await rig.send(ANN, BOB.address, first.as_bytes())
    await rig.send(ANN, BOB.address, b"Message-ID: <plain@good.example>\r\nSubject: hi\r\n\r\nhi")
    original = Received("<first@good.example>", "Lunch plans", ANN, BOB, ())
    answer = warmup_reply(original, rig.rng, NOW, SECRET, message_id="<re@bad.example>")
    await rig.send(BOB, ANN.address, answer.as_bytes())  # to Junk: bad.example
    await rig.send(ANN, BOB.address, rig.warmup(ANN, BOB))

    bob = account(BOB.address)
    two = await rig.inboxes.warmup_candidates(bob, INBOX, None, limit=1)
    assert [s.message_id for s in two.seen] == ["<first@good.example>"]
    assert two.cursor == FolderCursor(UIDVALIDITY, 1) and not two.reset
    rest = await rig.inboxes.warmup_candidates(bob, INBOX, two.cursor)
    assert [s.uid for s in rest.seen] == [3]  # uid 2 is no warm-up mail, searched all the same
    assert rest.cursor == FolderCursor(UIDVALIDITY, 3)
    empty = await rig.inboxes.warmup_candidates(bob, INBOX, rest.cursor)
    assert empty.seen == () and empty.cursor == rest.cursor

    (reply,) = (await rig.inboxes.warmup_candidates(account(ANN.address), JUNK, None)).seen
    assert reply.in_reply_to == "<first@good.example>"
    assert reply.references == ("<first@good.example>",)
    assert reply.subject == "Re: Lunch plans"
    # Another UIDVALIDITY: the folder is searched from its start again, and says so.
    anew = await rig.inboxes.warmup_candidates(bob, INBOX, FolderCursor(UIDVALIDITY + 1, 3))
    assert anew.reset and [s.uid for s in anew.seen] == [1, 3]


async def test_marked_then_rescued_mail_arrives_in_the_inbox_read_under_a_new_uid(
    rig: Rig,
) -> None:
    await rig.send(BOB, ANN.address, rig.warmup(BOB, ANN))
    await rig.send(BOB, ANN.address, rig.warmup(BOB, ANN))
    ann = account(ANN.address)
    junk = await rig.inboxes.warmup_candidates(ann, JUNK, None)
    uids = [s.uid for s in junk.seen]
    assert await rig.inboxes.mark_read(ann, JUNK, [*uids, 99], star=True) == 2
    assert await rig.inboxes.rescue(ann, JUNK, [uids[0], 99]) == 1
    assert (rig.inboxes.count(ANN.address, JUNK), rig.inboxes.count(ANN.address, INBOX)) == (1, 1)
    (moved,) = (await rig.inboxes.warmup_candidates(ann, INBOX, None)).seen
    assert moved.uid == 1 and moved.message_id == junk.seen[0].message_id
    assert moved.seen and "\\Flagged" in moved.flags
    # A mail without the warm-up header is never touched.
    await rig.send(BOB, ANN.address, b"Message-ID: <x@bad.example>\r\nSubject: hi\r\n\r\nhi")
    assert await rig.inboxes.mark_read(ann, JUNK, [3], star=False) == 0
    assert await rig.inboxes.rescue(ann, JUNK, [3]) == 0


async def test_candidates_skip_the_uid_a_rescued_mail_left_behind(rig: Rig) -> None:
    """A rescued mail leaves a gap in Junk's UIDs; candidates and cursors go past it."""
    for _ in range(3):
        await rig.send(BOB, ANN.address, rig.warmup(BOB, ANN))
    ann = account(ANN.address)
    assert await rig.inboxes.rescue(ann, JUNK, [2]) == 1
    every = await rig.inboxes.warmup_candidates(ann, JUNK, None)
    assert [s.uid for s in every.seen] == [1, 3] and every.cursor == FolderCursor(UIDVALIDITY, 3)
    first = await rig.inboxes.warmup_candidates(ann, JUNK, None, limit=1)
    assert [s.uid for s in first.seen] == [1] and first.cursor == FolderCursor(UIDVALIDITY, 1)
    rest = await rig.inboxes.warmup_candidates(ann, JUNK, first.cursor)
    assert [s.uid for s in rest.seen] == [3] and rest.cursor == FolderCursor(UIDVALIDITY, 3)
    # A cursor beyond the last UID finds nothing and stays where it was.
    ahead = await rig.inboxes.warmup_candidates(ann, JUNK, FolderCursor(UIDVALIDITY, 9))
    assert ahead.seen == () and ahead.cursor == FolderCursor(UIDVALIDITY, 9)
