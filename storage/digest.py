"""Read-only queries behind the daily digest and /export."""

from __future__ import annotations

import aiosqlite

from core.export import ExportRow
from storage.db import from_ms


async def replies_by_label(
    conn: aiosqlite.Connection, start_ms: int, end_ms: int
) -> dict[str | None, int]:
    """Replies in [start, end) by the label of the lead they answer (None: not labelled)."""
    # Counted as /stats counts them: one per send, however many copies came in.
    rows = await conn.execute_fetchall(
        """
        SELECT l.label,
               count(DISTINCT e.send_id) + count(*) FILTER (WHERE e.send_id IS NULL)
        FROM events e
        LEFT JOIN sends s ON s.id = e.send_id
        LEFT JOIN leads l ON l.id = s.lead_id
        WHERE e.kind = 'reply' AND e.occurred_at >= ? AND e.occurred_at < ?
        GROUP BY l.label
        """,
        (start_ms, end_ms),
    )
    return {None if r[0] is None else str(r[0]): int(r[1]) for r in rows if r[1]}


async def unknown_sends(conn: aiosqlite.Connection, day: str) -> int:
    """Sends of local day `day` whose outcome is unknown (interrupted mid-send)."""
    # By (mailbox_id, day): the sends_mailbox_day index, one range per mailbox.
    rows = list(
        await conn.execute_fetchall(
            "SELECT count(*) FROM sends WHERE mailbox_id IN (SELECT id FROM mailboxes) "
            "AND day = ? AND state = 'unknown'",
            (day,),
        )
    )
    return int(rows[0][0])


async def export_page(
    conn: aiosqlite.Connection, campaign_id: int, after_id: int, limit: int
) -> list[ExportRow]:
    """Up to `limit` leads of a campaign with ids above `after_id`, in id order."""
    # Keyset paging on the rowid: `+campaign_id` keeps SQLite off the (campaign_id, email)
    # index, whose id order is no order, so a page reads on from the last id instead of
    # scanning and sorting the whole campaign again (quadratic: 19 s instead of 2 s at 200k
    # leads). A lead's sends come from the sends (lead_id, step_no) index, their events from
    # events_send.
    rows = await conn.execute_fetchall(
        """
        SELECT l.id, l.email, l.state, l.label,
               (SELECT count(*) FROM sends s
                WHERE s.lead_id = l.id AND s.sent_at IS NOT NULL),
               e.kind, e.occurred_at
        FROM leads l
        LEFT JOIN events e ON e.id = (
            SELECT le.id FROM sends s JOIN events le ON le.send_id = s.id
            WHERE s.lead_id = l.id
            ORDER BY le.occurred_at DESC, le.id DESC LIMIT 1)
        WHERE +l.campaign_id = ? AND l.id > ?
        ORDER BY l.id
        LIMIT ?
        """,
        (campaign_id, after_id, limit),
    )
    return [
        ExportRow(
            lead_id=int(r[0]),
            email=str(r[1]),
            state=str(r[2]),
            steps_sent=int(r[4]),
            last_event=None if r[5] is None else str(r[5]),
            last_event_at=None if r[6] is None else from_ms(int(r[6])),
            label=None if r[3] is None else str(r[3]),
        )
        for r in rows
    ]
