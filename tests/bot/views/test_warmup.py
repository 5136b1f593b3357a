"""bot/views/warmup.py: the /warmup table, two lines a mailbox to fit a phone."""

from __future__ import annotations

import dataclasses

from bot.views.common import PHONE_COLUMNS, phone_lines
from bot.views.warmup import warmup_lines
from core.records import WarmupToday
from engine.warmup_admin import WarmupRow
from tests.bot.test_charts import warmup_report


def test_warmup_lines_show_traffic_and_placement_with_its_count() -> None:
    lines = warmup_lines(warmup_report(2))
    assert "5->10 over 7 days, then +20% a day up to 40" in lines[0]
    assert lines[1:4] == ["mailbox", "day ph cap snt rcv rep inbox    of", "warming:"]
    # m0 has no placement at all, m1 15 in the inbox and 5 in spam: "75% of 20".
    assert lines[4:6] == ["m0@d0.test", "  3  1   7   0   0   0   n/a     0"]
    assert lines[6:8] == ["m1@d0.test", "  7  1   8   1   2   0   75%    20"]
    # Every row fits; only the notes are longer, and answer_table wraps those.
    assert max(len(line) for line in lines[1:8]) <= PHONE_COLUMNS
    assert "(held)" not in "\n".join(lines)
    empty = warmup_lines(warmup_report(0))
    assert "No mailbox is warming up" in empty[1]


def test_a_few_placements_read_na_with_their_count() -> None:
    report = warmup_report(1)
    few = dataclasses.replace(report.rows[0], inbox=3, spam=1)
    lines = warmup_lines(dataclasses.replace(report, rows=(few,)))
    assert lines[5] == "  3  1   7   0   0   0   n/a     4"


def test_warm_mailboxes_are_listed_apart_and_a_hold_is_marked() -> None:
    report = warmup_report(1)
    warm = WarmupRow(
        address="m9@d1.test", state="active", day=None, phase=None, cap=40, daily_limit=40,
        sent_today=12, today=WarmupToday(sent=4, received=3, replied=1), inbox=10, spam=15,
        held=True,
    )  # fmt: skip
    lines = warmup_lines(
        dataclasses.replace(report, rows=(*report.rows, warm), unlisted={"active": 3})
    )
    at = lines.index("warm, 10% of the cap as warm-up:")
    assert lines[at + 1 : at + 3] == ["m9@d1.test (held)", "  -  -  40   4   3   1   40%    25"]
    assert "... and 3 more (3 warm)" in lines
    assert any(line.startswith("(held) = inbox placement under 50 %") for line in lines)
    assert max(len(line) for line in phone_lines(lines)) <= PHONE_COLUMNS


def test_phone_lines_wrap_notes_and_keep_rows() -> None:
    rows = ["  3  1   7   0   0   0   n/a     0", ""]
    note = "inbox = warm-up mails found in the inbox over the last 7 days"
    long_address = "a-very-long-mailbox-name@some-long-domain.example"
    wrapped = phone_lines([*rows, note, long_address])
    assert wrapped[:2] == rows
    assert wrapped[2:4] == ["inbox = warm-up mails found in the", "  inbox over the last 7 days"]
    assert len(wrapped[4]) == PHONE_COLUMNS  # an address is broken at the width, not lost
    assert "".join(part.strip() for part in wrapped[4:]) == long_address
    assert max(len(line) for line in wrapped) <= PHONE_COLUMNS
