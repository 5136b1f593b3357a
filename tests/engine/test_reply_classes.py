"""Each SMTP reply class of SPEC 8, through the real client and engine, to its state and action."""

from datetime import timedelta
from pathlib import Path

import pytest

from storage.db import to_ms
from tests.engine.world import PASSWORD, USER, World, make_world
from tests.fakes.smtp_server import Action, Delay, Disconnect, FakeSmtpServer, Reply

LEAD = "lead@example.com"


async def lead_row(world: World) -> tuple[object, ...]:
    (row,) = await world.rows("SELECT state, next_step, next_due_at FROM leads")
    return row


async def send_row(world: World) -> tuple[object, ...]:
    (row,) = await world.rows("SELECT state, attempts, smtp_code FROM sends")
    return row


async def mailbox_row(world: World) -> tuple[object, ...]:
    (row,) = await world.rows("SELECT state, resting_until, reason FROM mailboxes")
    return row


async def events(world: World) -> list[object]:
    return [r[0] for r in await world.rows("SELECT kind FROM events ORDER BY id")]


async def alert_texts(world: World) -> list[str]:
    return [str(r[0]) for r in await world.rows("SELECT text FROM alerts ORDER BY id")]


def scripted(action: Action) -> FakeSmtpServer:
    return FakeSmtpServer(username=USER, password=PASSWORD, script={LEAD: action})


async def test_250_sent(tmp_path: Path) -> None:
    async with (
        FakeSmtpServer(username=USER, password=PASSWORD) as srv,
        make_world(tmp_path, srv, domains=1, per_domain=1, domain_limit=None) as world,
    ):
        await world.add_leads([LEAD])
        await world.engine.tick()
        assert (await send_row(world))[:2] == ("sent", 1)
        assert (await lead_row(world))[:2] == ("active", 2)
        assert len(srv.messages) == 1


@pytest.mark.parametrize(
    "reply",
    [
        Reply(450, "4.2.1 Mailbox busy, try later"),
        Reply(451, "4.3.0 Temporary lookup failure"),
        Reply(452, "4.2.2 The email account that you tried to reach is over quota", at="data"),
        Reply(552, "Requested mail action aborted: exceeded storage allocation", at="data"),
    ],
)
async def test_soft_failures_retry_with_back_off_then_give_up(tmp_path: Path, reply: Reply) -> None:
    async with (
        scripted(reply) as srv,
        make_world(tmp_path, srv, domains=1, per_domain=1, domain_limit=None) as world,
    ):
        await world.add_leads([LEAD])
        await world.engine.tick()
        assert (await send_row(world))[:2] == ("retry", 1)
        state, step, due = await lead_row(world)
        assert (state, step) == ("active", 1)
        first_due = due
        # Not before the back-off (10 min after the first attempt).
        world.clock.advance(timedelta(minutes=9))
        await world.engine.tick()
        assert (await send_row(world))[:2] == ("retry", 1)
        world.clock.advance(timedelta(minutes=2))
        await world.engine.tick()
        assert (await send_row(world))[:2] == ("retry", 2)
        assert (await lead_row(world))[2] > first_due  # type: ignore[operator]
        world.clock.advance(timedelta(minutes=21))  # second back-off: 20 min
        await world.engine.tick()
        assert (await send_row(world))[:2] == ("failed", 3)  # max_attempts = 3
        assert (await lead_row(world))[0] == "failed"
        assert await events(world) == ["bounce_soft"] * 3
        assert (await mailbox_row(world))[0] == "active"
        assert srv.messages == []


@pytest.mark.parametrize(
    "reply",
    [
        Reply(550, "5.1.1 The email account that you tried to reach does not exist"),
        Reply(553, "5.1.3 Invalid recipient address syntax"),
        Reply(550, "5.1.1 <lead@example.com>: Recipient address rejected", at="data"),
    ],
)
async def test_hard_bounce_suppresses(tmp_path: Path, reply: Reply) -> None:
    async with (
        scripted(reply) as srv,
        make_world(tmp_path, srv, domains=1, per_domain=1, domain_limit=None) as world,
    ):
        await world.add_leads([LEAD])
        await world.engine.tick()
        assert (await send_row(world))[0] == "failed"
        assert (await lead_row(world))[0] == "bounced"
        assert await world.stores.events.is_suppressed(LEAD)
        assert await events(world) == ["bounce_hard"]
        assert (await mailbox_row(world))[0] == "active"


async def test_421_rests_the_mailbox_and_retries(tmp_path: Path) -> None:
    async with (
        scripted(Reply(421, "4.7.0 Try again later, closing connection")) as srv,
        make_world(tmp_path, srv, domains=1, per_domain=1, domain_limit=None) as world,
    ):
        await world.add_leads([LEAD])
        await world.engine.tick()
        state, attempts, code = await send_row(world)
        assert (state, code) == ("retry", 421)
        assert attempts == 0  # the mailbox's fault, not the recipient's: no attempt used
        mb_state, resting, _ = await mailbox_row(world)
        assert mb_state == "active" and resting is not None
        srv.script = {}
        world.clock.advance(timedelta(minutes=10))
        await world.engine.tick()
        assert srv.messages == []  # still resting
        world.clock.advance(timedelta(minutes=6))
        await world.engine.tick()
        assert len(srv.messages) == 1
        assert (await send_row(world))[0] == "sent"


