"""Load the planner's Snapshot: mailboxes, domains, campaigns with today's use, and due work."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import aiosqlite

from core import limits
from core.models import (
    SENDING_STATES,
    CampaignState,
    CampaignView,
    DomainState,
    DomainView,
    DueStep,
    MailboxState,
    MailboxView,
    Snapshot,
    Window,
)
from storage.db import Database, opt_date, opt_dt, to_ms


async def load_snapshot(
    conn: aiosqlite.Connection,
    *,
    now: datetime,
    day: str,
    window_start: datetime,
    followup_limit: int,
    new_per_campaign: int,
    senders_only: bool = False,
    new_per_sender: bool = False,
) -> Snapshot:
    """Everything the planner needs; objects removed from the config are left out."""
    now_ms = to_ms(now)
    mailboxes = await _mailboxes(conn, day, to_ms(window_start), now_ms, senders_only)
    domains = await _domains(conn, day)
    campaigns = await _campaigns(conn, day)
    active = [c.id for c in campaigns if c.state is CampaignState.ACTIVE]
    # A follow-up leaves only from its thread's mailbox, and only when that one may send now
    # (limits.mailbox_ready) on an active domain: the planner skips every other, so only these
    # mailboxes' follow-ups are read (a dozen mailboxes' on a tick, not 5,000's).
    open_domains = {d.name for d in domains if d.state is DomainState.ACTIVE}
    senders = [m.id for m in mailboxes if m.domain in open_domains and limits.mailbox_ready(m, now)]
    followups = await _followups(conn, senders, active, now_ms, followup_limit)
    # Sending once a tick, the senders can't take more of a campaign's new leads than their
    # number (fewer once follow-ups went first): reading 200 a campaign each tick for a dozen
    # senders was most of the demo's snapshot time.
    per_campaign = min(new_per_campaign, len(senders)) if new_per_sender else new_per_campaign
    return Snapshot(
        mailboxes=mailboxes,
        domains=domains,
        campaigns=campaigns,
        followups=followups,
        new_leads=await _new_leads(conn, active, per_campaign),
    )


async def _mailboxes(
    conn: aiosqlite.Connection, day: str, window_start: int, now: int, senders_only: bool
) -> tuple[MailboxView, ...]:
    # senders_only: the ones limits.mailbox_ready lets send at `now` (a sending state, the
    # gap over, not resting), so a tick builds views for a dozen mailboxes, not 5,000.
    rows = await conn.execute_fetchall(
        """
        SELECT m.id, m.address, d.name AS domain, m.state, m.daily_limit, m.warmup_start,
               m.next_send_at, m.last_sent_at, m.resting_until, coalesce(u.sent, 0) AS sent,
               m.placement_hold, coalesce(w.volume, 0) AS warmup_volume,
               coalesce(w.sent, 0) AS warmup_sent
        FROM mailboxes m
        JOIN domains d ON d.id = m.domain_id
        LEFT JOIN usage u ON u.scope = 'mailbox' AND u.ref = m.id AND u.day = ?1
        LEFT JOIN warmup_days w ON w.mailbox_id = m.id AND w.day = ?1
        WHERE m.state != 'disabled'
          AND (NOT ?2 OR (m.state IN ('active', 'warming')
                          AND coalesce(m.next_send_at, 0) <= ?3
                          AND coalesce(m.resting_until, 0) <= ?3))
        ORDER BY m.id
        """,
        (day, senders_only, now),
    )
    # The bounce rate only ranks the mailboxes that may send at `now` (the rotation): it is
    # counted for those alone. Counting the window for every mailbox read every send of the
    # last week on each tick, 140,000 index entries at 20,000 sends a day (bench_tick).
    ready = [row["id"] for row in rows if _ready(row, now)]
    sends, bounces = await _window_counts(conn, ready, window_start, now)
    return tuple(
        MailboxView(
            id=row["id"],
            address=row["address"],
            domain=row["domain"],
            state=_MAILBOX_STATES[row["state"]],
            daily_limit=row["daily_limit"],
            warmup_start=opt_date(row["warmup_start"]),
            sent_today=row["sent"],
            next_send_at=opt_dt(row["next_send_at"]),
            last_sent_at=opt_dt(row["last_sent_at"]),
            bounce_rate=_rate(bounces.get(row["id"], 0), sends.get(row["id"], 0)),
            resting_until=opt_dt(row["resting_until"]),
            warmup_volume=row["warmup_volume"],
            warmup_sent=row["warmup_sent"],
            placement_hold=bool(row["placement_hold"]),
        )
        for row in rows
    )


def _ready(row: sqlite3.Row, now: int) -> bool:
    """limits.mailbox_ready on the raw row: a sending state, its gap over, not resting."""
    return (
        row["state"] in _SENDING
        and (row["next_send_at"] is None or row["next_send_at"] <= now)
        and (row["resting_until"] is None or row["resting_until"] <= now)
    )


_SENDING = frozenset(state.value for state in SENDING_STATES)
# Sends in the health window of the mailboxes listed (a JSON array) from day ?2 on.
WINDOW_SENDS = """
SELECT mailbox_id, count(*) FROM sends
WHERE mailbox_id IN (SELECT value FROM json_each(?1)) AND day >= ?2
  AND sent_at >= ?3 AND sent_at <= ?4
