"""SQL for the health job: window counts per mailbox, and domain-wide state changes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import aiosqlite

from core.models import MailboxState, RateCounts
from core.records import MailboxHealth, NewAlert
from storage import alerts
from storage.db import Database, opt_dt, run_sync, to_ms

_EVENT_KINDS = {
    "delivered": "delivered",
    "bounce_hard": "bounces",
    "bounce_soft": "soft_bounces",
    "complaint": "complaints",
    "open": "opens",
    "reply": "replies",
    "block": "blocks",
}


# The event kinds the SPEC 9 verdicts read (bounce rate, complaints); the rest only feed rates.
VERDICT_KINDS = ("bounce_hard", "complaint")


async def window_counts(
    conn: aiosqlite.Connection,
    start: datetime,
    end: datetime,
    *,
    kinds: tuple[str, ...] | None = None,
    sends: SendCounts | None = None,
) -> list[MailboxHealth]:
    """Counts per mailbox (not disabled) of sends and events from `start` to `end`, inclusive.

    With `kinds` only those events are counted (the others stay 0): VERDICT_KINDS for the
    verdicts a commit of new events decides, read from the events_kind_time index alone
    instead of every event of the window (~150 ms at 100,000 of them, once a page). With
    `sends` the window's sends come from that running count instead of a count of them all.
    """
    lo, hi = to_ms(start), to_ms(end)
    per_mailbox = (
        await sends.read(conn, lo, hi)
        if sends is not None
        else await run_sync(conn, lambda db: _sends_between(db, lo, hi))
    )
    # One event of a kind per send: the same bounce may come from SMTP, IMAP and an ESP.
    events: dict[int, dict[str, int]] = {}
    only, only_params = "", []
    if kinds is not None:
        only = f" AND kind IN ({', '.join('?' for _ in kinds)})"
        only_params = list(kinds)
    for row in await conn.execute_fetchall(
        f"""
        SELECT mailbox_id, kind, count(DISTINCT coalesce('s' || send_id, 'e' || id))
        FROM events WHERE occurred_at >= ? AND occurred_at <= ? AND mailbox_id IS NOT NULL{only}
        GROUP BY mailbox_id, kind
        """,
        [lo, hi, *only_params],
    ):
        field = _EVENT_KINDS.get(row[1])
        if field:
            events.setdefault(row[0], {})[field] = row[2]
    culprits = {
        row[0]: (row[1], row[2])
        for row in await conn.execute_fetchall(
            # Each mailbox's latest complaint, if inside the window: one pass over the
            # complaints (a subquery per complaint read them all again: quadratic).
            """
            WITH latest AS (
                SELECT mailbox_id, max(id) AS id FROM events
                WHERE kind = 'complaint' AND mailbox_id IS NOT NULL GROUP BY mailbox_id
            )
            SELECT e.mailbox_id, c.name, e.step_no FROM latest
            JOIN events e ON e.id = latest.id
            LEFT JOIN campaigns c ON c.id = e.campaign_id
            WHERE e.occurred_at >= ? AND e.occurred_at <= ?
            """,
            (lo, hi),
        )
    }
    rows = await conn.execute_fetchall(
        "SELECT m.id, m.address, d.name, m.state FROM mailboxes m "
        "JOIN domains d ON d.id = m.domain_id WHERE m.state != 'disabled' ORDER BY m.id"
    )
    out = []
    for row in rows:
        mailbox_id = row[0]
        counts = RateCounts(sends=per_mailbox.get(mailbox_id, 0), **events.get(mailbox_id, {}))
        campaign, step = culprits.get(mailbox_id, (None, None))
        out.append(MailboxHealth(mailbox_id, row[1], row[2], row[3], counts, campaign, step))
    return out


def _sends_between(db: sqlite3.Connection, lo: int, hi: int) -> dict[int, int]:
    """Sends per mailbox whose sent_at is in [lo, hi] ms (from the sends_sent_at index alone)."""
    rows = db.execute(
        "SELECT mailbox_id, count(*) FROM sends WHERE sent_at >= ? AND sent_at <= ? "
        "GROUP BY mailbox_id",
        (lo, hi),
    )
    return {int(row[0]): int(row[1]) for row in rows}


@dataclass(frozen=True, slots=True)
class _Counted:
    """Sends per mailbox with sent_at in [lo, upto] ms; `full`: the `now` of the last whole
    count."""

    lo: int
    upto: int
    full: int
    per_mailbox: Mapping[int, int]


class SendCounts:
    """The window's sends per mailbox, kept between the commits of new events.

    The health window's sends change only with sending, not with the events a page brings,
    yet counting them read every send of the window once a page (~20 ms at 100,000 sends, most
    of an ESP page's cost: bench/bench_esp.py). So the settled part of the window (sends
    stamped more than `settle` before now) is kept and only grows by its new range; the last
    `settle` is counted afresh each read (a few index entries). The window moving, the clock
    going back, or `refresh` since the last whole count count it all again. The only send a
    read can miss is one committed more than `settle` after its sent_at was stamped, and only
    until the refresh; a missing send makes a rate higher, the safe side of a pause.
    """

    def __init__(
        self, settle: timedelta = timedelta(minutes=1), refresh: timedelta = timedelta(hours=1)
    ) -> None:
        self._settle = settle // timedelta(milliseconds=1)
        self._refresh = refresh // timedelta(milliseconds=1)
        self._counted: _Counted | None = None

    async def read(self, conn: aiosqlite.Connection, lo: int, hi: int) -> dict[int, int]:
        """Sends per mailbox whose sent_at is in [lo, hi] ms."""
        upto = max(hi - self._settle, lo - 1)
        was = self._counted  # replaced whole, never changed: reads in flight stay consistent
        whole = was is None or was.lo != lo or upto < was.upto or hi - was.full >= self._refresh

        def count(db: sqlite3.Connection) -> tuple[_Counted, dict[int, int]]:
            if whole or was is None:
                settled = _Counted(lo, upto, hi, _sends_between(db, lo, upto))
            else:
                settled = _Counted(
                    lo,
                    upto,
                    was.full,
                    _add(was.per_mailbox, _sends_between(db, was.upto + 1, upto)),
                )
            return settled, _add(settled.per_mailbox, _sends_between(db, upto + 1, hi))

        self._counted, total = await run_sync(conn, count)
        return total


def _add(counts: Mapping[int, int], more: Mapping[int, int]) -> dict[int, int]:
    """Counts per mailbox summed."""
    total = dict(counts)
    for mailbox_id, count in more.items():
        total[mailbox_id] = total.get(mailbox_id, 0) + count
    return total


def cool_down_domain_sync(
    db: sqlite3.Connection, domain: str, reason: str, until: datetime
) -> bool:
    """Domain and its sending mailboxes -> cooldown; False when it already was cooling down
    (on the connection's thread, inside the caller's transaction: storage.db.run_sync)."""
    rows = db.execute(
        "UPDATE domains SET state = 'cooldown', reason = ?, cooldown_until = ? "
        "WHERE name = ? AND state != 'cooldown' RETURNING id",
        (reason, to_ms(until), domain),
    ).fetchall()
    if not rows:
        return False
    db.execute(
        "UPDATE mailboxes SET state = 'cooldown', reason = ? "
        "WHERE domain_id = ? AND state IN ('active', 'warming')",
        (reason, rows[0][0]),
    )
    return True


async def cool_down_domain(
    conn: aiosqlite.Connection, domain: str, reason: str, until: datetime
) -> bool:
    """cool_down_domain_sync in one trip to the connection's thread."""
    return await run_sync(conn, lambda db: cool_down_domain_sync(db, domain, reason, until))


