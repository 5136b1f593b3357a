"""Read-only queries behind /stats, /cost, /warmup and /lead, and the lead closing of /suppress.

Every time filter is a range on an indexed instant (`sends.sent_at`, `events.occurred_at`),
so a query reads the index entries of its window only, however long the history is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime

import aiosqlite

from core.export import ExportRow
from core.models import EventKind, LeadState, RateCounts, ReplyLabel, SendState
from core.records import (
    CampaignCounts,
    DayBounds,
    LeadCard,
    LeadEvent,
    LeadStep,
    MailboxRow,
    StoredAlert,
    UsageScope,
    WarmingRow,
    WarmupToday,
)
from storage import alerts, digest, rows, status
from storage.db import Database, from_ms, run_sync, to_ms
from storage.health import window_counts
from storage.rows import RowReader
from storage.snapshot import SnapshotReader

MsBounds = tuple[str, int, int]  # day label, start ms (included), end ms (excluded)

# Event kinds /stats charts.
STATS_KINDS = ("bounce_hard", "complaint", "reply")

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _bounds_cte(bounds: Sequence[MsBounds]) -> tuple[str, list[object]]:
    """A `b(day, lo, hi)` CTE of the days, so one query buckets a whole range by local day."""
    values = ", ".join("(?, ?, ?)" for _ in bounds)
    params: list[object] = [value for row in bounds for value in row]
    return f"WITH b(day, lo, hi) AS (VALUES {values})", params


async def sent_per_day(conn: aiosqlite.Connection, bounds: Sequence[MsBounds]) -> dict[str, int]:
    """Sends whose sent_at falls in each day's range (campaign and warm-up mail)."""
    if not bounds:
        return {}
    cte, params = _bounds_cte(bounds)
    # One index range count per day: a join + GROUP BY would sort every send of the period
    # (7x slower over a year of history).
    rows = await conn.execute_fetchall(
        f"""
        {cte}
        SELECT b.day, (SELECT count(*) FROM sends s WHERE s.sent_at >= b.lo AND s.sent_at < b.hi)
        FROM b
        """,
        params,
    )
    return {str(row[0]): int(row[1]) for row in rows}


async def events_per_day(
    conn: aiosqlite.Connection, bounds: Sequence[MsBounds], kinds: Sequence[str] = STATS_KINDS
) -> dict[tuple[str, str], int]:
    """(day, kind) -> events of that kind whose occurred_at falls in the day's range."""
    if not bounds or not kinds:
        return {}
    cte, params = _bounds_cte(bounds)
    kind_rows = " UNION ALL ".join("SELECT ?" for _ in kinds)
    # One event of a kind per send: the same bounce may come from SMTP, IMAP and an ESP.
    # Events matched to no send count one each.
    rows = await conn.execute_fetchall(
        f"""
        {cte}, k(kind) AS ({kind_rows})
        SELECT b.day, k.kind, (
            SELECT count(DISTINCT e.send_id) + count(*) FILTER (WHERE e.send_id IS NULL)
            FROM events e
            WHERE e.kind = k.kind AND e.occurred_at >= b.lo AND e.occurred_at < b.hi)
        FROM b, k
        """,
        [*params, *kinds],
    )
    return {(str(row[0]), str(row[1])): int(row[2]) for row in rows if row[2]}


async def sent_between(conn: aiosqlite.Connection, start_ms: int, end_ms: int) -> int:
    """Sends whose sent_at is in [start, end)."""
    rows = list(
        await conn.execute_fetchall(
            "SELECT count(*) FROM sends WHERE sent_at >= ? AND sent_at < ?", (start_ms, end_ms)
        )
    )
    return int(rows[0][0])


async def warming_rows(conn: aiosqlite.Connection, day: str) -> list[WarmingRow]:
    """Every mailbox in the warm-up loop (warming, then warm) with its slots used on `day`."""
    rows = await conn.execute_fetchall(
        """
        SELECT m.id, m.address, m.daily_limit, m.warmup_start, coalesce(u.sent, 0), m.state,
               m.placement_hold
        FROM mailboxes m
        LEFT JOIN usage u ON u.scope = 'mailbox' AND u.ref = m.id AND u.day = ?
        WHERE m.state IN ('warming', 'active') AND m.in_config = 1
        ORDER BY m.state = 'active', m.address
        """,
        (day,),
    )
    return [
        WarmingRow(int(r[0]), str(r[1]), int(r[2]), r[3], int(r[4]), str(r[5]), bool(r[6]))
        for r in rows
    ]


