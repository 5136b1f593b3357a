"""/stats: the per-day (per-week beyond a month) table and the chart's caption."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from bot.views.common import number
from engine.stats import DayStats, StatsReport

DAILY_ROWS = 31  # /stats lists each day up to this many days, then weeks


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _stats_row(label: str, d: DayStats) -> str:
    # 34 columns (bot.views.common.PHONE_COLUMNS): a day is MM-DD, its year is in the title.
    return (
        f"{label:<5} {d.sent:>6} {d.bounces:>4} {d.complaints:>4} {d.replies:>4}"
        f" {_rate(d.bounces, d.sent):>6}"
    )


def _weeks(days: Sequence[DayStats]) -> list[tuple[str, DayStats]]:
    """Days grouped into weeks starting Monday, each labelled by its first day in range."""
    groups: dict[str, list[DayStats]] = {}
    for day in days:
        monday = day.day - timedelta(days=day.day.weekday())
        groups.setdefault(monday.isoformat(), []).append(day)
    return [
        (
            week[0].day.isoformat(),
            DayStats(
                week[-1].day,
                sum(d.sent for d in week),
                sum(d.bounces for d in week),
                sum(d.complaints for d in week),
                sum(d.replies for d in week),
            ),
        )
        for week in groups.values()
    ]


def stats_lines(report: StatsReport) -> list[str]:
    """The /stats table: one row per day (per week beyond a month), then the totals."""
    first, last = report.days[0].day, report.days[-1].day
    weekly = len(report.days) > DAILY_ROWS
    header = f"{'week' if weekly else 'day':<5} {'sent':>6} {'bnc':>4} {'cmp':>4}"
    lines = [
        f"{first.isoformat()} .. {last.isoformat()}",
        f"{'weeks from Monday' if weekly else 'days'}, {report.timezone}",
        f"{header} {'rep':>4} {'bnc%':>6}",
    ]
    if weekly:
        lines += [_stats_row(label[5:], week) for label, week in _weeks(report.days)]
    else:
        lines += [_stats_row(d.day.isoformat()[5:], d) for d in report.days]
    total = report.total()
    lines.append(_stats_row("total", total))
    lines += [
        "bnc bounces, cmp complaints,",
        "rep replies, bnc% bounce rate",
        f"complaint rate {_rate(total.complaints, total.sent)}",
        f"reply rate {_rate(total.replies, total.sent)}",
    ]
    return lines


def stats_caption(report: StatsReport) -> str:
    """The chart's caption."""
    total = report.total()
    return (
        f"Last {len(report.days)} day(s): {number(total.sent)} sent, {total.bounces} bounces, "
        f"{total.complaints} complaints, {total.replies} replies"
    )
