"""Consistent copies of the live database with SQLite's online backup API."""

from __future__ import annotations

import asyncio
import gzip
import io
import os
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from core.backup import BackupCopy
from storage.db import StorageError

Now = Callable[[], datetime]

_CHUNK = 1024 * 1024


class BackupExistsError(StorageError):
    """The backup's target file exists and overwriting was not asked for."""


class SqliteBackups:
    """The DatabaseBackups port over the SQLite file at `db_path`."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    async def write(self, target: Path, *, overwrite: bool, now: Now) -> BackupCopy:
        """Copy the database to `target` (mode 0600); refuse an existing one unless `overwrite`."""
        return await asyncio.to_thread(
            backup_file, self.db_path, target, overwrite=overwrite, now=now
        )

    @asynccontextmanager
    async def gzipped(self, now: Now) -> AsyncIterator[BackupCopy]:
        """A gzipped copy in a private folder beside the database, removed when the block ends."""
        # Beside the database, not in /tmp: same disk the database already fits on, and a
        # folder this user alone may read (mkdtemp makes it 0700).
        folder = Path(
            await asyncio.to_thread(tempfile.mkdtemp, prefix=".backup-", dir=self.db_path.parent)
        )
        try:
            copy = await asyncio.to_thread(_gzipped_copy, self.db_path, folder, now)
            yield copy
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)


def _gzipped_copy(source: Path, folder: Path, now: Now) -> BackupCopy:
    plain = backup_file(source, folder / "outreach.db", overwrite=False, now=now)
    stamp = plain.consistent_at.strftime("%Y%m%d-%H%M%S")
    target = folder / f"outreach-{stamp}.db.gz"
    # mtime=0: the gzip header carries no clock; the name says when the copy is from.
    with (
        plain.path.open("rb") as raw,
        _private_new(target) as out,
        gzip.GzipFile(filename=f"outreach-{stamp}.db", mode="wb", fileobj=out, mtime=0) as packed,
    ):
        shutil.copyfileobj(raw, packed, _CHUNK)
    plain.path.unlink()
    return BackupCopy(
        path=target,
        size=target.stat().st_size,
        database_size=plain.database_size,
        schema_version=plain.schema_version,
        consistent_at=plain.consistent_at,
    )


def _private_new(path: Path) -> io.BufferedWriter:
    """A new file only this user may read; never an existing one or a link."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
    return os.fdopen(fd, "wb")


def backup_file(source: Path, target: Path, *, overwrite: bool, now: Now) -> BackupCopy:
    """Write a consistent copy of the database `source` to `target`; blocking (use a thread)."""
    _check_target(source, target, overwrite)
    if not source.is_file():
        raise StorageError(f"DATABASE_PATH {source} does not exist; there is nothing to back up")
    # Written under a temporary name in the target's folder (mkstemp: mode 0600, never
    # readable by others even briefly), then renamed: a half-written copy never has the name.
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    partial = Path(name)
    try:
        version, consistent_at = _copy(source, partial, now)
        _check_target(source, target, overwrite)  # it may have appeared meanwhile
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)
    return BackupCopy(
        path=target,
        size=target.stat().st_size,
        database_size=target.stat().st_size,
        schema_version=version,
        consistent_at=consistent_at,
    )


def _check_target(source: Path, target: Path, overwrite: bool) -> None:
    if target.resolve() in {source.resolve(), *(Path(f"{source.resolve()}-{s}") for s in
                                                 ("wal", "shm", "journal"))}:  # fmt: skip
        raise StorageError(f"{target} is the live database (or one of its files); choose another")
    if target.is_dir():
        raise StorageError(f"{target} is a folder; name the file to write")
    if not target.parent.is_dir():
        raise StorageError(f"{target.parent} does not exist; create it or choose another folder")
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise BackupExistsError(
            f"{target} exists; choose another name or pass --force to replace it"
        )


def _copy(source: Path, partial: Path, now: Now) -> tuple[int, datetime]:
    """Copy through the backup API from one read snapshot; (schema version, consistent_at)."""
    # mode=rw: a missing file is an error, not a new empty database.
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None)
    try:
        src.execute("PRAGMA busy_timeout = 30000")
        src.execute("BEGIN")
        # The clock is read before the first read starts the WAL snapshot: every commit made
        # before this moment is in the copy. The backup below runs inside the same read
        # transaction, so it copies exactly that snapshot while the service goes on writing.
        consistent_at = now()
        src.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        version = int(src.execute("PRAGMA user_version").fetchone()[0])
        dst = sqlite3.connect(partial, isolation_level=None)
        try:
            src.backup(dst, pages=-1)  # one step: the whole snapshot, no restarts
            src.execute("ROLLBACK")
            # A single self-contained file: rollback-journal mode in its header, so it opens
            # anywhere (read-only media too); the service turns it back to WAL when restored.
            dst.execute("PRAGMA journal_mode = DELETE")
            problems = [str(r[0]) for r in dst.execute("PRAGMA quick_check(5)").fetchall()]
            if problems != ["ok"]:
                raise StorageError(f"the copy fails SQLite's quick_check ({problems[0]})")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise StorageError(f"backup of DATABASE_PATH {source} failed: {exc}") from None
    finally:
        src.close()
    with partial.open("rb") as written:
        os.fsync(written.fileno())
    return version, consistent_at


def _sync_folder(folder: Path) -> None:
    # The rename is durable only once the folder's entry reaches the disk.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