async def warmup_today(
    conn: aiosqlite.Connection, mailboxes: Mapping[int, str], day: str, start_ms: int, end_ms: int
) -> dict[int, WarmupToday]:
    """mailbox id -> its warm-up mails sent, received and answered on `day` ([start, end))."""
    if not mailboxes:
        return {}
    marks = ", ".join("?" for _ in mailboxes)
    ids = list(mailboxes)
    # Each mailbox's sends of the day through the (mailbox_id, day) index; an answer is a
    # warm-up mail that names the mail it answers.
    sent = {
        int(r[0]): (int(r[1]), int(r[2]))
        for r in await conn.execute_fetchall(
            f"""
            SELECT s.mailbox_id, count(*), count(w.answers)
            FROM sends s LEFT JOIN warmup_mails w ON w.message_id = s.message_id
            WHERE s.mailbox_id IN ({marks}) AND s.day = ? AND s.kind = 'warmup'
              AND s.state = 'sent'
            GROUP BY s.mailbox_id
            """,
            [*ids, day],
        )
    }
    # Every placement names the pool mailbox that sent it, so the day's placements are read
    # through the (mailbox_id, seen_at) index, then counted by who received them.
    received = {
        str(r[0]): int(r[1])
        for r in await conn.execute_fetchall(
            """
            SELECT receiver, count(*) FROM placements
            WHERE mailbox_id IN (SELECT id FROM mailboxes) AND seen_at >= ? AND seen_at < ?
            GROUP BY receiver
            """,
            (start_ms, end_ms),
        )
    }
    out = {}
    for mailbox_id, address in mailboxes.items():
        n_sent, n_replied = sent.get(mailbox_id, (0, 0))
        got = received.get(address, 0)
        if n_sent or got:
            out[mailbox_id] = WarmupToday(sent=n_sent, received=got, replied=n_replied)
    return out


async def placement_counts(
    conn: aiosqlite.Connection, mailbox_ids: Sequence[int], since_ms: int
) -> dict[int, tuple[int, int]]:
    """mailbox id -> (inbox, spam): where its warm-up mails landed, first seen since `since_ms`."""
    if not mailbox_ids:
        return {}
    marks = ", ".join("?" for _ in mailbox_ids)
    rows = await conn.execute_fetchall(
        f"""
        SELECT mailbox_id, sum(folder = 'inbox'), sum(folder = 'spam') FROM placements
        WHERE mailbox_id IN ({marks}) AND seen_at >= ?
        GROUP BY mailbox_id
        """,
        [*mailbox_ids, since_ms],
    )
    return {int(r[0]): (int(r[1] or 0), int(r[2] or 0)) for r in rows}


def close_open_leads_sync(
    db: sqlite3.Connection, state: str, *, address: str | None = None, domain: str | None = None
) -> int:
    """Close every open lead (any campaign) of an address or a whole domain, any letter case
    (on the connection's thread, inside the caller's transaction: storage.db.run_sync)."""
    if (address is None) == (domain is None):
        raise ValueError("give exactly one of address or domain")
    # SQLite's lower() folds ASCII letters only; our side is folded the same way.
    params: list[object]
    if address is not None:
        # Found through leads_email_lower (migration 8): only that address's leads are read.
        match, params = "lower(email) = ?", [address.translate(_ASCII_LOWER)]
    else:
        # A whole domain is rare (an admin's /suppress @domain): the subquery scans the narrow
        # leads_email index instead of the table, and only the matches are looked up by id.
        tail = "@" + str(domain).translate(_ASCII_LOWER)
        match, params = "substr(lower(email), -?) = ?", [len(tail), tail]
    cursor = db.execute(
        f"""
        UPDATE leads SET state = ?, next_due_at = NULL
        WHERE state IN ('queued', 'active') AND id IN (SELECT id FROM leads WHERE {match})
        """,
        [state, *params],
    )
    return cursor.rowcount


async def close_open_leads(
    conn: aiosqlite.Connection, state: str, *, address: str | None = None, domain: str | None = None
) -> int:
    """close_open_leads_sync in one trip to the connection's thread."""
    return await run_sync(
        conn, lambda db: close_open_leads_sync(db, state, address=address, domain=domain)
    )


