"""storage/backup.py: consistent copies of a live database, private, never over a file unasked."""

from __future__ import annotations

import gzip
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import pytest

from storage.backup import BackupExistsError, SqliteBackups
from storage.db import StorageError
from storage.migrations import MIGRATIONS

AT = datetime(2026, 12, 7, 5, 30, tzinfo=UTC)
ROWS = 500


async def fill(conn: aiosqlite.Connection) -> None:
    """Rows the copy must hold, committed through the WAL (not yet checkpointed)."""
    await conn.executemany(
        "INSERT INTO suppression (entry, reason, source, created_at) "
        "VALUES (?, 'manual', 'test', ?)",
        [(f"lead{i}@example.com", i) for i in range(ROWS)],
    )


def rows_of(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
        return db.execute("SELECT * FROM suppression ORDER BY entry").fetchall()


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def integrity(path: Path) -> list[str]:
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
        return [str(r[0]) for r in db.execute("PRAGMA integrity_check").fetchall()]


async def test_the_copy_opens_passes_integrity_check_and_holds_the_same_rows(
    conn: aiosqlite.Connection, db_path: Path, tmp_path: Path
) -> None:
    await fill(conn)
    target = tmp_path / "copy.db"
    copy = await SqliteBackups(db_path).write(target, overwrite=False, now=lambda: AT)

    assert copy.path == target
    assert copy.size == copy.database_size == target.stat().st_size > 0
    assert copy.schema_version == len(MIGRATIONS)
    assert copy.consistent_at == AT
    assert integrity(target) == ["ok"]
    assert len(rows_of(target)) == ROWS
    assert rows_of(target) == rows_of(db_path)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    # One self-contained file: no WAL beside it, none needed to read it.
    with sqlite3.connect(target) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert names(tmp_path) == ["copy.db", "data"]


async def test_a_commit_made_before_the_consistent_moment_is_in_the_copy(
    conn: aiosqlite.Connection, db_path: Path, tmp_path: Path
) -> None:
    def commit_then_now() -> datetime:
        # Another connection commits just before the clock is read: the copy must hold it.
        with sqlite3.connect(db_path, timeout=10) as other:
            other.execute(
                "INSERT INTO suppression (entry, reason, source, created_at) "
                "VALUES ('late@example.com', 'manual', 'test', 1)"
            )
        other.close()
        return AT

    copy = await SqliteBackups(db_path).write(
        tmp_path / "copy.db", overwrite=False, now=commit_then_now
    )
    assert [r[0] for r in rows_of(copy.path)] == ["late@example.com"]


async def test_an_existing_file_is_kept_unless_overwrite_is_asked(
    conn: aiosqlite.Connection, db_path: Path, tmp_path: Path
) -> None:
    await fill(conn)
    target = tmp_path / "copy.db"
    target.write_text("precious")
    backups = SqliteBackups(db_path)
    with pytest.raises(BackupExistsError, match="exists; .* --force"):
        await backups.write(target, overwrite=False, now=lambda: AT)
    assert target.read_text() == "precious"
    assert names(tmp_path) == ["copy.db", "data"]

    target.chmod(0o644)
    await backups.write(target, overwrite=True, now=lambda: AT)
    assert len(rows_of(target)) == ROWS
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


async def test_the_live_database_and_a_missing_one_are_refused(
    conn: aiosqlite.Connection, db_path: Path, tmp_path: Path
) -> None:
    for live in (db_path, Path(f"{db_path}-wal")):
        with pytest.raises(StorageError, match="is the live database"):
            await SqliteBackups(db_path).write(live, overwrite=True, now=lambda: AT)
    missing = tmp_path / "nowhere.db"
    with pytest.raises(StorageError, match="does not exist; there is nothing to back up"):
        await SqliteBackups(missing).write(tmp_path / "copy.db", overwrite=False, now=lambda: AT)
    assert not missing.exists()  # not created as a new empty database
    with pytest.raises(StorageError, match="does not exist; create it"):
        await SqliteBackups(db_path).write(
            tmp_path / "no" / "c.db", overwrite=False, now=lambda: AT
        )


async def test_the_gzipped_copy_decompresses_to_the_database_and_is_removed_after(
    conn: aiosqlite.Connection, db_path: Path, tmp_path: Path
) -> None:
    await fill(conn)
    async with SqliteBackups(db_path).gzipped(lambda: AT) as copy:
        assert copy.path.name == "outreach-20261207-053000.db.gz"
        assert stat.S_IMODE(copy.path.stat().st_mode) == 0o600
        assert stat.S_IMODE(copy.path.parent.stat().st_mode) == 0o700
        assert copy.size == copy.path.stat().st_size < copy.database_size
        plain = tmp_path / "unpacked.db"
        plain.write_bytes(gzip.decompress(copy.path.read_bytes()))
        assert plain.stat().st_size == copy.database_size
        assert integrity(plain) == ["ok"]
        assert rows_of(plain) == rows_of(db_path)
        folder = copy.path.parent
    assert not folder.exists()
    assert [n for n in names(db_path.parent) if n.startswith(".")] == []
