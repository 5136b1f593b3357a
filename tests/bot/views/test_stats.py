"""bot/views/stats.py: the /stats table, daily then weekly."""

from __future__ import annotations

from bot.views.stats import stats_lines
from tests.bot.test_charts import stats_report


def test_stats_lines_daily_then_weekly() -> None:
    lines = stats_lines(stats_report(14))
    assert lines[0] == "2026-11-10 .. 2026-11-23 (Europe/Berlin)"
    assert lines[1].split() == ["day", "sent", "bounce", "compl", "reply", "b-rate"]
    assert lines[2].split()[:2] == ["2026-11-10", "1000"]
    assert len(lines) == 2 + 14 + 2
    assert lines[-2].split()[:2] == ["total", str(sum(1000 + i for i in range(14)))]
    weekly = stats_lines(stats_report(90))
    assert weekly[1].startswith("week of")
    assert len(weekly) < 20
