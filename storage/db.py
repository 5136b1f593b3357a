"""Open the SQLite database: private file mode, pragmas, migrations, explicit transactions."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar, cast

import aiosqlite

from core.errors import ConflictError, OutreachError
from storage.migrations import _V5, MIGRATIONS, SENDS_KIND_CHECKS

T = TypeVar("T")


class _NoStatementArguments(logging.Filter):
    """Drops aiosqlite's per-call DEBUG records: they print each call with its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep only what aiosqlite logs above DEBUG (closing and dumping trouble)."""
        # Its DEBUG lines ("executing %s", "operation %s completed", "returning exception %s")
        # format the queued call, statement parameters included: the unsubscribe signing key,
        # lead addresses and variables would reach any log kept at LOG_LEVEL=DEBUG.
        return record.levelno > logging.DEBUG


# On the logger itself, not a handler: whatever handlers and levels the process sets up.
logging.getLogger("aiosqlite").addFilter(_NoStatementArguments())

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_PRIVATE = 0o600


class StorageError(OutreachError):
    """The database cannot be used as it is."""


class StorageConflict(StorageError, ConflictError):
    """A change the stored state refuses."""


class SchemaTooNewError(StorageError):
    """The database was written by a newer version of this program."""


# --- value mapping -----------------------------------------------------------------------


