"""The config port: mirror the configured objects into the database; the service's secrets."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime

from core.records import SyncReport
from core.specs import Rules
from storage import sync
from storage.db import Database, to_ms


class ConfigStore:
    """What start-up writes (engine.ports.ConfigStore)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def sync_config(
        self, rules: Rules, today: date, *, now: datetime | None = None
    ) -> SyncReport:
        """Mirror the configured domains, mailboxes and campaigns in one transaction."""
        # `now` only stamps created_at of new campaigns; the wall clock is a fine default.
        now_ms = to_ms(now or datetime.now(UTC))
        async with self._db.writing() as conn:
            return await sync.sync_all(
                conn, rules.domains, rules.mailboxes, rules.campaigns,
                today=today, warmup=rules.warmup, now_ms=now_ms,
            )  # fmt: skip

    async def secret(self, name: str) -> bytes:
        """A random 32-byte secret kept in the DB: created on first use, stable afterwards."""
        async with self._db.writing() as conn:
            await conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                (f"secret:{name}", secrets.token_hex(32)),
            )
            found = list(
                await conn.execute_fetchall(
                    "SELECT value FROM meta WHERE key = ?", (f"secret:{name}",)
                )
            )
        return bytes.fromhex(found[0]["value"])
