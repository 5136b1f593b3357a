"""engine/warmup_inbox.py against a private Dovecot: placement, rescue, answers, the hold.

Two pool mailboxes (a@pa.test, b@pb.test) and a seed, each a Dovecot user with INBOX and
Junk. Warm-up mails are built as the loop builds them (core.warmup_mail with the service's
secret) and their warmup_mails rows stored as the sending side would have planned them; the
test files each into the folder it arranges, next to ordinary mail and forgeries.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from config import (
    MailboxConfig,
    OutreachConfig,
    SeedConfig,
    SendingConfig,
    ServerConfig,
    WarmupConfig,
)
from core import limits
from core.errors import PeerUnavailable
from core.records import WarmupMail, WarmupShare
from core.specs import ImapAccount
from core.warmup_loop import answers
from core.warmup_mail import TOKEN_HEADER, Party, Received, warmup_message, warmup_reply
from engine.alerts import AlertOutbox
from engine.clock import ManualClock
from engine.warmup_inbox import WarmupInbox
from mail.imap import ImapReader
from storage.db import to_ms
from storage.stores import Stores
from tests.fakes.dovecot import HOST, Dovecot, dovecot_available

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday, inside the loop's 08-18 hours
DAY = T0.date().isoformat()
A, B, SEED = "a@pa.test", "b@pb.test", "seed@seed.test"
USERS = {A: "a-S3cret", B: "b-S3cret", SEED: "seed-S3cret"}
NAMES = {A: "Alex Stone", B: "Bea Moss", SEED: ""}
REPLY_RATE = 0.5
SEEN, FLAGGED = "\\Seen", "\\Flagged"


def imap(server: Dovecot, user: str, password: str | None = None) -> ServerConfig:
    return ServerConfig(
        host=HOST, port=server.port, security="none", username=user,
        password=SecretStr(password or USERS[user]),
    )  # fmt: skip


def outreach(server: Dovecot, *, seed_password: str | None = None) -> OutreachConfig:
    smtp = ServerConfig(host="smtp.test", port=587, username="u", password=SecretStr("p"))
    return OutreachConfig(
        sending=SendingConfig(timezone="UTC"),
        warmup=WarmupConfig(reply_rate=REPLY_RATE),
        mailboxes=[
            MailboxConfig(
                address=address,
                display_name=NAMES[address],
                smtp=smtp,
                imap=imap(server, address),
                warmup_start=T0.date() - timedelta(days=60),
            )  # fmt: skip
            for address in (A, B)
        ],
        seeds=[SeedConfig(address=SEED, imap=imap(server, SEED, seed_password))],
    )


@dataclass
class Loop:
    """The receiving side over one database and one Dovecot, as bootstrap wires it."""

    server: Dovecot
    config: OutreachConfig
    stores: Stores
    clock: ManualClock
    secret: bytes
    ids: dict[str, int]
    reader: ImapReader

    def inbox(self) -> WarmupInbox:
        """A new service (as after a restart) on the same database."""
        rules = self.config.rules()
        alerts = AlertOutbox(self.stores.alerts, self.clock, [], rules.alert_quiet)
        return WarmupInbox(
            reader=self.reader, store=self.stores.placements, warmup=self.stores.warmup,
            clock=self.clock, rules=rules, alerts=alerts, secret=self.secret,
            rng=random.Random(7),
        )  # fmt: skip

    async def rows(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        return [tuple(r) for r in await self.stores.db.fetch(sql, params)]

    async def flags(self, user: str, folder: str) -> list[frozenset[str]]:
        """Flags of the folder's mails in UID order, \\Recent left out."""
        found = await self.server.flags(user, folder)
        return [found[uid] - {"\\Recent"} for uid in sorted(found)]


