"""The sending engine against a real SMTP server on 127.0.0.1 (aiosmtpd) and a real SQLite file."""

import asyncio
import random
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from datetime import date, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from bot.views.common import MESSAGE_LIMIT, alert_text, utf16_len
from core import recovery
from core.message import OutgoingMessage
from core.models import Outcome
from core.specs import SmtpAccount
from engine.sending import SendingEngine
from mail.smtp import SmtpSender
from tests.engine.world import PASSWORD, USER, make_world, run_ticks
from tests.fakes.smtp_server import Accept, Action, FakeSmtpServer, Reply


@pytest.fixture
async def server() -> AsyncIterator[FakeSmtpServer]:
    async with FakeSmtpServer(username=USER, password=PASSWORD) as srv:
        yield srv


async def test_limits_per_mailbox_and_domain_and_no_address_twice(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server) as world:
        await world.add_leads([f"lead{i}@example.com" for i in range(100)])
        await run_ticks(world, 10)
        received = server.messages
        # 3 domains x 2 mailboxes, limit 4 each, domain cap 6: 6 per domain, 18 in all.
        assert len(received) == 18
        per_mailbox = Counter(m.mail_from for m in received)
        assert max(per_mailbox.values()) <= 4
        per_domain = Counter(m.mail_from.split("@")[1] for m in received)
        assert per_domain == {"d0.test": 6, "d1.test": 6, "d2.test": 6}
        rcpts = [r for m in received for r in m.rcpt_tos]
        assert len(rcpts) == len(set(rcpts))
        # The database agrees and every sent row carries the Message-ID the server saw.
        assert await world.scalar("SELECT count(*) FROM sends WHERE state = 'sent'") == 18
        ids = {m.message_id for m in received}
        stored = {r[0] for r in await world.rows("SELECT message_id FROM sends")}
        assert ids == stored


async def test_follow_up_same_thread_same_mailbox_after_wait_days(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=2, domain_limit=None) as world:
        await world.add_leads(["ann@example.com", "bob@example.com"])
        await run_ticks(world, 3)
        assert len(server.messages) == 2
        firsts = {m.rcpt_tos[0]: m for m in server.messages}
        # Nothing more before wait_days (3) have passed.
        world.clock.advance(timedelta(days=2, hours=23))
        await run_ticks(world, 3)
        assert len(server.messages) == 2
        world.clock.advance(timedelta(hours=2))
        await run_ticks(world, 3)
        assert len(server.messages) == 4
        for follow in server.messages[2:]:
            first = firsts[follow.rcpt_tos[0]]
            assert follow.mail_from == first.mail_from
            msg, head = message_from_bytes(follow.data), message_from_bytes(first.data)
            assert msg["In-Reply-To"] == head["Message-ID"]
            assert head["Message-ID"] in msg["References"]
            assert msg["Subject"] == f"Re: {head['Subject']}"
            assert "Bump 2" in msg.get_payload()
        # The sequence had two steps: every lead is finished, nothing else goes out.
        world.clock.advance(timedelta(days=10))
        await run_ticks(world, 3)
        assert len(server.messages) == 4
        assert await world.scalar("SELECT count(*) FROM leads WHERE state = 'finished'") == 2


async def test_nothing_outside_the_campaign_window(tmp_path: Path, server: FakeSmtpServer) -> None:
    # T0 is Monday 14:00 UTC = 09:00 in New York; the window is 10:00-11:00 there, Mondays.
    async with make_world(
        tmp_path, server, hours="10:00-11:00", days=["mon"], domain_limit=None, mailbox_limit=40
    ) as world:
        await world.add_leads([f"l{i}@example.com" for i in range(50)])
        await run_ticks(world, 5, timedelta(minutes=10))  # 09:00-09:50 NY: before the window
        assert server.messages == []
        world.clock.set(world.clock.now().replace(hour=15, minute=0))  # 10:00 NY
        await run_ticks(world, 6, timedelta(minutes=10))  # 10:00-10:50
        inside = len(server.messages)
        assert inside > 0
        world.clock.set(world.clock.now().replace(hour=16, minute=0))  # 11:00 NY: closed
        await run_ticks(world, 6, timedelta(minutes=10))
        assert len(server.messages) == inside
        hours = {
            r[0]
            for r in await world.rows(
                "SELECT strftime('%H', sent_at / 1000, 'unixepoch') FROM sends WHERE state = 'sent'"
            )
        }
        assert hours == {"15"}  # 10:00-10:59 in New York, nothing before or after


