"""Issue 13, finding 7 end to end: a block or a /pause mid-tick stops the steps already reserved.

The real SendingEngine reserves a chunk of steps ahead and both mailboxes of one domain send in
parallel. The stop (a 554 5.7.1 blocklist refusal on mailbox A's first mail, or an admin pausing
the campaign while the first mails are on the wire) lands while the rest of the tick's steps are
reserved and queued: none of them may reach the server once the stop is committed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from core.message import OutgoingMessage
from core.models import Outcome
from core.records import Applied, Effects, SendFinish
from core.specs import SmtpAccount
from engine.control import ControlService
from engine.sending import SendingEngine
from mail.smtp import SmtpSender
from storage.db import Database
from storage.sending import SendingStore
from tests.engine.world import PASSWORD, USER, World, make_world
from tests.fakes.smtp_server import Accept, Action, FakeSmtpServer, Reply

# What a Postfix in front of a Spamhaus check answers a listed client.
SPAMHAUS = (
    "5.7.1 Service unavailable; Client host [203.0.113.7] blocked using zen.spamhaus.org; "
    "https://www.spamhaus.org/query/ip/203.0.113.7"
)
LEADS = [f"lead{i:02d}@example.com" for i in range(60)]


class SettleWatch(SendingStore):
    """The real store; `settled` is set once the first failed attempt has been committed."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.settled = asyncio.Event()

    async def settle(self, finish: SendFinish, effects: Effects) -> Applied:
        """Commit as the real store does, then say so."""
        applied = await super().settle(finish, effects)
        self.settled.set()
        return applied


