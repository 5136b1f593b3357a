"""/cost: this month's cost estimate, line by line."""

from __future__ import annotations

from bot.views.common import number, usd
from core.cost import CostEstimate


def cost_lines(est: CostEstimate) -> list[str]:
    """Each cost line and the total, in USD, with the volumes they come from."""
    per_domain = est.domain_cost / est.domains if est.domains else 0.0
    return [
        f"Cost estimate for {est.month:%B %Y} (USD)",
        f"Mails sent so far: {number(est.sent_so_far)} "
        f"(about {number(round(est.daily_average))} a day)",
        f"Projected by month end ({est.days_in_month} days): {number(est.projected)}",
        f"ESP: {number(est.projected)} mails: {usd(est.esp)}",
        f"Domains: {est.domains} x {usd(per_domain)} a month: {usd(est.domain_cost)}",
        f"Server: {usd(est.server)}",
        f"Total: {usd(est.total)}",
    ]
