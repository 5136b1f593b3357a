"""/cost: this month's estimate from the mails really sent (core/cost.py does the sums)."""

from __future__ import annotations

from core import cost, limits
from engine.context import AppContext


async def gather_cost(ctx: AppContext) -> cost.CostEstimate:
    """Sends this month before today and today (sending timezone), priced by [cost]."""
    tz = ctx.rules.timezone
    now = ctx.clock.now()
    today = limits.local_day(now, tz)
    month_start, _ = limits.day_bounds(today.replace(day=1), tz)
    today_start, today_end = limits.day_bounds(today, tz)
    before = await ctx.reports.sent_between(month_start, today_start)
    during = await ctx.reports.sent_between(today_start, today_end)
    return cost.estimate(
        ctx.rules.cost, today, sent_before_today=before, sent_today=during,
        domains=len(ctx.rules.domains),
    )  # fmt: skip