async def lead_cards(conn: aiosqlite.Connection, address: str) -> list[LeadCard]:
    """Every lead of an address (any letter case), one card per campaign, with its history."""
    folded = address.translate(_ASCII_LOWER)
    # The subquery finds the address through leads_email_lower (migration 8).
    leads = list(
        await conn.execute_fetchall(
            """
            SELECT l.id, l.email, c.name, c.id, l.state, l.label
            FROM leads l JOIN campaigns c ON c.id = l.campaign_id
            WHERE l.id IN (SELECT id FROM leads WHERE lower(email) = ?)
            ORDER BY l.id
            """,
            (folded,),
        )
    )
    if not leads:
        return []
    ids = [int(r[0]) for r in leads]
    marks = ", ".join("?" for _ in ids)
    steps: dict[int, list[LeadStep]] = {lead_id: [] for lead_id in ids}
    # sends (lead_id, step_no) is UNIQUE, so its index finds a lead's sends.
    for r in await conn.execute_fetchall(
        f"""
        SELECT s.lead_id, s.step_no, s.state, s.sent_at, s.updated_at, m.address, s.smtp_reply
        FROM sends s JOIN mailboxes m ON m.id = s.mailbox_id
        WHERE s.lead_id IN ({marks})
        ORDER BY coalesce(s.sent_at, s.updated_at), s.id
        """,
        ids,
    ):
        sent_at = r[3]
        steps[int(r[0])].append(
            LeadStep(
                step_no=None if r[1] is None else int(r[1]),
                state=SendState(r[2]),
                at=from_ms(int(sent_at if sent_at is not None else r[4])),
                sent=sent_at is not None,
                mailbox=str(r[5]),
                smtp_reply=None if r[6] is None else str(r[6]),
            )
        )
    by_campaign = {int(r[3]): int(r[0]) for r in leads}
    events: dict[int, list[LeadEvent]] = {lead_id: [] for lead_id in ids}
    # By its sends, then by its address in any case: two index look-ups (events_send,
    # events_email), not a read of every event there ever was.
    for r in await conn.execute_fetchall(
        f"""
        SELECT e.kind, e.occurred_at, e.source, s.lead_id, e.campaign_id
        FROM events e LEFT JOIN sends s ON s.id = e.send_id
        WHERE e.id IN (
            SELECT id FROM events
            WHERE send_id IN (SELECT id FROM sends WHERE lead_id IN ({marks}))
            UNION
            SELECT id FROM events WHERE lower(email) = ?
        )
        ORDER BY e.occurred_at, e.id
        """,
        [*ids, folded],
    ):
        event = LeadEvent(EventKind(r[0]), from_ms(int(r[1])), str(r[2]))
        # Its send's lead; else the lead in the event's campaign; else every lead of the address.
        if r[3] is not None and int(r[3]) in events:
            owners = [int(r[3])]
        elif r[4] is not None and int(r[4]) in by_campaign:
            owners = [by_campaign[int(r[4])]]
        else:
            owners = ids
        for owner in owners:
            events[owner].append(event)
    return [
        LeadCard(
            lead_id=int(r[0]),
            email=str(r[1]),
            campaign=str(r[2]),
            state=LeadState(r[4]),
            label=None if r[5] is None else ReplyLabel(r[5]),
            steps=tuple(steps[int(r[0])]),
            events=tuple(events[int(r[0])]),
        )
        for r in leads
    ]


