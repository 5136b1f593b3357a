"""Read-only SQL the demo needs beside the engine's repository: lookups and day totals."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from core.models import (
    CampaignState,
    CampaignView,
    DomainState,
    DomainView,
    MailboxState,
    MailboxView,
    Window,
)
from storage.db import from_ms, opt_date, opt_dt, to_ms


@dataclass(frozen=True, slots=True)
class SentRef:
    """The send a recipient's reply or complaint refers to."""

    send_id: int
    mailbox_id: int
    campaign_id: int | None
    step_no: int | None


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert row with whether every chat got it."""

    id: int
    key: str
    severity: str
    text: str
    created_at: datetime
    delivered: bool


@dataclass(frozen=True, slots=True)
class Pool:
    """Mailboxes, domains and campaigns with today's use: what decides when to look again."""

    mailboxes: tuple[MailboxView, ...]
    domains: tuple[DomainView, ...]
    campaigns: tuple[CampaignView, ...]
    cooldown_ends: tuple[datetime, ...]


async def pool(conn: aiosqlite.Connection, day: str) -> Pool:
    """Three queries, where the engine's planner snapshot needs one or two per campaign; each
    mailbox with the warm-up loop's share of its day and its placement hold."""
    mailboxes = tuple(
        MailboxView(
            id=r[0],
            address=r[1],
            domain=r[2],
            state=MailboxState(r[3]),
            daily_limit=r[4],
            warmup_start=opt_date(r[5]),
            next_send_at=opt_dt(r[6]),
            resting_until=opt_dt(r[7]),
            sent_today=r[8],
            warmup_volume=r[9],
            warmup_sent=r[10],
            placement_hold=bool(r[11]),
        )  # fmt: skip
        for r in await conn.execute_fetchall(
            """
            SELECT m.id, m.address, d.name, m.state, m.daily_limit, m.warmup_start,
                   m.next_send_at, m.resting_until, coalesce(u.sent, 0),
                   coalesce(w.volume, 0), coalesce(w.sent, 0), m.placement_hold
            FROM mailboxes m JOIN domains d ON d.id = m.domain_id
            LEFT JOIN usage u ON u.scope = 'mailbox' AND u.ref = m.id AND u.day = ?
            LEFT JOIN warmup_days w ON w.mailbox_id = m.id AND w.day = ?
            WHERE m.state != 'disabled'
            """,
            (day, day),
        )
    )
    domain_rows = list(
        await conn.execute_fetchall(
            """
            SELECT d.name, d.state, d.daily_limit, coalesce(u.sent, 0), d.cooldown_until
            FROM domains d
            LEFT JOIN usage u ON u.scope = 'domain' AND u.ref = d.id AND u.day = ?
            WHERE d.state != 'disabled'
            """,
            (day,),
        )
    )
    domains = tuple(
        DomainView(name=r[0], state=DomainState(r[1]), daily_limit=r[2], sent_today=r[3])
        for r in domain_rows
    )
    ends = tuple(from_ms(r[4]) for r in domain_rows if r[1] == "cooldown" and r[4] is not None)
    campaigns = tuple(
        CampaignView(
            id=r[0],
            name=r[1],
            timezone=r[2],
            days=frozenset(json.loads(r[3])),
            window=Window.parse(r[4]),
            state=CampaignState(r[5]),
            daily_limit=r[6],
            sent_today=r[7],
            during_warmup=bool(r[8]),
        )  # fmt: skip
        for r in await conn.execute_fetchall(
            """
            SELECT c.id, c.name, c.timezone, c.days, c.hours, c.state, c.daily_limit,
                   coalesce(u.sent, 0), c.during_warmup
            FROM campaigns c
            LEFT JOIN usage u ON u.scope = 'campaign' AND u.ref = c.id AND u.day = ?
            WHERE c.state = 'active'
            """,
            (day,),
        )
    )
    return Pool(mailboxes, domains, campaigns, ends)


async def send_by_message_id(conn: aiosqlite.Connection, message_id: str) -> SentRef | None:
    """The send that carried `message_id`."""
    rows = list(
        await conn.execute_fetchall(
            "SELECT id, mailbox_id, campaign_id, step_no FROM sends WHERE message_id = ?",
            (message_id,),
        )
    )
    if not rows:
        return None
    row = rows[0]
    return SentRef(int(row[0]), int(row[1]), row[2], row[3])


async def next_follow_up(conn: aiosqlite.Connection, after: datetime) -> datetime | None:
    """The earliest moment after `after` when a follow-up (or a retry) becomes due."""
    rows = list(
        await conn.execute_fetchall(
            "SELECT min(next_due_at) FROM leads WHERE state = 'active' AND next_due_at > ?",
            (to_ms(after),),
        )
    )
    value = rows[0][0] if rows else None
    return None if value is None else from_ms(int(value))


