"""The limit enforcement of SPEC 6.10: check and take one send slot in one write transaction.

The statements run on the connection's own thread (storage.db.run_sync): a whole tick's
reservations cost one round trip, in one BEGIN IMMEDIATE transaction, each inside a SAVEPOINT
so that a refusal undoes only its own writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

import aiosqlite

from core.models import SENDING_STATES
from core.records import (
    RefusalReason,
    Refused,
    Reservation,
    Reserved,
    SendKind,
    UsageScope,
)
from storage.db import run_sync, sync_transaction, to_ms


class _Refusal(Exception):
    """Raised inside the savepoint so that it rolls back; never leaves this module."""

    def __init__(self, reason: RefusalReason) -> None:
        super().__init__(reason)
        self.reason = reason


async def reserve(conn: aiosqlite.Connection, req: Reservation) -> Reserved | Refused:
    """Take a slot for `req` or refuse it; on refusal (or any error) nothing is written."""
    (result,) = await reserve_many(conn, [req])
    return result


async def reserve_many(
    conn: aiosqlite.Connection, reqs: Sequence[Reservation]
) -> list[Reserved | Refused]:
    """Reserve each request in turn, in one transaction; a refusal writes nothing of its own.

    Each request sees the slots the earlier ones took. An error (not a refusal) rolls back
    the whole batch.
    """
    if not reqs:
        return []
    return await run_sync(conn, lambda db: _reserve_all(db, reqs))


def _reserve_all(db: sqlite3.Connection, reqs: Sequence[Reservation]) -> list[Reserved | Refused]:
    with sync_transaction(db):
        return [_reserve_one(db, req) for req in reqs]


async def take_slot(conn: aiosqlite.Connection, req: Reservation) -> Refused | None:
    """Count a test send against its mailbox's and domain's day, or refuse it; no sends row.

    The same guards as a reservation (states, rest, gap, caps), in one transaction.
    """
    if req.kind is not SendKind.TEST:
        raise ValueError("only a test send takes a slot without a sends row")

    def run(db: sqlite3.Connection) -> Refused | None:
        with sync_transaction(db):
            result = _reserve_one(db, req, take=_take_test)
        return result if isinstance(result, Refused) else None

    return await run_sync(conn, run)


def _reserve_one(
    db: sqlite3.Connection,
    req: Reservation,
    take: Callable[[sqlite3.Connection, Reservation], Reserved] | None = None,
) -> Reserved | Refused:
    db.execute("SAVEPOINT reserve")
    try:
        reserved = (take or _take)(db, req)
    except _Refusal as refusal:
        db.execute("ROLLBACK TO reserve")
        db.execute("RELEASE reserve")
        return Refused(refusal.reason)
    # Any other error leaves the savepoint open: the enclosing transaction rolls back anyway.
    db.execute("RELEASE reserve")
    return reserved


# No statement below has a RETURNING clause or an upsert: measured here, those cost two to
# four times a plain statement, and a reservation is made for every mail (bench_send).
_TAKE_MAILBOX = """
    UPDATE mailboxes SET next_send_at = ?1, last_sent_at = ?2
    WHERE id = ?3 AND state IN ('active', 'warming')
      AND (resting_until IS NULL OR resting_until <= ?2)
      AND (next_send_at IS NULL OR next_send_at <= ?2)
      AND (SELECT state FROM domains WHERE domains.id = mailboxes.domain_id) = 'active'
"""
_INSERT_SEND = """
    INSERT INTO sends (kind, lead_id, campaign_id, step_no, mailbox_id, day, state,
                       message_id, reserved_at, updated_at)
    VALUES (:kind, :lead, :campaign, :step, :mailbox, :day, 'reserved', :mid, :now, :now)
    ON CONFLICT (lead_id, step_no) DO NOTHING
"""
# A step that failed softly keeps its row in state 'retry'; taking it again reuses that row
# (attempts and history kept).
_RETAKE_SEND = """
    UPDATE sends SET state = 'reserved', mailbox_id = :mailbox, day = :day, message_id = :mid,
                     reserved_at = :now, updated_at = :now
    WHERE lead_id = :lead AND step_no = :step AND state = 'retry'
