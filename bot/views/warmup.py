"""/warmup: the warm-up table, and what starting or stopping a ramp did."""

from __future__ import annotations

from datetime import date

from engine.warmup_admin import WarmupReport

WARMUP_ROWS = 60  # /warmup lists at most this many mailboxes in text


def warmup_lines(report: WarmupReport) -> list[str]:
    """The SPEC 10 warm-up table: day, phase, today's cap, sent, inbox placement."""
    policy = report.policy
    lines = [
        f"Warm-up on {report.today.isoformat()}: ramp {policy.phase1_start}->"
        f"{policy.phase1_end} over {policy.phase1_days} days, then +{policy.daily_growth:.0%} "
        f"a day up to {policy.target}",
    ]
    if not report.rows:
        lines.append("No mailbox is warming up. Start one with /warmup start <mailbox>.")
        return lines
    # Two lines a mailbox, so each fits a phone (bot.views.common.PHONE_COLUMNS): the
    # address, then its numbers under the header.
    lines += ["mailbox", f"{'day':>5} {'phase':>5} {'cap':>4} {'sent':>4} {'inbox':>5}"]
    for row in report.rows[:WARMUP_ROWS]:
        placement = "n/a" if row.placement is None else f"{row.placement:.0%}"
        day = "-" if row.day is None else str(row.day)
        phase = "-" if row.phase is None else str(row.phase)
        lines += [
            row.address,  # a longer one is wrapped by answer_table, not cut
            f"{day:>5} {phase:>5} {row.cap:>4} {row.sent_today:>4} {placement:>5}",
        ]
    if len(report.rows) > WARMUP_ROWS:
        lines.append(f"... and {len(report.rows) - WARMUP_ROWS} more warming mailboxes")
    lines.append(
        f"inbox = warm-up mails found in the inbox over the last {report.placement_days} "
        "days; n/a until the warm-up loop reports any"
    )
    return lines


def warmup_started(address: str, day: date) -> str:
    """After /warmup start."""
    return f"{address} starts warm-up: {day.isoformat()} is day 1 of its ramp."


def warmup_stopped(address: str, daily_limit: int) -> str:
    """After /warmup stop."""
    return f"{address} stopped warming up; it is active at its daily limit of {daily_limit}."
