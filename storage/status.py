"""Read-only queries behind /status and `main.py status`."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite


@dataclass(frozen=True, slots=True)
class CampaignCounts:
    """One campaign's leads by state, and its sends today."""

    id: int
    name: str
    state: str
    reason: str
    daily_limit: int | None
    sent_today: int
    leads: dict[str, int]


async def campaign_counts(conn: aiosqlite.Connection, day: str) -> list[CampaignCounts]:
    """Every campaign not removed from the config, with lead counts per state."""
    leads: dict[int, dict[str, int]] = {}
    for row in await conn.execute_fetchall(
        "SELECT campaign_id, state, count(*) FROM leads GROUP BY campaign_id, state"
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
