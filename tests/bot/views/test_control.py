"""bot/views/control.py: what /pause and /resume say they changed and left."""

from __future__ import annotations

from bot.views.control import LIST_LIMIT, control_lines
from engine.control import Change, ControlResult, Left, Target


def test_one_change_is_one_headline() -> None:
    outcome = ControlResult(
        "pause", Target("mailbox", "m0@d0.test"),
        (Change("mailbox m0@d0.test", "active", "paused"),), (),
    )  # fmt: skip
    assert control_lines(outcome) == ["Paused mailbox m0@d0.test (active -> paused)."]


def test_nothing_changed_says_what_was_left_and_why() -> None:
    outcome = ControlResult(
        "resume", Target("domain", "d0.test"), (),
        (Left("domain d0.test", "cooldown", "cooling down until 2026-12-07; force ends it"),),
    )  # fmt: skip
    assert control_lines(outcome) == [
        "Nothing changed for domain d0.test.",
        "Left as it is:",
        "  domain d0.test (cooldown): cooling down until 2026-12-07; force ends it",
    ]


def test_all_is_tallied_and_long_lists_are_cut() -> None:
    changed = tuple(Change(f"mailbox m{i}@d.test", "active", "paused") for i in range(40))
    changed += (Change("campaign q4", "active", "paused"),)
    outcome = ControlResult("pause", Target("all", "all"), changed, (), ("note",))
    lines = control_lines(outcome)
    assert lines[0] == "Paused everything: 40 mailboxes, 1 campaign."
    assert f"  ... and {41 - LIST_LIMIT} more" in lines
    assert lines[-1] == "note"
