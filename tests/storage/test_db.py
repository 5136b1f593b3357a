"""Opening the database: file modes, pragmas, migrations, transactions, time mapping."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import aiosqlite
import pytest

from core.records import Reserved
from storage.db import (
    Database,
    SchemaTooNewError,
    from_ms,
    open_db,
    to_ms,
    transaction,
    user_version,
)
from storage.migrations import MIGRATIONS
from storage.stores import Stores
from tests.storage.helpers import T0, config, ids, mailbox, scalar, warmup_req

TABLES = {
    "domains",
    "mailboxes",
    "campaigns",
    "steps",
    "leads",
    "sends",
    "usage",
    "events",
    "warmup_days",
    "warmup_mails",
    "placements",
    "suppression",
    "alerts",
    "alert_deliveries",
    "cursors",
    "meta",
    "lead_counts",
}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _exists(path: Path) -> bool:
    return path.exists()


def _make_readable_file(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.touch()
    path.chmod(0o644)


async def test_database_and_wal_files_are_private(db_path: Path) -> None:
    old_umask = os.umask(0o022)  # the usual umask would give sqlite's files 0644
    try:
        conn = await open_db(db_path)
        try:
            await Stores.on(Database(conn)).config.sync_config(
                config([mailbox("a@x.test")]).rules(), T0.date()
            )
            wal, shm = Path(f"{db_path}-wal"), Path(f"{db_path}-shm")
            assert _exists(wal)
            assert _exists(shm)
            assert mode(db_path) == 0o600
            assert mode(wal) == 0o600
            assert mode(shm) == 0o600
            assert mode(db_path.parent) == 0o700
        finally:
            await conn.close()
    finally:
        os.umask(old_umask)


async def test_existing_readable_database_is_tightened(db_path: Path) -> None:
    _make_readable_file(db_path)
    conn = await open_db(db_path)
    await conn.close()
    assert mode(db_path) == 0o600


async def test_pragmas(conn: aiosqlite.Connection) -> None:
    assert await scalar(conn, "PRAGMA journal_mode") == "wal"
    assert await scalar(conn, "PRAGMA foreign_keys") == 1
    assert await scalar(conn, "PRAGMA busy_timeout") == 30000
    assert await scalar(conn, "PRAGMA synchronous") == 2  # FULL: commits survive a power loss
    assert conn.isolation_level is None
    assert not conn.in_transaction


async def test_throwaway_database_does_not_wait_for_the_disk(db_path: Path) -> None:
    """durable=False (the demo's) is NORMAL: WAL commits without an fsync each; the rest alike."""
    conn = await open_db(db_path, durable=False)
    try:
        assert await scalar(conn, "PRAGMA synchronous") == 1  # NORMAL
        assert await scalar(conn, "PRAGMA journal_mode") == "wal"
        assert await scalar(conn, "PRAGMA foreign_keys") == 1
    finally:
        await conn.close()


async def test_migrations_set_user_version_and_are_idempotent(db_path: Path) -> None:
    for _ in range(3):
        conn = await open_db(db_path)
        try:
            assert await user_version(conn) == len(MIGRATIONS)
            async with conn.execute(
                "SELECT name, sql FROM sqlite_schema WHERE type = 'table'"
            ) as cursor:
                tables = {row[0]: row[1] for row in await cursor.fetchall()}
        finally:
            await conn.close()
        assert set(tables) == TABLES
        assert all("STRICT" in sql for sql in tables.values())


async def test_tables_are_strict_and_checked(conn: aiosqlite.Connection) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="cannot store TEXT"):
        await conn.execute(
            "INSERT INTO usage (scope, ref, day, sent) VALUES ('mailbox', 1, '2026-01-01', 'x')"
        )
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        await conn.execute("INSERT INTO domains (name, state) VALUES ('x.test', 'asleep')")
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        await conn.execute(
            "INSERT INTO mailboxes (address, domain_id, daily_limit, state) "
            "VALUES ('a@x.test', 999, 1, 'active')"
        )


async def test_newer_schema_is_refused_with_a_clear_message(db_path: Path) -> None:
    conn = await open_db(db_path)
    await conn.execute("PRAGMA user_version = 99")
    await conn.close()
    with pytest.raises(SchemaTooNewError, match=rf"version 99 is newer .*\({len(MIGRATIONS)}\)"):
        await open_db(db_path)


async def test_concurrent_first_opens_migrate_once(db_path: Path) -> None:
    conns = await asyncio.gather(*(open_db(db_path) for _ in range(6)))
    try:
        for conn in conns:
            assert await user_version(conn) == len(MIGRATIONS)
        assert (
            await scalar(conns[0], "SELECT count(*) FROM sqlite_schema WHERE name = 'sends'") == 1
        )
    finally:
        for conn in conns:
            await conn.close()


async def test_transaction_rolls_back_on_exception(conn: aiosqlite.Connection) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with transaction(conn):
            await conn.execute("INSERT INTO domains (name) VALUES ('x.test')")
            raise RuntimeError("boom")
    assert not conn.in_transaction
    assert await scalar(conn, "SELECT count(*) FROM domains") == 0
    async with transaction(conn):
        await conn.execute("INSERT INTO domains (name) VALUES ('x.test')")
    assert await scalar(conn, "SELECT count(*) FROM domains") == 1


async def test_cancelled_transaction_leaves_no_open_transaction(
    conn: aiosqlite.Connection,
) -> None:
    started = asyncio.Event()

    async def stuck() -> None:
        async with transaction(conn):
            await conn.execute("INSERT INTO domains (name) VALUES ('x.test')")
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(stuck())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not conn.in_transaction
    assert await scalar(conn, "SELECT count(*) FROM domains") == 0


async def test_writer_waits_for_a_held_write_lock(db_path: Path) -> None:
    holder = await open_db(db_path)
    other = await open_db(db_path)
    try:
        stores = Stores.on(Database(other))
        await Stores.on(Database(holder)).config.sync_config(
            config([mailbox("a@x.test")]).rules(), T0.date()
        )
        box = (await ids(holder, "mailboxes", "address"))["a@x.test"]
        await holder.execute("BEGIN IMMEDIATE")
        waiting = asyncio.create_task(stores.sending.reserve(warmup_req(box)))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # blocked on the lock inside busy_timeout, not failed
        await holder.execute("COMMIT")
        assert isinstance(await waiting, Reserved)
    finally:
        await holder.close()
        await other.close()


def test_time_mapping_round_trips_in_milliseconds() -> None:
    moment = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
    assert to_ms(moment) == 1772442000123
    assert from_ms(to_ms(moment)) == moment.replace(microsecond=123000)
    assert from_ms(0) == datetime(1970, 1, 1, tzinfo=UTC)
    berlin = moment.astimezone(timezone(timedelta(hours=1)))
    assert to_ms(berlin) == to_ms(moment)
    assert from_ms(to_ms(berlin)).tzinfo is UTC


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        to_ms(datetime(2026, 3, 2))  # noqa: DTZ001 - the point of the test
