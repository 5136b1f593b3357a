"""The alert after a crash: every send left mid-flight, listed in chat-sized alerts."""

from __future__ import annotations

from collections.abc import Sequence

from core.records import Interrupted

# 25 lines of at most 150 characters fit one Telegram message; 20 such alerts (500 steps) are
# as much as a chat should take, the log has the rest.
UNKNOWN_LINE_CHARS = 150
UNKNOWN_LINES_PER_ALERT = 25
UNKNOWN_ALERTS = 20


def unknown_line(item: Interrupted) -> str:
    """One interrupted send as a list line."""
    return (
        f"- {item.email or 'warm-up'} (campaign {item.campaign or '-'}, step "
        f"{item.step_no or '-'}, from {item.mailbox})"
    )[:UNKNOWN_LINE_CHARS]


def unknown_alerts(lost: Sequence[Interrupted]) -> list[str]:
    """The alert texts listing `lost`: several, each fitting one chat message, then a count."""
    lines = [unknown_line(item) for item in lost]
    parts = [
        lines[at : at + UNKNOWN_LINES_PER_ALERT]
        for at in range(0, len(lines), UNKNOWN_LINES_PER_ALERT)
    ]
    shown = parts[:UNKNOWN_ALERTS]
    rest = len(lines) - sum(map(len, shown))
    texts = []
    for number, part in enumerate(shown, 1):
        which = f" (list {number} of {len(shown)})" if len(shown) > 1 else ""
        more = ""
        if number == len(shown) and rest > 0:
            more = f"\n... and {rest} more: the log lists every one ('unknown send')"
        texts.append(
            f"{len(lost)} send(s) were interrupted mid-send and are marked unknown; they "
            f"will not be resent automatically{which}:\n" + "\n".join(part) + more
        )
    return texts
