"""The daily digest (SPEC 11): yesterday's numbers in, the alert's text out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from core import limits

HELD_LIMIT = 10  # paused or cooling items the digest names; the rest are counted
# Labels in the order the digest lists them; None (no label given yet) last.
_LABELS = {"interested": "interested", "not_interested": "not interested",
           "unsubscribe": "unsubscribe", None: "unlabelled"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Held:
    """A mailbox, domain or campaign that does not send: paused, cooling down or stopped."""

    kind: str  # "mailbox", "domain" or "campaign"
    name: str
    state: str
    until: datetime | None = None  # a cool-down's or a rest's end (UTC); None: until /resume
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DigestNumbers:
    """Everything one digest says."""

    day: date  # the local day it covers (yesterday when sent)
    timezone: str
    sent: int
    bounces: int
    complaints: int
    replies: Mapping[str | None, int]  # by reply label; None: not labelled yet
    capacity: int  # what the pool may send today
    target: int
    unknown_sends: int  # sends of that day whose outcome is not known (interrupted)
    held: tuple[Held, ...] = ()
    dns_problems: tuple[str, ...] = ()  # "d0.test: SPF, DMARC (no p= tag)"
    dns_checked: bool = True  # False: the check could not run (no resolver)


def in_digest_hour(now: datetime, timezone: str, hour: int) -> bool:
    """Whether `now` falls in the local hour the digest is due (a start then catches it up)."""
    # The hour after hour:00 is the daily cron job's misfire grace: a start inside it runs
    # what the job would have run, a later one waits for tomorrow.
    return now.astimezone(limits.zone(timezone)).hour == hour


def _percent(part: int, whole: int) -> str:
    return f" ({100 * part / whole:.1f}%)" if whole else ""


def _replies(replies: Mapping[str | None, int]) -> str:
    total = sum(replies.values())
    if not total:
        return "Replies: 0"
    known = [label for label in _LABELS if replies.get(label)]
    others = sorted(str(label) for label in replies if label not in _LABELS and replies[label])
    parts = [f"{_LABELS[label]} {replies[label]}" for label in known]
    parts += [f"{label} {replies[label]}" for label in others]
    return f"Replies: {total} ({', '.join(parts)})"


def _held_line(item: Held) -> str:
    line = f"- {item.kind} {item.name} {item.state}"
    if item.until is not None:
        line += f" until {item.until:%Y-%m-%d %H:%M} UTC"
    if item.reason:
        line += f": {item.reason}"
    return line


def digest_text(numbers: DigestNumbers) -> str:
    """The digest as plain text lines, most important first."""
    n = numbers
    lines = [
        f"Daily digest for {n.day.isoformat()} ({n.timezone})",
        f"Sent: {n.sent}",
        f"Bounces: {n.bounces}{_percent(n.bounces, n.sent)}",
        f"Complaints: {n.complaints}{_percent(n.complaints, n.sent)}",
        _replies(n.replies),
    ]
    capacity = f"Capacity today: {n.capacity} of target {n.target}"
    if n.capacity < n.target:
        capacity += f" (short by {n.target - n.capacity})"
    lines.append(capacity)
    if n.unknown_sends:
        lines.append(f"Unknown sends: {n.unknown_sends} (interrupted; outcome not known)")
    if n.held:
        lines.append("Not sending:")
        lines += [_held_line(item) for item in n.held[:HELD_LIMIT]]
        if len(n.held) > HELD_LIMIT:
            lines.append(f"- and {len(n.held) - HELD_LIMIT} more (see /status)")
    if not n.dns_checked:
        lines.append("DNS: not checked (the lookup could not run)")
    elif n.dns_problems:
        lines.append("DNS problems (see /dns):")
        lines += [f"- {problem}" for problem in n.dns_problems]
    else:
        lines.append("DNS: every record found")
    return "\n".join(lines)