"""


def _take_mailbox(db: sqlite3.Connection, req: Reservation, now: int) -> int:
    """Move the mailbox's gap on, or refuse; returns its domain's id."""
    # Every guard is part of the statement that writes, so the check and the use are one step;
    # BEGIN IMMEDIATE already holds the write lock, so no other connection can interleave.
    taken = db.execute(_TAKE_MAILBOX, (to_ms(req.next_send_at), now, req.mailbox_id)).rowcount
    if taken != 1:
        # The refusal path only: say which guard it was.
        raise _Refusal(_why_mailbox(db, req.mailbox_id, now))
    row = _first(db, "SELECT domain_id FROM mailboxes WHERE id = ?", (req.mailbox_id,))
    assert row is not None  # just updated, inside this transaction
    return int(row[0])


def _take_test(db: sqlite3.Connection, req: Reservation) -> Reserved:
    """A test send's slot: the mailbox's gap and its mailbox and domain day counters."""
    domain_id = _take_mailbox(db, req, to_ms(req.now))
    _count_all(
        db,
        req.day,
        [
            (UsageScope.MAILBOX, req.mailbox_id, req.mailbox_cap, RefusalReason.MAILBOX_LIMIT),
            (UsageScope.DOMAIN, domain_id, req.domain_cap, RefusalReason.DOMAIN_LIMIT),
        ],
    )
    return Reserved(0)  # no row: take_slot() only says whether it was taken


def _take(db: sqlite3.Connection, req: Reservation) -> Reserved:
    if req.kind is SendKind.TEST:
        raise ValueError("a test send has no sends row: take its slot with take_slot()")
    now = to_ms(req.now)
    domain_id = _take_mailbox(db, req, now)

    if req.kind is SendKind.CAMPAIGN:
        _take_lead(db, req, now)

    # Domain and campaign days are always counted, so /status is right even when uncapped.
    counters: list[_Counter] = [
        (UsageScope.MAILBOX, req.mailbox_id, req.mailbox_cap, RefusalReason.MAILBOX_LIMIT)
    ]
    counters.append((UsageScope.DOMAIN, domain_id, req.domain_cap, RefusalReason.DOMAIN_LIMIT))
    if req.kind is SendKind.CAMPAIGN and req.campaign_id is not None:
        # An admin's answer to a reply is not campaign volume: its mailbox and domain count it.
        counters.append(
            (UsageScope.CAMPAIGN, req.campaign_id, req.campaign_cap, RefusalReason.CAMPAIGN_LIMIT)
        )
    _count_all(db, req.day, counters)
    if req.kind is SendKind.WARMUP:
        # The loop's share of the day in use: campaigns see what it still keeps (SPEC 7).
        db.execute(
            "UPDATE warmup_days SET sent = sent + 1 WHERE mailbox_id = ? AND day = ?",
            (req.mailbox_id, req.day),
        )

    params = {
        "kind": req.kind.value,
        "lead": req.lead_id,
        "campaign": req.campaign_id,
        "step": req.step_no,
        "mailbox": req.mailbox_id,
        "day": req.day,
        "mid": req.message_id,
        "now": now,
    }
    cursor = db.execute(_INSERT_SEND, params)
    if cursor.rowcount == 1 and cursor.lastrowid is not None:
        return Reserved(cursor.lastrowid, attempts=0)
    # The step has a row already: a retry takes it again; any other state means the step is
    # taken (the UNIQUE key is the backstop behind the lead guard above).
    if db.execute(_RETAKE_SEND, params).rowcount != 1:
        raise _Refusal(RefusalReason.LEAD_TAKEN)
    row = _first(
        db,
        "SELECT id, attempts FROM sends WHERE lead_id = ? AND step_no = ?",
        (req.lead_id, req.step_no),
    )
    assert row is not None  # just updated, inside this transaction
    return Reserved(int(row["id"]), attempts=int(row["attempts"]))


def _first(
    db: sqlite3.Connection, sql: str, params: Sequence[object] | dict[str, object]
) -> sqlite3.Row | None:
    """The first row of a statement, read to its end (a pending statement blocks RELEASE)."""
    rows: list[sqlite3.Row] = db.execute(sql, params).fetchall()
    return rows[0] if rows else None


def _why_mailbox(db: sqlite3.Connection, mailbox_id: int, now: int) -> RefusalReason:
    row = _first(
        db,
        "SELECT m.state, m.resting_until, m.next_send_at, d.state AS domain_state "
        "FROM mailboxes m JOIN domains d ON d.id = m.domain_id WHERE m.id = ?",
        (mailbox_id,),
    )
    if row is None:
        raise LookupError(f"no mailbox with id {mailbox_id}")
    if row["state"] not in SENDING_STATES:
        return RefusalReason.MAILBOX_STATE
    if row["resting_until"] is not None and row["resting_until"] > now:
        return RefusalReason.RESTING
    if row["next_send_at"] is not None and row["next_send_at"] > now:
        return RefusalReason.GAP
    return RefusalReason.DOMAIN_STATE


def _state(db: sqlite3.Connection, table: str, row_id: int) -> str | None:
    # `table` is one of our own literals, never user input.
    row = _first(db, f"SELECT state FROM {table} WHERE id = ?", (row_id,))
    return None if row is None else str(row["state"])


def _take_lead(db: sqlite3.Connection, req: Reservation, now: int) -> None:
    assert req.campaign_id is not None and req.lead_id is not None and req.step_no is not None
    # Step 1 takes a queued lead; a follow-up needs the previous step sent (next_due_at set by
    # the sender), due, and the thread's own mailbox. Advancing next_step and clearing
    # next_due_at makes the same step impossible to take again.
    taken = db.execute(
        """
        UPDATE leads
        SET next_step = next_step + 1, state = 'active', next_due_at = NULL,
            mailbox_id = :mailbox
        WHERE id = :lead AND campaign_id = :campaign AND next_step = :step
          AND (
                (state = 'queued' AND :step = 1)
             OR (state = 'active' AND next_due_at IS NOT NULL AND next_due_at <= :now
                 AND mailbox_id = :mailbox)
          )
          AND (SELECT state FROM campaigns WHERE campaigns.id = :campaign) = 'active'
        """,
        {
            "mailbox": req.mailbox_id,
            "lead": req.lead_id,
            "campaign": req.campaign_id,
            "step": req.step_no,
            "now": now,
        },
    ).rowcount
    if taken != 1:
        if _state(db, "campaigns", req.campaign_id) != "active":
            raise _Refusal(RefusalReason.CAMPAIGN_STATE)
        raise _Refusal(RefusalReason.LEAD_TAKEN)


_Counter = tuple[UsageScope, int, int | None, RefusalReason]


_COUNT = """
    UPDATE usage SET sent = sent + 1
    WHERE scope = ?1 AND ref = ?2 AND day = ?3 AND (?4 IS NULL OR sent < ?4)
"""
_FIRST_OF_DAY = """
    INSERT INTO usage (scope, ref, day, sent) VALUES (?1, ?2, ?3, 0)
    ON CONFLICT (scope, ref, day) DO NOTHING
"""


def _count_all(db: sqlite3.Connection, day: str, counters: Sequence[_Counter]) -> None:
    """Add one to each day counter unless one is at its cap (None: no cap); else refuse.

    The guard is in the UPDATE itself; a counter without a row yet today gets one at 0 first.
    A refusal leaves that row behind only until the savepoint rolls back.
    """
    for scope, ref, cap, reason in counters:
        params = (scope.value, ref, day, cap)
        if db.execute(_COUNT, params).rowcount == 1:
            continue
        db.execute(_FIRST_OF_DAY, params[:3])
        if db.execute(_COUNT, params).rowcount != 1:
            raise _Refusal(reason)
