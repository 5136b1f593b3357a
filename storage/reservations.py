"""The limit enforcement of SPEC 6.10: check and take one send slot in one write transaction.

The statements run on the connection's own thread (storage.db.run_sync): a whole tick's
reservations cost one round trip, in one BEGIN IMMEDIATE transaction, each inside a SAVEPOINT
so that a refusal undoes only its own writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import aiosqlite

from core.models import SENDING_STATES
from storage.db import run_sync, sync_transaction, to_ms
from storage.records import (
    RefusalReason,
    Refused,
    Reservation,
    Reserved,
    SendKind,
    UsageScope,
)


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


def _reserve_one(db: sqlite3.Connection, req: Reservation) -> Reserved | Refused:
    db.execute("SAVEPOINT reserve")
    try:
        reserved = _take(db, req)
    except _Refusal as refusal:
        db.execute("ROLLBACK TO reserve")
        db.execute("RELEASE reserve")
        return Refused(refusal.reason)
    # Any other error leaves the savepoint open: the enclosing transaction rolls back anyway.
    db.execute("RELEASE reserve")
    return reserved


def _take(db: sqlite3.Connection, req: Reservation) -> Reserved:
    now = to_ms(req.now)
    # Every guard is part of the statement that writes, so the check and the use are one step;
    # BEGIN IMMEDIATE already holds the write lock, so no other connection can interleave.
    row = _first(
        db,
        """
        UPDATE mailboxes SET next_send_at = :next, last_sent_at = :now
        WHERE id = :id AND state IN ('active', 'warming')
          AND (resting_until IS NULL OR resting_until <= :now)
          AND (next_send_at IS NULL OR next_send_at <= :now)
          AND (SELECT state FROM domains WHERE domains.id = mailboxes.domain_id) = 'active'
        RETURNING domain_id
        """,
        {"next": to_ms(req.next_send_at), "now": now, "id": req.mailbox_id},
    )
    if row is None:
        # The refusal path only: say which guard it was.
        raise _Refusal(_why_mailbox(db, req.mailbox_id, now))
    domain_id = int(row["domain_id"])

    if req.kind is SendKind.CAMPAIGN:
        _take_lead(db, req, now)

    # Domain and campaign days are always counted, so /status is right even when uncapped.
    counters: list[_Counter] = [
        (UsageScope.MAILBOX, req.mailbox_id, req.mailbox_cap, RefusalReason.MAILBOX_LIMIT)
    ]
    counters.append((UsageScope.DOMAIN, domain_id, req.domain_cap, RefusalReason.DOMAIN_LIMIT))
    if req.campaign_id is not None:
        counters.append(
            (UsageScope.CAMPAIGN, req.campaign_id, req.campaign_cap, RefusalReason.CAMPAIGN_LIMIT)
        )
    _count_all(db, req.day, counters)

    # A step that failed softly keeps its row in state 'retry'; taking it again reuses that row
    # (attempts and history kept). Any other existing row means the step is taken: the UNIQUE
    # key is the backstop behind the lead guard above.
    row = _first(
        db,
        """
        INSERT INTO sends (kind, lead_id, campaign_id, step_no, mailbox_id, day, state,
                           message_id, reserved_at, updated_at)
        VALUES (:kind, :lead, :campaign, :step, :mailbox, :day, 'reserved', :mid, :now, :now)
        ON CONFLICT (lead_id, step_no) DO UPDATE SET
            state = 'reserved', mailbox_id = excluded.mailbox_id, day = excluded.day,
            message_id = excluded.message_id, reserved_at = excluded.reserved_at,
            updated_at = excluded.updated_at
        WHERE sends.state = 'retry'
        RETURNING id, attempts
        """,
        {
            "kind": req.kind.value,
            "lead": req.lead_id,
            "campaign": req.campaign_id,
            "step": req.step_no,
            "mailbox": req.mailbox_id,
            "day": req.day,
            "mid": req.message_id,
            "now": now,
        },
    )
    if row is None:
        raise _Refusal(RefusalReason.LEAD_TAKEN)
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
    row = _first(
        db,
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
        RETURNING id
        """,
        {
            "mailbox": req.mailbox_id,
            "lead": req.lead_id,
            "campaign": req.campaign_id,
            "step": req.step_no,
            "now": now,
        },
    )
    if row is None:
        if _state(db, "campaigns", req.campaign_id) != "active":
            raise _Refusal(RefusalReason.CAMPAIGN_STATE)
        raise _Refusal(RefusalReason.LEAD_TAKEN)


_Counter = tuple[UsageScope, int, int | None, RefusalReason]


def _count_all(db: sqlite3.Connection, day: str, counters: Sequence[_Counter]) -> None:
    """Add one to each day counter unless one is at its cap (None: no cap); else refuse.

    One statement for all of them: each row's guard takes its own cap, and RETURNING names
    the rows that were counted, so a missing one is the counter at its cap.
    """
    for _, _, cap, reason in counters:
        if cap is not None and cap <= 0:
            # The INSERT branch of the upsert has no guard: a first use would slip past a 0 cap.
            raise _Refusal(reason)
    rows = ", ".join("(?, ?, ?, 1)" for _ in counters)
    caps = " ".join("WHEN ? THEN ?" for _ in counters)
    params: list[object] = []
    for scope, ref, _, _ in counters:
        params += [scope.value, ref, day]
    for scope, _, cap, _ in counters:
        params += [scope.value, cap]
    counted = {
        row[0]
        for row in db.execute(
            f"""
            INSERT INTO usage (scope, ref, day, sent) VALUES {rows}
            ON CONFLICT (scope, ref, day) DO UPDATE SET sent = sent + 1
            WHERE coalesce(sent < CASE excluded.scope {caps} END, 1)
            RETURNING scope
            """,
            params,
        ).fetchall()
    }
    for scope, _, _, reason in counters:
        if scope.value not in counted:
            raise _Refusal(reason)