@asynccontextmanager
async def loop_on(
    tmp_path: Path, *, seed_password: str | None = None, reader: ImapReader | None = None
) -> AsyncIterator[Loop]:
    if not dovecot_available():
        pytest.fail("dovecot-imapd is not installed: `make test` installs it (as root)")
    reader = reader or ImapReader(timeout=5.0)
    async with Dovecot(tmp_path / "dovecot", USERS) as server:
        config = outreach(server, seed_password=seed_password)
        stores = await Stores.open(tmp_path / "data" / "outreach.db")
        try:
            await stores.config.sync_config(config.rules(), T0.date(), now=T0)
            found = await stores.db.fetch("SELECT address, id FROM mailboxes")
            ids = {str(r[0]): int(r[1]) for r in found}
            # Room for every answer: new mails of the day not sent yet, each of which an
            # answer replaces (storage/warmup.py); due last, so they are the ones replaced.
            later = [
                WarmupMail(ids[box], SEED, T0 + timedelta(hours=5), f"<later{n}@{box}>")
                for box in (A, B)
                for n in range(10)
            ]
            shares = [WarmupShare(ids[A], 30), WarmupShare(ids[B], 30)]
            assert await stores.warmup.plan_day(DAY, shares, later) == 20
            secret = await stores.config.secret("warmup")
            yield Loop(server, config, stores, ManualClock(T0), secret, ids, reader)
        finally:
            await reader.close()
            await stores.close()


def party(address: str) -> Party:
    return Party(address, NAMES[address])


async def plan(loop: Loop, mails: Sequence[WarmupMail]) -> None:
    """warmup_mails rows of mails the sending side planned and sent (the day is planned
    once, so these go in directly: a test-only shortcut around the planner)."""
    async with loop.stores.db.writing() as conn:
        await conn.executemany(
            "INSERT INTO warmup_mails (day, mailbox_id, recipient, due_at, message_id, answers, "
            "subject, thread) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    DAY,
                    m.mailbox_id,
                    m.recipient,
                    to_ms(m.due_at),
                    m.message_id,
                    m.answers,
                    m.subject or None,
                    json.dumps(list(m.thread)) if m.thread else None,
                )
                for m in mails
            ],  # fmt: skip
        )


async def put(
    loop: Loop,
    sender: str,
    recipient: str,
    message_id: str,
    folder: str,
    *,
    thread: tuple[str, ...] = (),
    token: str | None = None,
) -> None:
    """Build the warm-up mail as the loop does and file it; `thread`: an answer in that
    thread (the last id is the mail it answers); `token`: a forged header value."""
    rng = random.Random(message_id)
    if thread:
        original = Received(thread[-1], "Lunch next week", party(recipient), party(sender),
                            thread[:-1])  # fmt: skip
        message = warmup_reply(original, rng, T0, loop.secret, message_id=message_id)
    else:
        message = warmup_message(
            party(sender), party(recipient), rng, T0, loop.secret, message_id=message_id
        )
    raw = message.data
    if token is not None:
        raw = re.sub(rb"(?m)^(X-Entity-Ref-ID: )\S+", b"\\g<1>" + token.encode(), raw)
        assert TOKEN_HEADER.encode() + b": " + token.encode() in raw
    await loop.server.deliver(recipient, raw, folder=folder)


def new(loop: Loop, sender: str, recipient: str, message_id: str) -> WarmupMail:
    return WarmupMail(loop.ids[sender], recipient, T0 - timedelta(hours=1), message_id)


def ordinary(n: int, to: str) -> bytes:
    return (
        f"From: lead{n}@example.org\r\nTo: {to}\r\nSubject: Re: offer {n}\r\n"
        f"Message-ID: <o{n}@example.org>\r\n\r\nInterested ({n})\r\n"
    ).encode()


