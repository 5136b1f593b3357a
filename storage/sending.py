"""The sending port: the planner's snapshot, reservations, send records and send outcomes."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime

from core.models import CampaignState, LeadState, SendState
from core.records import (
    AnswerContext,
    Applied,
    Delivered,
    Effects,
    Interrupted,
    LeadInput,
    NewAlert,
    PreviewLead,
    Refused,
    Reservation,
    Reserved,
    SendFinish,
    StepRow,
)
from storage import alerts, events, reservations, rows, sends
from storage.db import Database
from storage.ledger import SendLedger
from storage.snapshot import SnapshotReader


class SendingStore(SnapshotReader):
    """What a sending tick reads and writes (engine.ports.SendingStore)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def steps(self, campaign_ids: Sequence[int]) -> list[StepRow]:
        """Every step of the given campaigns, in order."""
        async with self._db.reading() as conn:
            return await sends.steps(conn, campaign_ids)

    async def lead_inputs(self, lead_ids: Sequence[int]) -> dict[int, LeadInput]:
        """Address, variables and sent thread of each lead."""
        async with self._db.snapshot() as conn:
            return await sends.lead_inputs(conn, lead_ids)

    async def reserve(self, req: Reservation) -> Reserved | Refused:
        """Check every limit and take one send slot atomically (SPEC 6.10)."""
        async with self._db.lock:
            return await reservations.reserve(self._db.conn, req)

    async def reserve_many(self, reqs: Sequence[Reservation]) -> list[Reserved | Refused]:
        """reserve() for each request in turn, in one transaction; a refusal undoes only itself."""
        async with self._db.lock:
            return await reservations.reserve_many(self._db.conn, reqs)

    async def take_slot(self, req: Reservation) -> Refused | None:
        """A test send's slot of the mailbox's and domain's day, or why not (no sends row)."""
        async with self._db.lock:
            return await reservations.take_slot(self._db.conn, req)

    async def preview_lead(self, campaign_id: int, email: str | None) -> PreviewLead | None:
        """The campaign's lead with `email`, or else its first queued lead; None if neither."""
        async with self._db.snapshot() as conn:
            if email is None:
                # The lead the campaign would start next: queued leads go out in id order.
                sql = (
                    "SELECT id, state, next_step, mailbox_id FROM leads "
                    "WHERE campaign_id = ? AND state = 'queued' ORDER BY id LIMIT 1"
                )
                params: tuple[object, ...] = (campaign_id,)
            else:
                sql = (
                    "SELECT id, state, next_step, mailbox_id FROM leads "
                    # Local parts are stored as imported: find Jane@ as jane@.
                    "WHERE campaign_id = ? AND lower(email) = lower(?) ORDER BY email = ? DESC "
                    "LIMIT 1"
                )
                params = (campaign_id, email, email)
            found = list(await conn.execute_fetchall(sql, params))
            if not found:
                return None
            row = found[0]
            inputs = await sends.lead_inputs(conn, [row["id"]])
        return PreviewLead(
            inputs[row["id"]], LeadState(row["state"]), int(row["next_step"]), row["mailbox_id"]
        )

    async def record_sends(
        self, *, delivered: Sequence[Delivered], starting: Sequence[int], now: datetime
    ) -> set[int]:
        """Record delivered steps and mark the next ones 'sending', in one transaction.

        Returns the ids of `starting` actually marked (still 'reserved'): only those may go out.
        """
        async with self._db.lock:
            return await sends.record_sends(
                self._db.conn, delivered=delivered, starting=starting, now=now
            )

    def ledger(self, now: Callable[[], datetime]) -> SendLedger:
        """A group-commit writer of send records for one tick."""
        return SendLedger(self, now)

    async def settle(self, finish: SendFinish, effects: Effects) -> Applied:
        """An attempt that did not deliver: its step, its lead and every side effect, one commit."""
        async with self._db.writing() as conn:
            if finish.state is SendState.RETRY:
                assert finish.retry_at is not None
                await sends.schedule_retry(
                    conn, finish.send_id, now=finish.now, due=finish.retry_at, code=finish.code,
                    reply=finish.reply, refund_attempt=finish.refund_attempt,
                )  # fmt: skip
            else:
                await sends.finish_failed(
                    conn, finish.send_id, state=finish.state, now=finish.now, code=finish.code,
                    reply=finish.reply, lead_id=finish.lead_id, lead_state=finish.lead_state,
                )  # fmt: skip
            if finish.release_slots:
                await sends.release_slots(conn, finish.send_id)
            return await events.apply_effects(conn, effects)

    async def apply(self, effects: Effects) -> Applied:
        """Commit changes that come without an attempt (a lead that cannot be rendered)."""
        async with self._db.writing() as conn:
            return await events.apply_effects(conn, effects)

    async def stop_campaign(self, campaign_id: int, reason: str, alert: NewAlert) -> bool:
        """Stop a campaign whose template broke, and say so, in one commit."""
        async with self._db.writing() as conn:
            async with conn.execute(
                "UPDATE campaigns SET state = ?, reason = ? WHERE id = ?",
                (CampaignState.STOPPED.value, reason, campaign_id),
            ) as cursor:
                stopped = cursor.rowcount == 1
            await alerts.store(conn, alert)
            return stopped

    async def answer_context(self, lead_id: int) -> AnswerContext | None:
        """What answering the lead's reply needs; None without a lead, thread or mailbox."""
        async with self._db.snapshot() as conn:
            found = list(
                await conn.execute_fetchall(
                    "SELECT id, email, vars, campaign_id, mailbox_id FROM leads WHERE id = ?",
                    (lead_id,),
                )
            )
            if not found or found[0]["mailbox_id"] is None:
                return None
            lead = found[0]
            thread = [
                str(r[0])
                for r in await conn.execute_fetchall(
                    "SELECT message_id FROM sends WHERE lead_id = ? AND state = 'sent' "
                    "AND message_id IS NOT NULL ORDER BY sent_at, id",
                    (lead_id,),
                )
            ]
            replies = list(
                await conn.execute_fetchall(
                    "SELECT e.message_id FROM events e JOIN sends s ON s.id = e.send_id "
                    "WHERE s.lead_id = ? AND e.kind = 'reply' AND e.message_id IS NOT NULL "
                    "ORDER BY e.id DESC LIMIT 1",
                    (lead_id,),
                )
            )
            first = [s for s in await sends.steps(conn, [lead["campaign_id"]]) if s.step_no == 1]
            caps = list(
                await conn.execute_fetchall(
                    "SELECT d.daily_limit FROM mailboxes m JOIN domains d ON d.id = m.domain_id "
                    "WHERE m.id = ?",
                    (lead["mailbox_id"],),
                )
            )
        mailbox = await rows.mailbox(self._db, int(lead["mailbox_id"]))
        if mailbox is None:
            return None
        variables = json.loads(lead["vars"])
        return AnswerContext(
            lead=LeadInput(lead_id, str(lead["email"]), variables, tuple(thread)),
            campaign_id=int(lead["campaign_id"]),
            mailbox=mailbox,
            domain_cap=caps[0][0] if caps else None,
            first_step=first[0] if first else None,
            reply_message_id=str(replies[0][0]) if replies else None,
        )

    async def recover_sends(self, now: datetime) -> list[Interrupted]:
        """Resolve sends a crash left open: in flight -> unknown, reserved -> retry."""
        async with self._db.writing() as conn:
            return await sends.recover(conn, now)
