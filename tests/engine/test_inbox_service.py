"""engine/events.py: polling mailboxes into events, once each, with an in-memory reader.

The IMAP adapter itself is tested against Dovecot (tests/mail/test_imap.py) and the whole
path end to end (tests/e2e/test_inbox_e2e.py); here the reader is a fake that holds mail.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.errors import LoginRefused, PeerUnavailable
from core.records import FetchedMail, FolderBatch, FolderCursor, MailFolders
from core.specs import ImapAccount, MailServer
from engine.events import InboxService
from tests.engine.world import PASSWORD, USER, World, make_world, run_ticks
from tests.fakes.smtp_server import FakeSmtpServer

IMAP = MailServer("127.0.0.1", 1, "none", "m0@d0.test", "imap-pw")


class FakeReader:
    """A mailbox reader over mail held in memory; `fail` makes every call raise it."""

    def __init__(self) -> None:
        self.folders_of: dict[str, list[tuple[int, bytes]]] = {"INBOX": [], "Junk": []}
        self.uidvalidity = 1
        self.fail: Exception | None = None

    def add(self, raw: str, folder: str = "INBOX") -> None:
        mails = self.folders_of[folder]
        mails.append((len(mails) + 1, raw.encode()))

    async def folders(self, account: ImapAccount) -> MailFolders:
        if self.fail is not None:
            raise self.fail
        return MailFolders("INBOX", "Junk")

    async def fetch_new(
        self, account: ImapAccount, folder: str, after: FolderCursor | None, *, limit: int = 200
    ) -> FolderBatch:
        reset = after is not None and after.uidvalidity != self.uidvalidity
        last = 0 if after is None or reset else after.last_uid
        mails = [FetchedMail(uid, raw) for uid, raw in self.folders_of[folder] if uid > last]
        mails = mails[:limit]
        end = mails[-1].uid if mails else last
        return FolderBatch(folder, FolderCursor(self.uidvalidity, end), tuple(mails), reset)

    async def close(self) -> None:
        return None


@pytest.fixture
async def server() -> AsyncIterator[FakeSmtpServer]:
    async with FakeSmtpServer(username=USER, password=PASSWORD) as srv:
        yield srv


def inbox(world: World, reader: FakeReader) -> InboxService:
    rules = world.config.rules()
    boxes = tuple(
        dataclasses.replace(m, imap=IMAP) if m.address == "m0@d0.test" else m
        for m in rules.mailboxes
    )
    return InboxService(
        reader=reader, store=world.stores.inbox, clock=world.clock,
        rules=dataclasses.replace(rules, mailboxes=boxes), alerts=world.alerts,
        health=world.health,
    )  # fmt: skip


def reply(to_message_id: str, sender: str, body: str, mid: str) -> str:
    return (
        f"From: {sender}\r\nTo: m0@d0.test\r\nSubject: Re: Hi\r\nMessage-ID: {mid}\r\n"
        f"In-Reply-To: {to_message_id}\r\n\r\n{body}\r\n"
    )


async def first_mail_id(world: World, email: str) -> str:
    rows = await world.rows(
        "SELECT s.message_id FROM sends s JOIN leads l ON l.id = s.lead_id WHERE l.email = ?",
        email,
    )
    return str(rows[0][0])


async def test_each_mail_counts_once_across_polls_folders_and_a_uidvalidity_change(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        await world.add_leads(["ann@example.com", "bob@example.com"])
        await run_ticks(world, 2)
        reader = FakeReader()
        ann = await first_mail_id(world, "ann@example.com")
        reader.add(reply(ann, "ann@example.com", "Yes please", "<r1@example.com>"))
        # The same mail again in Junk (copied there by a filter), and an unrelated one.
        reader.add(reply(ann, "ann@example.com", "Yes please", "<r1@example.com>"), "Junk")
        reader.add("From: news@shop.test\r\nSubject: Sale\r\nMessage-ID: <n1@shop.test>\r\n\r\nx")
        service = inbox(world, reader)

        first = await service.poll()
        assert first.mails == 3
        assert first.applied["reply"] == 1
        assert first.repeated == 1  # the copy in Junk
        assert sum(first.ignored.values()) == 1
        assert await world.scalar("SELECT state FROM leads WHERE email = 'ann@example.com'") == (
            "replied"
        )

        assert (await service.poll()).mails == 0  # nothing new
        reader.uidvalidity = 2  # the server renumbered the folders: everything is read again
        again = await service.poll()
        assert again.mails == 3 and again.repeated == 2 and not again.applied
        assert await world.scalar("SELECT count(*) FROM events") == 1


async def test_a_refused_login_alerts_once_and_pauses_nothing(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        reader = FakeReader()
        reader.fail = LoginRefused("AUTHENTICATIONFAILED Authentication failed.")
        service = inbox(world, reader)
        for _ in range(3):
            report = await service.poll()
            assert report.failed == ["m0@d0.test"]
        alerts = [str(r[0]) for r in await world.rows("SELECT text FROM alerts")]
        assert len(alerts) == 1
        assert "m0@d0.test" in alerts[0] and "bad credentials" in alerts[0]
        assert "imap-pw" not in alerts[0]
        assert await world.scalar("SELECT state FROM mailboxes WHERE address = 'm0@d0.test'") == (
            "active"
        )
        reader.fail = PeerUnavailable("connection refused")
        assert (await service.poll()).failed == ["m0@d0.test"]
        assert await world.scalar("SELECT count(*) FROM alerts") == 1  # unreachable: logged only


async def test_warm_up_mail_is_passed_over_in_inbox_and_junk(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        reader = FakeReader()
        token = "ab" * 16
        first = (
            "From: m1@d1.test\r\nTo: m0@d0.test\r\nSubject: Quick one\r\n"
            f"Message-ID: <w1@d1.test>\r\nX-Entity-Ref-ID: {token}\r\n\r\nHi there\r\n"
        )
        answer = (
            "From: seed@seed.test\r\nTo: m0@d0.test\r\nSubject: Re: Quick one\r\n"
            f"Message-ID: <w2@seed.test>\r\nIn-Reply-To: <w0@d0.test>\r\n"
            f"X-Entity-Ref-ID: {token}\r\n\r\nSounds good\r\n"
        )
        reader.add(first)
        reader.add(answer, "Junk")
        report = await inbox(world, reader).poll()
        assert report.mails == 2
        assert dict(report.ignored) == {"warm-up mail": 2} and not report.applied
        assert await world.scalar("SELECT count(*) FROM events") == 0
        assert await world.scalar("SELECT count(*) FROM alerts") == 0
