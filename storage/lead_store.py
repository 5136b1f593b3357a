"""The lead import port: the campaign a file goes into, and its scratch stage."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from core.records import CampaignRef, StepSource
from storage.db import open_db
from storage.leads import Stage, campaign_names, campaign_steps, find_campaign


class LeadStore:
    """What a lead import reads and writes (engine.ports.LeadStore).

    Its connection must be its own: the import holds long transactions, and statements of
    other tasks on the same connection would land inside them.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def find_campaign(self, name: str) -> CampaignRef | None:
        """A campaign by exact name, unless it is disabled."""
        return await find_campaign(self._conn, name)

    async def campaign_names(self) -> list[str]:
        """Names of the campaigns that take leads."""
        return await campaign_names(self._conn)

    async def campaign_steps(self, campaign_id: int) -> list[StepSource]:
        """A campaign's steps in order."""
        return await campaign_steps(self._conn, campaign_id)

    def stage(self) -> Stage:
        """A new scratch stage for one import."""
        return Stage(self._conn)


@asynccontextmanager
async def open_lead_store(path: Path) -> AsyncIterator[LeadStore]:
    """A LeadStore on a connection of its own to the database at `path`."""
    conn = await open_db(path)
    try:
        yield LeadStore(conn)
    finally:
        await conn.close()
