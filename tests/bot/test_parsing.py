"""bot/parsing.py: command arguments, and what an AdminError says was expected."""

from __future__ import annotations

import pytest

from bot.parsing import Action, parse_days, parse_entry, parse_warmup
from engine.admin import AdminError
from engine.suppression import Entry


@pytest.mark.parametrize(
    ("text", "days"), [(None, 14), ("", 14), (" 30 ", 30), ("1", 1), ("365", 365)]
)
def test_parse_days(text: str | None, days: int) -> None:
    assert parse_days(text) == days


@pytest.mark.parametrize("text", ["0", "366", "-3", "two", "7d", "1.5"])
def test_parse_days_says_what_was_expected(text: str) -> None:
    with pytest.raises(AdminError, match="expected a number of days from 1 to 365"):
        parse_days(text)


def test_parse_entry() -> None:
    assert parse_entry(" Jane.Doe@Example.COM ", "suppress") == Entry("jane.doe@example.com", False)
    assert parse_entry("@Example.com", "suppress") == Entry("example.com", True)
    assert Entry("example.com", True).stored == "@example.com"


@pytest.mark.parametrize("text", [None, "", "jane", "@", "@not a domain", "a@b", "a@b.com c@d.com"])
def test_parse_entry_says_what_was_expected(text: str | None) -> None:
    with pytest.raises(AdminError, match=r"an e-mail address like jane@example.com, or @example"):
        parse_entry(text, "suppress")


def test_parse_warmup() -> None:
    assert parse_warmup(None).action is Action.SHOW
    assert parse_warmup("  ").action is Action.SHOW
    assert parse_warmup("start m0@d0.test") == parse_warmup("START m0@d0.test")
    assert parse_warmup("stop m0@d0.test").mailbox == "m0@d0.test"


@pytest.mark.parametrize("args", ["begin m0@d0.test", "start", "stop a@b.c d@e.f", "m0@d0.test"])
def test_parse_warmup_says_what_was_expected(args: str) -> None:
    with pytest.raises(AdminError, match=r"expected /warmup, /warmup start <mailbox>"):
        parse_warmup(args)
