"""What a finished demo run's database says about the warm-up loop, per mailbox and day."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from core import limits
from demo.world import TIMEZONE


@dataclass(frozen=True)
class LoopDay:
    """One mailbox on one day: the loop's share, what went out, and answers pushed to tomorrow."""

    volume: int  # the loop's share of the day's cap (warmup_days); campaigns get the rest
    warmup: int  # warm-up sends of the day (slots used)
    campaign: int  # campaign sends of the day (slots used)
    planned: int  # the loop's mails of the day (new ones and answers)
    late: int  # of those, answers due after the day ended: their slot of the day goes unused


def _end_ms(day: str) -> int:
    end = datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(0))
    return int(end.replace(tzinfo=limits.zone(TIMEZONE)).astimezone(UTC).timestamp() * 1000)


def loop_days(db: sqlite3.Connection) -> dict[tuple[str, str], LoopDay]:
    """(address, day) -> that mailbox's day in the loop, for every day it sent or had a share."""
    sends = {
        (address, day): (warm, camp)
        for address, day, warm, camp in db.execute(
            "SELECT m.address, s.day, sum(s.kind = 'warmup'), sum(s.kind = 'campaign') "
            "FROM sends s JOIN mailboxes m ON m.id = s.mailbox_id GROUP BY 1, 2"
        )
    }
    shares = {
        (address, day): volume
        for address, day, volume in db.execute(
            "SELECT m.address, w.day, w.volume FROM warmup_days w "
            "JOIN mailboxes m ON m.id = w.mailbox_id"
        )
    }
    planned: dict[tuple[str, str], tuple[int, int]] = {}
    for address, day, due_at in db.execute(
        "SELECT m.address, w.day, w.due_at FROM warmup_mails w "
        "JOIN mailboxes m ON m.id = w.mailbox_id"
    ):
        count, late = planned.get((address, day), (0, 0))
        planned[(address, day)] = (count + 1, late + (due_at >= _end_ms(day)))
    return {
        key: LoopDay(
            volume=shares.get(key, 0),
            warmup=sends.get(key, (0, 0))[0],
            campaign=sends.get(key, (0, 0))[1],
            planned=planned.get(key, (0, 0))[0],
            late=planned.get(key, (0, 0))[1],
        )
        for key in {*sends, *shares}
    }
