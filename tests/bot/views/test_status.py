"""/status's text at 100x the typical pool: named mailboxes, the rest counted, a message or two."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

from bot.views.common import MESSAGE_LIMIT, chunk_lines, utf16_len
from bot.views.status import detail_lines, status_lines, unknown_lines
from core.capacity import Capacity, DomainCapacity, MailboxCapacity
from core.models import DomainState, MailboxState, RateCounts
from core.records import CampaignCounts, StoredAlert
from engine.control import Unknown
from engine.status import ATTENTION_LIMIT, MailboxDetail, MailboxLine, StatusReport

NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)
STATES = [MailboxState.ACTIVE] * 4300 + [MailboxState.WARMING] * 600 + [MailboxState.PAUSED] * 40
STATES += [MailboxState.COOLDOWN] * 60


def domain(i: int) -> str:
    return f"brand{i % 800:03d}-mail.com"


def big_report() -> StatusReport:
    """5,000 mailboxes on 800 domains, 6 campaigns, every reason and alert at full length."""
    boxes = tuple(
        MailboxCapacity(f"sender{i:04d}@{domain(i)}", domain(i), state,
                        40 if state is MailboxState.ACTIVE else 0)
        for i, state in enumerate(STATES)
    )  # fmt: skip
    domains = tuple(
        DomainCapacity(domain(i), DomainState.ACTIVE, None, 6, 240, 240) for i in range(800)
    )
    attention = [
        MailboxLine(f"sender{i:04d}@{domain(i)}", "paused", "x" * 400, 0, 3)
        for i in range(ATTENTION_LIMIT)
    ]
    campaigns = [
        CampaignCounts(i, f"campaign-{i}", "paused", "y" * 300, 6000, 1234,
                       {"queued": 350_000, "active": 42_000, "finished": 70_000, "bounced": 900})
        for i in range(6)
    ]  # fmt: skip
    alerts = [StoredAlert(i, f"k{i}", "critical", "z" * 900, NOW) for i in range(5)]
    return StatusReport(
        now=NOW,
        day=date(2026, 11, 25),
        sent=12_000,
        capacity=Capacity(boxes, domains, 120_000),
        campaigns=campaigns,
        attention=attention,
        alerts=alerts,
        unlisted={"paused": 15, "cooldown": 60, "warming": 600},
    )


def test_the_mailboxes_not_named_are_counted_by_kind() -> None:
    lines = status_lines(big_report())
    assert lines[:2] == [
        "Today 2026-11-25: sent 12000 / capacity 192000 / target 120000",
        "Mailboxes: 4300 active, 600 warming, 40 paused, 60 cooldown",
    ]
    named = [line for line in lines if line.startswith("  sender")]
    assert len(named) == ATTENTION_LIMIT
    assert all(len(line) < 240 for line in named)  # a long reason is cut
    more = lines[lines.index(named[-1]) + 1]
    assert more.startswith("  ... and 675 more (15 paused, 60 cooldown, 600 warming); ")


def test_a_pool_of_5000_answers_in_at_most_two_messages() -> None:
    messages = chunk_lines(status_lines(big_report()))
    assert len(messages) <= 2
    assert all(utf16_len(m) <= MESSAGE_LIMIT for m in messages)
    assert "not shown" not in messages[-1]  # nothing was cut off
    assert messages[-1].splitlines()[-1].endswith("z" * 20)  # down to the last alert


def test_unknown_lists_suggestions() -> None:
    text = unknown_lines(Unknown("m0@d0.tst", ("m0@d0.test", "m1@d0.test")))
    assert text == ["unknown mailbox, domain or campaign 'm0@d0.tst'; did you mean: "
                    "m0@d0.test, m1@d0.test"]  # fmt: skip
    assert "did you mean" not in unknown_lines(Unknown("zzz", ()))[0]


def test_mailbox_detail_shows_cap_sent_and_cool_down_end() -> None:
    until = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    detail = MailboxDetail(
        address="m0@d0.test", domain="d0.test", state="cooldown", reason="spam block",
        cap=0, sent=3, daily_limit=40, warmup_day=None, warmup_phase=None,
        resting_until=None, domain_state="cooldown", cooldown_until=until, last_sent_at=None,
    )  # fmt: skip
    text = "\n".join(detail_lines(detail))
    assert "State: cooldown - spam block" in text
    assert "sent 3 / cap 0 (daily limit 40)" in text
    assert "Cool-down of d0.test until 2026-12-07 14:00 UTC" in text


def test_mailbox_detail_shows_the_rates_of_the_health_window() -> None:
    detail = MailboxDetail(
        address="m0@d0.test", domain="d0.test", state="active", reason="", cap=40, sent=3,
        daily_limit=40, warmup_day=None, warmup_phase=None, resting_until=None,
        domain_state="active", cooldown_until=None, last_sent_at=None,
        rates=RateCounts(sends=200, delivered=190, bounces=6, complaints=1, opens=50, replies=8),
        window_days=7,
    )  # fmt: skip
    assert detail_lines(detail)[-1] == (
        "Last 7 days: 200 sent, delivered 95.0%, opened 25.0%, replies 4.0%, bounces 3.0%, "
        "complaints 1 (0.50%)"
    )


def test_mailbox_detail_shows_placement_with_its_count_and_the_hold() -> None:
    detail = MailboxDetail(
        address="m0@d0.test", domain="d0.test", state="warming", reason="", cap=12, sent=3,
        daily_limit=40, warmup_day=8, warmup_phase=2, resting_until=None,
        domain_state="active", cooldown_until=None, last_sent_at=None,
        placement_inbox=9, placement_spam=11, placement_hold=True,
    )  # fmt: skip
    lines = detail_lines(detail)
    assert "Inbox placement, last 7 days: 45% of 20 warm-up mails found (11 in spam)" in lines
    assert any(line.startswith("Campaign mail held: inbox placement under 50 %") for line in lines)
    few = dataclasses.replace(detail, placement_inbox=2, placement_spam=0, placement_hold=False)
    lines = detail_lines(few)
    assert "Inbox placement, last 7 days: n/a, 2 warm-up mails found, a rate from 5" in lines
    assert not any("held" in line for line in lines)