async def cooldowns_over(conn: aiosqlite.Connection, now: datetime) -> list[tuple[str, datetime]]:
    """Domains whose cool-down has ended, with the end."""
    rows = await conn.execute_fetchall(
        "SELECT name, cooldown_until FROM domains WHERE state = 'cooldown' "
        "AND cooldown_until IS NOT NULL AND cooldown_until <= ?",
        (to_ms(now),),
    )
    out = []
    for row in rows:
        until = opt_dt(row[1])
        assert until is not None
        out.append((str(row[0]), until))
    return out


async def end_cooldown(conn: aiosqlite.Connection, domain: str, warmup_start: date) -> int:
    """Domain active again; its cooled-down mailboxes re-enter warm-up from `warmup_start`."""
    rows = list(
        await conn.execute_fetchall(
            "UPDATE domains SET state = 'active', reason = '', cooldown_until = NULL "
            "WHERE name = ? AND state = 'cooldown' RETURNING id",
            (domain,),
        )
    )
    if not rows:
        return 0
    cursor = await conn.execute(
        "UPDATE mailboxes SET state = 'warming', reason = 'back from cool-down', "
        "warmup_start = ? WHERE domain_id = ? AND state = 'cooldown'",
        (warmup_start.isoformat(), rows[0][0]),
    )
    return cursor.rowcount


async def warming_mailboxes(conn: aiosqlite.Connection) -> list[tuple[int, str, int, str | None]]:
    """(id, address, daily_limit, warmup_start) of every warming mailbox."""
    rows = await conn.execute_fetchall(
        "SELECT id, address, daily_limit, warmup_start FROM mailboxes WHERE state = 'warming'"
    )
    return [(int(r[0]), str(r[1]), int(r[2]), r[3]) for r in rows]


class HealthStore:
    """What the health job reads and changes (engine.ports.HealthStore)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # The window's sends, kept between the job's runs (every few minutes): each run
        # counts only the new ones, not the week's (~8,000 at 1,200 a day) again.
        self._sends = SendCounts()

    async def window_counts(self, start: datetime, end: datetime) -> list[MailboxHealth]:
        """Per-mailbox sends and events over a window."""
        async with self._db.snapshot() as conn:
            return await window_counts(conn, start, end, sends=self._sends)

    async def cool_down_domain(self, domain: str, reason: str, until: datetime) -> bool:
        """Send a domain and its sending mailboxes to cool-down."""
        async with self._db.writing() as conn:
            return await cool_down_domain(conn, domain, reason, until)

    async def cooldowns_over(self, now: datetime) -> list[tuple[str, datetime]]:
        """Domains whose cool-down has ended."""
        async with self._db.reading() as conn:
            return await cooldowns_over(conn, now)

    async def end_cooldown(
        self, domain: str, warmup_start: date, alert: Callable[[int], NewAlert]
    ) -> int:
        """Reactivate a domain, its mailboxes re-entering warm-up, and `alert(how many)`."""
        async with self._db.writing() as conn:
            count = await end_cooldown(conn, domain, warmup_start)
            await alerts.store(conn, alert(count))
            return count

    async def warming_mailboxes(self) -> list[tuple[int, str, int, str | None]]:
        """Every warming mailbox: id, address, daily_limit, warmup_start."""
        async with self._db.reading() as conn:
            return await warming_mailboxes(conn)

    async def set_mailbox_state(self, mailbox_id: int, state: MailboxState, reason: str) -> bool:
        """Set a mailbox's state and why; False when there is no such mailbox."""
        sql = "UPDATE mailboxes SET state = ?, reason = ? WHERE id = ?"
        return await self._db.change(sql, (state.value, reason, mailbox_id)) == 1
