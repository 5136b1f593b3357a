"""SQL for a send's life after its reservation: in flight, sent, retried, failed, recovered."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

import aiosqlite

from core.models import LeadState, SendState
from core.records import Delivered, Interrupted, LeadInput, StepRow
from storage.db import opt_ms, run_sync, sync_transaction, to_ms


async def lead_inputs(conn: aiosqlite.Connection, lead_ids: Sequence[int]) -> dict[int, LeadInput]:
    """Address, variables and sent thread of each lead."""
    if not lead_ids:
        return {}
    marks = ",".join("?" * len(lead_ids))
    leads = await conn.execute_fetchall(
        f"SELECT id, email, vars FROM leads WHERE id IN ({marks})", tuple(lead_ids)
    )
    threads: dict[int, list[str]] = {}
    for row in await conn.execute_fetchall(
        f"""
        SELECT lead_id, message_id FROM sends
        WHERE lead_id IN ({marks}) AND state = 'sent' AND message_id IS NOT NULL
          AND kind = 'campaign'
        ORDER BY lead_id, step_no
        """,
        tuple(lead_ids),
    ):
        threads.setdefault(row["lead_id"], []).append(row["message_id"])
    return {
        row["id"]: LeadInput(
            row["id"], row["email"], json.loads(row["vars"]), tuple(threads.get(row["id"], ()))
        )
        for row in leads
    }


async def steps(conn: aiosqlite.Connection, campaign_ids: Sequence[int]) -> list[StepRow]:
    """Every step of the given campaigns, in order."""
    if not campaign_ids:
        return []
    marks = ",".join("?" * len(campaign_ids))
    rows = await conn.execute_fetchall(
        f"""
        SELECT campaign_id, step_no, subject, body, html, wait_days FROM steps
        WHERE campaign_id IN ({marks}) ORDER BY campaign_id, step_no
        """,
        tuple(campaign_ids),
    )
    return [step_row(r) for r in rows]


def step_row(r: aiosqlite.Row) -> StepRow:
    """A row of `steps` (all its columns) as a StepRow."""
    return StepRow(
        r["campaign_id"], r["step_no"], r["subject"], r["body"], r["html"], r["wait_days"]
    )


# Reserved -> sending: from here on a crash means 'unknown', never a resend. The state guards of
# the reservation hold again here, in the same statement: a mailbox paused or blocked, a domain
# cooling down or a campaign paused since the step was reserved stops it before SMTP.
_MARK_SENDING = """
    UPDATE sends SET state = 'sending', attempts = attempts + 1, updated_at = :now
    WHERE id = :send AND state = 'reserved'
      AND EXISTS (
            SELECT 1 FROM mailboxes m JOIN domains d ON d.id = m.domain_id
            WHERE m.id = sends.mailbox_id AND m.state IN ('active', 'warming')
              AND (m.resting_until IS NULL OR m.resting_until <= :now) AND d.state = 'active'
      )
      AND (sends.kind <> 'campaign'
           OR (SELECT state FROM campaigns c WHERE c.id = sends.campaign_id) = 'active')
"""
# A step that never went out gives its day's slots back: mailbox, domain, campaign, and the
# warm-up loop's share for a warm-up mail.
_GIVE_BACK = (
    """
    UPDATE usage SET sent = sent - 1
    WHERE scope = 'mailbox' AND sent > 0
      AND (ref, day) = (SELECT mailbox_id, day FROM sends WHERE id = :send)
    """,
    """
    UPDATE usage SET sent = sent - 1
    WHERE scope = 'domain' AND sent > 0
      AND (ref, day) = (SELECT m.domain_id, s.day FROM sends s
                        JOIN mailboxes m ON m.id = s.mailbox_id WHERE s.id = :send)
    """,
    """
    UPDATE usage SET sent = sent - 1
    WHERE scope = 'campaign' AND sent > 0
      AND (ref, day) = (SELECT campaign_id, day FROM sends WHERE id = :send
                        AND kind = 'campaign')
    """,
    """
    UPDATE warmup_days SET sent = sent - 1
    WHERE sent > 0
      AND (mailbox_id, day) = (SELECT mailbox_id, day FROM sends WHERE id = :send
                               AND kind = 'warmup')
    """,
)
_RETRY_SEND = """
    UPDATE sends SET state = 'retry', smtp_code = :code, smtp_reply = :reply, updated_at = :now,
                     attempts = attempts - :refund
    WHERE id = :send
"""
# The lead goes back to this step; the reservation's follow-up guard then lets only this
# mailbox take it again, so a retried first mail never jumps to another sender.
_RETRY_LEAD = """
    UPDATE leads SET next_step = (SELECT step_no FROM sends WHERE id = :send),
           state = 'active', next_due_at = :due,
           mailbox_id = (SELECT mailbox_id FROM sends WHERE id = :send)
    WHERE id = (SELECT lead_id FROM sends WHERE id = :send) AND state = 'active'
