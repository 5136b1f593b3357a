"""The stored mailboxes, domains and campaigns as core rows (shared by several ports)."""

from __future__ import annotations

import json
import sqlite3

from core.models import CampaignState, DomainState, MailboxState
from core.records import CampaignRow, DomainRow, MailboxRow
from storage.db import Database, from_ms, opt_date, opt_dt

_MAILBOX_SELECT = """
    SELECT m.id, m.address, m.domain_id, d.name AS domain, m.display_name, m.daily_limit,
           m.warmup_start, m.state, m.reason, m.resting_until, m.next_send_at,
           m.last_sent_at, m.in_config, m.placement_hold
    FROM mailboxes m JOIN domains d ON d.id = m.domain_id
"""


async def mailbox(db: Database, mailbox_id: int) -> MailboxRow | None:
    """One mailbox by id."""
    rows = await db.fetch(f"{_MAILBOX_SELECT} WHERE m.id = ?", (mailbox_id,))
    return _mailbox(rows[0]) if rows else None


async def mailbox_by_address(db: Database, address: str) -> MailboxRow | None:
    """One mailbox by its address."""
    rows = await db.fetch(f"{_MAILBOX_SELECT} WHERE m.address = ?", (address,))
    return _mailbox(rows[0]) if rows else None


async def mailboxes(db: Database) -> list[MailboxRow]:
    """Every mailbox, removed ones included, by id."""
    return [_mailbox(row) for row in await db.fetch(f"{_MAILBOX_SELECT} ORDER BY m.id")]


async def domains(db: Database) -> list[DomainRow]:
    """Every domain, removed ones included, by id."""
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
        for row in await db.fetch("SELECT * FROM domains ORDER BY id")
    ]


async def campaigns(db: Database) -> list[CampaignRow]:
    """Every campaign, removed ones included, by id."""
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
        for row in await db.fetch("SELECT * FROM campaigns ORDER BY id")
    ]


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
        placement_hold=bool(row["placement_hold"]),
    )


class RowReader:
    """The stored mailboxes, domains and campaigns, for the stores whose consumers list them."""

    _db: Database

    async def mailboxes(self) -> list[MailboxRow]:
        """Every mailbox, removed ones included, by id."""
        return await mailboxes(self._db)

    async def mailbox_by_address(self, address: str) -> MailboxRow | None:
        """One mailbox by its address."""
        return await mailbox_by_address(self._db, address)

    async def domains(self) -> list[DomainRow]:
        """Every domain, removed ones included, by id."""
        return await domains(self._db)

    async def campaigns(self) -> list[CampaignRow]:
        """Every campaign, removed ones included, by id."""
        return await campaigns(self._db)
