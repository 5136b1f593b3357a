"""The repository: every SQL statement the engine needs, mapped to plain values; no policy."""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Protocol

import aiosqlite

from core.models import (
    CampaignState,
    DomainState,
    EventKind,
    LeadState,
    MailboxState,
    RateCounts,
    SendState,
    Snapshot,
    WarmupPolicy,
)
from core.specs import CampaignSpec, Rules
from storage import alerts, health, reports, reservations, sends, snapshot, status, sync
from storage.db import (
    StorageError,
    from_ms,
    opt_date,
    opt_dt,
    opt_ms,
    read_transaction,
    to_ms,
    transaction,
)
from storage.records import (
    CampaignRow,
    DomainRow,
    MailboxRow,
    Refused,
    Reservation,
    Reserved,
    SyncReport,
    UsageScope,
)


# Structural, so storage takes a loaded config without importing `config`: all it reads are
# the core specs the config converts to.
class Configured(Protocol):
    """A loaded config as sync_config needs it: its view in core terms."""

    def rules(self) -> Rules:
        """Everything the config holds, as core specs."""
        ...


class Specified(Protocol):
    """An uploaded campaign as upsert_campaign needs it."""

    def spec(self) -> CampaignSpec:
        """The campaign as a core spec."""
        ...


_MAILBOX_SELECT = """
    SELECT m.id, m.address, m.domain_id, d.name AS domain, m.display_name, m.daily_limit,
           m.warmup_start, m.state, m.reason, m.resting_until, m.next_send_at,
           m.last_sent_at, m.in_config
    FROM mailboxes m JOIN domains d ON d.id = m.domain_id
"""


