"""bot/views/warmup.py: the /warmup table, two lines a mailbox to fit a phone."""

from __future__ import annotations

from bot.views.common import PHONE_COLUMNS, phone_lines
from bot.views.warmup import warmup_lines
from tests.bot.test_charts import warmup_report


def test_warmup_lines_show_na_without_placement_reports() -> None:
    lines = warmup_lines(warmup_report(2))
    assert "5->10 over 7 days, then +20% a day up to 40" in lines[0]
    assert lines[1:3] == ["mailbox", "  day phase  cap sent inbox"]
    assert lines[3:5] == ["m0@d0.test", "    3     1    7    0   n/a"]
    assert lines[5:7] == ["m1@d0.test", "    7     1    8    1   75%"]
    # Every row fits; only the notes are longer, and answer_table wraps those.
    assert max(len(line) for line in lines[1:7]) <= PHONE_COLUMNS
    empty = warmup_lines(warmup_report(0))
    assert "No mailbox is warming up" in empty[1]


def test_phone_lines_wrap_notes_and_keep_rows() -> None:
    rows = ["    3     1    7    0   n/a", ""]
    note = "inbox = warm-up mails found in the inbox over the last 7 days"
    long_address = "a-very-long-mailbox-name@some-long-domain.example"
    wrapped = phone_lines([*rows, note, long_address])
    assert wrapped[:2] == rows
    assert wrapped[2:4] == ["inbox = warm-up mails found in the", "  inbox over the last 7 days"]
    assert len(wrapped[4]) == PHONE_COLUMNS  # an address is broken at the width, not lost
    assert "".join(part.strip() for part in wrapped[4:]) == long_address
    assert max(len(line) for line in wrapped) <= PHONE_COLUMNS
