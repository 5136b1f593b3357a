"""The warm-up ramp of SPEC 7: today's cap for a warming mailbox, its phase, when it is warm."""

from __future__ import annotations

import functools
import math
from datetime import date, timedelta
from fractions import Fraction

from core.models import WarmupPolicy

# Inbox placement (SPEC 7, core/placement.py) is shown as a rate only from this many
# placements on: a share of two or three mails says nothing yet.
PLACEMENT_SHOWN = 5


def placement_rate(inbox: int, spam: int) -> float | None:
    """The share of warm-up mails found in the inbox; None under PLACEMENT_SHOWN placements."""
    seen = inbox + spam
    return inbox / seen if seen >= PLACEMENT_SHOWN else None


def warmup_day(warmup_start: date, today: date) -> int:
    """Day number of the ramp: `warmup_start` is day 1; days before it count as day 1."""
    return max(1, (today - warmup_start).days + 1)


def ceiling(policy: WarmupPolicy, daily_limit: int) -> int:
    """The most a warm mailbox may send: its own limit or the warm-up target, the lower."""
    return min(daily_limit, policy.target)


@functools.lru_cache(maxsize=4096)  # pure; thousands of mailboxes share a few (day, limit)
def warmup_cap(policy: WarmupPolicy, day: int, daily_limit: int) -> int:
    """Cap of warm-up day `day` (1-based), never above the mailbox's limit or the target."""
    # Fractions keep the SPEC's round/floor exact: 10 x 1.2^2 must be 14, not 14.399999...
    if day <= policy.phase1_days:
        if policy.phase1_days == 1:
            raw = Fraction(policy.phase1_start)
        else:
            step = Fraction(policy.phase1_end - policy.phase1_start, policy.phase1_days - 1)
            raw = policy.phase1_start + step * (day - 1)
        cap = math.floor(raw + Fraction(1, 2))  # round half up, not Python's half-to-even
    else:
        growth = 1 + Fraction(repr(policy.daily_growth))
        cap = math.floor(policy.phase1_end * growth ** (day - policy.phase1_days))
    return min(cap, ceiling(policy, daily_limit))


def phase(policy: WarmupPolicy, day: int) -> int:
    """1 during the first `phase1_days`, 2 after."""
    return 1 if day <= policy.phase1_days else 2


def is_warm(policy: WarmupPolicy, day: int, daily_limit: int) -> bool:
    """True from the first day the cap reaches the mailbox's ceiling: it becomes `active`."""
    return warmup_cap(policy, day, daily_limit) >= ceiling(policy, daily_limit)


def ramp(policy: WarmupPolicy, daily_limit: int) -> list[int]:
    """Caps from day 1 up to and including the first day at the ceiling."""
    caps: list[int] = []
    day = 1
    while True:
        caps.append(warmup_cap(policy, day, daily_limit))
        if is_warm(policy, day, daily_limit) or day > 3650:
            return caps
        day += 1


def phase2_restart(policy: WarmupPolicy, today: date) -> date:
    """The warmup_start that makes `today` the first day of phase 2 (after a cool-down)."""
    return today - timedelta(days=policy.phase1_days)