async def test_one_poll_counts_rescues_marks_and_answers_and_nothing_twice(
    tmp_path: Path,
) -> None:
    async with loop_on(tmp_path) as loop:
        answer_of_answer = WarmupMail(
            loop.ids[B], A, T0 - timedelta(hours=1), "<w6@pb.test>", answers="<w9@pa.test>",
            subject="Lunch next week", thread=("<w8@pa.test>",),
        )  # fmt: skip
        await plan(
            loop,
            [
                new(loop, A, B, "<w1@pa.test>"),
                new(loop, A, B, "<w2@pa.test>"),
                new(loop, A, B, "<w3@pa.test>"),
                new(loop, A, SEED, "<w4@pa.test>"),
                new(loop, B, A, "<w1@pb.test>"),
                new(loop, B, A, "<w2@pb.test>"),
                new(loop, B, SEED, "<w3@pb.test>"),
                new(loop, B, A, "<w7@pb.test>"),  # planned, but only a forgery arrives
                answer_of_answer,
            ],
        )
        # a -> b: two in the inbox, one in spam; a -> seed: inbox. a: 3 inbox of 4 = 75 %.
        await put(loop, A, B, "<w1@pa.test>", "INBOX")
        await put(loop, A, B, "<w2@pa.test>", "Junk")
        await put(loop, A, B, "<w3@pa.test>", "INBOX")
        await put(loop, A, SEED, "<w4@pa.test>", "INBOX")
        # b -> a: inbox, spam, and the third mail of a thread; b -> seed: spam. b: 2 of 4.
        await put(loop, B, A, "<w1@pb.test>", "INBOX")
        await put(loop, B, A, "<w2@pb.test>", "Junk")
        await put(loop, B, A, "<w6@pb.test>", "INBOX", thread=("<w8@pa.test>", "<w9@pa.test>"))
        await put(loop, B, SEED, "<w3@pb.test>", "Junk")
        # Left alone: a forged token on a planned id, a true token on an id never planned,
        # ordinary mail and ordinary spam.
        await put(loop, B, A, "<w7@pb.test>", "Junk", token="0" * 32)
        await put(loop, B, A, "<stray@pb.test>", "INBOX")
        await loop.server.deliver(A, ordinary(1, A))
        await loop.server.deliver(B, ordinary(2, B), folder="Junk")

        report = await loop.inbox().poll()

        assert report.failed == []
        assert (report.found, report.inbox, report.spam) == (8, 5, 3)
        assert report.ignored == 2 and report.rescued == 3
        placed = await loop.rows("SELECT message_id, receiver, mailbox_id, folder FROM placements")
        a, b = loop.ids[A], loop.ids[B]
        assert sorted(placed) == sorted(
            [
                ("<w1@pa.test>", B, a, "inbox"),
                ("<w2@pa.test>", B, a, "spam"),
                ("<w3@pa.test>", B, a, "inbox"),
                ("<w4@pa.test>", SEED, a, "inbox"),
                ("<w1@pb.test>", A, b, "inbox"),
                ("<w2@pb.test>", A, b, "spam"),
                ("<w6@pb.test>", A, b, "inbox"),
                ("<w3@pb.test>", SEED, b, "spam"),
            ]
        )
        counts = await loop.stores.placements.counts(T0 - timedelta(days=7), T0)
        assert [(c.address, c.inbox, c.total) for c in counts] == [(A, 3, 4), (B, 2, 4)]

        # Junk holds no warm-up mail of ours any more: the forgery and the spam stay, unread.
        assert await loop.flags(A, "Junk") == [frozenset()]
        assert await loop.flags(B, "Junk") == [frozenset()]
        assert await loop.flags(SEED, "Junk") == []
        # Every mail of ours in an inbox, rescued ones included, is read and starred; the
        # ordinary mail and the stray one are not.
        inbox_a = await loop.flags(A, "INBOX")
        assert inbox_a == [
            frozenset({SEEN, FLAGGED}),  # w1@pb
            frozenset({SEEN, FLAGGED}),  # w6@pb
            frozenset(),  # stray
            frozenset(),  # ordinary
            frozenset({SEEN, FLAGGED}),  # w2@pb, rescued from Junk
        ]
        assert await loop.flags(B, "INBOX") == [frozenset({SEEN, FLAGGED})] * 3
        assert await loop.flags(SEED, "INBOX") == [frozenset({SEEN, FLAGGED})] * 2

        # Answers: pool receivers only, the stable draw at reply_rate, never the third of
        # a thread; each from the receiver to the sender, in the thread, after a delay.
        received = {"<w1@pa.test>": B, "<w2@pa.test>": B, "<w3@pa.test>": B,
                    "<w1@pb.test>": A, "<w2@pb.test>": A}  # fmt: skip
        expected = {mid: to for mid, to in received.items() if answers(mid, REPLY_RATE)}
        assert 0 < len(expected) < len(received)  # the draw both answers and skips here
        assert answers("<w6@pb.test>", REPLY_RATE)  # drawn, yet not answered: thread of 3
        rows = await loop.rows(
            "SELECT answers, mailbox_id, recipient, subject, thread, due_at, message_id "
            "FROM warmup_mails WHERE answers IS NOT NULL AND answers != '<w9@pa.test>'"
        )
        assert report.answers == len(expected)
        # Each answer took the place of one of its mailbox's unsent new mails: same volume.
        later = await loop.rows("SELECT count(*) FROM warmup_mails WHERE message_id LIKE '<later%'")
        assert later == [(20 - len(expected),)]
        assert {str(r[0]): r[1] for r in rows} == {
            mid: loop.ids[to] for mid, to in expected.items()
        }
        senders = {"pa.test": A, "pb.test": B}
        for answered, mailbox_id, recipient, subject, thread, due_at, message_id in rows:
            sender = senders[str(answered).rpartition("@")[2].rstrip(">")]
            receiver = next(k for k, v in loop.ids.items() if v == mailbox_id)
            assert recipient == sender
            assert str(message_id).endswith("@" + receiver.rpartition("@")[2] + ">")
            assert subject  # the original's: warmup_reply makes it "Re: ..."
            assert thread is None  # an answer to a new thread: References are just the original
            assert isinstance(due_at, int)
            due = datetime.fromtimestamp(due_at / 1000, UTC)
            assert T0 + timedelta(minutes=20) <= due <= T0 + timedelta(hours=4)

        # The rescued mails show up again in the inbox: seen, counted nothing new.
        again = await loop.inbox().poll()
        assert (again.found, again.inbox, again.spam, again.answers) == (3, 0, 0, 0)
        assert again.rescued == 0
        # A restart: a new service on the same database finds nothing new at all.
        restarted = await loop.inbox().poll()
        assert (restarted.found, restarted.inbox, restarted.spam, restarted.answers) == (
            0,
            0,
            0,
            0,
        )
        assert len(await loop.rows("SELECT * FROM placements")) == 8
        assert len(await loop.rows("SELECT * FROM warmup_mails WHERE answers IS NOT NULL")) == (
            len(expected) + 1
        )
        assert await loop.rows("SELECT key FROM alerts") == []  # 75 % and 50 %, but only 4


