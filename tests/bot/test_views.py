"""The bot's texts: pure functions of plain values."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import views
from core.models import RateCounts
from core.records import CampaignCounts
from engine.control import Change, ControlResult, Left, Target, Unknown
from engine.status import CampaignDetail, MailboxDetail

SPEC_COMMANDS = ("start", "help", "status", "pause", "resume", "warmup", "upload", "campaigns",
                 "stats", "suppress", "unsuppress", "dns", "cost")  # fmt: skip


def test_help_names_every_command_with_its_arguments() -> None:
    text = "\n".join(views.help_lines())
    for name in SPEC_COMMANDS:
        assert f"/{name}" in text
    assert "/pause <mailbox, domain, campaign or all> [reason]" in text
    assert "/resume <mailbox, domain, campaign or all> [force]" in text
    assert views.USAGE["pause"] == "Usage: /pause <mailbox, domain, campaign or all> [reason]"


def test_private_text_gives_the_user_id() -> None:
    assert views.private_text(42) == "This bot is private. Your user id is 42."


def test_one_change_is_one_headline() -> None:
    outcome = ControlResult(
        "pause", Target("mailbox", "m0@d0.test"),
        (Change("mailbox m0@d0.test", "active", "paused"),), (),
    )  # fmt: skip
    assert views.control_lines(outcome) == ["Paused mailbox m0@d0.test (active -> paused)."]


def test_nothing_changed_says_what_was_left_and_why() -> None:
    outcome = ControlResult(
        "resume", Target("domain", "d0.test"), (),
        (Left("domain d0.test", "cooldown", "cooling down until 2026-12-07; force ends it"),),
    )  # fmt: skip
    assert views.control_lines(outcome) == [
        "Nothing changed for domain d0.test.",
        "Left as it is:",
        "  domain d0.test (cooldown): cooling down until 2026-12-07; force ends it",
    ]


def test_all_is_tallied_and_long_lists_are_cut() -> None:
    changed = tuple(Change(f"mailbox m{i}@d.test", "active", "paused") for i in range(40))
    changed += (Change("campaign q4", "active", "paused"),)
    outcome = ControlResult("pause", Target("all", "all"), changed, (), ("note",))
    lines = views.control_lines(outcome)
    assert lines[0] == "Paused everything: 40 mailboxes, 1 campaign."
    assert f"  ... and {41 - views.LIST_LIMIT} more" in lines
    assert lines[-1] == "note"


def test_unknown_lists_suggestions() -> None:
    text = views.unknown_lines(Unknown("m0@d0.tst", ("m0@d0.test", "m1@d0.test")))
    assert text == ["unknown mailbox, domain or campaign 'm0@d0.tst'; did you mean: "
                    "m0@d0.test, m1@d0.test"]  # fmt: skip
    assert "did you mean" not in views.unknown_lines(Unknown("zzz", ()))[0]


def test_mailbox_detail_shows_cap_sent_and_cool_down_end() -> None:
    until = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    detail = MailboxDetail(
        address="m0@d0.test", domain="d0.test", state="cooldown", reason="spam block",
        cap=0, sent=3, daily_limit=40, warmup_day=None, warmup_phase=None,
        resting_until=None, domain_state="cooldown", cooldown_until=until, last_sent_at=None,
    )  # fmt: skip
    text = "\n".join(views.detail_lines(detail))
    assert "State: cooldown - spam block" in text
    assert "sent 3 / cap 0 (daily limit 40)" in text
    assert "Cool-down of d0.test until 2026-12-07 14:00 UTC" in text


def test_campaign_lines_show_leads_sent_today_and_rates() -> None:
    counts = CampaignCounts(1, "q4", "active", "", 600, 12, {"queued": 80, "replied": 2})
    rates = RateCounts(sends=200, bounces=4, complaints=1, replies=10)
    lines = views.campaigns_lines([counts], {1: rates}, 7)
    assert lines[1] == "q4: active; sent today 12/600"
    assert lines[2] == "  leads: 80 queued, 2 replied"
    assert lines[3] == "  200 sent, bounces 2.0%, complaints 1 (0.50%), replies 5.0%"
    detail = CampaignDetail(counts, "UTC", ("mon",), "09:00-17:00", "config", 7, RateCounts())
    assert "Last 7 days: no sends" in views.detail_lines(detail)
    assert views.campaigns_lines([], {}, 7)[0].startswith("No campaigns")


def test_long_answers_are_split_at_lines_and_capped() -> None:
    lines = [f"line {i:05d} " + "x" * 90 for i in range(1000)]
    parts = views.chunk_lines(lines)
    assert len(parts) == views.MAX_PARTS
    assert all(views.utf16_len(p) <= views.MESSAGE_LIMIT for p in parts)
    assert parts[0].startswith("line 00000")
    assert "more line(s) not shown" in parts[-1]
    assert views.chunk_lines(["a", "b"]) == ["a\nb"]


def test_clip_counts_utf16_units() -> None:
    text = "\N{GRINNING FACE}" * 3000  # 6000 UTF-16 units
    clipped = views.clip(text)
    assert views.utf16_len(clipped) <= views.MESSAGE_LIMIT
    assert clipped.endswith("[cut]")
    assert views.alert_text("critical", "x") == "CRITICAL: x"
    assert views.alert_text("info", "digest") == "digest"
