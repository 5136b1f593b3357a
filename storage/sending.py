"""The sending port: the planner's snapshot, reservations, send records and send outcomes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from core.models import CampaignState, SendState
from core.records import (
    Applied,
    Delivered,
    Effects,
    Interrupted,
    LeadInput,
    NewAlert,
    Refused,
    Reservation,
    Reserved,
    SendFinish,
    StepRow,
)
from storage import alerts, events, reservations, sends
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

    async def recover_sends(self, now: datetime) -> list[Interrupted]:
        """Resolve sends a crash left open: in flight -> unknown, reserved -> retry."""
        async with self._db.writing() as conn:
            return await sends.recover(conn, now)