async def placed_mails(
    loop: Loop, sender: str, first: int, inbox: int, spam: int, to: str = SEED
) -> int:
    """`inbox` + `spam` new warm-up mails from `sender` to the seed, planned and filed."""
    domain = sender.rpartition("@")[2]
    ids = [f"<h{n}@{domain}>" for n in range(first, first + inbox + spam)]
    await plan(loop, [new(loop, sender, to, mid) for mid in ids])
    for n, mid in enumerate(ids):
        await put(loop, sender, to, mid, "INBOX" if n < inbox else "Junk")
    return first + len(ids)


async def campaign_mail_taken(loop: Loop, address: str) -> tuple[bool, bool]:
    """(placement_hold in the planner's snapshot, whether it takes campaign mail today)."""
    now = loop.clock.now()
    snapshot = await loop.stores.sending.load_snapshot(now, DAY, now, 100, 100)
    view = next(m for m in snapshot.mailboxes if m.address == address)
    policy = loop.config.rules().warmup
    return view.placement_hold, limits.takes_campaign_mail(
        view, T0.date(), policy, during_warmup=False
    )


async def test_hold_under_50_percent_and_release_only_over_70(tmp_path: Path) -> None:
    async with loop_on(tmp_path) as loop:
        service = loop.inbox()
        assert await campaign_mail_taken(loop, A) == (False, True)
        # a: 9 inbox of 20 = 45 % -> held; b: 13 of 20 = 65 % -> a warning only.
        n = await placed_mails(loop, A, 0, inbox=9, spam=11)
        await placed_mails(loop, B, 0, inbox=13, spam=7)
        report = await service.poll()
        assert report.held == [A] and report.warned == [B] and report.released == []
        assert await campaign_mail_taken(loop, A) == (True, False)
        assert await campaign_mail_taken(loop, B) == (False, True)
        alerts = await loop.rows("SELECT key, severity, text FROM alerts ORDER BY id")
        assert alerts == [
            (
                f"placement_hold:{A}",
                "critical",
                f"Mailbox {A}: inbox placement 45 % over 7 days (9 inbox of 20), under 50 %. "
                "Its campaign mail is held until placement is back over 70 %; warm-up goes on.",
            ),
            (
                f"placement_warn:{B}:{DAY}",
                "warning",
                f"Mailbox {B}: inbox placement 65 % over 7 days (13 inbox of 20), under 70 %. "
                "Under 50 % its campaign mail is held.",
            ),
        ]

        # Better, not yet over 70 %: 14 of 25 = 56 %. Held still, no new alert.
        loop.clock.advance(timedelta(hours=2))
        n = await placed_mails(loop, A, n, inbox=5, spam=0)
        report = await service.poll()
        assert (report.held, report.released, report.warned) == ([], [], [])
        assert await campaign_mail_taken(loop, A) == (True, False)
        # Exactly 70 %: 28 of 40. Still held: release takes more than 70 %.
        n = await placed_mails(loop, A, n, inbox=14, spam=1)
        report = await service.poll()
        assert report.released == [] and (await campaign_mail_taken(loop, A))[0]

        # 29 of 41 = 70.7 %: released, with an info alert; campaign mail again.
        await placed_mails(loop, A, n, inbox=1, spam=0)
        report = await service.poll()
        assert report.released == [A]
        assert await campaign_mail_taken(loop, A) == (False, True)
        last = await loop.rows("SELECT key, severity, text FROM alerts ORDER BY id DESC LIMIT 1")
        assert last == [
            (
                f"placement_release:{A}",
                "info",
                f"Mailbox {A}: inbox placement back to 70.7 % over 7 days (29 inbox of 41). "
                "Its campaign mail goes out again.",
            )
        ]
        assert len(await loop.rows("SELECT * FROM alerts")) == 3


