"""Which mailbox sends the next new thread (SPEC 6.6).

Among the mailboxes that rules 1-5 allow, pick the one with
  1. the lowest bounce rate over the health window (protect reputation first),
  2. then the fewest sends today (spread volume),
  3. then the longest idle (the oldest last send; never sent counts as idlest),
and finally the lowest id, so the choice is deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from core.models import MailboxView

_NEVER = datetime.min.replace(tzinfo=UTC)


def rotation_key(mailbox: MailboxView) -> tuple[float, int, datetime, int]:
    """Sort key: the smallest is chosen first."""
    return (mailbox.bounce_rate, mailbox.sent_today, mailbox.last_sent_at or _NEVER, mailbox.id)


def choose(candidates: Iterable[MailboxView]) -> MailboxView | None:
    """The mailbox that sends the next new thread, or None if there is none."""
    return min(candidates, key=rotation_key, default=None)
