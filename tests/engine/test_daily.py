"""engine/daily.py: the DNS check and the digest at digest_hour, once a day, restarts or not."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.models import EventKind
from core.specs import DnsRules
from engine.alerts import AlertOutbox, LogTransport
from engine.daily import DailyReport
from engine.status import gather_status
from tests.bot.data_world import DataWorld, data_config, data_world
from tests.engine.lead_history import campaign_send, send_event, set_label
from tests.engine.test_dns_check import GOOD
from tests.fakes.dns_server import FakeDnsServer

# 09:00 in Berlin on Tuesday 2026-11-24: digest_hour (9, the default) of the day after
# data_world's T0; "yesterday" is Monday 2026-11-23, 2026-11-22 23:00 to 11-23 23:00 UTC.
AT_HOUR = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
YESTERDAY_NOON = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)


@pytest.fixture
async def dns() -> AsyncIterator[FakeDnsServer]:
    async with FakeDnsServer(GOOD) as server:  # d0.test has every record, d1.test none
        yield server


def daily(world: DataWorld, outbox: AlertOutbox | None = None) -> DailyReport:
    ctx = world.ctx
    return DailyReport(ctx.reports, outbox or ctx.alerts, ctx.clock, ctx.rules)


async def alerts(world: DataWorld) -> list[tuple[str, str, str]]:
    rows = await world.conn.execute_fetchall("SELECT key, severity, text FROM alerts ORDER BY id")
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


async def arrange_yesterday(world: DataWorld) -> None:
    """Sends and events on Monday (counted) and around it (not counted)."""
    await world.add_sends("m0@d0.test", YESTERDAY_NOON, 3)
    await world.add_sends("m0@d0.test", datetime(2026, 11, 22, 22, 30, tzinfo=UTC))  # Sunday
    await world.add_sends("m1@d0.test", datetime(2026, 11, 23, 23, 30, tzinfo=UTC))  # Tuesday
    emails = ["a@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test"]
    await world.add_leads("q4", emails, state="active")
    sends = {e: await campaign_send(world, "q4", e, 1, YESTERDAY_NOON) for e in emails[:4]}
    await campaign_send(world, "q4", "e@x.test", 1, YESTERDAY_NOON, state="unknown")
    later = YESTERDAY_NOON + timedelta(hours=2)
    await send_event(world, sends["a@x.test"], EventKind.REPLY, later)
    await send_event(world, sends["a@x.test"], EventKind.REPLY, later)  # another copy: once
    await send_event(world, sends["b@x.test"], EventKind.REPLY, later)
    await send_event(world, sends["c@x.test"], EventKind.COMPLAINT, later)
    await send_event(world, sends["d@x.test"], EventKind.BOUNCE_HARD, later)
    await send_event(world, sends["b@x.test"], EventKind.BOUNCE_HARD, AT_HOUR)  # today
    await set_label(world, "q4", "a@x.test", "interested")
    await world.conn.execute(
        "UPDATE mailboxes SET state = 'paused', reason = 'bounce rate 6%' "
        "WHERE address = 'm1@d1.test'"
    )
    await world.conn.execute(
        "UPDATE campaigns SET state = 'paused', reason = 'by admin' WHERE name = 'q4'"
    )


async def test_the_digest_at_digest_hour_has_yesterdays_numbers(
    tmp_path: Path, dns: FakeDnsServer
) -> None:
    config = data_config(nameserver=dns.address, selectors=["s1"])
    async with data_world(tmp_path, config, now=AT_HOUR) as world:
        await arrange_yesterday(world)
        assert await daily(world).run() is True
        status = await gather_status(world.ctx.reports, world.clock, world.ctx.rules)
        stored = await alerts(world)
    records = ["SPF", "DMARC", "MX", "DKIM"]
    assert [key for key, _, _ in stored] == [
        *(f"dns_record:d1.test:{record}" for record in records),
        "digest:2026-11-23",
    ]
    assert {severity for _, severity, _ in stored[:4]} == {"warning"}
    assert stored[0][2].startswith("DNS of d1.test: SPF missing or broken (daily check).")
    key, severity, text = stored[-1]
    assert severity == "info"
    cap = status.capacity
    assert text.splitlines() == [
        "Daily digest for 2026-11-23 (Europe/Berlin)",
        "Sent: 7",  # 3 warm-up + 4 campaign sends; the unknown one was never sent
        "Bounces: 1 (14.3%)",
        "Complaints: 1 (14.3%)",
        "Replies: 2 (interested 1, unlabelled 1)",
        f"Capacity today: {cap.total} of target {cap.target} (short by {cap.shortfall})",
        "Unknown sends: 1 (interrupted; outcome not known)",
        "Not sending:",
        "- mailbox m1@d1.test paused: bounce rate 6%",
        "- campaign q4 paused: by admin",
        "DNS problems (see /dns):",
        "- d1.test: SPF, DMARC, MX, DKIM (no key under selector s1)",
    ]
    assert cap.total > 0 and cap.shortfall > 0


async def test_a_restart_does_not_send_it_again(tmp_path: Path, dns: FakeDnsServer) -> None:
    config = data_config(nameserver=dns.address, selectors=["s1"])
    async with data_world(tmp_path, config, now=AT_HOUR) as world:
        assert await daily(world).run() is True
        first = await alerts(world)
    # Restarted at noon the same day, the service runs it again: nothing new is raised.
    async with data_world(tmp_path, config, now=AT_HOUR + timedelta(hours=3)) as world:
        assert await daily(world).run() is False
        assert await alerts(world) == first
        # The next day at digest_hour: Tuesday's digest, and the broken records again.
        world.clock.set(AT_HOUR + timedelta(days=1))
        assert await daily(world).run() is True
        keys = [key for key, _, _ in await alerts(world)][len(first) :]
    assert len(first) == 5
    assert keys == [key for key, _, _ in first[:4]] + ["digest:2026-11-24"]


async def test_headless_the_digest_and_warnings_go_to_the_log(
    tmp_path: Path, dns: FakeDnsServer, caplog: pytest.LogCaptureFixture
) -> None:
    config = data_config(nameserver=dns.address, selectors=["s1"])
    async with data_world(tmp_path, config, now=AT_HOUR) as world:
        outbox = AlertOutbox(world.stores.alerts, world.clock, [], world.ctx.rules.alert_quiet)
        await daily(world, outbox).run()
        with caplog.at_level(logging.INFO, "outreach.alerts"):
            assert await outbox.deliver_due(LogTransport()) == 5
    logged = [r for r in caplog.records if r.name == "outreach.alerts"]
    assert [r.levelno for r in logged] == [logging.WARNING] * 4 + [logging.INFO]
    assert logged[-1].getMessage().startswith("ALERT [info] Daily digest for 2026-11-23")


async def test_a_bad_nameserver_leaves_the_digest_saying_dns_was_not_checked(
    tmp_path: Path,
) -> None:
    async with data_world(tmp_path, data_config(), now=AT_HOUR) as world:
        ctx = world.ctx
        # The config refuses this value; the engine still copes if one reaches it.
        rules = replace(ctx.rules, dns=DnsRules(dkim_selectors=("s1",), nameserver="1.2.3.4:0"))
        report = DailyReport(ctx.reports, ctx.alerts, ctx.clock, rules)
        assert await report.run() is True
        (stored,) = await alerts(world)
    assert stored[2].endswith("DNS: not checked (the lookup could not run)")