async def test_a_refused_login_alerts_and_the_others_are_read(tmp_path: Path) -> None:
    async with loop_on(tmp_path, seed_password="wrong-S3cret") as loop:
        await plan(loop, [new(loop, A, B, "<w1@pa.test>"), new(loop, A, SEED, "<w2@pa.test>")])
        await put(loop, A, B, "<w1@pa.test>", "INBOX")
        await put(loop, A, SEED, "<w2@pa.test>", "Junk")
        service = loop.inbox()

        # One poll: Dovecot delays each refusal, and longer for each one after it (~2 s, 4 s,
        # ...). The alert's quiet day is the outbox's, as for the inbox poller's alert.
        report = await service.poll()
        assert report.failed == [SEED]
        assert (report.found, report.inbox) == (1, 1)
        alerts = await loop.rows("SELECT key, severity, text FROM alerts")
        assert len(alerts) == 1
        key, severity, text = alerts[0]
        assert (key, severity) == (f"imap_login:{SEED}", "critical")
        assert str(text).startswith(f"Seed inbox {SEED}: bad credentials")
        assert "wrong-S3cret" not in str(text)
        # The seed's mail is not counted until its login works (nor looked at again here:
        # after a refusal Dovecot delays every login from the address for seconds).
        placed = await loop.rows("SELECT message_id, receiver FROM placements")
        assert placed == [("<w1@pa.test>", B)]


class RescueFailsOnce(ImapReader):
    """The real reader, whose first rescue finds the server gone (after marking the mail)."""

    def __init__(self) -> None:
        super().__init__(timeout=5.0)
        self.failures = 1

    async def rescue(
        self, account: ImapAccount, junk: str, uids: Sequence[int], *, inbox: str = "INBOX"
    ) -> int:
        if self.failures:
            self.failures -= 1
            raise PeerUnavailable("IMAP 127.0.0.1 dropped the connection during UID MOVE")
        return await super().rescue(account, junk, uids, inbox=inbox)


async def test_a_rescue_cut_short_is_done_next_poll_and_still_counts_as_spam(
    tmp_path: Path,
) -> None:
    async with loop_on(tmp_path, reader=RescueFailsOnce()) as loop:
        await plan(loop, [new(loop, A, SEED, "<w1@pa.test>")])
        await put(loop, A, SEED, "<w1@pa.test>", "Junk")
        service = loop.inbox()

        first = await service.poll()
        assert first.failed == [SEED] and first.spam == 1 and first.rescued == 0
        # Counted as spam already; the folder's cursor stayed before the mail.
        assert await loop.stores.placements.folder_cursor(f"warmup:{SEED}:Junk") is None
        assert await loop.flags(SEED, "Junk") == [frozenset({SEEN, FLAGGED})]

        second = await service.poll()
        assert second.failed == [] and second.rescued == 1 and second.spam == 0
        assert await loop.flags(SEED, "Junk") == []
        # Seen in the inbox at the next poll: still one placement, in spam.
        third = await service.poll()
        assert (third.found, third.inbox) == (1, 0)
        placed = await loop.rows("SELECT message_id, folder FROM placements")
        assert placed == [("<w1@pa.test>", "spam")]