async def test_gap_between_two_sends_of_one_mailbox(tmp_path: Path, server: FakeSmtpServer) -> None:
    async with make_world(
        tmp_path, server, domains=1, per_domain=1, domain_limit=None, mailbox_limit=40,
        min_gap=300, jitter=240,
    ) as world:  # fmt: skip
        await world.add_leads([f"l{i}@example.com" for i in range(20)])
        times = []
        for _ in range(200):
            before = len(server.messages)
            await world.engine.tick()
            if len(server.messages) > before:
                times.append(world.clock.now())
            world.clock.advance(timedelta(seconds=20))
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
        assert len(times) >= 5
        assert min(gaps) >= 300
        assert max(gaps) <= 300 + 240 + 20  # one tick of slack
        assert len(set(gaps)) > 1  # jitter varies the gap


async def test_every_message_has_the_spec_headers(tmp_path: Path, server: FakeSmtpServer) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1, domain_limit=None) as world:
        await world.add_leads(["ann@example.com"])
        await world.engine.tick()
        (received,) = server.messages
        msg = message_from_bytes(received.data)
        assert received.mail_from == "m0@d0.test"  # envelope sender is the mailbox
        assert msg["Message-ID"].endswith("@d0.test>")
        assert msg["Date"]
        assert msg["List-Unsubscribe"].startswith("<mailto:m0@d0.test")
        assert msg["Subject"] in {"Hi Ann", "Hello Ann"}
        body = str(msg.get_payload())
        assert "Brand Ltd, 1 Main St" in body and "unsubscribe" in body.lower()


async def test_suppressed_script_default_is_accept(server: FakeSmtpServer) -> None:
    assert isinstance(server.action_for("anyone@example.com"), Accept)


class GateWatcher:
    """The real sender, with a look around at the moment its gate opens (before the data)."""

    def __init__(self, inner: SmtpSender, db: Path) -> None:
        self.inner = inner
        self.db = db

    async def send(
        self, account: SmtpAccount, message: OutgoingMessage, *, gate: Awaitable[bool] | None
    ) -> Outcome:
        assert gate is not None

        async def watched() -> bool:
            # The moment the real sender would put the message data on the wire.
            opened = await gate
            await asyncio.to_thread(self.at_gate, message, account)
            return opened

        return await self.inner.send(account, message, gate=watched())

    def at_gate(self, message: OutgoingMessage, account: SmtpAccount) -> None:
        """Runs in a thread as the gate opens."""


class CheckingSender(GateWatcher):
    """Looks at the committed database through a second connection as each gate opens."""

    def __init__(self, inner: SmtpSender, db: Path) -> None:
        super().__init__(inner, db)
        self.seen: list[tuple[object, object]] = []  # (this send's state, mailbox's in flight)

    def at_gate(self, message: OutgoingMessage, account: SmtpAccount) -> None:
        """Note this send's committed state and its mailbox's sends in flight."""
        self.seen.append(self.states(message.message_id, account))

    def states(self, message_id: str, account: SmtpAccount) -> tuple[object, object]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            (state,) = conn.execute(
                "SELECT state FROM sends WHERE message_id = ?", (message_id,)
            ).fetchone()
            (in_flight,) = conn.execute(
                "SELECT count(*) FROM sends s JOIN mailboxes m ON m.id = s.mailbox_id "
                "WHERE m.address = ? AND s.state = 'sending'",
                (account.address,),
            ).fetchone()
        finally:
            conn.close()
        return state, in_flight


