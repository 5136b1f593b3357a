"""`/plan` and `main.py plan`: the ramp table, the day the target is reached and what it needs."""

from __future__ import annotations

from bot.views.common import number
from core.ramp import Limit, RampDay, RampPlan


def _cap(day: RampDay) -> str:
    return str(day.cap_low) if day.cap_low == day.cap_high else f"{day.cap_low}-{day.cap_high}"


def _row(day: RampDay) -> str:
    limits = ", ".join(sorted(day.limits))
    return (
        f"{day.day:>4} {day.date.isoformat()} {day.warming:>5} {day.active:>5} {_cap(day):>8}"
        f" {number(day.capacity):>9} {number(day.cumulative):>11}  {limits}"
    )


# The narrow table's letters for what limits a day (Limit), in this order.
_LETTERS = {Limit.WARMUP: "W", Limit.DOMAIN_CAPS: "D", Limit.MAILBOX_LIMITS: "M"}


def _narrow_row(day: RampDay) -> str:
    """A day in 34 columns (PHONE_COLUMNS): no year, no full or cumulative counts."""
    limits = "".join(letter for limit, letter in _LETTERS.items() if limit in day.limits)
    return (
        f"{day.day:>3} {day.date:%m-%d} {day.warming:>4} {_cap(day):>7}"
        f" {number(day.capacity):>7} {limits}"
    )


def plan_caption(plan: RampPlan) -> str:
    """One line: the pool, the target and the day it is reached (or the pool's peak)."""
    pool = f"{plan.mailboxes} mailboxes on {plan.domains} domains"
    reached = plan.target_day
    if reached is None:
        return (
            f"{pool}: {number(plan.target)} a day not reached "
            f"(peak {number(plan.steady_capacity)}, needs {plan.mailboxes_needed} mailboxes)"
        )
    return f"{pool}: {number(plan.target)} a day reached on day {reached.day} ({reached.date})"


def plan_lines(plan: RampPlan, *, narrow: bool = False) -> list[str]:
    """The ramp day by day, then the target day, what limits it and the steady state.

    `narrow`: the table a phone shows (the bot's); the terminal's has every column.
    """
    lines = [
        f"Plan: {plan.mailboxes} mailboxes on {plan.domains} domains, target "
        f"{number(plan.target)} a day, day 1 = {plan.start.isoformat()}",
    ]
    if narrow:
        lines += [
            f"{'day':>3} {'date':<5} {'warm':>4} {'cap/mb':>7} {'total':>7} lim",
            *(_narrow_row(day) for day in plan.days),
            "warm: mailboxes still warming",
            "cap/mb: cap per mailbox",
            "lim: W warm-up, D domain caps,",
            "M mailbox limits",
        ]
    else:
        lines.append(
            f"{'day':>4} {'date':<10} {'warm':>5} {'full':>5} {'cap/mbox':>8} {'capacity':>9}"
            f" {'cumulative':>11}  limited by"
        )
        lines += [_row(day) for day in plan.days]
    if not plan.complete:
        lines.append(f"(some mailboxes are still warming after {len(plan.days)} days)")
    lines.append("")
    reached = plan.target_day
    limits = ", ".join(plan.limited_by())
    if reached is None:
        lines.append(
            f"Target {number(plan.target)} a day: not reached; the pool peaks at "
            f"{number(plan.steady_capacity)} a day, limited by {limits}."
        )
    elif reached.day == 1:
        lines.append(f"Target {number(plan.target)} a day: reached on day 1.")
    else:
        lines.append(
            f"Target {number(plan.target)} a day: reached on day {reached.day} "
            f"({reached.date.isoformat()}); until then limited by {limits}."
        )
    lines.append(
        f"Steady state: {number(plan.steady_capacity)} a day ({plan.steady_limit}). "
        f"The target needs {plan.mailboxes_needed} mailboxes at {plan.per_mailbox} a day; "
        f"the pool has {plan.mailboxes}."
    )
    if plan.steady_limit is Limit.DOMAIN_CAPS and plan.steady_capacity < plan.target:
        lines.append("More mailboxes on capped domains add nothing: raise the caps or add domains.")
    lines.append("Sent = every slot used; week 1 carries warm-up traffic only (SPEC 7).")
    return lines
