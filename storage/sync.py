"""Mirror the TOML's domains, mailboxes and campaigns into the database, keeping runtime state."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date

import aiosqlite

from config import CampaignConfig, MailboxConfig, OutreachConfig, StepConfig
from core.models import SENDING_STATES, MailboxState, WarmupPolicy
from core.records import KindCounts, SyncReport
from core.warmup import is_warm, warmup_day

REMOVED = "removed from config"


def initial_state(
    warmup_start: date | None, daily_limit: int, today: date, policy: WarmupPolicy
) -> MailboxState:
    """`warming` while the ramp of `warmup_start` is below the mailbox's ceiling, else `active`."""
    if warmup_start is None:
        return MailboxState.ACTIVE
    day = warmup_day(warmup_start, today)
    return MailboxState.ACTIVE if is_warm(policy, day, daily_limit) else MailboxState.WARMING


async def sync_all(
    conn: aiosqlite.Connection,
    cfg: OutreachConfig,
    today: date,
    warmup: WarmupPolicy,
    now_ms: int,
) -> SyncReport:
    """Upsert everything; the caller holds the transaction."""
    report = SyncReport()
    domain_ids = await _sync_domains(conn, cfg, report.domains)
    await _sync_mailboxes(
        conn,
        cfg.mailboxes,
        domain_ids=domain_ids,
        today=today,
        warmup=warmup,
        counts=report.mailboxes,
    )
    await _sync_campaigns(conn, cfg.campaigns, now_ms, report.campaigns)
    return report


async def _rows(
    conn: aiosqlite.Connection, sql: str, params: Sequence[object] = ()
) -> list[aiosqlite.Row]:
    return list(await conn.execute_fetchall(sql, params))


# --- domains -----------------------------------------------------------------------------


async def _sync_domains(
    conn: aiosqlite.Connection, cfg: OutreachConfig, counts: KindCounts
) -> dict[str, int]:
    wanted: dict[str, tuple[int | None, str | None]] = {
        d.name: (d.daily_limit, d.esp) for d in cfg.domains
    }
    for mailbox in cfg.mailboxes:
        # A mailbox's domain needs no [[domains]] table of its own: it is then simply uncapped.
        wanted.setdefault(mailbox.domain, (None, None))
    existing = {
        row["name"]: row
        for row in await _rows(
            conn, "SELECT id, name, daily_limit, esp, state, in_config FROM domains"
        )
    }
    ids: dict[str, int] = {}
    for name, (limit, esp) in wanted.items():
        row = existing.get(name)
        if row is None:
            cursor = await conn.execute(
                "INSERT INTO domains (name, daily_limit, esp, state) VALUES (?, ?, ?, 'active')",
                (name, limit, esp),
            )
            assert cursor.lastrowid is not None
            ids[name] = cursor.lastrowid
            counts.added += 1
            continue
        ids[name] = row["id"]
        restored = not row["in_config"]
        changed = (row["daily_limit"], row["esp"]) != (limit, esp)
        if restored or changed:
            await conn.execute(
                """
                UPDATE domains SET daily_limit = ?, esp = ?, in_config = 1,
                    state = CASE WHEN state = 'disabled' THEN 'active' ELSE state END,
                    reason = CASE WHEN state = 'disabled' THEN '' ELSE reason END
                WHERE id = ?
                """,
                (limit, esp, row["id"]),
            )
        _tally(counts, restored=restored, changed=changed)
    gone = [row["id"] for name, row in existing.items() if name not in wanted and row["in_config"]]
    await _disable(conn, "domains", gone)
    counts.disabled += len(gone)
    return ids


def _tally(counts: KindCounts, *, restored: bool, changed: bool) -> None:
    if restored:
        counts.restored += 1
    elif changed:
        counts.updated += 1


async def _disable(conn: aiosqlite.Connection, table: str, ids: Iterable[int]) -> None:
    # `table` is one of our own literals. History (sends, events, usage) stays untouched.
    await conn.executemany(
        f"UPDATE {table} SET state = 'disabled', reason = ?, in_config = 0 WHERE id = ?",
        [(REMOVED, row_id) for row_id in ids],
    )


# --- mailboxes ---------------------------------------------------------------------------


