"""Read-only queries behind /status and `main.py status`."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from core.models import RateCounts
from core.records import CampaignCounts
from storage.db import to_ms


async def campaign_counts(conn: aiosqlite.Connection, day: str) -> list[CampaignCounts]:
    """Every campaign not removed from the config, with lead counts per state."""
    leads: dict[int, dict[str, int]] = {}
    # lead_counts is kept by triggers on `leads` (migration 3): a few rows, not 1M to count.
    for row in await conn.execute_fetchall(
        "SELECT campaign_id, state, n FROM lead_counts WHERE n > 0"
    ):
        leads.setdefault(row[0], {})[row[1]] = row[2]
    rows = await conn.execute_fetchall(
        """
        SELECT c.id, c.name, c.state, c.reason, c.daily_limit, coalesce(u.sent, 0)
        FROM campaigns c
        LEFT JOIN usage u ON u.scope = 'campaign' AND u.ref = c.id AND u.day = ?
        WHERE c.state != 'disabled' ORDER BY c.name
        """,
        (day,),
    )
    return [CampaignCounts(r[0], r[1], r[2], r[3], r[4], r[5], leads.get(r[0], {})) for r in rows]


async def sent_on(conn: aiosqlite.Connection, day: str) -> int:
    """Mails sent (slots used) on one day over all mailboxes."""
    rows = list(
        await conn.execute_fetchall(
            "SELECT coalesce(sum(sent), 0) FROM usage WHERE scope = 'mailbox' AND day = ?", (day,)
        )
    )
    return int(rows[0][0])


_RATE_FIELDS = {"bounce_hard": "bounces", "complaint": "complaints", "reply": "replies"}


async def campaign_rates(
    conn: aiosqlite.Connection, start: datetime, end: datetime
) -> dict[int, RateCounts]:
    """Campaign id -> its sends in [start, end) and the bounces, complaints, replies then."""
    lo, hi = to_ms(start), to_ms(end)
    sends = {
        int(row[0]): int(row[1])
        for row in await conn.execute_fetchall(
            "SELECT campaign_id, count(*) FROM sends WHERE sent_at >= ? AND sent_at < ? "
            "AND campaign_id IS NOT NULL GROUP BY campaign_id",
            (lo, hi),
        )
    }
    events: dict[int, dict[str, int]] = {}
    # One event of a kind per send, as in the health window: SMTP, IMAP and an ESP may all
    # report the same bounce.
    for row in await conn.execute_fetchall(
        """
        SELECT campaign_id, kind, count(DISTINCT coalesce('s' || send_id, 'e' || id))
        FROM events
        WHERE kind IN ('bounce_hard', 'complaint', 'reply') AND occurred_at >= ?
          AND occurred_at < ? AND campaign_id IS NOT NULL
        GROUP BY campaign_id, kind
        """,
        (lo, hi),
    ):
        events.setdefault(int(row[0]), {})[_RATE_FIELDS[row[1]]] = int(row[2])
    return {
        campaign_id: RateCounts(sends=sends.get(campaign_id, 0), **events.get(campaign_id, {}))
        for campaign_id in sends.keys() | events.keys()
    }
