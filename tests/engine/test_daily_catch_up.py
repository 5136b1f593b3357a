"""DailyReport.catch_up: a start within digest_hour's hour runs the missed digest, once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.bot.data_world import data_config, data_world
from tests.engine.test_daily import AT_HOUR, alerts, arrange_yesterday, daily
from tests.engine.test_dns_check import GOOD
from tests.fakes.dns_server import FakeDnsServer

# AT_HOUR is 09:00 in Berlin, digest_hour (the default 9) of data_config's timezone.
LATE_IN_THE_HOUR = AT_HOUR + timedelta(minutes=59, seconds=59)


@pytest.fixture
async def dns() -> AsyncIterator[FakeDnsServer]:
    async with FakeDnsServer(GOOD) as server:
        yield server


@pytest.mark.parametrize("minutes", [0, 20, 59])
async def test_a_start_within_the_hour_raises_yesterdays_digest(
    tmp_path: Path, dns: FakeDnsServer, minutes: int
) -> None:
    config = data_config(nameserver=dns.address, selectors=["s1"])
    async with data_world(tmp_path, config, now=AT_HOUR + timedelta(minutes=minutes)) as world:
        await arrange_yesterday(world)
        assert await daily(world).catch_up() is True
        stored = await alerts(world)
    assert [key for key, _, _ in stored][-1] == "digest:2026-11-23"
    assert stored[-1][2].startswith("Daily digest for 2026-11-23 (Europe/Berlin)\nSent: 7\n")
    assert ("d0.test", "TXT") in dns.questions  # the DNS check ran first


async def test_a_restart_in_the_same_hour_sends_and_checks_nothing_more(
    tmp_path: Path, dns: FakeDnsServer, caplog: pytest.LogCaptureFixture
) -> None:
    config = data_config(nameserver=dns.address, selectors=["s1"])
    async with data_world(tmp_path, config, now=AT_HOUR + timedelta(minutes=5)) as world:
        assert await daily(world).catch_up() is True
        first = await alerts(world)
    asked = len(dns.questions)
    async with data_world(tmp_path, config, now=LATE_IN_THE_HOUR) as world:
        with caplog.at_level(logging.INFO, "outreach.daily"):
            assert await daily(world).catch_up() is False
        assert await alerts(world) == first
    assert len(dns.questions) == asked  # it knew from the stored digest: no lookups
    # The log says why a start in digest_hour sent no digest.
    assert "the digest of 2026-11-23 was raised already" in caplog.text


async def test_after_the_cron_run_a_start_in_that_hour_adds_nothing(
    tmp_path: Path, dns: FakeDnsServer
) -> None:
    config = data_config(nameserver=dns.address, selectors=["s1"])
    async with data_world(tmp_path, config, now=AT_HOUR) as world:
        assert await daily(world).run() is True  # the cron job at 09:00
        first = await alerts(world)
        world.clock.set(AT_HOUR + timedelta(minutes=30))
        asked = len(dns.questions)
        assert await daily(world).catch_up() is False
        assert await alerts(world) == first
    assert len(dns.questions) == asked


@pytest.mark.parametrize(
    "offset",
    [
        timedelta(seconds=-1),  # 08:59:59 in Berlin: the cron job is still to come
        timedelta(hours=1),  # 10:00: past the grace hour, tomorrow's run is next
        timedelta(hours=14),  # 23:00
        timedelta(hours=-9),  # 00:00, the day's start
    ],
)
async def test_a_start_at_any_other_hour_runs_nothing(
    tmp_path: Path, dns: FakeDnsServer, offset: timedelta
) -> None:
    config = data_config(nameserver=dns.address, selectors=["s1"])
    async with data_world(tmp_path, config, now=AT_HOUR + offset) as world:
        await arrange_yesterday(world)
        assert await daily(world).catch_up() is False
        assert await alerts(world) == []
    assert dns.questions == []


async def test_the_configured_hour_is_the_one_caught_up(tmp_path: Path, dns: FakeDnsServer) -> None:
    config = data_config(nameserver=dns.address, selectors=["s1"])
    config = config.model_copy(
        update={"alerts": config.alerts.model_copy(update={"digest_hour": 17})}
    )
    async with data_world(tmp_path, config, now=AT_HOUR) as world:  # 09:00: not 17
        assert await daily(world).catch_up() is False
        world.clock.set(AT_HOUR + timedelta(hours=8, minutes=10))  # 17:10 in Berlin
        assert await daily(world).catch_up() is True
        (stored,) = [key for key, _, _ in await alerts(world) if key.startswith("digest:")]
    assert stored == "digest:2026-11-23"