GROUP BY mailbox_id
"""
_DAY_MS = 86_400_000


async def _window_counts(
    conn: aiosqlite.Connection, mailbox_ids: list[int], window_start: int, now: int
) -> tuple[dict[int, int], dict[int, int]]:
    """Sends and hard bounces of each of `mailbox_ids` with their time in [window_start, now]."""
    # /status asks with an empty window (window_start == now): it shows no rates.
    if not mailbox_ids or window_start >= now:
        return {}, {}
    ids = json.dumps(mailbox_ids)
    # Each mailbox's sends of the window's days from sends_mailbox_day, however long the
    # history. `day` is the sending timezone's day of the reservation and the mail leaves in
    # the same tick: two days before the window's UTC date covers any timezone and a send
    # reserved just before midnight; sent_at then decides.
    first_day = (datetime.fromtimestamp(window_start / 1000, UTC) - timedelta(days=2)).date()
    sends = await _per_mailbox(conn, WINDOW_SENDS, (ids, first_day.isoformat(), window_start, now))
    # One hard bounce per send, even when IMAP and the ESP both report it.
    bounces = await _per_mailbox(
        conn,
        """
        SELECT mailbox_id, count(DISTINCT coalesce('s' || send_id, 'e' || id)) FROM events
        WHERE kind = 'bounce_hard' AND occurred_at >= ? AND occurred_at <= ?
          AND mailbox_id IN (SELECT value FROM json_each(?))
        GROUP BY mailbox_id
        """,
        (window_start, now, ids),
    )
    return sends, bounces


# A dict lookup, not MailboxState(value): Enum's call is slow across thousands of rows.
_MAILBOX_STATES = {state.value: state for state in MailboxState}


def _rate(count: int, total: int) -> float:
    return count / total if total else 0.0


async def _per_mailbox(
    conn: aiosqlite.Connection, sql: str, params: tuple[object, ...]
) -> dict[int, int]:
    return {int(row[0]): int(row[1]) for row in await conn.execute_fetchall(sql, params)}


async def _domains(conn: aiosqlite.Connection, day: str) -> tuple[DomainView, ...]:
    rows = await conn.execute_fetchall(
        """
        SELECT d.name, d.state, d.daily_limit, coalesce(u.sent, 0) AS sent,
               CASE WHEN d.daily_limit IS NULL THEN 0 ELSE (
                   SELECT coalesce(sum(max(0, w.volume - w.sent)), 0)
                   FROM mailboxes m JOIN warmup_days w ON w.mailbox_id = m.id AND w.day = ?1
                   WHERE m.domain_id = d.id AND m.state IN ('active', 'warming')
               ) END AS warmup_pending
        FROM domains d
        LEFT JOIN usage u ON u.scope = 'domain' AND u.ref = d.id AND u.day = ?1
        WHERE d.state != 'disabled'
        ORDER BY d.id
        """,
        (day,),
    )
    return tuple(
        DomainView(
            name=row["name"],
            state=DomainState(row["state"]),
            daily_limit=row["daily_limit"],
            sent_today=row["sent"],
            warmup_pending=row["warmup_pending"],
        )
        for row in rows
    )


async def _campaigns(conn: aiosqlite.Connection, day: str) -> tuple[CampaignView, ...]:
    rows = await conn.execute_fetchall(
        """
        SELECT c.id, c.name, c.timezone, c.days, c.hours, c.state, c.daily_limit,
               c.during_warmup, coalesce(u.sent, 0) AS sent
        FROM campaigns c
        LEFT JOIN usage u ON u.scope = 'campaign' AND u.ref = c.id AND u.day = ?
        WHERE c.state != 'disabled'
        ORDER BY c.id
        """,
        (day,),
    )
    return tuple(
        CampaignView(
            id=row["id"],
            name=row["name"],
            timezone=row["timezone"],
            days=frozenset(json.loads(row["days"])),
            window=Window.parse(row["hours"]),
            state=CampaignState(row["state"]),
            daily_limit=row["daily_limit"],
            sent_today=row["sent"],
            during_warmup=bool(row["during_warmup"]),
        )
        for row in rows
    )


# Due follow-ups of the mailboxes listed (a JSON array, ?1) in the campaigns listed (?3), oldest
# first. The mailboxes drive it (CROSS JOIN keeps json_each outermost), each read from
# leads_mailbox_due: only their due rows are read, however many other threads are due.
DUE_FOLLOWUPS = """
SELECT l.id, l.campaign_id, l.next_step, l.mailbox_id
FROM json_each(?1) AS r
CROSS JOIN leads AS l
WHERE l.mailbox_id = r.value AND l.state = 'active' AND l.next_due_at <= ?2
  AND l.campaign_id IN (SELECT value FROM json_each(?3))
