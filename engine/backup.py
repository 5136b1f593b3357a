"""Backups of the live database: to a file (`main.py backup`) or gzipped for a chat (/backup)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from core.backup import BackupCopy
from engine.clock import Clock
from engine.ports import DatabaseBackups


async def backup_to(
    backups: DatabaseBackups, clock: Clock, target: Path, *, overwrite: bool = False
) -> BackupCopy:
    """Write a consistent copy of the database to `target`, safe while the service runs."""
    return await backups.write(target, overwrite=overwrite, now=clock.now)


@asynccontextmanager
async def backup_for_chat(backups: DatabaseBackups, clock: Clock) -> AsyncIterator[BackupCopy]:
    """A gzipped consistent copy to upload; the file is gone once the block ends."""
    async with backups.gzipped(clock.now) as copy:
        yield copy
