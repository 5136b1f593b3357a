"""Mirror the configured domains, mailboxes and campaigns into the database, keeping runtime state.

`core.reconcile` decides; this module reads the rows it needs and applies its plan. The caller
holds the transaction, so a sync is all or nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date

import aiosqlite

from core.models import MailboxState, WarmupPolicy
from core.reconcile import (
    REMOVED,
    CampaignsPlan,
    DomainsPlan,
    MailboxesPlan,
    StepsPlan,
    StoredCampaign,
    StoredDomain,
    StoredMailbox,
    plan_steps,
    reconcile,
)
from core.records import StepRow, SyncReport
from core.specs import CampaignSpec, DomainSpec, MailboxSpec, StepSpec
from storage import sends

__all__ = ["REMOVED", "insert_campaign", "sync_all", "sync_steps", "update_campaign"]


async def sync_all(
    conn: aiosqlite.Connection,
    domains: Sequence[DomainSpec],
    mailboxes: Sequence[MailboxSpec],
    campaigns: Sequence[CampaignSpec],
    *,
    today: date,
    warmup: WarmupPolicy,
    now_ms: int,
) -> SyncReport:
    """Upsert everything; the caller holds the transaction."""
    plan = reconcile(
        domains=domains,
        mailboxes=mailboxes,
        campaigns=campaigns,
        stored_domains=await _stored_domains(conn),
        stored_mailboxes=await _stored_mailboxes(conn),
        stored_campaigns=await _stored_campaigns(conn),
        stored_steps=await _stored_steps(conn),
        today=today,
        warmup=warmup,
    )
    domain_ids = await _apply_domains(conn, plan.domains)
    await _apply_mailboxes(conn, plan.mailboxes, domain_ids)
    await _apply_campaigns(conn, plan.campaigns, now_ms)
    return SyncReport(
        domains=plan.domains.tally,
        mailboxes=plan.mailboxes.tally,
        campaigns=plan.campaigns.tally,
    )


async def _rows(
    conn: aiosqlite.Connection, sql: str, params: Sequence[object] = ()
) -> list[aiosqlite.Row]:
    return list(await conn.execute_fetchall(sql, params))


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


async def _disable(conn: aiosqlite.Connection, table: str, ids: Iterable[int]) -> None:
    # `table` is one of our own literals. History (sends, events, usage) stays untouched.
    await conn.executemany(
        f"UPDATE {table} SET state = 'disabled', reason = ?, in_config = 0 WHERE id = ?",
        [(REMOVED, row_id) for row_id in ids],
    )


# --- domains -----------------------------------------------------------------------------


async def _stored_domains(conn: aiosqlite.Connection) -> list[StoredDomain]:
    rows = await _rows(conn, "SELECT id, name, daily_limit, esp, in_config FROM domains")
    return [
        StoredDomain(r["id"], r["name"], r["daily_limit"], r["esp"], bool(r["in_config"]))
        for r in rows
    ]


async def _apply_domains(conn: aiosqlite.Connection, plan: DomainsPlan) -> dict[str, int]:
    """Apply the domain writes; return every domain's id by name, for the mailboxes."""
    for domain in plan.inserts:
        await conn.execute(
            "INSERT INTO domains (name, daily_limit, esp, state) VALUES (?, ?, ?, 'active')",
            (domain.name, domain.daily_limit, domain.esp),
        )
    await conn.executemany(
        """
        UPDATE domains SET daily_limit = ?, esp = ?, in_config = 1,
            state = CASE WHEN state = 'disabled' THEN 'active' ELSE state END,
            reason = CASE WHEN state = 'disabled' THEN '' ELSE reason END
        WHERE id = ?
        """,
        [(update.daily_limit, update.esp, update.id) for update in plan.updates],
    )
    await _disable(conn, "domains", plan.disables)
    rows = await _rows(conn, "SELECT id, name FROM domains")
    return {row["name"]: row["id"] for row in rows}


# --- mailboxes ---------------------------------------------------------------------------


async def _stored_mailboxes(conn: aiosqlite.Connection) -> list[StoredMailbox]:
    rows = await _rows(
        conn,
        """
        SELECT id, address, display_name, daily_limit, warmup_start, cfg_warmup_start,
               state, reason, in_config
        FROM mailboxes
        """,
    )
    return [
        StoredMailbox(
            id=r["id"],
            address=r["address"],
            display_name=r["display_name"],
            daily_limit=r["daily_limit"],
            warmup_start=_day(r["warmup_start"]),
            cfg_warmup_start=_day(r["cfg_warmup_start"]),
            state=MailboxState(r["state"]),
            reason=r["reason"],
            in_config=bool(r["in_config"]),
        )
        for r in rows
    ]


async def _apply_mailboxes(
    conn: aiosqlite.Connection, plan: MailboxesPlan, domain_ids: dict[str, int]
) -> None:
    await conn.executemany(
        """
        INSERT INTO mailboxes (address, domain_id, display_name, daily_limit,
                               warmup_start, cfg_warmup_start, state)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        """,
        [
            (
                box.address,
                domain_ids[box.domain],
                box.display_name,
                box.daily_limit,
                _iso(box.warmup_start),
                _iso(box.warmup_start),
                box.state.value,
            )
            for box in plan.inserts
        ],
    )
    await conn.executemany(
        """
        UPDATE mailboxes SET display_name = ?, daily_limit = ?, warmup_start = ?,
            cfg_warmup_start = ?, state = ?, reason = ?, in_config = 1
        WHERE id = ?
        """,
        [
            (
                box.display_name,
                box.daily_limit,
                _iso(box.warmup_start),
                _iso(box.cfg_warmup_start),
                box.state.value,
                box.reason,
                box.id,
            )
            for box in plan.updates
        ],
    )
    await _disable(conn, "mailboxes", plan.disables)


