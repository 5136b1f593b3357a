"""The soak's verdicts (bench/soak_checks.py): a day's counts and RSS flatness."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bench.soak_checks import Caps, DayCounts, day_problems, rss_mb, rss_verdict, slope

CAPS = Caps(
    mailbox={"a@x.test": 2, "b@x.test": 2},
    domain={"x.test": 4},
    campaign={"one": 3, "two": None},
)


def day(**changes: object) -> DayCounts:
    base: dict[str, object] = {
        "per_mailbox": {"a@x.test": 2, "b@x.test": 2},
        "per_domain": {"x.test": 4},
        "per_campaign": {"one": 3, "two": 1},
        "usage": {
            ("mailbox", "a@x.test"): 2,
            ("mailbox", "b@x.test"): 2,
            ("domain", "x.test"): 4,
            ("campaign", "one"): 3,
            ("campaign", "two"): 1,
        },  # fmt: skip
        "unfinished": 0,
        "queued_left": 10,
    }
    base.update(changes)
    return DayCounts(**base)  # type: ignore[arg-type]


def test_a_full_day_at_every_cap_is_exact() -> None:
    assert day_problems(day(), CAPS) == []


def test_a_mailbox_short_of_its_cap_while_leads_wait_is_a_problem() -> None:
    short = day(
        per_mailbox={"a@x.test": 2, "b@x.test": 1},
        per_domain={"x.test": 3},
        per_campaign={"one": 3},
        usage={
            ("mailbox", "a@x.test"): 2,
            ("mailbox", "b@x.test"): 1,
            ("domain", "x.test"): 3,
            ("campaign", "one"): 3,
        },  # fmt: skip
    )
    assert day_problems(short, CAPS) == ["mailbox b@x.test sent 1 of 2 with leads still queued"]
    assert day_problems(dataclasses.replace(short, queued_left=0), CAPS) == []


def test_over_a_cap_and_usage_out_of_step_are_named() -> None:
    over = day(per_campaign={"one": 4}, usage={**day().usage, ("campaign", "one"): 4},
               unfinished=1)  # fmt: skip
    problems = day_problems(over, CAPS)
    assert "campaign one sent 4, over its cap 3" in problems
    assert "usage of campaign two says 1, the sends 0" in problems
    assert "1 sends of the day not 'sent'" in problems


def test_slope_is_least_squares() -> None:
    assert slope([1.0, 3.0, 5.0, 7.0]) == pytest.approx(2.0)
    assert slope([5.0]) == 0.0


def test_flat_rss_ignores_day_one_and_noise_but_not_a_trend() -> None:
    noisy = [40.0, 52.0, 52.3, 51.9, 52.2, 52.1, 52.4, 52.0, 52.2]
    verdict = rss_verdict(noisy)
    assert verdict.flat
    assert verdict.first_day_mb == 40.0
    assert verdict.last_week_mb == pytest.approx(52.2)
    growing = [50.0 + 0.5 * i for i in range(30)]  # 0.5 MB a day: 14 MB over the run
    leak = rss_verdict(growing)
    assert not leak.flat
    assert leak.trend_mb == pytest.approx(0.5 * 28)


def test_rss_is_read_from_proc_status(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmRSS:\t   51200 kB\nThreads:\t2\n")
    assert rss_mb(status) == 50.0
    assert rss_mb() > 0