def to_ms(moment: datetime) -> int:
    """An aware datetime as integer unix epoch milliseconds (sub-millisecond part dropped)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: every datetime must be timezone-aware")
    return (moment - _EPOCH) // _MS


def from_ms(value: int) -> datetime:
    """Integer unix epoch milliseconds as an aware UTC datetime."""
    return _EPOCH + value * _MS


def opt_ms(moment: datetime | None) -> int | None:
    """to_ms that lets None through."""
    return None if moment is None else to_ms(moment)


def opt_dt(value: int | None) -> datetime | None:
    """from_ms that lets None through."""
    return None if value is None else from_ms(value)


def opt_date(value: str | None) -> date | None:
    """A stored 'YYYY-MM-DD' (or None) as a date."""
    return None if value is None else date.fromisoformat(value)


# --- opening -----------------------------------------------------------------------------


_WAL_RETRY_SECONDS = 10.0


async def open_db(
    path: Path, *, verify: bool = False, durable: bool = True
) -> aiosqlite.Connection:
    """Open (creating if needed) the database at `path`, configured and migrated.

    With `verify`, also run SQLite's quick_check. `durable=False` is for a throwaway database
    (the demo's): commits survive a crash of the process but not a power loss. Any trouble is
    one StorageError line naming DATABASE_PATH and what to do, never a traceback.
    """
    try:
        return await _open(path, verify, durable)
    except SchemaTooNewError as exc:
        raise SchemaTooNewError(f"DATABASE_PATH {path}: {exc}") from None
    except StorageError:
        raise
    except sqlite3.Error as exc:
        raise StorageError(_sqlite_trouble(path, exc)) from None
    except OSError as exc:
        raise StorageError(
            f"DATABASE_PATH {path}: cannot create or open it ({exc.strerror or exc}); make its "
            "folder writable by this user, or set DATABASE_PATH to a writable place"
        ) from None


def _sqlite_trouble(path: Path, exc: sqlite3.Error) -> str:
    """One line saying what is wrong with the database file and what to do about it."""
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return (
            f"DATABASE_PATH {path} is read-only ({text}); give this user write access to the "
            "file and its folder (SQLite writes -wal and -shm files beside it)"
        )
    if "unable to open" in text:
        return (
            f"DATABASE_PATH {path}: SQLite cannot open it ({text}); check that its folder "
            "exists and is writable by this user"
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (
            f"DATABASE_PATH {path} is not a usable SQLite database ({text}); restore it from "
            "a backup, or move it aside and start with a new file"
        )
    return f"DATABASE_PATH {path}: SQLite error: {text}"


async def _open(path: Path, verify: bool, durable: bool) -> aiosqlite.Connection:
    await asyncio.to_thread(_create_private, path)
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        # busy_timeout first: the pragmas and migrations below may wait on another process.
        # 30 s: a 1M-row import holds the write lock for its final INSERT (~8 s here); the
        # sending tick and the bot wait it out rather than fail.
        await conn.execute("PRAGMA busy_timeout = 30000")
        await _wal_mode(conn)
        # FULL: every commit reaches the disk. A step's 'sending' mark must outlive a power
        # loss too, not only a crash of this process, or it could be sent twice; group
        # commits keep the cost (one fsync, ~0.1 ms here) small.
        # NORMAL (not durable): in WAL mode no fsync at commit, only at checkpoints; the fsync of
        # each commit was about half the demo's wall time (~1.5 ms each on this VM's disk).
        await conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        await conn.execute("PRAGMA foreign_keys = ON")
        if verify:
            await _quick_check(conn, path)
        await migrate(conn)
        await asyncio.to_thread(_tighten, path)
    except BaseException:
        await conn.close()
        raise
    return conn


async def _quick_check(conn: aiosqlite.Connection, path: Path) -> None:
    """Refuse a damaged file before anything is read from it or written to it."""
    rows = list(await conn.execute_fetchall("PRAGMA quick_check(5)"))
    lines = [line for row in rows for line in str(row[0]).splitlines()]
    # Its report may start with a `*** in database main ***` heading line.
    problems = [line for line in lines if line != "ok" and not line.startswith("***")]
    if problems:
        raise StorageError(
            f"DATABASE_PATH {path} fails SQLite's integrity check ({problems[0]}); restore it "
            "from a backup, or try `sqlite3 FILE .recover` into a new file"
        )


async def _wal_mode(conn: aiosqlite.Connection) -> None:
    """Switch to WAL, retrying while another process opening the same new file holds it."""
    # Turning a fresh database to WAL takes an exclusive lock, and SQLite may answer "database
    # is locked" at once, without the busy handler, while another opener converts it.
    deadline = asyncio.get_running_loop().time() + _WAL_RETRY_SECONDS
    while True:
        try:
            await conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


def _create_private(path: Path) -> None:
    # A link would be followed by every open and chmod below: the file it points at (anything
    # this user may write) would be made private, or an empty one turned into a database.
    if path.is_symlink():
        raise StorageError(
            f"DATABASE_PATH {path} is a symbolic link; set DATABASE_PATH to the real file"
        )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Create the file ourselves so it never exists with sqlite's default 0644, not even briefly;
    # O_NOFOLLOW: a link put there since the check above is refused, not followed.
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, _PRIVATE)
    except OSError as exc:
        if path.is_symlink():
            raise StorageError(
                f"DATABASE_PATH {path} is a symbolic link; set DATABASE_PATH to the real file"
            ) from None
        raise exc from None
    os.close(fd)
    _tighten(path)


def _tighten(path: Path) -> None:
    # The -wal/-shm files appear once sqlite opens the database in WAL mode. sqlite gives them
    # the database file's mode, so this only matters if the main file was readable before.
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            if candidate.is_symlink():
                continue  # never chmod what a link points at
            mode = stat.S_IMODE(candidate.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            candidate.chmod(_PRIVATE)


async def user_version(conn: aiosqlite.Connection) -> int:
    """The schema version stored in the database header."""
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row is not None else 0


async def migrate(conn: aiosqlite.Connection) -> int:
    """Apply the migrations the database lacks, each in its own transaction; return the version."""
    known = len(MIGRATIONS)
    while True:
        async with transaction(conn):
            # Read inside the write transaction: another process may have migrated meanwhile.
            current = await user_version(conn)
            if current > known:
                raise SchemaTooNewError(
                    f"database schema version {current} is newer than this program knows "
                    f"({known}); upgrade the program or use another DATABASE_PATH"
                )
            if current == known:
                return current
            if MIGRATIONS[current] == _V5:
                await _relax_sends_kind_checks(conn)
            else:
                for statement in _statements(MIGRATIONS[current]):
                    await conn.execute(statement)
            # PRAGMA does not take parameters; the value is our own integer.
            await conn.execute(f"PRAGMA user_version = {current + 1}")


async def _relax_sends_kind_checks(conn: aiosqlite.Connection) -> None:
    """Loosen the `sends` CHECKs for kind 'reply' in place (see storage/migrations.py)."""
    rows = list(
        await conn.execute_fetchall(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'sends'"
        )
    )
    sql = str(rows[0][0])
    for old, new in SENDS_KIND_CHECKS:
        if old not in sql:
            raise StorageError(f"unexpected sends table definition: no {old!r}")
        sql = sql.replace(old, new)
    version = list(await conn.execute_fetchall("PRAGMA schema_version"))[0][0]
    await conn.execute("PRAGMA writable_schema = ON")
    try:
        await conn.execute(
            "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = 'sends'", (sql,)
        )
        # PRAGMA takes no parameters; the value is SQLite's own integer plus one.
        await conn.execute(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        await conn.execute("PRAGMA writable_schema = OFF")


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our open transaction first, so run statement by statement.
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:60]!r}")
    return statements


# --- transactions ------------------------------------------------------------------------


@asynccontextmanager
async def transaction(conn: aiosqlite.Connection) -> AsyncIterator[None]:
    """A write transaction: BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on any exception."""
    # IMMEDIATE takes the write lock up front, so two writers never deadlock upgrading a read
    # lock; a writer that must wait does so inside busy_timeout instead of failing.
    try:
        await conn.execute("BEGIN IMMEDIATE")
        yield
        await conn.execute("COMMIT")
    except BaseException:
        await _rollback(conn)
        raise


@asynccontextmanager
async def read_transaction(conn: aiosqlite.Connection) -> AsyncIterator[None]:
    """A read transaction: every statement inside sees the same committed state (WAL snapshot)."""
    try:
        await conn.execute("BEGIN DEFERRED")
        yield
    finally:
        await _rollback(conn)


async def _rollback(conn: aiosqlite.Connection) -> None:
    # Statements run in order on the connection's thread, so this ROLLBACK comes after anything
    # still queued (even a BEGIN whose await was cancelled); "no transaction" means nothing to undo.
    try:
        await conn.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "no transaction" not in str(exc):
            raise


# --- many statements in one hop ------------------------------------------------------------


async def run_sync(conn: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run `work` on the connection's own thread with the plain sqlite3 connection."""
    # Every awaited statement is a round trip to aiosqlite's thread (and a GIL hand-over, slow
    # while the event loop is busy): a batch of reservations or send records is one trip this
    # way. aiosqlite has no public call for it; its _execute queues a function on the thread
    # where all of this connection's statements run anyway (pinned version, covered by tests).
    # Like any aiosqlite call, `work` runs to its end even if the awaiting task is cancelled.
    execute = cast(Callable[[Callable[[], T]], Awaitable[T]], conn._execute)  # noqa: SLF001
    return await execute(lambda: work(conn._conn))  # noqa: SLF001


@contextmanager
def sync_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """transaction() for code running on the connection's thread (see run_sync)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if db.in_transaction:  # some errors (SQLITE_FULL, ...) have rolled back already
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


# --- the shared handle ---------------------------------------------------------------------


class Database:
    """One connection the stores share, and the lock that keeps their statements apart."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        conn.row_factory = sqlite3.Row
        # Tasks sharing this connection must not interleave: a statement issued while another
        # task's BEGIN ... COMMIT is open would silently become part of that transaction.
        self.lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, *, verify: bool = False, durable: bool = True) -> Database:
        """Open (creating and migrating if needed) the database at `path`; see open_db."""
        return cls(await open_db(path, verify=verify, durable=durable))

    async def close(self) -> None:
        """Close the connection once the last statement is done."""
        async with self.lock:
            await self.conn.close()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection for autocommitted statements."""
        async with self.lock:
            yield self.conn

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection inside a read transaction: every read sees one committed state."""
        async with self.lock, read_transaction(self.conn):
            yield self.conn

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection inside one write transaction: all of it commits, or none."""
        async with self.lock, transaction(self.conn):
            yield self.conn

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        """The rows of one query."""
        async with self.reading() as conn:
            return list(await conn.execute_fetchall(sql, params))

    async def change(self, sql: str, params: Sequence[object] | Mapping[str, object] = ()) -> int:
        """Run one autocommitted statement; return the number of rows it changed."""
        async with self.reading() as conn, conn.execute(sql, params) as cursor:
            return cursor.rowcount