ORDER BY l.next_due_at, l.id
LIMIT ?4
"""


async def _followups(
    conn: aiosqlite.Connection,
    mailbox_ids: list[int],
    campaign_ids: list[int],
    now: int,
    limit: int,
) -> tuple[DueStep, ...]:
    """The oldest `limit` due follow-ups threaded on `mailbox_ids` in `campaign_ids`."""
    # Follow-ups whose mailbox cannot send are left out here rather than by the planner:
    # otherwise a paused mailbox's backlog would fill `limit` and starve the others.
    if not mailbox_ids or not campaign_ids or limit <= 0:
        return ()
    rows = await conn.execute_fetchall(
        DUE_FOLLOWUPS, (json.dumps(mailbox_ids), now, json.dumps(campaign_ids), limit)
    )
    return tuple(
        DueStep(
            lead_id=row["id"],
            campaign_id=row["campaign_id"],
            step_no=row["next_step"],
            mailbox_id=row["mailbox_id"],
        )
        for row in rows
    )


# The first `limit` queued leads of one campaign (the leads_queued index, in id order).
_NEW_LEADS = """
SELECT * FROM (
    SELECT id, campaign_id FROM leads
    WHERE campaign_id = ? AND state = 'queued' AND next_step = 1
    ORDER BY id LIMIT ?
)"""
# SQLite refuses a compound SELECT of more than 500 terms (SQLITE_MAX_COMPOUND_SELECT).
_NEW_LEADS_TERMS = 100


async def _new_leads(
    conn: aiosqlite.Connection, campaign_ids: list[int], limit: int
) -> tuple[DueStep, ...]:
    """Each campaign's first `limit` queued leads, campaign by campaign, in one statement."""
    if not campaign_ids or limit <= 0:
        return ()
    # One round trip for up to a hundred campaigns instead of one each: a tick reads them
    # every time.
    rows: list[sqlite3.Row] = []
    for at in range(0, len(campaign_ids), _NEW_LEADS_TERMS):
        part = campaign_ids[at : at + _NEW_LEADS_TERMS]
        sql = " UNION ALL ".join([_NEW_LEADS] * len(part))
        params = [value for campaign_id in part for value in (campaign_id, limit)]
        rows += await conn.execute_fetchall(sql, params)
    order = {campaign_id: n for n, campaign_id in enumerate(campaign_ids)}
    # UNION ALL keeps no promised order: sorted here, by campaign as asked, then id.
    ordered = sorted(rows, key=lambda row: (order[row[1]], row[0]))
    return tuple(DueStep(lead_id=row[0], campaign_id=row[1], step_no=1) for row in ordered)


class SnapshotReader:
    """load_snapshot for the stores that hand out the planner's view (sending, reports)."""

    _db: Database

    async def load_snapshot(
        self,
        now: datetime,
        day: str,
        window_start: datetime,
        followup_limit: int,
        new_per_campaign: int,
        *,
        senders_only: bool = False,
        new_per_sender: bool = False,
    ) -> Snapshot:
        """The planner's view; policies stay default for the caller to fill in."""
        async with self._db.snapshot() as conn:
            return await load_snapshot(
                conn, now=now, day=day, window_start=window_start,
                followup_limit=followup_limit, new_per_campaign=new_per_campaign,
                senders_only=senders_only, new_per_sender=new_per_sender,
            )  # fmt: skip
