"""/stats: sends, bounces, complaints and replies per day in the sending timezone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from core import limits

if TYPE_CHECKING:  # annotations only: the chart process unpickles a StatsReport without them
    from engine.clock import Clock
    from engine.ports import ReportQueries


@dataclass(frozen=True, slots=True)
class DayStats:
    """One local day's numbers."""

    day: date
    sent: int
    bounces: int
    complaints: int
    replies: int


@dataclass(frozen=True, slots=True)
class StatsReport:
    """The last `len(days)` days, oldest first, today last."""

    timezone: str
    days: tuple[DayStats, ...]

    def total(self) -> DayStats:
        """The sums over every day (dated by the last day)."""
        return DayStats(
            day=self.days[-1].day,
            sent=sum(d.sent for d in self.days),
            bounces=sum(d.bounces for d in self.days),
            complaints=sum(d.complaints for d in self.days),
            replies=sum(d.replies for d in self.days),
        )


async def gather_stats(repo: ReportQueries, clock: Clock, timezone: str, days: int) -> StatsReport:
    """Per-day counts over the last `days` local days, today included."""
    today = limits.local_day(clock.now(), timezone)
    dates = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    bounds = []
    for day in dates:
        start, end = limits.day_bounds(day, timezone)  # 23 or 25 hours across DST
        bounds.append((day.isoformat(), start, end))
    sent = await repo.sent_per_day(bounds)
    events = await repo.events_per_day(bounds)
    return StatsReport(
        timezone=timezone,
        days=tuple(
            DayStats(
                day=day,
                sent=sent.get(key, 0),
                bounces=events.get((key, "bounce_hard"), 0),
                complaints=events.get((key, "complaint"), 0),
                replies=events.get((key, "reply"), 0),
            )
            for day in dates
            for key in (day.isoformat(),)
        ),
    )
