"""bot/data_views.py and bot/charts.py: pure texts, and PNGs that decode at the right size."""

from __future__ import annotations

import struct
import zlib
from datetime import date, timedelta

from bot import charts, data_views
from core.cost import CostRates, estimate
from core.models import WarmupPolicy
from engine.dns_check import DomainDns, Lookup, Status
from engine.stats import DayStats, StatsReport
from engine.suppression import Entry, SuppressResult, UnsuppressResult
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
            WarmupRow(f"m{i}@d0.test", 3 + 4 * i, 1 if i < 2 else 2, 7 + i, 40, i, 3 * i, i)
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


async def test_render_runs_in_a_thread() -> None:
    png = await charts.render(charts.stats_chart, stats_report(3))
    assert png.startswith(PNG_SIGNATURE)


def test_date_ticks_always_label_today() -> None:
    days = [date(2025, 11, 24) + timedelta(days=i) for i in range(365)]
    positions, labels = charts.date_ticks(days)
    assert len(positions) <= 10 and positions[-1] == 364
    assert labels[-1] == "2026-11-23"  # the range spans two years: the year is shown
    positions, labels = charts.date_ticks(days[-14:])
    assert (positions[-1], labels[-1]) == (13, "11-23")


def test_stats_lines_daily_then_weekly() -> None:
    lines = data_views.stats_lines(stats_report(14))
    assert lines[0] == "2026-11-10 .. 2026-11-23 (Europe/Berlin)"
    assert lines[1].split() == ["day", "sent", "bounce", "compl", "reply", "b-rate"]
    assert lines[2].split()[:2] == ["2026-11-10", "1000"]
    assert len(lines) == 2 + 14 + 2
    assert lines[-2].split()[:2] == ["total", str(sum(1000 + i for i in range(14)))]
    weekly = data_views.stats_lines(stats_report(90))
    assert weekly[1].startswith("week of")
    assert len(weekly) < 20


def test_warmup_lines_show_na_without_placement_reports() -> None:
    lines = data_views.warmup_lines(warmup_report(2))
    assert "5->10 over 7 days, then +20% a day up to 40" in lines[0]
    assert lines[2].split() == ["m0@d0.test", "3", "1", "7", "0", "n/a"]
    assert lines[3].split() == ["m1@d0.test", "7", "1", "8", "1", "75%"]
    empty = data_views.warmup_lines(warmup_report(0))
    assert "No mailbox is warming up" in empty[1]


def test_cost_lines_show_each_line_and_the_total() -> None:
    est = estimate(
        CostRates(), date(2026, 11, 15), sent_before_today=14 * 1200, sent_today=600, domains=10
    )
    assert data_views.cost_lines(est) == [
        "Cost estimate for November 2026 (USD)",
        "Mails sent so far: 17 400 (about 1 200 a day)",
        "Projected by month end (30 days): 36 000",
        "ESP: 36 000 mails: $3.60",
        "Domains: 10 x $1.00 a month: $10.00",
        "Server: $7.00",
        "Total: $20.60",
    ]


def test_suppress_texts() -> None:
    entry = Entry("acme.com", True)
    assert data_views.suppress_text(SuppressResult(entry, True, 3)) == (
        "@acme.com added to the suppression list. 3 open lead(s) of that domain closed in all "
        "campaigns."
    )
    address = Entry("a@acme.com", False)
    text = data_views.unsuppress_text(UnsuppressResult(address, True, True))
    assert "removed" in text and "@acme.com is still suppressed" in text
    assert "nothing changed" in data_views.unsuppress_text(UnsuppressResult(address, False, False))


def test_dns_lines() -> None:
    found = Lookup(Status.FOUND, ("v=spf1 -all",))
    result = DomainDns(
        "d0.test",
        spf=found,
        dkim=(("s1", Lookup(Status.MISSING, note="no such name")),),
        dmarc=Lookup(Status.FOUND, ("v=DMARC1; p=none",)),
        mx=Lookup(Status.UNKNOWN, note="timed out"),
    )
    assert data_views.dns_lines([result]) == [
        "d0.test: missing DKIM (no key under selector s1)",
        "  SPF: ok - v=spf1 -all",
        "  DKIM s1: MISSING - no such name",
        "  DMARC: ok - p=none",
        "  MX: ? - timed out",
        "  could not check: MX: timed out",
    ]
    assert "No domain is configured" in data_views.dns_lines([])[0]


def test_pre_escapes_html() -> None:
    assert data_views.pre(["a <b>", "&"]) == "<pre>a &lt;b&gt;\n&amp;</pre>"


def test_number_groups_thousands() -> None:
    assert data_views.number(40000) == "40 000"
    assert data_views.import_progress("q4", 40000) == "Importing into 'q4'... 40 000 rows read"
