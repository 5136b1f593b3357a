"""The warm-up ramp of SPEC 7 as tables."""

from datetime import date

import pytest

from core.models import WarmupPolicy
from core.warmup import is_warm, phase, phase2_restart, ramp, warmup_cap, warmup_day

DEFAULT = WarmupPolicy()


def test_spec_ramp_with_defaults() -> None:
    assert [warmup_cap(DEFAULT, d, 40) for d in range(1, 16)] == [
        5, 6, 7, 8, 8, 9, 10, 12, 14, 17, 20, 24, 29, 35, 40,
    ]  # fmt: skip
    assert ramp(DEFAULT, 40) == [5, 6, 7, 8, 8, 9, 10, 12, 14, 17, 20, 24, 29, 35, 40]


@pytest.mark.parametrize(
    ("policy", "limit", "expected"),
    [
        # A mailbox limit below the target ends the ramp early, already in phase 1.
        (DEFAULT, 8, [5, 6, 7, 8]),
        # The target caps too.
        (WarmupPolicy(target=25), 40, [5, 6, 7, 8, 8, 9, 10, 12, 14, 17, 20, 24, 25]),
        # Faster growth: 10 x 1.5^n floored.
        (WarmupPolicy(daily_growth=0.5), 40, [5, 6, 7, 8, 8, 9, 10, 15, 22, 33, 40]),
        # A one-day phase 1 is just its start value.
        (WarmupPolicy(phase1_days=1, phase1_start=3, phase1_end=3), 10, [3, 3, 4, 5, 6, 7, 8, 10]),
        # Three days 2..4: 2, 3, 4 (exact halves round up: 2 + 2*1/2 = 3).
        (WarmupPolicy(phase1_days=3, phase1_start=2, phase1_end=4, target=5), 40, [2, 3, 4, 4, 5]),
        # Half-way values round half up, never to even: 4 + 1*(d-1)/2 -> 4, 5 (4.5), 5.
        (WarmupPolicy(phase1_days=3, phase1_start=4, phase1_end=5, target=6), 40, [4, 5, 5, 6]),
    ],
)
def test_ramps(policy: WarmupPolicy, limit: int, expected: list[int]) -> None:
    assert ramp(policy, limit) == expected
    assert is_warm(policy, len(expected), limit)
    assert not is_warm(policy, len(expected) - 1, limit)


def test_growth_has_no_float_drift() -> None:
    # 10 x 1.1^1 = 11 exactly; floats give 11.000000000000002 (fine) but 10 x 1.1^2 must be 12.
    policy = WarmupPolicy(daily_growth=0.1, target=100)
    assert [warmup_cap(policy, d, 100) for d in (8, 9, 10)] == [11, 12, 13]


def test_day_and_phase() -> None:
    start = date(2026, 11, 20)
    assert warmup_day(start, date(2026, 11, 20)) == 1
    assert warmup_day(start, date(2026, 11, 26)) == 7
    assert warmup_day(start, date(2026, 11, 27)) == 8
    assert warmup_day(start, date(2026, 11, 1)) == 1  # not started yet: day 1
    assert phase(DEFAULT, 7) == 1
    assert phase(DEFAULT, 8) == 2


def test_restart_after_cooldown_lands_on_phase2_start() -> None:
    today = date(2026, 12, 11)
    start = phase2_restart(DEFAULT, today)
    day = warmup_day(start, today)
    assert day == DEFAULT.phase1_days + 1
    assert warmup_cap(DEFAULT, day, 40) == 12
