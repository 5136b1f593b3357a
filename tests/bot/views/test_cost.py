"""bot/views/cost.py: the /cost estimate's lines."""

from __future__ import annotations

from datetime import date

from bot.views.cost import cost_lines
from core.cost import CostRates, estimate


def test_cost_lines_show_each_line_and_the_total() -> None:
    est = estimate(
        CostRates(), date(2026, 11, 15), sent_before_today=14 * 1200, sent_today=600, domains=10
    )
    assert cost_lines(est) == [
        "Cost estimate for November 2026 (USD)",
        "Mails sent so far: 17 400 (about 1 200 a day)",
        "Projected by month end (30 days): 36 000",
        "ESP: 36 000 mails: $3.60",
        "Domains: 10 x $1.00 a month: $10.00",
        "Server: $7.00",
        "Total: $20.60",
    ]