async def _sync_mailboxes(
    conn: aiosqlite.Connection,
    mailboxes: Sequence[MailboxConfig],
    *,
    domain_ids: dict[str, int],
    today: date,
    warmup: WarmupPolicy,
    counts: KindCounts,
) -> None:
    existing = {
        row["address"]: row
        for row in await _rows(
            conn,
            """
            SELECT id, address, display_name, daily_limit, warmup_start, cfg_warmup_start,
                   state, reason, in_config
            FROM mailboxes
            """,
        )
    }
    wanted: set[str] = set()
    for box in mailboxes:
        wanted.add(box.address)
        cfg_start = box.warmup_start.isoformat() if box.warmup_start else None
        row = existing.get(box.address)
        if row is None:
            state = initial_state(box.warmup_start, box.daily_limit, today, warmup)
            await conn.execute(
                """
                INSERT INTO mailboxes (address, domain_id, display_name, daily_limit,
                                       warmup_start, cfg_warmup_start, state)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
                (
                    box.address,
                    domain_ids[box.domain],
                    box.display_name,
                    box.daily_limit,
                    cfg_start,
                    cfg_start,
                    state.value,
                ),
            )
            counts.added += 1
            continue
        # warmup_start may have been set at runtime (/warmup start, re-entry after a
        # cool-down); only a change in the TOML itself overrides it.
        start_changed = cfg_start != row["cfg_warmup_start"]
        start = cfg_start if start_changed else row["warmup_start"]
        restored = not row["in_config"]
        changed = start_changed or (row["display_name"], row["daily_limit"]) != (
            box.display_name,
            box.daily_limit,
        )
        state, reason = MailboxState(row["state"]), row["reason"]
        if (restored and state is MailboxState.DISABLED) or (changed and state in SENDING_STATES):
            # Paused / cool-down mailboxes keep their state: only an admin or the engine ends it.
            start_day = date.fromisoformat(start) if start else None
            state = initial_state(start_day, box.daily_limit, today, warmup)
            reason = "" if restored else reason
        if restored or changed:
            await conn.execute(
                """
                UPDATE mailboxes SET display_name = ?, daily_limit = ?, warmup_start = ?,
                    cfg_warmup_start = ?, state = ?, reason = ?, in_config = 1
                WHERE id = ?
                """,
                (
                    box.display_name,
                    box.daily_limit,
                    start,
                    cfg_start,
                    state.value,
                    reason,
                    row["id"],
                ),
            )
        _tally(counts, restored=restored, changed=changed)
    gone = [row["id"] for addr, row in existing.items() if addr not in wanted and row["in_config"]]
    await _disable(conn, "mailboxes", gone)
    counts.disabled += len(gone)


# --- campaigns ---------------------------------------------------------------------------


def _campaign_values(campaign: CampaignConfig) -> tuple[object, ...]:
    return (
        campaign.timezone,
        json.dumps(campaign.days),
        campaign.hours,
        campaign.daily_limit,
        int(campaign.during_warmup),
    )


async def _sync_campaigns(
    conn: aiosqlite.Connection,
    campaigns: Sequence[CampaignConfig],
    now_ms: int,
    counts: KindCounts,
) -> None:
    existing = {
        row["name"]: row
        for row in await _rows(
            conn,
            """
            SELECT id, name, timezone, days, hours, daily_limit, during_warmup, in_config, origin
            FROM campaigns
            """,
        )
    }
    wanted: set[str] = set()
    for campaign in campaigns:
        wanted.add(campaign.name)
        row = existing.get(campaign.name)
        if row is None:
            await insert_campaign(conn, campaign, "config", now_ms)
            counts.added += 1
            continue
        restored = row["origin"] == "config" and not row["in_config"]
        old = (row["timezone"], row["days"], row["hours"], row["daily_limit"], row["during_warmup"])
        changed = old != _campaign_values(campaign) or row["origin"] != "config"
        if restored or changed:
            await update_campaign(conn, row["id"], campaign, "config", restore=restored)
        steps_changed = await sync_steps(conn, row["id"], campaign.steps)
        _tally(counts, restored=restored, changed=changed or steps_changed)
    gone = [
        row["id"]
        for name, row in existing.items()
        if name not in wanted and row["in_config"] and row["origin"] == "config"
    ]
    await _disable(conn, "campaigns", gone)
    counts.disabled += len(gone)


async def insert_campaign(
    conn: aiosqlite.Connection, campaign: CampaignConfig, origin: str, now_ms: int
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
    await sync_steps(conn, cursor.lastrowid, campaign.steps)
    return cursor.lastrowid


async def update_campaign(
    conn: aiosqlite.Connection,
    campaign_id: int,
    campaign: CampaignConfig,
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
    conn: aiosqlite.Connection, campaign_id: int, steps: Sequence[StepConfig]
) -> bool:
    """Upsert steps by number, drop the ones beyond the new count; True when anything changed."""
    old = {
        row["step_no"]: (row["subject"], row["body"], row["html"], row["wait_days"])
        for row in await _rows(
            conn,
            "SELECT step_no, subject, body, html, wait_days FROM steps WHERE campaign_id = ?",
            (campaign_id,),
        )
    }
    new = {
        number: (step.subject, step.body, step.html, step.wait_days)
        for number, step in enumerate(steps, start=1)
    }
    upserts = [(campaign_id, no, *values) for no, values in new.items() if old.get(no) != values]
    await conn.executemany(
        """
        INSERT INTO steps (campaign_id, step_no, subject, body, html, wait_days)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (campaign_id, step_no) DO UPDATE SET
            subject = excluded.subject, body = excluded.body, html = excluded.html,
            wait_days = excluded.wait_days
        """,
        upserts,
    )
    dropped = len(old.keys() - new.keys())
    if dropped:
        await conn.execute(
            "DELETE FROM steps WHERE campaign_id = ? AND step_no > ?", (campaign_id, len(new))
        )
        # Leads waiting for a step that no longer exists have nothing left to send. A step in
        # flight (next_due_at NULL) is finished by the sender when it sees no next step.
        await conn.execute(
            """
            UPDATE leads SET state = 'finished', next_due_at = NULL
            WHERE campaign_id = ? AND state = 'active' AND next_step > ?
              AND next_due_at IS NOT NULL
            """,
            (campaign_id, len(new)),
        )
    return bool(upserts) or bool(dropped)