class HoldingSender:
    """The real SMTP sender, scripted around the first call of the tick.

    The first call's mailbox is A; `on_first` runs inside it (the admin's /pause lands there).
    A mail whose gate opens before `stopped` is set holds its data until the stop is committed:
    it was marked 'sending' before the stop, so it may go out, but everything marked after the
    stop must not. `block_first` makes the server refuse A's first mail with a 554 5.7.1.
    """

    def __init__(
        self,
        inner: SmtpSender,
        stopped: asyncio.Event,
        *,
        block_first: bool = False,
        on_first: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.inner = inner
        self.stopped = stopped
        self.block_first = block_first
        self.on_first = on_first
        self.first: str | None = None  # mailbox A
        self.blocked: set[str] = set()  # recipients the server refuses with the 554
        self.opened_after_stop: list[str] = []  # recipients whose gate said True after the stop

    def script(self, recipient: str) -> Action:
        """The server's answer at RCPT (the fake server asks this)."""
        return Reply(554, SPAMHAUS) if recipient.lower() in self.blocked else Accept()

    async def send(
        self, account: SmtpAccount, message: OutgoingMessage, *, gate: Awaitable[bool] | None
    ) -> Outcome:
        assert gate is not None
        first = self.first is None
        if first:
            self.first = account.address
            if self.block_first:
                # Refused at RCPT, before the data would wait for the gate.
                self.blocked.add(message.recipient.lower())
                return await self.inner.send(account, message, gate=gate)

        async def held() -> bool:
            was_stopped = self.stopped.is_set()
            opened = await gate
            if opened and was_stopped:
                self.opened_after_stop.append(message.recipient)
            if opened and first and self.on_first is not None:
                await self.on_first()
            if opened and not was_stopped:
                await self.stopped.wait()  # on the wire while the stop lands
            return opened

        return await self.inner.send(account, message, gate=held())


@asynccontextmanager
async def scenario(tmp_path: Path, server: FakeSmtpServer) -> AsyncIterator[World]:
    """A domain with two mailboxes (gap 0, 40 a day each) and 60 leads queued."""
    async with make_world(
        tmp_path, server, domains=1, per_domain=2, mailbox_limit=40, domain_limit=None
    ) as world:  # fmt: skip
        await world.add_leads(LEADS)
        yield world


def engine_for(world: World, sender: HoldingSender, store: SendingStore) -> SendingEngine:
    """The real engine over this test's sender and store."""
    return SendingEngine(
        store=store, sender=sender, clock=world.clock, rules=world.config.rules(),
        alerts=world.alerts, domains=world.health,
    )  # fmt: skip


async def run_ticks(engine: SendingEngine, world: World, n: int) -> None:
    """Tick `n` times, 20 s apart."""
    for _ in range(n):
        await engine.tick()
        world.clock.advance(timedelta(seconds=20))


async def sends_by_lead(world: World) -> dict[str, tuple[object, ...]]:
    """Each lead's step-1 send: mailbox, state, attempts and reply."""
    rows = await world.rows(
        "SELECT l.email, m.address, s.state, s.attempts, s.smtp_reply FROM sends s "
        "JOIN leads l ON l.id = s.lead_id JOIN mailboxes m ON m.id = s.mailbox_id "
        "WHERE s.step_no = 1"
    )
    return {str(r[0]): r[1:] for r in rows}


async def usage(world: World) -> dict[tuple[object, object], object]:
    """Today's slots taken: (scope, mailbox address or '-') -> count."""
    rows = await world.rows(
        "SELECT u.scope, coalesce(m.address, '-'), u.sent FROM usage u "
        "LEFT JOIN mailboxes m ON u.scope = 'mailbox' AND m.id = u.ref WHERE u.day = ?",
        world.day(),
    )
    return {(r[0], r[1]): r[2] for r in rows}


def assert_put_back(
    sends: dict[str, tuple[object, ...]], went_out: set[str], reached_smtp: set[str]
) -> None:
    """Every step but those that reached SMTP waits in 'retry', never attempted."""
    for email, (_, state, attempts, reply) in sends.items():
        if email in reached_smtp:
            continue
        assert (state, attempts) == ("retry", 0), email
        assert str(reply).startswith("not attempted"), email
    assert {e for e, row in sends.items() if row[1] == "sent"} == went_out


async def test_a_block_on_one_mailbox_stops_the_other_mailboxs_reserved_steps(
    tmp_path: Path,
) -> None:
    stopped = asyncio.Event()
    sender = HoldingSender(SmtpSender(timeout=5.0), stopped, block_first=True)
    async with (
        FakeSmtpServer(username=USER, password=PASSWORD, script=sender.script) as server,
        scenario(tmp_path, server) as world,
    ):
        store = SettleWatch(world.stores.db)
        engine = engine_for(world, sender, store)

        async def block_committed() -> None:
            await store.settled.wait()
            stopped.set()

        watcher = asyncio.create_task(block_committed())
        try:
            report = await engine.tick()
            await watcher
            a = sender.first
            assert a is not None
            (blocked,) = sender.blocked
            # B's first mail was marked with A's, before the block: it is the only one out.
            (out,) = server.messages
            b = out.mail_from
            assert b != a and b.endswith("@d0.test")
            assert sender.opened_after_stop == []
            # One login per mailbox: once B's mark is refused, its later steps open no session.
            assert server.logins == 2
            assert report.sent == 1 and report.planned > 2
            assert await world.scalar("SELECT state FROM domains WHERE name = 'd0.test'") == (
                "cooldown"
            )
            sends = await sends_by_lead(world)
            # Both mailboxes had steps reserved when the block landed; B's went back too.
            queued = Counter(str(row[0]) for row in sends.values())
            assert queued[a] > 1 and queued[b] > 1
            assert sends[blocked][1:3] == ("retry", 0)  # the 554 costs the lead no attempt
            assert "spamhaus" in str(sends[blocked][3])
            assert_put_back(sends, {out.rcpt_tos[0]}, {blocked, out.rcpt_tos[0]})
            # Only the two mails that reached SMTP hold a slot of today.
            assert await usage(world) == {
                ("mailbox", a): 1, ("mailbox", b): 1, ("domain", "-"): 2, ("campaign", "-"): 2,
            }  # fmt: skip
            # The cool-down holds on later ticks: nothing of the domain goes out again.
            await run_ticks(engine, world, 5)
            assert len(server.messages) == 1
            assert len({r for m in server.messages for r in m.rcpt_tos}) == 1
        finally:
            watcher.cancel()
            await sender.inner.close()


async def test_a_pause_landing_mid_tick_stops_the_reserved_steps(tmp_path: Path) -> None:
    stopped = asyncio.Event()
    sender = HoldingSender(SmtpSender(timeout=5.0), stopped)
    async with (
        FakeSmtpServer(username=USER, password=PASSWORD) as server,
        scenario(tmp_path, server) as world,
    ):
        engine = engine_for(world, sender, world.stores.sending)
        control = ControlService(world.stores.control, world.clock, world.config.rules())

        async def pause() -> None:
            # The admin's /pause q4 while A's first mail is on the wire.
            await control.pause("q4", "mid-tick", actor="test")
            stopped.set()

        sender.on_first = pause
        try:
            report = await engine.tick()
            # The two mails marked before the pause went out (one per mailbox); nothing after.
            senders = Counter(m.mail_from for m in server.messages)
            assert len(senders) == 2 and set(senders.values()) == {1}
            assert sender.opened_after_stop == []
            # One login per mailbox: once a mark is refused, the later steps open no session.
            assert server.logins == 2
            assert report.sent == 2 and report.planned > 2
            assert await world.scalar("SELECT state FROM campaigns WHERE name = 'q4'") == "paused"
            out = {m.rcpt_tos[0] for m in server.messages}
            sends = await sends_by_lead(world)
            queued = Counter(str(row[0]) for row in sends.values())
            assert all(queued[mb] > 1 for mb in senders)
            assert_put_back(sends, out, out)
            assert await usage(world) == {
                **{("mailbox", mb): 1 for mb in senders}, ("domain", "-"): 2, ("campaign", "-"): 2,
            }  # fmt: skip
            await run_ticks(engine, world, 5)
            assert len(server.messages) == 2
            # Resumed, every lead gets its first mail exactly once: nothing is sent twice.
            await control.resume("q4", actor="test")
            await run_ticks(engine, world, 10)
            rcpts = Counter(r for m in server.messages for r in m.rcpt_tos)
            assert sorted(rcpts) == LEADS and set(rcpts.values()) == {1}
            final = await sends_by_lead(world)
            assert {row[1] for row in final.values()} == {"sent"}
        finally:
            await sender.inner.close()
