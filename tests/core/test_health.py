"""Health verdicts of SPEC 9 at their edges."""

from datetime import UTC, date, datetime, timedelta

import pytest

from core.health import (
    Action,
    Culprit,
    block_verdict,
    cooldown_over,
    domain_verdicts,
    mailbox_verdicts,
    window_start,
)
from core.models import HealthPolicy, RateCounts

POLICY = HealthPolicy()


def actions(sends: int, bounces: int, complaints: int = 0) -> list[Action]:
    counts = RateCounts(sends=sends, bounces=bounces, complaints=complaints)
    return [v.action for v in mailbox_verdicts("a@x.com", counts, POLICY)]


@pytest.mark.parametrize(
    ("sends", "bounces", "expected"),
    [
        (100, 3, []),  # exactly 3 %: no warning
        (100, 4, [Action.WARN]),  # 4 %: warn
        (100, 5, [Action.WARN]),  # exactly 5 %: warn, does not pause
        (100, 6, [Action.PAUSE]),  # 6 %: pause
        (20, 1, [Action.WARN]),  # 5 % of 20: no pause
        (19, 10, [Action.WARN]),  # 19 sends never pause, whatever the rate
        (20, 2, [Action.PAUSE]),  # 20 sends can: 10 %
        (0, 0, []),
    ],
)
def test_bounce_edges(sends: int, bounces: int, expected: list[Action]) -> None:
    assert actions(sends, bounces) == expected


def test_one_complaint_pauses_and_names_campaign_and_step() -> None:
    counts = RateCounts(sends=3, complaints=1)
    (verdict,) = mailbox_verdicts("a@x.com", counts, POLICY, Culprit("q4-founders", 2))
    assert verdict.action is Action.PAUSE
    assert "q4-founders" in verdict.reason and "step 2" in verdict.reason
    assert mailbox_verdicts("a@x.com", RateCounts(sends=3), POLICY) == []
    two = HealthPolicy(complaints_pause=2)
    assert mailbox_verdicts("a@x.com", counts, two) == []


def test_domain_complaint_alert_edge() -> None:
    assert domain_verdicts("x.com", RateCounts(sends=1000, complaints=1), POLICY) == []  # = 0.1 %
    (verdict,) = domain_verdicts("x.com", RateCounts(sends=999, complaints=1), POLICY)
    assert verdict.action is Action.ALERT and verdict.subject == "x.com"
    assert domain_verdicts("x.com", RateCounts(), POLICY) == []


def test_block_cools_the_domain_down_for_cooldown_days() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    verdict = block_verdict("x.com", "a@x.com", now, POLICY)
    assert verdict.action is Action.COOLDOWN
    assert verdict.until == now + timedelta(days=14)
    assert not cooldown_over(verdict.until, now + timedelta(days=13, hours=23))
    assert cooldown_over(verdict.until, now + timedelta(days=14))
    assert not cooldown_over(None, now)


def test_window_start() -> None:
    assert window_start(date(2026, 11, 27), POLICY) == date(2026, 11, 21)
