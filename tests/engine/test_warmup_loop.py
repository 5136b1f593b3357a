"""The warm-up loop's sending side against a real SMTP server (aiosmtpd) and a real SQLite file.

A manual clock walks simulated days; each tick runs the loop, then the campaign engine, in the
order bootstrap.Service.tick uses.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from pydantic import SecretStr

from config import OutreachConfig, SeedConfig, ServerConfig
from core import limits
from core.records import WarmupMail
from core.warmup_mail import TOKEN_HEADER, is_warmup
from engine.warmup_loop import WarmupLoop
from storage.db import from_ms
from tests.engine.world import PASSWORD, USER, World, make_world
from tests.fakes.smtp_server import FakeSmtpServer, Received, Reply

SECRET = b"warm-up-test-secret"
TZ = "Europe/Berlin"  # the world's sending timezone; the loop's hours are 08:00-18:00 there
DAY = datetime(2026, 11, 24, tzinfo=UTC).date()  # a Tuesday
MORNING = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)  # 07:00 in Berlin, before the window


@pytest.fixture
async def server() -> AsyncIterator[FakeSmtpServer]:
    async with FakeSmtpServer(username=USER, password=PASSWORD) as srv:
        yield srv


def warming_since(
    start: datetime, *, seeds: tuple[str, ...] = ()
) -> Callable[[OutreachConfig], OutreachConfig]:
    """Every mailbox starts its warm-up on `start`'s day and has an IMAP login (so the loop
    writes to it; the sending side never logs in); `seeds` take part as receivers."""
    imap = ServerConfig(
        host="127.0.0.1", port=1, security="none", username="box", password=SecretStr("x")
    )

    def adjust(config: OutreachConfig) -> OutreachConfig:
        boxes = [
            m.model_copy(update={"warmup_start": start.date(), "imap": imap})
            for m in config.mailboxes
        ]
        listed = [SeedConfig(address=address, imap=imap) for address in seeds]
        # The tests tick every 5 minutes (run_day): the config says so, and the loop plans
        # nothing in the window's last tick.
        sending = config.sending.model_copy(update={"tick_seconds": 300})
        return config.model_copy(update={"mailboxes": boxes, "seeds": listed, "sending": sending})

    return adjust


def pool_world(
    tmp_path: Path,
    server: FakeSmtpServer,
    *,
    domains: int,
    per_domain: int,
    start: datetime = MORNING,
    seeds: tuple[str, ...] = (),
) -> AbstractAsyncContextManager[World]:
    """Mailboxes with limit 40, warming since `start`, no domain cap."""
    return make_world(
        tmp_path, server, domains=domains, per_domain=per_domain, mailbox_limit=40,
        domain_limit=None, adjust=warming_since(start, seeds=seeds),
    )  # fmt: skip


def loop_for(world: World, seed: int = 3) -> WarmupLoop:
    """A WarmupLoop over the world's database and SMTP sender, as bootstrap builds it."""
    return WarmupLoop(
        store=world.stores.warmup, sending=world.stores.sending, sender=world.sender,
        engine=world.engine, clock=world.clock, rules=world.config.rules(),
        alerts=world.alerts, health=world.health, secret=SECRET, rng=random.Random(seed),
    )  # fmt: skip


async def run_day(
    world: World, loop: WarmupLoop, *, until: datetime, step: timedelta = timedelta(minutes=5)
) -> None:
    """Ticks from the clock's time to `until`: the loop first, then campaign mail."""
    while world.clock.now() < until:
        await loop.tick()
        await world.engine.tick()
        world.clock.advance(step)


def warmup_mails(server: FakeSmtpServer) -> list[Received]:
    """What the server got that carries the loop's own token."""
    out = []
    for mail in server.messages:
        parsed = message_from_bytes(mail.data)
        if is_warmup(parsed["Message-ID"], parsed[TOKEN_HEADER], SECRET):
            out.append(mail)
    return out


async def warmup_times(world: World) -> list[datetime]:
    """When each warm-up mail went out, by the simulated clock (the database's record)."""
    rows = await world.rows("SELECT sent_at FROM sends WHERE kind = 'warmup' AND state = 'sent'")
    return sorted(from_ms(int(str(r[0]))) for r in rows)


