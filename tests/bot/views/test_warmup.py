"""bot/views/warmup.py: the /warmup table."""

from __future__ import annotations

from bot.views.warmup import warmup_lines
from tests.bot.test_charts import warmup_report


def test_warmup_lines_show_na_without_placement_reports() -> None:
    lines = warmup_lines(warmup_report(2))
    assert "5->10 over 7 days, then +20% a day up to 40" in lines[0]
    assert lines[2].split() == ["m0@d0.test", "3", "1", "7", "0", "n/a"]
    assert lines[3].split() == ["m1@d0.test", "7", "1", "8", "1", "75%"]
    empty = warmup_lines(warmup_report(0))
    assert "No mailbox is warming up" in empty[1]
