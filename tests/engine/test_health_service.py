"""HealthService against a real DB: pauses, once-a-day warnings, cool-down and its end."""

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from core.models import EventKind
from core.records import NewEvent
from storage.db import to_ms
from tests.engine.world import PASSWORD, USER, World, make_world
from tests.fakes.smtp_server import FakeSmtpServer


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with FakeSmtpServer(username=USER, password=PASSWORD) as srv, make_world(
        tmp_path, srv, domains=1, per_domain=2, domain_limit=None, mailbox_limit=200
    ) as w:  # fmt: skip
        yield w


async def history(
    world: World, mailbox: str, sends: int, bounces: int, complaints: int = 0
) -> None:
    """Sent mails over the last hours, some of them bounced or complained about."""
    (mailbox_id,) = (await world.rows("SELECT id FROM mailboxes WHERE address = ?", mailbox))[0]
    now = world.clock.now()
    for i in range(sends):
        at = to_ms(now - timedelta(minutes=i + 1))
        rows = await world.rows(
            "INSERT INTO sends (kind, mailbox_id, day, state, reserved_at, sent_at, updated_at) "
            "VALUES ('warmup', ?, ?, 'sent', ?, ?, ?) RETURNING id",
            mailbox_id, world.day(), at, at, at,
        )  # fmt: skip
        kind = EventKind.BOUNCE_HARD if i < bounces else None
        kind = EventKind.COMPLAINT if bounces <= i < bounces + complaints else kind
        if kind is not None:
            await world.stores.events.add_event(NewEvent(
                source="test", source_id=f"{mailbox}:{i}", kind=kind, occurred_at=now,
                received_at=now, mailbox_id=int(mailbox_id), send_id=int(rows[0][0]),  # type: ignore[call-overload]
            ))  # fmt: skip


async def alert_keys(world: World) -> list[str]:
    return [str(r[0]) for r in await world.rows("SELECT key FROM alerts ORDER BY id")]


async def state(world: World, mailbox: str) -> str:
    return str((await world.rows("SELECT state FROM mailboxes WHERE address = ?", mailbox))[0][0])


async def test_bounce_warning_once_a_day_and_not_for_paused(world: World) -> None:
    await history(world, "m0@d0.test", sends=100, bounces=4)  # 4 %: warn, no pause
    await world.health.evaluate()
    world.clock.advance(timedelta(hours=2))  # past the 60-minute quiet period
    await world.health.evaluate()
    warns = [k for k in await alert_keys(world) if k.startswith("bounce_warn")]
    assert len(warns) == 1
    assert await state(world, "m0@d0.test") == "active"
    await history(world, "m1@d0.test", sends=100, bounces=4)
    await world.stores.db.change(
        "UPDATE mailboxes SET state = 'paused' WHERE address = 'm1@d0.test'"
    )
    await world.health.evaluate()
    assert not [k for k in await alert_keys(world) if "m1@d0.test" in k]


async def test_pause_on_bounce_rate_and_on_a_complaint(world: World) -> None:
    await history(world, "m0@d0.test", sends=20, bounces=2)  # 10 % of 20 sends
    await history(world, "m1@d0.test", sends=5, bounces=0, complaints=1)
    await world.health.evaluate()
    assert await state(world, "m0@d0.test") == "paused"
    assert await state(world, "m1@d0.test") == "paused"
    texts = [str(r[0]) for r in await world.rows("SELECT text FROM alerts")]
    assert any("m0@d0.test" in t and "bounce rate" in t for t in texts)
    assert any("m1@d0.test" in t and "complaint" in t for t in texts)


async def test_cooldown_ends_with_phase2_warmup(world: World) -> None:
    await world.health.cool_down("d0.test", "m0@d0.test", "554 5.7.1 blocked")
    assert {await state(world, "m0@d0.test"), await state(world, "m1@d0.test")} == {"cooldown"}
    world.clock.advance(timedelta(days=13, hours=23))
    await world.health.maintain()
    assert await state(world, "m0@d0.test") == "cooldown"
    world.clock.advance(timedelta(hours=1))
    await world.health.maintain()
    assert await state(world, "m0@d0.test") == "warming"
    (start,) = (
        await world.rows("SELECT warmup_start FROM mailboxes WHERE address = 'm0@d0.test'")
    )[0]
    today = world.clock.now().date()
    assert (today - date.fromisoformat(str(start))).days == 7  # today is day 8: phase 2
    assert (await world.rows("SELECT state FROM domains"))[0][0] == "active"