class Repository:
    """SQL and mapping over one connection; one Repository per connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        conn.row_factory = sqlite3.Row
        # Tasks sharing this connection must not interleave: a statement issued while another
        # task's BEGIN ... COMMIT is open would silently become part of that transaction.
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            yield self._conn

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock, transaction(self._conn):
            yield self._conn

    async def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        async with self._reading() as conn:
            return list(await conn.execute_fetchall(sql, params))

    async def _change(self, sql: str, params: Sequence[object] | Mapping[str, object] = ()) -> int:
        """Run one autocommitted statement; return the number of rows it changed."""
        async with self._reading() as conn, conn.execute(sql, params) as cursor:
            return cursor.rowcount

    async def _one(self, sql: str, params: Sequence[object]) -> bool:
        """Run one autocommitted statement; True when it changed exactly one row."""
        return await self._change(sql, params) == 1

    # --- config ----------------------------------------------------------------------------

    async def sync_config(
        self,
        cfg: Configured,
        today: date,
        warmup: WarmupPolicy,
        *,
        now: datetime | None = None,
    ) -> SyncReport:
        """Mirror the TOML's domains, mailboxes and campaigns in one transaction."""
        # `now` only stamps created_at of new campaigns; the wall clock is a fine default.
        now_ms = to_ms(now or datetime.now(UTC))
        rules = cfg.rules()
        async with self._writing() as conn:
            return await sync.sync_all(
                conn,
                rules.domains,
                rules.mailboxes,
                rules.campaigns,
                today=today,
                warmup=warmup,
                now_ms=now_ms,
            )

    async def upsert_campaign(self, upload: Specified, *, now: datetime) -> int:
        """Store a campaign uploaded to the bot (not owned by the TOML); return its id."""
        campaign = upload.spec()
        async with self._writing() as conn:
            rows = list(
                await conn.execute_fetchall(
                    "SELECT id, in_config, origin FROM campaigns WHERE name = ?",
                    (campaign.name,),
                )
            )
            if not rows:
                return await sync.insert_campaign(conn, campaign, "upload", to_ms(now))
            row = rows[0]
            if row["origin"] == "config" and row["in_config"]:
                raise StorageError(
                    f"campaign {campaign.name!r} is defined in the config file; change it there"
                )
            await sync.update_campaign(conn, row["id"], campaign, "upload", restore=True)
            await sync.sync_steps(conn, row["id"], campaign.steps)
            return int(row["id"])

    # --- the limit -------------------------------------------------------------------------

    async def reserve(self, req: Reservation) -> Reserved | Refused:
        """Check every limit and take one send slot atomically (SPEC 6.10)."""
        async with self._lock:
            return await reservations.reserve(self._conn, req)

    async def reserve_many(self, reqs: Sequence[Reservation]) -> list[Reserved | Refused]:
        """reserve() for each request in turn, in one transaction; a refusal undoes only itself."""
        async with self._lock:
            return await reservations.reserve_many(self._conn, reqs)

    # --- reads -----------------------------------------------------------------------------

    async def usage_today(self, scope: UsageScope, ref: int, day: str) -> int:
        """Sends counted for one mailbox, domain or campaign on `day`."""
        rows = await self._fetch(
            "SELECT sent FROM usage WHERE scope = ? AND ref = ? AND day = ?",
            (scope.value, ref, day),
        )
        return int(rows[0]["sent"]) if rows else 0

    async def mailbox(self, mailbox_id: int) -> MailboxRow | None:
        """One mailbox by id."""
        rows = await self._fetch(f"{_MAILBOX_SELECT} WHERE m.id = ?", (mailbox_id,))
        return _mailbox(rows[0]) if rows else None

    async def mailbox_by_address(self, address: str) -> MailboxRow | None:
        """One mailbox by its address."""
        rows = await self._fetch(f"{_MAILBOX_SELECT} WHERE m.address = ?", (address,))
        return _mailbox(rows[0]) if rows else None

    async def mailboxes(self) -> list[MailboxRow]:
        """Every mailbox, removed ones included, by id."""
        return [_mailbox(row) for row in await self._fetch(f"{_MAILBOX_SELECT} ORDER BY m.id")]

    async def domains(self) -> list[DomainRow]:
        """Every domain, removed ones included, by id."""
        rows = await self._fetch("SELECT * FROM domains ORDER BY id")
        return [
            DomainRow(
                id=row["id"],
                name=row["name"],
                daily_limit=row["daily_limit"],
                esp=row["esp"],
                state=DomainState(row["state"]),
                reason=row["reason"],
                cooldown_until=opt_dt(row["cooldown_until"]),
                in_config=bool(row["in_config"]),
            )
            for row in rows
        ]

    async def campaigns(self) -> list[CampaignRow]:
        """Every campaign, removed ones included, by id."""
        rows = await self._fetch("SELECT * FROM campaigns ORDER BY id")
        return [
            CampaignRow(
                id=row["id"],
                name=row["name"],
                state=CampaignState(row["state"]),
                reason=row["reason"],
                timezone=row["timezone"],
                days=tuple(json.loads(row["days"])),
                hours=row["hours"],
                daily_limit=row["daily_limit"],
                during_warmup=bool(row["during_warmup"]),
                in_config=bool(row["in_config"]),
                origin=row["origin"],
                created_at=from_ms(row["created_at"]),
            )
            for row in rows
        ]

    async def load_snapshot(
        self,
        now: datetime,
        day: str,
        window_start: datetime,
        followup_limit: int,
        new_per_campaign: int,
    ) -> Snapshot:
        """The planner's view; policies stay default for the engine to fill in."""
        async with self._reading() as conn, read_transaction(conn):
            return await snapshot.load_snapshot(
                conn,
                now=now,
                day=day,
                window_start=window_start,
                followup_limit=followup_limit,
                new_per_campaign=new_per_campaign,
            )

    # --- state writers ---------------------------------------------------------------------

    async def set_mailbox_state(self, mailbox_id: int, state: MailboxState, reason: str) -> bool:
        """Set a mailbox's state and why; False when there is no such mailbox."""
        return await self._one(
            "UPDATE mailboxes SET state = ?, reason = ? WHERE id = ?",
            (state.value, reason, mailbox_id),
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

    async def set_mailbox_states(self, changes: Sequence[tuple[int, MailboxState, str]]) -> None:
        """Set (id, state, reason) of many mailboxes in one transaction (/pause all)."""
        if not changes:
            return
        async with self._writing() as conn:
            await conn.executemany(
                "UPDATE mailboxes SET state = ?, reason = ? WHERE id = ?",
                [(state.value, reason, mailbox_id) for mailbox_id, state, reason in changes],
            )

    # --- suppression -----------------------------------------------------------------------

    async def suppress(self, entry: str, reason: str, source: str, *, now: datetime) -> bool:
        """Add an address or '@domain' to the suppression list; False when already there."""
        return await self._one(
            """
            INSERT INTO suppression (entry, reason, source, created_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (entry) DO NOTHING
            """,
            (_suppression_entry(entry), reason, source, to_ms(now)),
        )

    async def unsuppress(self, entry: str) -> bool:
        """Remove an address or '@domain' from the suppression list; False when absent."""
        return await self._one(
            "DELETE FROM suppression WHERE entry = ?", (_suppression_entry(entry),)
        )

    async def is_suppressed(self, email: str) -> bool:
        """Whether the address, or its whole domain, is suppressed."""
        address = email.strip().lower()
        domain = "@" + address.rpartition("@")[2]
        rows = await self._fetch(
            "SELECT 1 FROM suppression WHERE entry IN (?, ?) LIMIT 1", (address, domain)
        )
        return bool(rows)

    # --- events and cursors ----------------------------------------------------------------

    async def add_event(
        self,
        *,
        source: str,
        source_id: str,
        kind: EventKind,
        occurred_at: datetime,
        received_at: datetime,
        email: str | None = None,
        mailbox_id: int | None = None,
        send_id: int | None = None,
        campaign_id: int | None = None,
        step_no: int | None = None,
        detail: str | None = None,
    ) -> bool:
        """Store one event; False when (source, source_id) was already stored."""
        return await self._one(
            """
            INSERT INTO events (source, source_id, kind, email, mailbox_id, send_id,
                                campaign_id, step_no, occurred_at, received_at, detail)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (source, source_id) DO NOTHING
            """,
            (
                source,
                source_id,
                kind.value,
                email.strip().lower() if email else None,
                mailbox_id,
                send_id,
                campaign_id,
                step_no,
                to_ms(occurred_at),
                to_ms(received_at),
                detail,
            ),
        )

    async def cursor(self, source: str) -> str | None:
        """The stored position of a polled source (an ESP), or None before its first poll."""
        rows = await self._fetch("SELECT value FROM cursors WHERE source = ?", (source,))
        return str(rows[0]["value"]) if rows else None

    async def set_cursor(self, source: str, value: str, *, now: datetime) -> None:
        """Remember how far a polled source has been read."""
        await self._change(
            """
            INSERT INTO cursors (source, value, updated_at) VALUES (?, ?, ?)
            ON CONFLICT (source) DO UPDATE SET value = excluded.value,
                updated_at = excluded.updated_at
            """,
            (source, value, to_ms(now)),
        )

    # --- sends in flight (engine/sending.py) -------------------------------------------------

    async def lead_inputs(self, lead_ids: Sequence[int]) -> dict[int, sends.LeadInput]:
        """Address, variables and sent thread of each lead."""
        async with self._lock, read_transaction(self._conn):
            return await sends.lead_inputs(self._conn, lead_ids)

    async def steps(self, campaign_ids: Sequence[int]) -> list[sends.StepRow]:
        """Every step of the given campaigns, in order."""
        async with self._reading() as conn:
            return await sends.steps(conn, campaign_ids)

    async def finish_failed(
        self,
        send_id: int,
        *,
        state: SendState,
        now: datetime,
        code: int | None,
        reply: str,
        lead_id: int | None,
        lead_state: LeadState | None,
    ) -> None:
        """Record a step that ends without a known delivery, closing its lead."""
        async with self._writing() as conn:
            await sends.finish_failed(
                conn, send_id, state=state, now=now, code=code, reply=reply, lead_id=lead_id,
                lead_state=lead_state,
            )  # fmt: skip

    async def schedule_retry(
        self,
        send_id: int,
        *,
        now: datetime,
        due: datetime,
        code: int | None,
        reply: str,
        refund_attempt: bool,
    ) -> None:
        """Put a step back for another attempt at `due` from the same mailbox."""
        async with self._writing() as conn:
            await sends.schedule_retry(
                conn, send_id, now=now, due=due, code=code, reply=reply,
                refund_attempt=refund_attempt,
            )  # fmt: skip

    async def record_sends(
        self, *, delivered: Sequence[sends.Delivered], starting: Sequence[int], now: datetime
    ) -> set[int]:
        """Record delivered steps and mark the next ones 'sending', in one transaction.

        Returns the ids of `starting` actually marked (still 'reserved'): only those may go out.
        """
        async with self._lock:
            return await sends.record_sends(
                self._conn, delivered=delivered, starting=starting, now=now
            )

    async def recover_sends(self, now: datetime) -> list[sends.Interrupted]:
        """Resolve sends a crash left open: in flight -> unknown, reserved -> retry."""
        async with self._writing() as conn:
            return await sends.recover(conn, now)

    async def secret(self, name: str) -> bytes:
        """A random 32-byte secret kept in the DB: created on first use, stable afterwards."""
        async with self._writing() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                (f"secret:{name}", secrets.token_hex(32)),
            )
            rows = list(
                await conn.execute_fetchall(
                    "SELECT value FROM meta WHERE key = ?", (f"secret:{name}",)
                )
            )
        return bytes.fromhex(rows[0]["value"])

    async def close_lead_by_id(self, lead_id: int, state: LeadState) -> bool:
        """Close one open lead."""
        return await self._one(
            "UPDATE leads SET state = ?, next_due_at = NULL "
            "WHERE id = ? AND state IN ('queued', 'active')",
            (state.value, lead_id),
        )

    async def lead_email(self, lead_id: int) -> str | None:
        """The address of one lead."""
        rows = await self._fetch("SELECT email FROM leads WHERE id = ?", (lead_id,))
        return str(rows[0][0]) if rows else None

    # --- health (engine/health.py) ------------------------------------------------------------

    async def window_counts(self, start: datetime, end: datetime) -> list[health.MailboxHealth]:
        """Per-mailbox sends and events over a window."""
        async with self._lock, read_transaction(self._conn):
            return await health.window_counts(self._conn, start, end)

    async def cool_down_domain(self, domain: str, reason: str, until: datetime) -> bool:
        """Send a domain and its sending mailboxes to cool-down."""
        async with self._writing() as conn:
            return await health.cool_down_domain(conn, domain, reason, until)

    async def cooldowns_over(self, now: datetime) -> list[tuple[str, datetime]]:
        """Domains whose cool-down has ended."""
        async with self._reading() as conn:
            return await health.cooldowns_over(conn, now)

    async def end_cooldown(self, domain: str, warmup_start: date) -> int:
        """Reactivate a domain; its mailboxes re-enter warm-up."""
        async with self._writing() as conn:
            return await health.end_cooldown(conn, domain, warmup_start)

    async def warming_mailboxes(self) -> list[tuple[int, str, int, str | None]]:
        """Every warming mailbox: id, address, daily_limit, warmup_start."""
        async with self._reading() as conn:
            return await health.warming_mailboxes(conn)

    # --- status ------------------------------------------------------------------------------

    async def campaign_counts(self, day: str) -> list[status.CampaignCounts]:
        """Campaigns with their leads by state and today's sends."""
        async with self._lock, read_transaction(self._conn):
            return await status.campaign_counts(self._conn, day)

    async def sent_on(self, day: str) -> int:
        """Slots used on one day over all mailboxes."""
        async with self._reading() as conn:
            return await status.sent_on(conn, day)

    async def campaign_rates(self, start: datetime, end: datetime) -> dict[int, RateCounts]:
        """Per campaign: its sends and their bounces, complaints, replies in [start, end)."""
        async with self._lock, read_transaction(self._conn):
            return await status.campaign_rates(self._conn, start, end)

    # --- reports (/stats, /cost, /warmup) and /suppress ---------------------------------------

    async def sent_per_day(self, bounds: Sequence[reports.DayBounds]) -> dict[str, int]:
        """Sends per day label, each day a [start, end) range of sent_at."""
        async with self._reading() as conn:
            return await reports.sent_per_day(conn, bounds)

    async def events_per_day(
        self, bounds: Sequence[reports.DayBounds], kinds: Sequence[str] = reports.STATS_KINDS
    ) -> dict[tuple[str, str], int]:
        """(day label, kind) -> events, each day a [start, end) range of occurred_at."""
        async with self._reading() as conn:
            return await reports.events_per_day(conn, bounds, kinds)

    async def sent_between(self, start: datetime, end: datetime) -> int:
        """Mails sent in [start, end)."""
        async with self._reading() as conn:
            return await reports.sent_between(conn, to_ms(start), to_ms(end))

    async def warming_rows(self, day: str) -> list[reports.WarmingRow]:
        """Every warming mailbox with its slots used on `day`."""
        async with self._reading() as conn:
            return await reports.warming_rows(conn, day)

    async def placement_counts(
        self, mailbox_ids: Sequence[int], since: datetime
    ) -> dict[int, tuple[int, int]]:
        """mailbox id -> (inbox, spam) placements the warm-up loop reported since `since`."""
        async with self._reading() as conn:
            return await reports.placement_counts(conn, mailbox_ids, to_ms(since))

    async def close_open_leads(
        self, state: LeadState, *, address: str | None = None, domain: str | None = None
    ) -> int:
        """Close the open leads of an address or of a whole domain (any case); return how many."""
        async with self._writing() as conn:
            return await reports.close_open_leads(conn, state.value, address=address, domain=domain)

    # --- alert outbox (engine/alerts.py) -------------------------------------------------------

    async def add_alert(
        self,
        *,
        key: str,
        severity: str,
        text: str,
        chats: list[int],
        now: datetime,
        quiet_since: datetime,
    ) -> int | None:
        """Store an alert for each chat, unless its key was raised after `quiet_since`."""
        async with self._writing() as conn:
            return await alerts.add(
                conn, key=key, severity=severity, text=text, chats=chats, now=now,
                quiet_since=quiet_since,
            )  # fmt: skip

    async def due_alerts(self, now: datetime, limit: int = 100) -> list[alerts.PendingDelivery]:
        """Deliveries to attempt now, in order per chat."""
        async with self._reading() as conn:
            return await alerts.due(conn, now, limit)

    async def alert_sent(self, alert_id: int, chat_id: int, now: datetime) -> None:
        """Mark one delivery done."""
        async with self._writing() as conn:
            await alerts.mark_sent(conn, alert_id, chat_id, now)

    async def alert_postpone(
        self, alert_id: int, chat_id: int, until: datetime, *, count: bool
    ) -> None:
        """Try one delivery again later."""
        async with self._writing() as conn:
            await alerts.postpone(conn, alert_id, chat_id, until, count=count)

    async def recent_alerts(self, limit: int = 5) -> list[alerts.StoredAlert]:
        """The latest alerts, newest first."""
        async with self._reading() as conn:
            return await alerts.recent(conn, limit)


def _suppression_entry(entry: str) -> str:
    value = entry.strip().lower()
    if "@" not in value or value.endswith("@") or (value.count("@") > 1):
        raise ValueError(f"{entry!r} is neither an address nor '@domain'")
    return value


def _mailbox(row: sqlite3.Row) -> MailboxRow:
    return MailboxRow(
        id=row["id"],
        address=row["address"],
        domain_id=row["domain_id"],
        domain=row["domain"],
        display_name=row["display_name"],
        daily_limit=row["daily_limit"],
        warmup_start=opt_date(row["warmup_start"]),
        state=MailboxState(row["state"]),
        reason=row["reason"],
        resting_until=opt_dt(row["resting_until"]),
        next_send_at=opt_dt(row["next_send_at"]),
        last_sent_at=opt_dt(row["last_sent_at"]),
        in_config=bool(row["in_config"]),
    )
