"""bot/charts.py: PNGs that decode at the right size, and their date ticks."""

from __future__ import annotations

import asyncio
import struct
import subprocess
import sys
import zlib
from datetime import date, timedelta
from typing import Any, cast

import pytest

from bot import charts
from core.models import WarmupPolicy
from core.records import WarmupToday
from engine.children import child_env
from engine.stats import DayStats, StatsReport
from engine.warmup_admin import WarmupReport, WarmupRow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR, after checking the signature and the chunk CRC."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16 : 16 + length]
    (crc,) = struct.unpack(">I", data[16 + length : 20 + length])
    assert zlib.crc32(kind + body) == crc
    width, height = struct.unpack(">II", body[:8])
    assert data.endswith(b"IEND\xaeB`\x82")
    return width, height


def stats_report(days: int) -> StatsReport:
    first = date(2026, 11, 23) - timedelta(days=days - 1)
    return StatsReport(
        "Europe/Berlin",
        tuple(
            DayStats(first + timedelta(days=i), 1000 + i, i % 3, i % 7 == 0, i % 5)
            for i in range(days)
        ),
    )


def warmup_report(rows: int = 2) -> WarmupReport:
    policy = WarmupPolicy()
    return WarmupReport(
        today=date(2026, 11, 23),
        policy=policy,
        rows=tuple(
            WarmupRow(
                address=f"m{i}@d0.test",
                state="warming",
                day=3 + 4 * i,
                phase=1 if i < 2 else 2,
                cap=7 + i,
                daily_limit=40,
                sent_today=i,
                today=WarmupToday(sent=i, received=2 * i, replied=i // 2),
                inbox=15 * i,
                spam=5 * i,
            )  # fmt: skip
            for i in range(rows)
        ),
        placement_days=7,
        ramp=(5, 6, 7, 8, 8, 9, 10, 12, 14, 17, 20, 24, 29, 35, 40),
    )


def test_stats_chart_is_a_png_of_the_right_size() -> None:
    for days in (1, 14, 365):
        assert png_size(charts.stats_chart(stats_report(days))) == (
            charts.WIDTH_PX,
            charts.HEIGHT_PX,
        )


def test_ramp_chart_is_a_png_of_the_right_size() -> None:
    for rows in (0, 3, 40):
        png = charts.ramp_chart(warmup_report(rows))
        assert png_size(png) == (charts.WIDTH_PX, charts.HEIGHT_PX)


async def test_render_draws_in_a_child_process() -> None:
    png = await charts.render(charts.stats_chart, stats_report(3))
    assert png_size(png) == (charts.WIDTH_PX, charts.HEIGHT_PX)
    png = await charts.render(charts.ramp_chart, warmup_report(3))
    assert png_size(png) == (charts.WIDTH_PX, charts.HEIGHT_PX)


def test_the_process_asking_for_a_chart_never_imports_matplotlib() -> None:
    # In a fresh interpreter: this test process may have imported matplotlib already.
    script = (
        "import asyncio, sys\n"
        "from bot import charts\n"
        "from tests.bot.test_charts import png_size, stats_report\n"
        "png = asyncio.run(charts.render(charts.stats_chart, stats_report(30)))\n"
        "print(png_size(png), 'matplotlib' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=charts.ROOT, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    assert done.stdout.split("\n")[0] == f"({charts.WIDTH_PX}, {charts.HEIGHT_PX}) False"


def test_the_chart_process_gets_no_secret_from_the_environment() -> None:
    environ = {"PATH": "/usr/bin", "HOME": "/home/o", "BOT_TOKEN": "1:abc", "SMTP_PW": "pw",
               "MPLCONFIGDIR": "/tmp/mpl"}  # fmt: skip
    assert child_env(environ) == {
        "PATH": "/usr/bin",
        "HOME": "/home/o",
        "MPLCONFIGDIR": "/tmp/mpl",
    }


async def test_render_draws_only_the_charts_of_the_module() -> None:
    def stats_chart(report: object) -> bytes:  # named like one, but not one of them
        return b""

    with pytest.raises(ValueError, match="not one of the charts"):
        await charts.render(stats_chart, stats_report(3))


async def test_a_failing_chart_process_raises_chart_error_with_its_last_words() -> None:
    with pytest.raises(charts.ChartError, match="exited with 1: AttributeError: .*'days'"):
        await charts.render(charts.stats_chart, cast(Any, "not a report"))


async def test_a_chart_process_over_its_time_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[asyncio.subprocess.Process] = []
    spawn = asyncio.create_subprocess_exec

    async def recording(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        proc = await spawn(*args, **kwargs)
        started.append(proc)
        return proc

    monkeypatch.setattr(asyncio, "create_subprocess_exec", recording)
    monkeypatch.setattr(charts, "RENDER_SECONDS", 0.0)  # expired before the child can answer
    with pytest.raises(charts.ChartError, match="no chart within"):
        await charts.render(charts.stats_chart, stats_report(3))
    assert len(started) == 1 and started[0].returncode is not None


def test_date_ticks_always_label_today() -> None:
    days = [date(2025, 11, 24) + timedelta(days=i) for i in range(365)]
    positions, labels = charts.date_ticks(days)
    assert len(positions) <= 10 and positions[-1] == 364
    assert labels[-1] == "2026-11-23"  # the range spans two years: the year is shown
    positions, labels = charts.date_ticks(days[-14:])
    assert (positions[-1], labels[-1]) == (13, "11-23")
