"""/warmup: the warm-up table, and what starting or stopping a ramp did."""

from __future__ import annotations

from datetime import date

from core.warmup import PLACEMENT_SHOWN
from engine.warmup_admin import WarmupReport, WarmupRow

# Two lines a mailbox, so each fits a phone (bot.views.common.PHONE_COLUMNS): the address,
# then its numbers under the header. "inbox" and "of" read together: "75% of 20".
HEADER = f"{'day':>3} {'ph':>2} {'cap':>3} {'snt':>3} {'rcv':>3} {'rep':>3} {'inbox':>5} {'of':>5}"
HELD = " (held)"


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def _numbers(row: WarmupRow) -> str:
    today = row.today
    rate = "n/a" if row.placement is None else f"{row.placement:.0%}"
    return (
        f"{_dash(row.day):>3} {_dash(row.phase):>2} {row.cap:>3} {today.sent:>3} "
        f"{today.received:>3} {today.replied:>3} {rate:>5} {row.placed:>5}"
    )


def warmup_lines(report: WarmupReport) -> list[str]:
    """The SPEC 10 warm-up table: day, phase, cap, warm-up traffic today, inbox placement."""
    policy = report.policy
    lines = [
        f"Warm-up on {report.today.isoformat()}: ramp {policy.phase1_start}->"
        f"{policy.phase1_end} over {policy.phase1_days} days, then +{policy.daily_growth:.0%} "
        f"a day up to {policy.target}",
    ]
    if not report.rows:
        lines.append("No mailbox is warming up or warm. Start one with /warmup start <mailbox>.")
        return lines
    lines += ["mailbox", HEADER]
    warming = [row for row in report.rows if row.state == "warming"]
    warm = [row for row in report.rows if row.state != "warming"]
    for title, rows in (
        ("warming:", warming),
        (f"warm, {policy.maintenance_share:.0%} of the cap as warm-up:", warm),
    ):
        if not rows:
            continue
        lines.append(title)
        for row in rows:
            # A longer address is wrapped by answer_table, not cut.
            lines += [row.address + (HELD if row.held else ""), _numbers(row)]
    if report.unlisted:
        more = ", ".join(
            f"{n} {'warming' if state == 'warming' else 'warm'}"
            for state, n in report.unlisted.items()
        )
        lines.append(f"... and {sum(report.unlisted.values())} more ({more})")
    lines.append(
        "snt, rcv, rep = warm-up mails sent, received and answered today; inbox = share of its "
        f"warm-up mails found in the inbox over the last {report.placement_days} days, of so "
        f"many found (n/a under {PLACEMENT_SHOWN})"
    )
    if any(row.held for row in report.rows):
        lines.append(
            "(held) = inbox placement under 50 %: campaign mail held until it is back over "
            "70 %; warm-up goes on"
        )
    return lines


def warmup_started(address: str, day: date) -> str:
    """After /warmup start."""
    return f"{address} starts warm-up: {day.isoformat()} is day 1 of its ramp."


def warmup_stopped(address: str, daily_limit: int) -> str:
    """After /warmup stop."""
    return f"{address} stopped warming up; it is active at its daily limit of {daily_limit}."