def local_hour(moment: datetime) -> float:
    local = moment.astimezone(limits.zone(TZ))
    return local.hour + local.minute / 60


async def test_day_1_of_new_mailboxes_sends_5_warmup_mails_each_and_no_campaign_mail(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with pool_world(tmp_path, server, domains=2, per_domain=2) as world:
        world.clock.set(MORNING)
        await world.add_leads([f"lead{i}@example.com" for i in range(50)])
        await run_day(world, loop_for(world), until=MORNING + timedelta(hours=13))
        warm = warmup_mails(server)
        assert Counter(m.mail_from for m in warm) == {
            "m0@d0.test": 5, "m1@d0.test": 5, "m0@d1.test": 5, "m1@d1.test": 5,
        }  # fmt: skip
        assert len(server.messages) == len(warm)  # week 1: no campaign mail at all
        # Inside the loop's hours, to the pool's other domain, spread (not one burst).
        times = await warmup_times(world)
        assert len(times) == 20 and all(8 <= local_hour(t) < 18 for t in times)
        for mail in warm:
            (rcpt,) = mail.rcpt_tos
            assert rcpt.split("@")[1] != mail.mail_from.split("@")[1]
        assert times[-1] - times[0] > timedelta(hours=5)
        rows = await world.rows(
            "SELECT mailbox_id, volume, sent FROM warmup_days WHERE day = ?", DAY.isoformat()
        )
        assert sorted(r[1:] for r in rows) == [(5, 5)] * 4


async def test_day_8_sends_12_in_all_10_of_them_warmup_and_campaigns_fill_the_rest(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with pool_world(
        tmp_path, server, domains=2, per_domain=2, start=MORNING - timedelta(days=7)
    ) as world:
        world.clock.set(MORNING)
        await world.add_leads([f"lead{i}@example.com" for i in range(50)])
        await run_day(world, loop_for(world), until=MORNING + timedelta(hours=17))
        warm = Counter(m.mail_from for m in warmup_mails(server))
        every = Counter(m.mail_from for m in server.messages)
        for box in every:
            assert every[box] == 12  # day 8's cap
            assert warm[box] == 10  # the loop keeps week 1's last volume
        assert len(every) == 4


async def test_a_restart_mid_day_sends_no_warmup_mail_twice(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with pool_world(tmp_path, server, domains=2, per_domain=1) as world:
        world.clock.set(MORNING)
        await run_day(world, loop_for(world, seed=1), until=MORNING + timedelta(hours=5))
        before = len(warmup_mails(server))
        assert 0 < before < 10
        # A new loop on the same database (the process restarted): a new rng, the same day.
        await run_day(world, loop_for(world, seed=2), until=MORNING + timedelta(hours=13))
        warm = warmup_mails(server)
        ids = [m.message_id for m in warm]
        assert len(ids) == len(set(ids)) == 10
        assert await world.scalar("SELECT count(*) FROM warmup_mails") == 10


async def test_a_loop_started_late_spreads_what_is_left_of_the_window(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    late = MORNING + timedelta(hours=9)  # 16:00 in Berlin: two hours of the window left
    async with pool_world(tmp_path, server, domains=2, per_domain=1) as world:
        world.clock.set(late)
        loop = loop_for(world)
        first = await loop.tick()
        assert first.planned == 10 and first.sent <= 2  # not the morning's mails in one go
        await run_day(world, loop, until=late + timedelta(hours=3))
        warm = warmup_mails(server)
        assert len(warm) == 10
        assert all(16 <= local_hour(t) < 18 for t in await warmup_times(world))


async def test_an_answer_replaces_a_new_mail_and_goes_out_in_the_thread(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with pool_world(tmp_path, server, domains=2, per_domain=1) as world:
        world.clock.set(MORNING + timedelta(hours=2))  # 09:00 in Berlin
        loop = loop_for(world)
        await loop.tick()
        answerer = await world.scalar("SELECT id FROM mailboxes WHERE address = 'm0@d0.test'")
        assert isinstance(answerer, int)
        answer = WarmupMail(
            mailbox_id=answerer,
            recipient="m0@d1.test",
            due_at=world.clock.now(),
            message_id="<answer-1@d0.test>",
            answers="<original-1@d1.test>",
            subject="Quick question",
            thread=("<start@d1.test>",),
        )
        store = world.stores.warmup
        room = await store.reply_room(DAY.isoformat())
        assert await store.plan_answers(DAY.isoformat(), [answer, answer]) == 1
        assert (await store.reply_room(DAY.isoformat()))[answerer] == room[answerer] - 1
        await run_day(world, loop, until=MORNING + timedelta(hours=13))
        sent = Counter(m.mail_from for m in warmup_mails(server))
        assert sent["m0@d0.test"] == 5  # still the day's volume: the answer took a place
        (reply,) = [m for m in server.messages if m.message_id == "<answer-1@d0.test>"]
        parsed = message_from_bytes(reply.data)
        assert parsed["In-Reply-To"] == "<original-1@d1.test>"
        assert "<start@d1.test>" in parsed["References"]
        assert str(parsed["Subject"]).startswith("Re: Quick question")
        assert reply.rcpt_tos == ("m0@d1.test",)


async def test_a_seed_that_refuses_with_5_7_1_is_a_block_for_the_sending_domain(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    seed = "seed@elsewhere.example"
    server.script = {seed: Reply(554, "5.7.1 Message rejected as spam by policy")}
    async with pool_world(tmp_path, server, domains=1, per_domain=1, seeds=(seed,)) as world:
        world.clock.set(MORNING)
        await run_day(world, loop_for(world), until=MORNING + timedelta(hours=13))
        assert await world.scalar("SELECT state FROM domains WHERE name = 'd0.test'") == (
            "cooldown"
        )
        kinds = [r[0] for r in await world.rows("SELECT kind FROM events")]
        assert "block" in kinds
        assert await world.scalar("SELECT count(*) FROM sends WHERE state = 'failed'") == 1


async def test_pool_mailboxes_without_imap_get_no_warmup_mail_and_campaigns_keep_the_cap(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    def warm_without_imap(config: OutreachConfig) -> OutreachConfig:
        return config  # warm mailboxes (no warmup_start), none with an IMAP login, no seeds

    async with make_world(
        tmp_path, server, domains=2, per_domain=1, mailbox_limit=10, domain_limit=None,
        adjust=warm_without_imap,
    ) as world:  # fmt: skip
        world.clock.set(MORNING)
        await world.add_leads([f"lead{i}@example.com" for i in range(50)])
        await run_day(world, loop_for(world), until=MORNING + timedelta(hours=13))
        assert warmup_mails(server) == []
        volumes = await world.rows("SELECT volume FROM warmup_days")
        assert volumes == [(0,), (0,)]  # planned, with nothing to send
        assert Counter(m.mail_from for m in server.messages) == {"m0@d0.test": 10, "m0@d1.test": 10}


async def test_a_mailbox_that_joins_mid_day_is_planned_over_what_is_left(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with pool_world(tmp_path, server, domains=3, per_domain=1) as world:
        world.clock.set(MORNING)
        async with world.stores.db.reading() as conn:  # paused before the day starts
            await conn.execute("UPDATE mailboxes SET state = 'paused' WHERE address = 'm0@d1.test'")
        loop = loop_for(world)
        assert (await loop.tick()).planned == 10  # m0@d0 and m0@d2, writing to each other
        await run_day(world, loop, until=MORNING + timedelta(hours=6))  # 13:00 in Berlin
        async with world.stores.db.reading() as conn:  # resumed at noon
            await conn.execute(
                "UPDATE mailboxes SET state = 'warming' WHERE address = 'm0@d1.test'"
            )
        assert (await loop.tick()).planned == 5
        await run_day(world, loop, until=MORNING + timedelta(hours=13))
        warm = Counter(m.mail_from for m in warmup_mails(server))
        assert warm == {"m0@d0.test": 5, "m0@d1.test": 5, "m0@d2.test": 5}
        late = await world.rows(
            "SELECT s.sent_at FROM sends s JOIN mailboxes m ON m.id = s.mailbox_id "
            "WHERE m.address = 'm0@d1.test'"
        )
        assert all(local_hour(from_ms(int(str(r[0])))) >= 13 for r in late)


async def test_answers_due_tomorrow_take_the_places_of_tomorrow_s_last_new_mails(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with pool_world(tmp_path, server, domains=2, per_domain=1) as world:
        world.clock.set(MORNING)
        loop = loop_for(world)
        await run_day(world, loop, until=MORNING + timedelta(hours=13))
        box = await world.scalar("SELECT id FROM mailboxes WHERE address = 'm0@d0.test'")
        assert isinstance(box, int)
        tomorrow = MORNING + timedelta(days=1, hours=3)  # 10:00 in Berlin
        answers = [
            WarmupMail(
                box,
                "m0@d1.test",
                tomorrow,
                f"<late-{n}@d0.test>",
                answers=f"<x{n}@d1.test>",
                subject="Late one",
            )  # fmt: skip
            for n in range(2)
        ]
        day2 = (DAY + timedelta(days=1)).isoformat()
        assert await world.stores.warmup.plan_answers(day2, answers) == 2
        server.messages.clear()
        world.clock.set(MORNING + timedelta(days=1))
        await run_day(world, loop, until=MORNING + timedelta(days=1, hours=13))
        sent = Counter(m.mail_from for m in warmup_mails(server))
        assert sent == {"m0@d0.test": 6, "m0@d1.test": 6}  # day 2's cap, answers included
        ids = {m.message_id for m in server.messages}
        assert {"<late-0@d0.test>", "<late-1@d0.test>"} <= ids


async def test_campaigns_leave_the_loop_its_share_of_a_domain_cap(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    def warm_and_readable(config: OutreachConfig) -> OutreachConfig:
        imap = ServerConfig(
            host="127.0.0.1", port=1, security="none", username="box", password=SecretStr("x")
        )
        boxes = [m.model_copy(update={"imap": imap}) for m in config.mailboxes]
        sending = config.sending.model_copy(update={"tick_seconds": 300})  # as run_day ticks
        return config.model_copy(update={"mailboxes": boxes, "sending": sending})

    # Warm mailboxes of limit 40 keep 4 warm-up mails each; each domain is capped at 20.
    async with make_world(
        tmp_path, server, domains=2, per_domain=2, mailbox_limit=40, domain_limit=20,
        adjust=warm_and_readable,
    ) as world:  # fmt: skip
        world.clock.set(MORNING - timedelta(hours=6))  # campaigns are open from midnight
        await world.add_leads([f"lead{i}@example.com" for i in range(100)])
        await run_day(world, loop_for(world), until=MORNING + timedelta(hours=13))
        warm = Counter(m.mail_from.split("@")[1] for m in warmup_mails(server))
        every = Counter(m.mail_from.split("@")[1] for m in server.messages)
        assert warm == {"d0.test": 8, "d1.test": 8}  # the loop's whole share
        assert every == {"d0.test": 20, "d1.test": 20}  # campaigns took the rest


async def test_mail_more_than_an_hour_late_is_dropped_not_sent_in_a_burst(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with pool_world(tmp_path, server, domains=2, per_domain=1) as world:
        world.clock.set(MORNING)
        loop = loop_for(world)
        await loop.tick()  # the day is planned
        async with world.stores.db.reading() as conn:  # paused for the morning
            await conn.execute("UPDATE mailboxes SET state = 'paused' WHERE address = 'm0@d0.test'")
        await run_day(world, loop, until=MORNING + timedelta(hours=6))  # 13:00 in Berlin
        async with world.stores.db.reading() as conn:
            await conn.execute(
                "UPDATE mailboxes SET state = 'warming' WHERE address = 'm0@d0.test'"
            )
        due = await world.rows(
            "SELECT w.due_at FROM warmup_mails w JOIN mailboxes m ON m.id = w.mailbox_id "
            "WHERE m.address = 'm0@d0.test'"
        )
        resumed = world.clock.now()
        lost = [r for r in due if from_ms(int(str(r[0]))) < resumed - timedelta(hours=1)]
        await run_day(world, loop, until=MORNING + timedelta(hours=13))
        sent = Counter(m.mail_from for m in warmup_mails(server))
        assert lost, "the test needs mail due in the paused morning"
        assert sent["m0@d0.test"] == 5 - len(lost)
        assert sent["m0@d1.test"] == 5
        assert all(8 <= local_hour(t) < 18 for t in await warmup_times(world))