async def test_each_mail_is_marked_sending_and_committed_before_its_data_goes_out(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(
        tmp_path, server, domains=2, per_domain=2, mailbox_limit=40, domain_limit=None
    ) as world:
        await world.add_leads([f"lead{i}@example.com" for i in range(60)])
        sender = CheckingSender(SmtpSender(timeout=2.0), tmp_path / "test.db")
        engine = SendingEngine(
            store=world.stores.sending, sender=sender, clock=world.clock,
            rules=world.config.rules(), alerts=world.alerts, domains=world.health,
            rng=random.Random(7),
        )  # fmt: skip
        try:
            report = await engine.tick()
        finally:
            await sender.inner.close()
        assert report.sent == len(server.messages) == len(sender.seen) == 60
        # Committed as 'sending' before the message data went out, and the only one of its
        # mailbox: a crash can leave no more than the mails on the wire as 'unknown'.
        assert set(sender.seen) == {("sending", 1)}
        assert await world.scalar("SELECT count(*) FROM sends WHERE state = 'sent'") == 60


async def test_a_stopped_mailbox_puts_its_later_steps_back_unattempted(tmp_path: Path) -> None:
    script: dict[str, Action] = {"lead0@example.com": Reply(421, "4.7.0 Try again later")}
    async with (
        FakeSmtpServer(username=USER, password=PASSWORD, script=script) as srv,
        make_world(tmp_path, srv, domains=1, per_domain=1, domain_limit=None) as world,
    ):
        await world.add_leads([f"lead{i}@example.com" for i in range(3)])
        report = await world.engine.tick()
        assert (report.sent, report.retried) == (0, 3)
        assert srv.messages == []
        rows = await world.rows(
            "SELECT l.email, s.state, s.attempts FROM sends s JOIN leads l ON l.id = s.lead_id "
            "ORDER BY l.id"
        )
        # The 421 rests the mailbox and costs the lead no attempt; the two after it never
        # reached SMTP, so no attempt is counted for them either.
        assert rows == [
            ("lead0@example.com", "retry", 0),
            ("lead1@example.com", "retry", 0),
            ("lead2@example.com", "retry", 0),
        ]


async def test_steps_put_back_unattempted_give_their_day_slots_back(tmp_path: Path) -> None:
    # Issue 13, finding 6's last path: a mailbox that stops itself mid-tick (here a 421 on its
    # first mail) puts the rest back; they never went out, so they hold no slot of today.
    script: dict[str, Action] = {"lead0@example.com": Reply(421, "4.7.0 Try again later")}
    async with (
        FakeSmtpServer(username=USER, password=PASSWORD, script=script) as srv,
        make_world(tmp_path, srv, domains=1, per_domain=1, domain_limit=None) as world,
    ):
        await world.add_leads([f"lead{i}@example.com" for i in range(3)])
        report = await world.engine.tick()
        assert (report.sent, report.retried) == (0, 3)
        used = await world.rows("SELECT scope, sent FROM usage ORDER BY scope")
        # Only lead0's attempt holds a slot (it reached SMTP); lead1 and lead2 gave theirs back.
        assert used == [("campaign", 1), ("domain", 1), ("mailbox", 1)]


class SnapshotSender(GateWatcher):
    """As the gate of mail number `at` opens, a copy of the committed database is taken: the
    image a crash at that moment would leave on disk."""

    def __init__(self, inner: SmtpSender, db: Path, image: Path, at: int) -> None:
        super().__init__(inner, db)
        self.image = image
        self.at = at
        self.gates = 0

    def at_gate(self, message: OutgoingMessage, account: SmtpAccount) -> None:
        """Copy the database at the `at`-th gate."""
        self.gates += 1
        if self.gates == self.at:
            self.copy()

    def copy(self) -> None:
        source, target = sqlite3.connect(self.db), sqlite3.connect(self.image)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()


async def test_after_a_crash_the_mail_in_flight_is_unknown_and_never_resent(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    shape: dict[str, Any] = {
        "domains": 1, "per_domain": 1, "mailbox_limit": 40, "domain_limit": None,
    }  # fmt: skip
    leads = [f"lead{i}@example.com" for i in range(5)]
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    image = tmp_path / "after" / "test.db"
    async with make_world(tmp_path / "before", server, **shape) as world:
        await world.add_leads(leads)
        sender = SnapshotSender(SmtpSender(timeout=2.0), tmp_path / "before" / "test.db", image, 2)
        engine = SendingEngine(
            store=world.stores.sending, sender=sender, clock=world.clock,
            rules=world.config.rules(), alerts=world.alerts, domains=world.health,
            rng=random.Random(7),
        )  # fmt: skip
        try:
            await engine.tick()
        finally:
            await sender.inner.close()
    # The image: lead0 sent, lead1 marked 'sending' as its data was about to go out, the rest
    # reserved. Restart on it, against a fresh server that counts only what comes after.
    async with (
        FakeSmtpServer(username=USER, password=PASSWORD) as after,
        make_world(tmp_path / "after", after, **shape) as world,
    ):
        states = {row[0]: row[1] for row in await world.rows(
            "SELECT l.email, s.state FROM sends s JOIN leads l ON l.id = s.lead_id")}  # fmt: skip
        assert states == {
            "lead0@example.com": "sent",
            "lead1@example.com": "sending",
            **{lead: "reserved" for lead in leads[2:]},
        }
        # A new process draws new Message-IDs (make_world's engine would repeat the seed).
        engine = SendingEngine(
            store=world.stores.sending, sender=world.engine._sender,  # noqa: SLF001
            clock=world.clock, rules=world.config.rules(), alerts=world.alerts,
            domains=world.health, rng=random.Random(8),
        )  # fmt: skip
        assert await engine.recover() == 1
        (alert,) = [str(r[0]) for r in await world.rows("SELECT text FROM alerts")]
        assert "lead1@example.com" in alert and "unknown" in alert
        for _ in range(5):
            await engine.tick()
            world.clock.advance(timedelta(seconds=20))
        # The reserved steps never reached SMTP, so they go out now; lead1 never does again.
        assert sorted(r for m in after.messages for r in m.rcpt_tos) == leads[2:]
        final = {row[0]: row[1] for row in await world.rows(
            "SELECT l.email, s.state FROM sends s JOIN leads l ON l.id = s.lead_id "
            "WHERE s.step_no = 1")}  # fmt: skip
        assert final == {
            "lead0@example.com": "sent",
            "lead1@example.com": "unknown",
            **{lead: "sent" for lead in leads[2:]},
        }
        assert await world.scalar(
            "SELECT state FROM leads WHERE email = 'lead1@example.com'") == "failed"  # fmt: skip


async def test_a_follow_up_keeps_its_mailbox_though_another_is_fresher(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    # One lead and two mailboxes: when the follow-up is due, the other mailbox has sent
    # nothing at all, so rotation alone would pick it. The thread must stay on its mailbox.
    async with make_world(tmp_path, server, domains=1, per_domain=2, domain_limit=None) as world:
        await world.add_leads(["ann@example.com"])
        await run_ticks(world, 2)
        (first,) = server.messages
        world.clock.advance(timedelta(days=3, hours=1))
        await run_ticks(world, 3)
        assert [m.mail_from for m in server.messages] == [first.mail_from] * 2


async def test_many_unknown_sends_are_listed_in_alerts_that_each_fit_a_message(
    tmp_path: Path,
    server: FakeSmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(recovery, "UNKNOWN_ALERTS", 2)  # 2 alerts of 25 lines shown at most
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        leads = [f"lead{i:02d}-{'x' * 200}@example.com" for i in range(60)]  # long addresses
        await world.add_leads(leads)
        async with world.stores.db.reading() as conn:  # a crash image, written directly
            await conn.execute("UPDATE leads SET state = 'active', next_step = 2")
            await conn.execute(
                "INSERT INTO sends (kind, lead_id, campaign_id, step_no, mailbox_id, day, state, "
                "message_id, reserved_at, updated_at) SELECT 'campaign', id, campaign_id, 1, "
                "(SELECT min(id) FROM mailboxes), '2026-11-23', 'sending', "
                "'<' || id || '@d0.test>', 0, 0 FROM leads"
            )
        with caplog.at_level("WARNING", logger="outreach.sending"):
            assert await world.engine.recover() == 60
        texts = [str(r[0]) for r in await world.rows("SELECT text FROM alerts ORDER BY id")]
        assert len(texts) == 2
        assert all(utf16_len(alert_text("critical", text)) <= MESSAGE_LIMIT for text in texts)
        listed = [line for text in texts for line in text.splitlines() if line.startswith("- ")]
        assert len(listed) == 50 and all(len(line) <= 150 for line in listed)
        assert "... and 10 more" in texts[-1] and "(list 2 of 2)" in texts[-1]
        logged = [r.getMessage() for r in caplog.records if "unknown send" in r.getMessage()]
        assert len(logged) == 60
        assert all(any(lead[:20] in line for line in logged) for lead in leads)


BOMB = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"


async def test_a_template_over_its_budget_stops_its_campaign_and_the_rest_keeps_sending(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server) as world:
        config = world.config
        other = config.campaigns[0].model_copy(update={"name": "other"})
        config = config.model_copy(update={"campaigns": [*config.campaigns, other]})
        today = date.fromisoformat(world.day())
        await world.stores.config.sync_config(config.rules(), today, now=world.clock.now())
        # A body stored before `check` rendered templates (or one only some leads trigger).
        await world.stores.db.change(
            "UPDATE steps SET body = ? WHERE campaign_id = "
            "(SELECT id FROM campaigns WHERE name = 'q4')",
            (BOMB,),
        )
        await world.add_leads([f"q{i}@example.com" for i in range(3)], campaign="q4")
        await world.add_leads([f"o{i}@example.com" for i in range(3)], campaign="other")
        report = await asyncio.wait_for(world.engine.tick(), timeout=30)
        assert report.sent == 3
        assert sorted(r for m in server.messages for r in m.rcpt_tos) == [
            f"o{i}@example.com" for i in range(3)
        ]
        assert await world.rows("SELECT name, state FROM campaigns ORDER BY name") == [
            ("other", "active"),
            ("q4", "stopped"),
        ]
        reason = await world.scalar("SELECT reason FROM campaigns WHERE name = 'q4'")
        assert "too much work" in str(reason)
        assert (
            await world.scalar("SELECT count(*) FROM alerts WHERE key LIKE 'campaign_stopped%'")
            == 1
        )