# --- campaigns ---------------------------------------------------------------------------


async def _stored_campaigns(conn: aiosqlite.Connection) -> list[StoredCampaign]:
    rows = await _rows(
        conn,
        """
        SELECT id, name, timezone, days, hours, daily_limit, during_warmup, in_config, origin
        FROM campaigns
        """,
    )
    return [
        StoredCampaign(
            id=r["id"],
            name=r["name"],
            timezone=r["timezone"],
            days=tuple(json.loads(r["days"])),
            hours=r["hours"],
            daily_limit=r["daily_limit"],
            during_warmup=bool(r["during_warmup"]),
            in_config=bool(r["in_config"]),
            origin=r["origin"],
        )
        for r in rows
    ]


async def _stored_steps(conn: aiosqlite.Connection) -> dict[int, list[StepRow]]:
    steps: dict[int, list[StepRow]] = {}
    for row in await _rows(
        conn, "SELECT campaign_id, step_no, subject, body, html, wait_days FROM steps"
    ):
        steps.setdefault(row["campaign_id"], []).append(sends.step_row(row))
    return steps


async def _apply_campaigns(conn: aiosqlite.Connection, plan: CampaignsPlan, now_ms: int) -> None:
    for campaign in plan.inserts:
        await insert_campaign(conn, campaign, "config", now_ms)
    for update in plan.updates:
        await update_campaign(conn, update.id, update.campaign, "config", restore=update.restore)
    for campaign_id, steps in plan.steps:
        await _apply_steps(conn, campaign_id, steps)
    await _disable(conn, "campaigns", plan.disables)


def _campaign_values(campaign: CampaignSpec) -> tuple[object, ...]:
    return (
        campaign.timezone,
        json.dumps(list(campaign.days)),
        campaign.hours,
        campaign.daily_limit,
        int(campaign.during_warmup),
    )


async def insert_campaign(
    conn: aiosqlite.Connection, campaign: CampaignSpec, origin: str, now_ms: int
) -> int:
    """Insert a new active campaign and its steps; return its id."""
    cursor = await conn.execute(
        """
        INSERT INTO campaigns (name, state, timezone, days, hours, daily_limit, during_warmup,
                               in_config, origin, created_at)
        VALUES (?, 'active', ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        (campaign.name, *_campaign_values(campaign), int(origin == "config"), origin, now_ms),
    )
    assert cursor.lastrowid is not None
    await _apply_steps(conn, cursor.lastrowid, plan_steps((), campaign.steps))
    return cursor.lastrowid


async def update_campaign(
    conn: aiosqlite.Connection,
    campaign_id: int,
    campaign: CampaignSpec,
    origin: str,
    *,
    restore: bool,
) -> None:
    """Apply a campaign's config values; `restore` re-activates one that had been removed."""
    await conn.execute(
        """
        UPDATE campaigns SET timezone = ?, days = ?, hours = ?, daily_limit = ?,
            during_warmup = ?, in_config = ?, origin = ?,
            state = CASE WHEN ? AND state = 'disabled' THEN 'active' ELSE state END,
            reason = CASE WHEN ? AND state = 'disabled' THEN '' ELSE reason END
        WHERE id = ?
        """,
        (
            *_campaign_values(campaign),
            int(origin == "config"),
            origin,
            int(restore),
            int(restore),
            campaign_id,
        ),
    )


async def sync_steps(
    conn: aiosqlite.Connection, campaign_id: int, steps: Sequence[StepSpec]
) -> bool:
    """Upsert steps by number, drop the ones beyond the new count; True when anything changed."""
    plan = plan_steps(await sends.steps(conn, [campaign_id]), steps)
    await _apply_steps(conn, campaign_id, plan)
    return plan.changed


async def _apply_steps(conn: aiosqlite.Connection, campaign_id: int, plan: StepsPlan) -> None:
    await conn.executemany(
        """
        INSERT INTO steps (campaign_id, step_no, subject, body, html, wait_days)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (campaign_id, step_no) DO UPDATE SET
            subject = excluded.subject, body = excluded.body, html = excluded.html,
            wait_days = excluded.wait_days
        """,
        [
            (campaign_id, number, step.subject, step.body, step.html, step.wait_days)
            for number, step in plan.upserts
        ],
    )
    if plan.dropped:
        await conn.execute(
            "DELETE FROM steps WHERE campaign_id = ? AND step_no > ?", (campaign_id, plan.keep)
        )
        # Leads waiting for a step that no longer exists have nothing left to send. A step in
        # flight (next_due_at NULL) is finished by the sender when it sees no next step.
        await conn.execute(
            """
            UPDATE leads SET state = 'finished', next_due_at = NULL
            WHERE campaign_id = ? AND state = 'active' AND next_step > ?
              AND next_due_at IS NOT NULL
            """,
            (campaign_id, plan.keep),
        )
