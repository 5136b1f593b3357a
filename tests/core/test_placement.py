"""core/placement.py: the inbox placement rate and SPEC 7's verdicts, at their edges."""

from __future__ import annotations

from fractions import Fraction

import pytest

from core.placement import Action, PlacementCount, describe, percent, rate, verdict


def count(inbox: int, spam: int, *, held: bool = False) -> PlacementCount:
    return PlacementCount(1, "a@x.test", inbox, spam, held)


def test_rate_is_the_inbox_share_and_none_without_placements() -> None:
    assert rate(15, 5) == Fraction(3, 4)
    assert rate(0, 4) == 0
    assert rate(0, 0) is None
    assert percent(15, 5) == "75 %"
    assert percent(0, 0) == "n/a"
    assert percent(22, 9) == "70.9 %"  # 22 inbox of 31
    # Cut, not rounded: 69.96 % must not read as the 70 % it missed.
    assert percent(6996, 3004) == "69.9 %"
    assert percent(7, 3) == "70 %"


@pytest.mark.parametrize(
    ("inbox", "spam", "action"),
    [
        (14, 6, Action.NONE),  # exactly 70 %: not under it
        (139, 61, Action.WARN),  # 69.5 %
        (13, 7, Action.WARN),  # 65 %
        (10, 10, Action.WARN),  # exactly 50 %: not under it, still under 70 %
        (99, 101, Action.HOLD),  # 49.5 %
        (9, 11, Action.HOLD),  # 45 %
        (0, 20, Action.HOLD),
        (20, 0, Action.NONE),
    ],
)
def test_verdicts_of_a_mailbox_not_held(inbox: int, spam: int, action: Action) -> None:
    assert verdict(count(inbox, spam)) is action


def test_fewer_than_20_placements_decide_nothing() -> None:
    assert verdict(count(0, 19)) is Action.NONE  # 19 placements, all spam
    assert verdict(count(9, 10)) is Action.NONE
    assert verdict(count(0, 20)) is Action.HOLD  # the 20th decides
    assert verdict(count(0, 0)) is Action.NONE


def test_a_held_mailbox_is_released_only_over_70_percent() -> None:
    assert verdict(count(14, 6, held=True)) is Action.NONE  # exactly 70 %: stays held
    assert verdict(count(15, 5, held=True)) is Action.RELEASE  # 75 %
    assert verdict(count(141, 59, held=True)) is Action.RELEASE  # 70.5 %
    assert verdict(count(12, 8, held=True)) is Action.NONE  # 60 %: no warning on top
    assert verdict(count(5, 15, held=True)) is Action.NONE  # still bad: stays held


def test_a_held_mailbox_with_fewer_than_20_placements_stays_held() -> None:
    # All inbox, but only 19: too little evidence to release on.
    assert verdict(count(19, 0, held=True)) is Action.NONE
    assert verdict(count(0, 0, held=True)) is Action.NONE
    assert verdict(count(20, 0, held=True)) is Action.RELEASE


def test_describe_names_the_rate_and_the_counts() -> None:
    assert describe(count(15, 5)) == "75 % over 7 days (15 inbox of 20)"