async def day_totals(conn: aiosqlite.Connection, start: datetime, end: datetime) -> dict[str, int]:
    """Sends delivered and events by kind between `start` and `end`."""
    lo, hi = to_ms(start), to_ms(end)
    totals: dict[str, int] = {}
    rows = await conn.execute_fetchall(
        "SELECT count(*) FROM sends WHERE state = 'sent' AND sent_at >= ? AND sent_at < ?",
        (lo, hi),
    )
    totals["sent"] = int(next(iter(rows))[0])
    for row in await conn.execute_fetchall(
        "SELECT kind, count(*) FROM events WHERE occurred_at >= ? AND occurred_at < ? "
        "GROUP BY kind",
        (lo, hi),
    ):
        totals[str(row[0])] = int(row[1])
    return totals


async def usage_on(conn: aiosqlite.Connection, day: str) -> dict[int, int]:
    """Slots each mailbox used on `day` (the counter the limits are enforced on)."""
    rows = await conn.execute_fetchall(
        "SELECT ref, sent FROM usage WHERE scope = 'mailbox' AND day = ?", (day,)
    )
    return {int(row[0]): int(row[1]) for row in rows}


async def alerts_after(conn: aiosqlite.Connection, last_id: int) -> list[StoredAlert]:
    """Alerts stored after `last_id`, oldest first, with their delivery state."""
    rows = await conn.execute_fetchall(
        """
        SELECT a.id, a.key, a.severity, a.text, a.created_at,
               NOT EXISTS (SELECT 1 FROM alert_deliveries d
                           WHERE d.alert_id = a.id AND d.state != 'sent') AS delivered
        FROM alerts a WHERE a.id > ? ORDER BY a.id
        """,
        (last_id,),
    )
    return [
        StoredAlert(int(r[0]), str(r[1]), str(r[2]), str(r[3]), from_ms(int(r[4])), bool(r[5]))
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class WarmupDue:
    """The warm-up loop's mails of today not sent yet: when the next falls due, whose are due."""

    next_due: datetime | None  # the earliest one due after now
    waiting: frozenset[int]  # mailboxes with a mail due now (waiting for their gap or a slot)


async def warmup_due(conn: aiosqlite.Connection, day_start: datetime, now: datetime) -> WarmupDue:
    """What of today's warm-up mail is still to go out (the loop drops yesterday's)."""
    unsent = "NOT EXISTS (SELECT 1 FROM sends s WHERE s.message_id = w.message_id)"
    rows = list(
        await conn.execute_fetchall(
            f"SELECT min(due_at) FROM warmup_mails w WHERE due_at > ? AND {unsent}",
            (to_ms(now),),
        )
    )
    value = rows[0][0] if rows else None
    waiting = await conn.execute_fetchall(
        f"SELECT DISTINCT mailbox_id FROM warmup_mails w "
        f"WHERE due_at >= ? AND due_at <= ? AND {unsent}",
        (to_ms(day_start), to_ms(now)),
    )
    return WarmupDue(
        None if value is None else from_ms(int(value)), frozenset(int(r[0]) for r in waiting)
    )


@dataclass(frozen=True, slots=True)
class WarmupDay:
    """The warm-up loop on one day: its mails per sending mailbox, and where they landed."""

    sent: dict[int, int]  # mailbox id -> warm-up sends of the day (slots used, answers included)
    inbox: dict[int, int]  # sending mailbox id -> its mails first seen in an inbox that day
    spam: dict[int, int]  # ... and in a spam folder


async def warmup_day(
    conn: aiosqlite.Connection, day: str, start: datetime, end: datetime
) -> WarmupDay:
    """Warm-up sends of `day` per mailbox, and placements first seen in [start, end)."""
    sent = {
        int(r[0]): int(r[1])
        for r in await conn.execute_fetchall(
            "SELECT mailbox_id, count(*) FROM sends WHERE kind = 'warmup' AND day = ? "
            "GROUP BY mailbox_id",
            (day,),
        )
    }
    inbox: dict[int, int] = {}
    spam: dict[int, int] = {}
    for mailbox_id, folder, n in await conn.execute_fetchall(
        "SELECT mailbox_id, folder, count(*) FROM placements WHERE seen_at >= ? AND seen_at < ? "
        "GROUP BY mailbox_id, folder",
        (to_ms(start), to_ms(end)),
    ):
        (inbox if folder == "inbox" else spam)[int(mailbox_id)] = int(n)
    return WarmupDay(sent, inbox, spam)


async def placement_of(conn: aiosqlite.Connection, address: str, now: datetime) -> tuple[int, int]:
    """(inbox, spam): where the mailbox's warm-up mails were first seen over the 7 days to now."""
    rows = list(
        await conn.execute_fetchall(
            "SELECT sum(p.folder = 'inbox'), sum(p.folder = 'spam') FROM placements p "
            "JOIN mailboxes m ON m.id = p.mailbox_id WHERE m.address = ? AND p.seen_at > ?",
            (address, to_ms(now - timedelta(days=7))),
        )
    )
    return (int(rows[0][0] or 0), int(rows[0][1] or 0)) if rows else (0, 0)