async def test_554_block_cools_the_domain_down(tmp_path: Path) -> None:
    reply = Reply(554, "5.7.1 Service unavailable; Client host blocked using Spamhaus")
    async with (
        scripted(reply) as srv,
        make_world(tmp_path, srv, domains=1, per_domain=2, domain_limit=None) as world,
    ):
        await world.add_leads([LEAD, "other@example.com"])
        await world.engine.tick()
        assert await events(world) == ["block"]
        (domain,) = await world.rows("SELECT state, cooldown_until FROM domains")
        assert domain[0] == "cooldown"
        states = {r[0] for r in await world.rows("SELECT state FROM mailboxes")}
        assert states == {"cooldown"}
        (text,) = await alert_texts(world)
        until = (world.clock.now() + timedelta(days=14)).date().isoformat()
        assert "d0.test" in text and until in text
        assert (await world.rows("SELECT state FROM sends WHERE smtp_code = 554"))[0][0] == "retry"
        # Nothing leaves the domain during the cool-down.
        before = len(srv.messages)
        world.clock.advance(timedelta(days=3))
        await world.engine.tick()
        assert len(srv.messages) == before


async def test_535_pauses_the_mailbox(tmp_path: Path) -> None:
    async with (
        FakeSmtpServer(username=USER, password="another-password") as srv,
        make_world(tmp_path, srv, domains=1, per_domain=1, domain_limit=None) as world,
    ):
        await world.add_leads([LEAD])
        await world.engine.tick()
        state, _, reason = await mailbox_row(world)
        assert state == "paused" and "535" in str(reason)
        assert (await send_row(world))[0] == "retry"
        (text,) = await alert_texts(world)
        assert "m0@d0.test" in text and PASSWORD not in text
        tried = srv.failed_logins
        assert tried >= 1
        world.clock.advance(timedelta(hours=1))
        await world.engine.tick()
        assert srv.failed_logins == tried  # a paused mailbox does not try again


async def test_5_4_5_daily_limit_stops_the_mailbox_for_the_day(tmp_path: Path) -> None:
    reply = Reply(550, "5.4.5 Daily user sending limit exceeded")
    async with (
        scripted(reply) as srv,
        make_world(tmp_path, srv, domains=1, per_domain=1, domain_limit=None) as world,
    ):
        await world.add_leads([LEAD, "b@example.com"])
        await world.engine.tick()
        state, resting, _ = await mailbox_row(world)
        assert state == "active" and resting is not None
        # Resting until midnight in the sending zone: Berlin is UTC+1, so 23:00 UTC.
        expected = world.clock.now().replace(hour=23, minute=0, second=0, microsecond=0)
        assert resting == to_ms(expected)
        assert any("provider" in t for t in await alert_texts(world))
        srv.script = {}
        world.clock.advance(timedelta(hours=2))
        await world.engine.tick()
        assert srv.messages == []
        world.clock.set(world.clock.now().replace(hour=23, minute=0))
        await world.engine.tick()
        assert len(srv.messages) >= 1


@pytest.mark.parametrize(
    "action", [Disconnect(at="data"), Disconnect(at="data", deliver=True), Delay(3.0, at="data")]
)
async def test_lost_after_data_is_unknown_and_never_resent(tmp_path: Path, action: Action) -> None:
    async with (
        scripted(action) as srv,
        make_world(
            tmp_path, srv, domains=1, per_domain=1, domain_limit=None, smtp_timeout=0.5
        ) as world,
    ):
        await world.add_leads([LEAD])
        await world.engine.tick()
        assert (await send_row(world))[0] == "unknown"
        assert (await lead_row(world))[0] == "failed"
        srv.script = {}
        world.clock.advance(timedelta(days=5))
        before = len(srv.messages)  # 1 when the server kept the message it never confirmed
        report = await world.engine.tick()
        # Never attempted again: nothing planned or sent, still one attempt, nothing new on
        # the server.
        assert (report.planned, report.sent) == (0, 0)
        assert (await send_row(world))[:2] == ("unknown", 1)
        assert len(srv.messages) == before
        if isinstance(action, Disconnect):
            assert before == (1 if action.deliver else 0)


async def test_timeout_before_data_is_soft(tmp_path: Path) -> None:
    async with (
        scripted(Delay(3.0, at="rcpt")) as srv,
        make_world(
            tmp_path, srv, domains=1, per_domain=1, domain_limit=None, smtp_timeout=0.5
        ) as world,
    ):
        await world.add_leads([LEAD])
        await world.engine.tick()
        assert (await send_row(world))[:2] == ("retry", 1)


async def test_hard_bounce_closes_the_address_in_every_campaign(tmp_path: Path) -> None:
    reply = Reply(550, "5.1.1 The email account that you tried to reach does not exist")
    async with (
        scripted(reply) as srv,
        make_world(tmp_path, srv, domains=1, per_domain=1, domain_limit=None, min_gap=300) as world,
    ):
        second = world.config.campaigns[0].model_copy(update={"name": "second"})
        await world.stores.control.upsert_campaign(second.spec(), now=world.clock.now())
        await world.add_leads([LEAD])
        await world.add_leads(["Lead@example.com"], campaign="second")
        await world.engine.tick()  # one mail per tick (gap): q4's lead bounces
        world.clock.advance(timedelta(minutes=10))
        await world.engine.tick()
        states = {str(r[0]): str(r[1]) for r in await world.rows("SELECT email, state FROM leads")}
        assert states == {LEAD: "bounced", "Lead@example.com": "suppressed"}
        assert await world.scalar("SELECT count(*) FROM sends") == 1