class ReportStore(RowReader, SnapshotReader):
    """Read-only queries behind /status, /stats, /cost and /warmup (engine.ports.ReportQueries)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def mailbox(self, mailbox_id: int) -> MailboxRow | None:
        """One mailbox by id."""
        return await rows.mailbox(self._db, mailbox_id)

    async def usage_today(self, scope: UsageScope, ref: int, day: str) -> int:
        """Sends counted for one mailbox, domain or campaign on `day`."""
        found = await self._db.fetch(
            "SELECT sent FROM usage WHERE scope = ? AND ref = ? AND day = ?",
            (scope.value, ref, day),
        )
        return int(found[0]["sent"]) if found else 0

    async def lead_of_message(self, chat_id: int, message_id: int) -> int | None:
        """The lead a reply notification was about, by the chat message it became."""
        found = await self._db.fetch(
            "SELECT a.lead_id FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
            "WHERE d.chat_id = ? AND d.message_id = ? AND a.lead_id IS NOT NULL",
            (chat_id, message_id),
        )
        return int(found[0][0]) if found else None

    async def alert_key(self, alert_id: int) -> str | None:
        """The key (kind:subject) an alert was raised with; None when there is no such alert."""
        found = await self._db.fetch("SELECT key FROM alerts WHERE id = ?", (alert_id,))
        return str(found[0][0]) if found else None

    async def alert_raised(self, key: str) -> bool:
        """Whether an alert was ever raised with this key (kind:subject)."""
        # The alerts_key_time index answers it without reading the table.
        found = await self._db.fetch("SELECT 1 FROM alerts WHERE key = ? LIMIT 1", (key,))
        return bool(found)

    async def label_counts(self) -> dict[int, dict[str, int]]:
        """Per campaign id: its leads by reply label (SPEC 12)."""
        found = await self._db.fetch(
            "SELECT campaign_id, label, count(*) FROM leads WHERE label IS NOT NULL "
            "GROUP BY campaign_id, label"
        )
        out: dict[int, dict[str, int]] = {}
        for campaign_id, label, n in found:
            out.setdefault(int(campaign_id), {})[str(label)] = int(n)
        return out

    async def mailbox_rates(self, start: datetime, end: datetime) -> dict[int, RateCounts]:
        """Per mailbox id: its sends and events over [start, end] (SPEC 9 rates)."""
        async with self._db.snapshot() as conn:
            return {row.mailbox_id: row.counts for row in await window_counts(conn, start, end)}

    async def campaign_counts(self, day: str) -> list[CampaignCounts]:
        """Campaigns with their leads by state and today's sends."""
        async with self._db.snapshot() as conn:
            return await status.campaign_counts(conn, day)

    async def sent_on(self, day: str) -> int:
        """Slots used on one day over all mailboxes."""
        async with self._db.reading() as conn:
            return await status.sent_on(conn, day)

    async def campaign_rates(self, start: datetime, end: datetime) -> dict[int, RateCounts]:
        """Per campaign: its sends and their bounces, complaints, replies in [start, end)."""
        async with self._db.snapshot() as conn:
            return await status.campaign_rates(conn, start, end)

    async def recent_alerts(self, limit: int = 5) -> list[StoredAlert]:
        """The latest alerts, newest first."""
        async with self._db.reading() as conn:
            return await alerts.recent(conn, limit)

    async def sent_per_day(self, bounds: Sequence[DayBounds]) -> dict[str, int]:
        """Sends per day label, each day a [start, end) range of sent_at."""
        async with self._db.reading() as conn:
            return await sent_per_day(conn, _ms(bounds))

    async def events_per_day(
        self, bounds: Sequence[DayBounds], kinds: Sequence[str] = STATS_KINDS
    ) -> dict[tuple[str, str], int]:
        """(day label, kind) -> events, each day a [start, end) range of occurred_at."""
        async with self._db.reading() as conn:
            return await events_per_day(conn, _ms(bounds), kinds)

    async def sent_between(self, start: datetime, end: datetime) -> int:
        """Mails sent in [start, end)."""
        async with self._db.reading() as conn:
            return await sent_between(conn, to_ms(start), to_ms(end))

    async def warming_rows(self, day: str) -> list[WarmingRow]:
        """Every mailbox in the warm-up loop (warming, then warm) with its slots used on `day`."""
        async with self._db.reading() as conn:
            return await warming_rows(conn, day)

    async def warmup_today(
        self, mailboxes: Mapping[int, str], day: str, start: datetime, end: datetime
    ) -> dict[int, WarmupToday]:
        """mailbox id (-> address) -> its warm-up mails sent, received and answered on `day`."""
        async with self._db.snapshot() as conn:
            return await warmup_today(conn, mailboxes, day, to_ms(start), to_ms(end))

    async def placement_counts(
        self, mailbox_ids: Sequence[int], since: datetime
    ) -> dict[int, tuple[int, int]]:
        """mailbox id -> (inbox, spam): where its warm-up mails landed, first seen since `since`."""
        async with self._db.reading() as conn:
            return await placement_counts(conn, mailbox_ids, to_ms(since))

    async def lead_cards(self, address: str) -> list[LeadCard]:
        """Every lead of an address, one per campaign, with its sends and events (/lead)."""
        async with self._db.snapshot() as conn:
            return await lead_cards(conn, address)

    async def replies_by_label(self, start: datetime, end: datetime) -> dict[str | None, int]:
        """Replies in [start, end) by their lead's label (None: not labelled yet)."""
        async with self._db.reading() as conn:
            return await digest.replies_by_label(conn, to_ms(start), to_ms(end))

    async def unknown_sends(self, day: str) -> int:
        """Sends of local day `day` whose outcome is unknown."""
        async with self._db.reading() as conn:
            return await digest.unknown_sends(conn, day)

    async def export_page(self, campaign_id: int, after_id: int, limit: int) -> list[ExportRow]:
        """Up to `limit` leads of a campaign with ids above `after_id`, in id order (/export)."""
        async with self._db.reading() as conn:
            return await digest.export_page(conn, campaign_id, after_id, limit)


def _ms(bounds: Sequence[DayBounds]) -> list[MsBounds]:
    return [(label, to_ms(start), to_ms(end)) for label, start, end in bounds]
