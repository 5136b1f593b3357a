"""bot/views/stats.py: the /stats table, daily then weekly, 34 columns wide."""

from __future__ import annotations

from bot.views.common import PHONE_COLUMNS
from bot.views.stats import stats_lines
from tests.bot.test_charts import stats_report


def test_stats_lines_daily_then_weekly() -> None:
    lines = stats_lines(stats_report(14))
    assert lines[:2] == ["2026-11-10 .. 2026-11-23", "days, Europe/Berlin"]
    assert lines[2].split() == ["day", "sent", "bnc", "cmp", "rep", "bnc%"]
    assert lines[3].split()[:2] == ["11-10", "1000"]
    assert len(lines) == 3 + 14 + 1 + 4
    assert lines[-5].split()[:2] == ["total", str(sum(1000 + i for i in range(14)))]
    weekly = stats_lines(stats_report(90))
    assert weekly[1] == "weeks from Monday, Europe/Berlin"
    assert weekly[2].startswith("week ")
    assert len(weekly) < 25


def test_every_line_fits_a_phone() -> None:
    for days in (14, 90):
        lines = stats_lines(stats_report(days))
        assert max(len(line) for line in lines) <= PHONE_COLUMNS, lines
