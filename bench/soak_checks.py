"""The soak's verdicts, pure: a day's counts against the limits, and whether RSS stayed flat."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# RSS is flat when the least-squares trend over the run (after day 1, which loads the code and
# fills the caches) would add less than this over the whole run: the larger of an absolute
# floor and a share of the median, so noise of a few pages is not called growth.
FLAT_FLOOR_MB = 2.0
FLAT_SHARE = 0.02


@dataclass(frozen=True, slots=True)
class DayCounts:
    """What one local day sent, from the sends table and the usage counters."""

    per_mailbox: Mapping[str, int]  # sends in state 'sent' by mailbox address
    per_domain: Mapping[str, int]
    per_campaign: Mapping[str, int]
    usage: Mapping[tuple[str, str], int]  # (scope, name) -> the usage counter
    unfinished: int  # sends of the day not in state 'sent'
    queued_left: int  # queued leads at the end of the day, over all campaigns


@dataclass(frozen=True, slots=True)
class Caps:
    """The config's daily limits (None: no cap)."""

    mailbox: Mapping[str, int]
    domain: Mapping[str, int | None]
    campaign: Mapping[str, int | None]


def day_problems(day: DayCounts, caps: Caps) -> list[str]:
    """Everything wrong with one day: each mailbox at its cap exactly, nothing over a limit."""
    problems: list[str] = []
    for address, cap in sorted(caps.mailbox.items()):
        sent = day.per_mailbox.get(address, 0)
        if sent > cap:
            problems.append(f"mailbox {address} sent {sent}, over its cap {cap}")
        elif sent < cap and day.queued_left > 0:
            problems.append(f"mailbox {address} sent {sent} of {cap} with leads still queued")
    for scope, counts, limits in (
        ("domain", day.per_domain, caps.domain),
        ("campaign", day.per_campaign, caps.campaign),
    ):
        for name, sent in sorted(counts.items()):
            limit = limits.get(name)
            if limit is not None and sent > limit:
                problems.append(f"{scope} {name} sent {sent}, over its cap {limit}")
    sent_by_scope = {
        **{("mailbox", k): v for k, v in day.per_mailbox.items()},
        **{("domain", k): v for k, v in day.per_domain.items()},
        **{("campaign", k): v for k, v in day.per_campaign.items()},
    }
    for key in sorted(set(sent_by_scope) | set(day.usage)):
        if sent_by_scope.get(key, 0) != day.usage.get(key, 0):
            problems.append(
                f"usage of {key[0]} {key[1]} says {day.usage.get(key, 0)}, "
                f"the sends {sent_by_scope.get(key, 0)}"
            )
    if day.unfinished:
        problems.append(f"{day.unfinished} sends of the day not 'sent'")
    return problems


def slope(values: Sequence[float]) -> float:
    """Least-squares slope of `values` against their index (per step); 0 for fewer than 2."""
    n = len(values)
    if n < 2:
        return 0.0
    mean_x = (n - 1) / 2
    mean_y = statistics.fmean(values)
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den


@dataclass(frozen=True, slots=True)
class RssVerdict:
    """RSS over the simulated days: the figures the section quotes and the verdict."""

    first_day_mb: float
    last_week_mb: float  # median of the last 7 samples
    slope_mb_per_day: float  # over days 2..n
    trend_mb: float  # slope x the days it spans
    allowed_mb: float
    flat: bool


def rss_verdict(samples_mb: Sequence[float]) -> RssVerdict:
    """Flat when the trend over days 2..n adds less than max(floor, share of the median)."""
    if len(samples_mb) < 3:
        raise ValueError("need at least 3 daily samples")
    settled = samples_mb[1:]
    per_day = slope(settled)
    trend = per_day * (len(settled) - 1)
    allowed = max(FLAT_FLOOR_MB, FLAT_SHARE * statistics.median(settled))
    return RssVerdict(
        first_day_mb=samples_mb[0],
        last_week_mb=statistics.median(samples_mb[-7:]),
        slope_mb_per_day=per_day,
        trend_mb=trend,
        allowed_mb=allowed,
        flat=trend <= allowed,
    )


def rss_mb(status: Path = Path("/proc/self/status")) -> float:
    """This process's resident set (VmRSS) in MB, read from /proc (no psutil)."""
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in {status}")
