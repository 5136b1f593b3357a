"""The control port: what /pause, /resume, /warmup and /upload read and change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from core.models import CampaignState, DomainState, MailboxState
from core.specs import CampaignSpec
from storage import health, sync
from storage.db import Database, StorageConflict, opt_ms, to_ms
from storage.rows import RowReader


class ControlStore(RowReader):
    """Stored mailboxes, domains and campaigns and their states (engine.ports.ControlStore)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def _one(self, sql: str, params: Sequence[object]) -> bool:
        return await self._db.change(sql, params) == 1

    async def set_mailbox_state(self, mailbox_id: int, state: MailboxState, reason: str) -> bool:
        """Set a mailbox's state and why; False when there is no such mailbox."""
        return await self._one(
            "UPDATE mailboxes SET state = ?, reason = ? WHERE id = ?",
            (state.value, reason, mailbox_id),
        )

    async def set_mailbox_states(self, changes: Sequence[tuple[int, MailboxState, str]]) -> None:
        """Set (id, state, reason) of many mailboxes in one transaction (/pause all)."""
        if not changes:
            return
        async with self._db.writing() as conn:
            await conn.executemany(
                "UPDATE mailboxes SET state = ?, reason = ? WHERE id = ?",
                [(state.value, reason, mailbox_id) for mailbox_id, state, reason in changes],
            )

    async def set_mailbox_resting(self, mailbox_id: int, until: datetime | None) -> bool:
        """Keep a mailbox from sending until `until` (provider cap, 421 back-off); None clears."""
        return await self._one(
            "UPDATE mailboxes SET resting_until = ? WHERE id = ?", (opt_ms(until), mailbox_id)
        )

    async def set_mailbox_warmup(
        self, mailbox_id: int, warmup_start: date | None, state: MailboxState, reason: str = ""
    ) -> bool:
        """Restart or end a mailbox's ramp at runtime (kept across config syncs)."""
        start = warmup_start.isoformat() if warmup_start else None
        return await self._one(
            "UPDATE mailboxes SET warmup_start = ?, state = ?, reason = ? WHERE id = ?",
            (start, state.value, reason, mailbox_id),
        )

    async def set_domain_state(
        self, name: str, state: DomainState, reason: str, cooldown_until: datetime | None = None
    ) -> bool:
        """Set a domain's state, why, and the end of a cool-down; False when unknown."""
        return await self._one(
            "UPDATE domains SET state = ?, reason = ?, cooldown_until = ? WHERE name = ?",
            (state.value, reason, opt_ms(cooldown_until), name.strip().lower()),
        )

    async def set_campaign_state(self, campaign_id: int, state: CampaignState, reason: str) -> bool:
        """Set a campaign's state and why; False when there is no such campaign."""
        return await self._one(
            "UPDATE campaigns SET state = ?, reason = ? WHERE id = ?",
            (state.value, reason, campaign_id),
        )

    async def end_cooldown(self, domain: str, warmup_start: date) -> int:
        """Reactivate a domain; its mailboxes re-enter warm-up."""
        async with self._db.writing() as conn:
            return await health.end_cooldown(conn, domain, warmup_start)

    async def upsert_campaign(self, campaign: CampaignSpec, *, now: datetime) -> int:
        """Store a campaign uploaded to the bot (not owned by the TOML); return its id."""
        async with self._db.writing() as conn:
            found = list(
                await conn.execute_fetchall(
                    "SELECT id, in_config, origin FROM campaigns WHERE name = ?",
                    (campaign.name,),
                )
            )
            if not found:
                return await sync.insert_campaign(conn, campaign, "upload", to_ms(now))
            row = found[0]
            if row["origin"] == "config" and row["in_config"]:
                raise StorageConflict(
                    f"campaign {campaign.name!r} is defined in the config file; change it there"
                )
            await sync.update_campaign(conn, row["id"], campaign, "upload", restore=True)
            await sync.sync_steps(conn, row["id"], campaign.steps)
            return int(row["id"])
