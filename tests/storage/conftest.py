"""Fixtures: a real SQLite file in tmp_path, opened the way the service opens it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

from storage.db import Database, open_db
from storage.stores import Stores


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where the test database lives (its directory does not exist yet)."""
    return tmp_path / "data" / "outreach.db"


@pytest.fixture
async def conn(db_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    """An open, migrated connection, closed after the test."""
    connection = await open_db(db_path)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
def stores(conn: aiosqlite.Connection) -> Stores:
    """Every port's store over `conn`."""
    return Stores.on(Database(conn))
