"""This month's cost estimate behind /cost: real volumes so far, projected to month end."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class CostRates:
    """Prices of SPEC 4 [cost], in USD."""

    esp_per_1000: float = 0.10
    domain_per_year: float = 12
    server_per_month: float = 7


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """One month's estimate: volumes, each cost line and the total, in USD."""

    month: date  # the first day of the month
    days_in_month: int
    sent_so_far: int  # this month up to now, today included
    daily_average: float
    projected: int  # mails by the end of the month at that average
    domains: int
    esp: float
    domain_cost: float
    server: float

    @property
    def total(self) -> float:
        """ESP + domains + server."""
        return self.esp + self.domain_cost + self.server


def projected_volume(today: date, sent_before_today: int, sent_today: int) -> tuple[float, int]:
    """(daily average, mails by month end) from this month's sends so far.

    The average is taken over the days already over, so a half-sent today does not drag it
    down; on the 1st, today's count is the only evidence. Today counts as at least the average.
    """
    days = calendar.monthrange(today.year, today.month)[1]
    full_days = today.day - 1
    average = sent_before_today / full_days if full_days else float(sent_today)
    rest = days - today.day
    projected = sent_before_today + max(float(sent_today), average) + average * rest
    return average, round(projected)


def estimate(
    rates: CostRates, today: date, *, sent_before_today: int, sent_today: int, domains: int
) -> CostEstimate:
    """The month's estimate: ESP by projected volume, domains pro rata, the server."""
    average, projected = projected_volume(today, sent_before_today, sent_today)
    return CostEstimate(
        month=today.replace(day=1),
        days_in_month=calendar.monthrange(today.year, today.month)[1],
        sent_so_far=sent_before_today + sent_today,
        daily_average=average,
        projected=projected,
        domains=domains,
        esp=projected / 1000 * rates.esp_per_1000,
        domain_cost=domains * rates.domain_per_year / 12,
        server=rates.server_per_month,
    )