"""
_SENT = (
    "UPDATE sends SET state = 'sent', sent_at = ?, smtp_code = ?, smtp_reply = ?, "
    "provider_id = ?, updated_at = ? WHERE id = ?"
)
# A reply or bounce may have closed the lead meanwhile: only an active lead moves on.
_LEAD_MOVES_ON = (
    "UPDATE leads SET state = ?, next_due_at = ?, "
    "thread_message_id = COALESCE(thread_message_id, (SELECT message_id FROM sends WHERE id = ?)) "
    "WHERE id = ? AND state = 'active'"
)


async def record_sends(
    conn: aiosqlite.Connection,
    *,
    delivered: Sequence[Delivered],
    starting: Sequence[int],
    now: datetime,
) -> set[int]:
    """One transaction: record `delivered` as sent, then mark `starting` sending.

    Returns the ids of `starting` that were marked: only those may go out.
    """

    def work(db: sqlite3.Connection) -> set[int]:
        with sync_transaction(db):
            _record_sent(db, delivered)
            return _mark_sending(db, starting, now)

    return await run_sync(conn, work)


def _record_sent(db: sqlite3.Connection, delivered: Sequence[Delivered]) -> None:
    db.executemany(
        _SENT,
        [(to_ms(d.at), d.code, d.reply, d.provider_id, to_ms(d.at), d.send_id) for d in delivered],
    )
    db.executemany(
        _LEAD_MOVES_ON,
        [
            (_lead_state(d).value, opt_ms(d.next_due_at), d.send_id, d.lead_id)
            for d in delivered
            if d.lead_id is not None
        ],
    )


def _lead_state(done: Delivered) -> LeadState:
    return LeadState.ACTIVE if done.next_due_at is not None else LeadState.FINISHED


def _mark_sending(db: sqlite3.Connection, send_ids: Sequence[int], now: datetime) -> set[int]:
    # One statement per id (no round trip here): the row count tells which ones were marked.
    stamp = to_ms(now)
    marked = set()
    for send_id in send_ids:
        if db.execute(_MARK_SENDING, {"now": stamp, "send": send_id}).rowcount == 1:
            marked.add(send_id)
            continue
        # Still reserved means a state guard said no: the step waits for its mailbox, domain
        # or campaign to send again, and today's slots it held are free for others.
        retry: dict[str, object] = {"send": send_id, "now": stamp, "due": stamp, "code": None}
        retry |= {"reply": "not attempted: mailbox, domain or campaign stopped", "refund": 0}
        if db.execute(_RETRY_SEND + " AND state = 'reserved'", retry).rowcount == 1:
            for sql in _GIVE_BACK:
                db.execute(sql, {"send": send_id})
            db.execute(_RETRY_LEAD, retry)
    return marked


async def release_slots(conn: aiosqlite.Connection, send_id: int) -> None:
    """Give the day's slots of a step that never went out back (mailbox, domain, campaign)."""
    for sql in _GIVE_BACK:
        await conn.execute(sql, {"send": send_id})


async def finish_failed(
    conn: aiosqlite.Connection,
    send_id: int,
    *,
    state: SendState,
    now: datetime,
    code: int | None,
    reply: str,
    lead_id: int | None,
    lead_state: LeadState | None,
) -> None:
    """The step ends without a (known) delivery; the lead closes with `lead_state`."""
    await conn.execute(
        "UPDATE sends SET state = ?, smtp_code = ?, smtp_reply = ?, updated_at = ? WHERE id = ?",
        (state.value, code, reply, to_ms(now), send_id),
    )
    if lead_id is not None and lead_state is not None:
        await conn.execute(
            "UPDATE leads SET state = ?, next_due_at = NULL "
            "WHERE id = ? AND state IN ('queued', 'active')",
            (lead_state.value, lead_id),
        )


async def schedule_retry(
    conn: aiosqlite.Connection,
    send_id: int,
    *,
    now: datetime,
    due: datetime,
    code: int | None,
    reply: str,
    refund_attempt: bool,
) -> None:
    """Put the step back for another try at `due`, from the same mailbox (same thread)."""
    params: dict[str, object] = {"send": send_id, "now": to_ms(now), "due": to_ms(due)}
    params |= {"code": code, "reply": reply, "refund": 1 if refund_attempt else 0}
    await conn.execute(_RETRY_SEND, params)
    await conn.execute(_RETRY_LEAD, params)


async def recover(conn: aiosqlite.Connection, now: datetime) -> list[Interrupted]:
    """After a crash: sending -> unknown (listed, never resent); reserved -> retry now."""
    rows = await conn.execute_fetchall(
        """
        SELECT s.id, s.step_no, s.message_id, l.email, m.address, c.name
        FROM sends s
        JOIN mailboxes m ON m.id = s.mailbox_id
        LEFT JOIN leads l ON l.id = s.lead_id
        LEFT JOIN campaigns c ON c.id = s.campaign_id
        WHERE s.state = 'sending' ORDER BY s.id
        """
    )
    lost = [
        Interrupted(r["id"], r["email"], r["address"], r["name"], r["step_no"], r["message_id"])
        for r in rows
    ]
    stamp = to_ms(now)
    await conn.execute(
        "UPDATE leads SET state = 'failed', next_due_at = NULL WHERE id IN "
        "(SELECT lead_id FROM sends WHERE state = 'sending' AND lead_id IS NOT NULL) "
        "AND state IN ('queued', 'active')"
    )
    await conn.execute(
        "UPDATE sends SET state = 'unknown', updated_at = ? WHERE state = 'sending'", (stamp,)
    )
    # Reserved rows never reached SMTP: safe to try again, and the day's slots they held are
    # given back (else the mailboxes would sit at their cap with fewer mails sent).
    reserved = await conn.execute_fetchall("SELECT id FROM sends WHERE state = 'reserved'")
    for row in reserved:
        for sql in _GIVE_BACK:
            await conn.execute(sql, {"send": row["id"]})
        await schedule_retry(
            conn,
            row["id"],
            now=now,
            due=now,
            code=None,
            reply="interrupted before sending",
            refund_attempt=False,
        )
    await conn.execute(
        "DELETE FROM sends WHERE state = 'retry' AND kind IN ('warmup', 'reply')"
    )  # warm-up mails are owed to no one, an answer is the admin's to give again: drop unsent
    return lost
