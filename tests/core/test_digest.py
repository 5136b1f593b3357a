"""core/digest.py: the daily digest's text from its numbers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from core.digest import HELD_LIMIT, DigestNumbers, Held, digest_text, in_digest_hour
from core.export import HEADER, ExportRow, csv_fields

BASE = DigestNumbers(
    day=date(2026, 11, 22),
    timezone="Europe/Berlin",
    sent=200,
    bounces=5,
    complaints=1,
    replies={"interested": 2, None: 1, "not_interested": 1},
    capacity=150,
    target=400,
    unknown_sends=0,
)


def numbers(**changes: Any) -> DigestNumbers:
    return replace(BASE, **changes)


def test_the_numbers_of_the_day() -> None:
    lines = digest_text(numbers()).splitlines()
    assert lines == [
        "Daily digest for 2026-11-22 (Europe/Berlin)",
        "Sent: 200",
        "Bounces: 5 (2.5%)",
        "Complaints: 1 (0.5%)",
        "Replies: 4 (interested 2, not interested 1, unlabelled 1)",
        "Capacity today: 150 of target 400 (short by 250)",
        "DNS: every record found",
    ]


def test_a_quiet_day_has_no_rates_and_no_shortfall() -> None:
    text = digest_text(numbers(sent=0, bounces=0, complaints=0, replies={}, capacity=500))
    assert "Sent: 0\nBounces: 0\nComplaints: 0\nReplies: 0\n" in text
    assert "Capacity today: 500 of target 400\n" in text


def test_held_items_unknown_sends_and_dns_problems() -> None:
    until = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    text = digest_text(
        numbers(
            unknown_sends=3,
            held=(
                Held("domain", "d1.test", "cooldown", until, "spam block"),
                Held("mailbox", "m0@d0.test", "paused", None, "bounce rate 6%"),
                Held("campaign", "q4", "stopped"),
            ),
            dns_problems=("d1.test: SPF, DMARC (no p= tag)",),
        )
    )
    assert "Unknown sends: 3 (interrupted; outcome not known)" in text
    assert (
        "Not sending:\n"
        "- domain d1.test cooldown until 2026-11-30 09:00 UTC: spam block\n"
        "- mailbox m0@d0.test paused: bounce rate 6%\n"
        "- campaign q4 stopped\n"
    ) in text
    assert text.endswith("DNS problems (see /dns):\n- d1.test: SPF, DMARC (no p= tag)")


def test_many_held_items_are_counted_past_the_limit() -> None:
    held = tuple(Held("mailbox", f"m{i}@d.test", "paused") for i in range(HELD_LIMIT + 3))
    lines = digest_text(numbers(held=held)).splitlines()
    assert sum(line.startswith("- mailbox") for line in lines) == HELD_LIMIT
    assert "- and 3 more (see /status)" in lines


def test_a_dns_check_that_could_not_run_is_said() -> None:
    assert digest_text(numbers(dns_checked=False)).endswith(
        "DNS: not checked (the lookup could not run)"
    )


def test_export_fields() -> None:
    at = datetime(2026, 11, 22, 8, 5, 1, tzinfo=UTC)
    row = ExportRow(1, "a@x.test", "active", 2, "reply", at, "interested")
    assert csv_fields(row) == ("a@x.test", "active", "2", "reply", "2026-11-22T08:05:01Z",
                               "interested")  # fmt: skip
    bare = ExportRow(2, "b@x.test", "queued", 0, None, None, None)
    assert csv_fields(bare) == ("b@x.test", "queued", "0", "", "", "")
    assert len(HEADER) == len(csv_fields(bare))


def test_the_digest_hour_is_local_and_lasts_an_hour() -> None:
    # 9 in Berlin: 08:00-08:59 UTC in winter (UTC+1), 07:00-07:59 UTC in summer (UTC+2).
    assert in_digest_hour(datetime(2026, 11, 24, 8, 0, tzinfo=UTC), "Europe/Berlin", 9)
    assert in_digest_hour(datetime(2026, 11, 24, 8, 59, 59, tzinfo=UTC), "Europe/Berlin", 9)
    assert not in_digest_hour(datetime(2026, 11, 24, 7, 59, 59, tzinfo=UTC), "Europe/Berlin", 9)
    assert not in_digest_hour(datetime(2026, 11, 24, 9, 0, tzinfo=UTC), "Europe/Berlin", 9)
    assert in_digest_hour(datetime(2026, 7, 1, 7, 30, tzinfo=UTC), "Europe/Berlin", 9)
    assert not in_digest_hour(datetime(2026, 7, 1, 8, 30, tzinfo=UTC), "Europe/Berlin", 9)
    assert in_digest_hour(datetime(2026, 11, 24, 0, 5, tzinfo=UTC), "UTC", 0)
