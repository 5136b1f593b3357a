"""The SQL of a leads import: a per-import scratch database, set-based checks, one insert.

Rows are appended to a staging table as they are parsed (cheap: no index yet), by a writer of
their own: for a file of a few MB or more a separate process (run_stage_writer), so SQLite's
share of staging runs on another core while this process parses; for smaller files a worker
thread. The writer also notes, from a fixed-size table of hash slots, the rows that may
repeat an earlier address (a superset of the repeats, a few percent of the rows). Then the
scratch database is attached to the import's connection, and one covering index sorted by the
folded address serves everything else: the repeats (each noted row is looked up; the first
row of each address wins), the lookups against leads and the suppression list, and the final
insert, which reads it in order. Rows taken out are recorded with why in a second table.
SQLite (its sorter, its scratch file) holds the addresses; Python memory stays bounded
whatever the file's size. The scratch file takes about 500 bytes of disk per row (a million
rows of six columns: ~500 MB in the temporary directory) until the import ends, and leaves
the directory as soon as it is attached.

Matching is case-insensitive through SQLite's lower(), which folds ASCII letters only, on both
sides (`lower(leads.email)`). The suppression list holds Python-lower-cased entries, so an
address with non-ASCII letters also carries its fully lower-cased form (`ukey`).

Leads of one import go in ordered by address, not by file row: inserting in index order keeps
the leads table's two address indexes append-only, where file order scatters a million inserts
over them (measured: 13-15 s for that INSERT even with a 64-128 MB page cache, against 4-5 s
in address order, plus 2-3 s for the sort). Their ids, and so the order the sender takes new
leads in, follow that.
"""

from __future__ import annotations

import os
import pickle
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar, cast

from core.records import CampaignRef, Classified, StepSource
from storage.migrations import LEADS_COUNT_INSERT_TRIGGER

if TYPE_CHECKING:  # only annotations here: the staging process imports this module too
    import aiosqlite

P = ParamSpec("P")
T = TypeVar("T")

# Why a staged row is not imported; recorded in `taken_out`. The order they are checked in.
DUPLICATE, ALREADY, SUPPRESSED, HELD, MISSING = 1, 2, 3, 4, 5
_BLOCKING_STATES = "('bounced', 'complained', 'unsubscribed')"
# Staged rows per INSERT statement, within SQLite's default limit of bound parameters per
# statement (999 before 3.32.0).
_GROUP_ROWS = 2500
_SORT_THREADS = 2  # auxiliary threads SQLite's sorter may use for the index
# From this size of leads file on, the rows are staged by a process of their own: starting
# it (~0.2 s) is repaid by the overlap from a few MB on.
PROCESS_BYTES = 4 << 20
_MAX_PARAMS = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999


async def find_campaign(conn: aiosqlite.Connection, name: str) -> CampaignRef | None:
    """A campaign by exact name, unless it is disabled (gone from the config)."""
    rows = list(
        await conn.execute_fetchall(
            "SELECT id, name, state FROM campaigns WHERE name = ? AND state != 'disabled'",
            (name,),
        )
    )
    return CampaignRef(int(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if rows else None


async def campaign_names(conn: aiosqlite.Connection) -> list[str]:
    """Names of the campaigns leads can go into, by name."""
    rows = await conn.execute_fetchall(
        "SELECT name FROM campaigns WHERE state != 'disabled' ORDER BY name"
    )
    return [str(row[0]) for row in rows]


async def campaign_steps(conn: aiosqlite.Connection, campaign_id: int) -> list[StepSource]:
    """A campaign's steps in order."""
    rows = await conn.execute_fetchall(
        "SELECT step_no, subject, body, html FROM steps WHERE campaign_id = ? ORDER BY step_no",
        (campaign_id,),
    )
    return [StepSource(int(r[0]), r[1], str(r[2]), r[3]) for r in rows]


async def _in_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """asyncio.to_thread, importing asyncio only here: the staging process imports this
    module and has no event loop (asyncio alone would be a third of its memory)."""
    import asyncio  # noqa: PLC0415

    return await asyncio.to_thread(function, *args, **kwargs)


class StagingError(sqlite3.OperationalError):
    """The staging process failed (disk full, killed...); the message says how."""


_STAGE_PREFIX = "lead_import_"
_STAGE_FILE = re.compile(rf"{_STAGE_PREFIX}(\d+)_\w+\.db(-journal|-wal|-shm)?")


def sweep_stale_stages(folder: Path) -> int:
    """Remove scratch files that a process killed mid-import left behind; return how many."""
    removed = 0
    for path in folder.glob(f"{_STAGE_PREFIX}*"):
        found = _STAGE_FILE.fullmatch(path.name)
        if found is None or _alive(int(found.group(1))):
            continue
        with suppress(OSError):
            path.unlink()
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    return True


class Stage:
    """One import's scratch database: fill, index, classify, move to leads, throw away.

    It is a file of its own in the temporary directory (SQLITE_TMPDIR, else Python's), made
    private (0600). A writer fills it (a process, see run_stage_writer, or a thread for a
    small file); then it is ATTACHed to the connection for the rest and at once removed from
    the directory, so its space comes back at DETACH, or when this process ends, whatever
    happens. A random schema name keeps imports sharing a connection apart.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._schema = f"lead_import_{uuid.uuid4().hex}"
        self._rows = f"{self._schema}.rows"
        self._out = f"{self._schema}.taken_out"
        self._path: Path | None = None
        self._writer: _Writer | None = None
        self._attached = False

    async def create(self, expected_bytes: int = 0) -> None:
        """Create the scratch file and start its writer, which makes the tables: a process
        when the file to stage has `expected_bytes` >= PROCESS_BYTES, else a thread."""
        folder = os.environ.get("SQLITE_TMPDIR") or tempfile.gettempdir()
        await _in_thread(sweep_stale_stages, Path(folder))
        # Our pid in the name: a file left by a killed process can be told from a running one's.
        handle, name = await _in_thread(
            tempfile.mkstemp, prefix=f"{_STAGE_PREFIX}{os.getpid()}_", suffix=".db", dir=folder
        )
        os.close(handle)
        self._path = Path(name)
        self._writer = None
        if expected_bytes >= PROCESS_BYTES:
            with suppress(OSError):  # no process to be had: the thread does the same, slower
                self._writer = await _ProcessWriter.start(self._path)
        if self._writer is None:
            self._writer = await _ThreadWriter.start(self._path)
        await self._writer.send(
            (
                "execute",
                """
                CREATE TABLE rows (
                    row_no   INTEGER PRIMARY KEY,  -- as the user sees the file: header = 1
                    email    TEXT NOT NULL,        -- normalised
                    vars     TEXT NOT NULL,        -- JSON object
                    missing  TEXT,                 -- required variables the row lacks
                    ukey     TEXT                  -- lower(email) by Python, when not ASCII
                )
                """,
            )
        )
        await self._writer.send(
            (
                "execute",
                "CREATE TABLE taken_out (row_no INTEGER PRIMARY KEY, status INTEGER NOT NULL)",
            )
        )
        await self._writer.send(
            ("execute", "CREATE TABLE maybe_repeats (row_no INTEGER PRIMARY KEY, email TEXT)")
        )

    @asynccontextmanager
    async def filling(self) -> AsyncIterator[None]:
        """Stage rows (add, add_rare) inside; on leaving, wait for the writer to commit and
        attach the scratch database. On an error the writer is killed, nothing attached."""
        writer = self._writer
        if writer is None or self._path is None:
            raise RuntimeError("Stage.filling() before Stage.create()")
        try:
            yield
            await writer.finish()
        finally:
            self._writer = None
            await writer.kill()  # a no-op once it has exited
        # The schema name is ours (hex); ATTACH cannot take it as a parameter.
        await self._conn.execute(f"ATTACH DATABASE ? AS {self._schema}", (str(self._path),))
        self._attached = True
        # Scratch data: no fsync, and a rollback journal in memory (only the small taken-out
        # table is written inside the import's main transaction).
        await self._conn.execute(f"PRAGMA {self._schema}.synchronous = OFF")
        await self._conn.execute(f"PRAGMA {self._schema}.journal_mode = MEMORY")
        # Out of the directory now: the open file lives on until DETACH, and nothing is left
        # behind if this process dies. (SQLite refuses to write a moved database only when it
        # would open a journal file beside it; this one keeps its journal in memory.)
        await _in_thread(self._path.unlink, missing_ok=True)

    async def add(self, first_row: int, emails: list[str], vars_json: list[str]) -> None:
        """Stage consecutive rows from `first_row` on: their addresses and vars JSON; a row
        whose address is '' is left out. Neither may hold a line break (JSON escapes them)."""
        await self._send(("rows", first_row, "\n".join(emails), "\n".join(vars_json)))

    async def add_rare(self, rows: Sequence[tuple[int, str | None, str | None]]) -> None:
        """Give rows add() staged their rare columns: (row number, the required variables
        the row lacks or None, the address lower-cased by Python when it is not ASCII)."""
        await self._send(
            (
                "many",
                "UPDATE rows SET missing = ?, ukey = ? WHERE row_no = ?",
                [(missing, ukey, row_no) for row_no, missing, ukey in rows],
            )
        )

    async def _send(self, frame: _Frame) -> None:
        if self._writer is None:
            raise RuntimeError("Stage.add() outside Stage.filling()")
        await self._writer.send(frame)

    async def index(self) -> int:
        """Sort the staged rows by address and mark repeats; return how many were repeats."""
        # Covering: every later statement, the final insert included, reads this index alone.
        # SQLite's sorter may use a second thread for it (PRAGMA threads, per connection).
        rows = await self._conn.execute_fetchall("PRAGMA threads")
        previous = int(next(iter(rows))[0])
        await self._conn.execute(f"PRAGMA threads = {max(previous, _SORT_THREADS)}")
        try:
            await self._conn.execute(
                f"CREATE INDEX {self._schema}.by_key ON rows (lower(email), row_no, email, vars)"
            )
        finally:
            with suppress(ValueError):  # the connection is closed: nothing left to put back
                await self._conn.execute(f"PRAGMA threads = {previous}")
        # The writer noted every row whose address may repeat an earlier one (run_stage_writer):
        # a superset of the repeats, a few percent of the rows. Each is looked up in the index.
        return await self._count(
            f"""
            INSERT INTO {self._out} (row_no, status)
            SELECT c.row_no, {DUPLICATE} FROM {self._schema}.maybe_repeats AS c
            WHERE EXISTS (SELECT 1 FROM {self._rows} AS p INDEXED BY by_key
                          WHERE lower(p.email) = lower(c.email) AND p.row_no < c.row_no)
            """
        )

    async def classify(
        self, campaign_id: int, *, any_missing: bool, any_unicode: bool
    ) -> Classified:
        """Take out rows already in the campaign, suppressed, held elsewhere, lacking variables.

        Runs inside the import's write transaction, so what it checks cannot change before the
        insert.
        """
        already = await self._take(
            ALREADY,
            "lower(email) IN (SELECT lower(email) FROM leads WHERE campaign_id = ?)",
            (campaign_id,),
        )
        # The suppression list holds lower-cased addresses and '@domain' entries.
        suppressed = await self._take(SUPPRESSED, "lower(email) IN (SELECT entry FROM suppression)")
        if await self._has_domain_entries():
            suppressed += await self._take(
                SUPPRESSED,
                """substr(email, instr(email, '@') + 1) IN (
                    SELECT substr(entry, 2) FROM suppression WHERE entry >= '@' AND entry < 'A')""",
            )
        if any_unicode:
            suppressed += await self._take(
                SUPPRESSED, "ukey IN (SELECT entry FROM suppression)", index=False
            )
        # Re-importing never revives an address that bounced, complained or unsubscribed in
        # any campaign, even one that has since left the suppression list.
        suppressed += await self._take(
            SUPPRESSED,
            f"lower(email) IN (SELECT lower(email) FROM leads WHERE state IN {_BLOCKING_STATES})",
        )
        held = await self._take(
            HELD,
            """lower(email) IN (
                SELECT lower(l.email) FROM leads AS l JOIN campaigns AS c ON c.id = l.campaign_id
                WHERE c.state = 'active' AND c.id != ? AND l.state IN ('queued', 'active'))""",
            (campaign_id,),
        )
        missing = 0
        if any_missing:
            missing = await self._take(MISSING, "missing IS NOT NULL", index=False)
        return Classified(already, suppressed, held, missing)

    async def commit(
        self, campaign_id: int, *, any_missing: bool, any_unicode: bool, created_at: datetime
    ) -> tuple[Classified, int]:
        """classify() then insert_leads() in one write transaction: (taken out, inserted)."""
        # Imported here: the staging process imports this module and must stay small.
        from storage.db import to_ms, transaction  # noqa: PLC0415

        async with transaction(self._conn):
            classified = await self.classify(
                campaign_id, any_missing=any_missing, any_unicode=any_unicode
            )
            return classified, await self.insert_leads(campaign_id, to_ms(created_at))

    async def insert_leads(self, campaign_id: int, created_ms: int) -> int:
        """Insert every row not taken out as a queued lead at step 1; return how many.

        Runs inside the caller's write transaction (the lead counts rely on it).
        """
        if not self._conn.in_transaction:
            raise RuntimeError("insert_leads must run inside a write transaction")
        # Every row gets the constants 'queued' and 1, which satisfy leads' CHECKs by
        # construction; SQLite would still evaluate them per row, and its `state IN (...)`
        # check alone doubled this statement's time (4 -> 8 s for a million rows). The pragma
        # acts on statements prepared while it is on; it is put back before anything else runs.
        rows = await self._conn.execute_fetchall("PRAGMA ignore_check_constraints")
        previous = int(next(iter(rows))[0])
        await self._conn.execute("PRAGMA ignore_check_constraints = ON")
        # The lead_counts insert trigger would add 1 per row (1.5-3.7 s a million here); the
        # count goes in once instead. Dropping and re-creating the trigger happens inside the
        # caller's transaction, which holds the write lock: no other writer can insert a lead
        # meanwhile, other readers keep seeing the trigger, and a rollback restores it.
        await self._conn.execute("DROP TRIGGER leads_count_insert")
        try:
            inserted = await self._count(
                f"""
                INSERT INTO leads (campaign_id, email, vars, state, next_step, created_at)
                SELECT ?, email, vars, 'queued', 1, ?
                FROM {self._rows} INDEXED BY by_key
                WHERE row_no NOT IN (SELECT row_no FROM {self._out})
                ORDER BY lower(email), row_no
                """,
                (campaign_id, created_ms),
            )
            await self._conn.execute(
                "INSERT INTO lead_counts (campaign_id, state, n) VALUES (?, 'queued', ?) "
                "ON CONFLICT (campaign_id, state) DO UPDATE SET n = n + excluded.n",
                (campaign_id, inserted),
            )
            return inserted
        finally:
            with suppress(ValueError):  # the connection is closed: nothing left to put back
                await self._conn.execute(LEADS_COUNT_INSERT_TRIGGER)
                await self._conn.execute(f"PRAGMA ignore_check_constraints = {previous}")

    async def missing_rows(self, limit: int) -> list[tuple[int, str]]:
        """The first rows taken out for missing variables: (row number, names)."""
        rows = await self._conn.execute_fetchall(
            f"""
            SELECT o.row_no, s.missing FROM {self._out} AS o JOIN {self._rows} AS s USING (row_no)
            WHERE o.status = {MISSING} ORDER BY o.row_no LIMIT ?
            """,
            (limit,),
        )
        return [(int(row[0]), str(row[1])) for row in rows]

    async def drop(self) -> None:
        """Stop the writer, detach and delete the scratch database; never hides the error that
        ended the import."""
        if self._writer is not None:
            await self._writer.kill()
            self._writer = None
        if self._attached:
            self._attached = False
            with suppress(sqlite3.Error, ValueError):  # ValueError: the connection is closed
                await self._conn.execute(f"DETACH DATABASE {self._schema}")
        if self._path is not None:
            # Gone from the directory even if DETACH failed: SQLite keeps an open file usable.
            await _in_thread(self._path.unlink, missing_ok=True)
            self._path = None

    async def _take(
        self, status: int, condition: str, params: Sequence[object] = (), *, index: bool = True
    ) -> int:
        """Record rows matching `condition` as taken out for `status`, unless already out."""
        # The covering index has every column but missing/ukey; the table scan reads those.
        source = f"{self._rows} INDEXED BY by_key" if index else self._rows
        return await self._count(
            f"""
            INSERT OR IGNORE INTO {self._out} (row_no, status)
            SELECT row_no, {status} FROM {source} WHERE {condition}
            """,
            params,
        )

    async def _has_domain_entries(self) -> bool:
        rows = await self._conn.execute_fetchall(
            "SELECT 1 FROM suppression WHERE entry >= '@' AND entry < 'A' LIMIT 1"
        )
        return bool(list(rows))

    async def _count(self, sql: str, params: Sequence[object] = ()) -> int:
        cursor = await self._conn.execute(sql, params)
        try:
            return cursor.rowcount
        finally:
            await cursor.close()


# --- the writer ----------------------------------------------------------------------------

# What a writer is told, one tuple each:
# ("execute", statement)                       run it once
# ("many", statement, rows of parameters)      executemany
# ("rows", first row number, emails, vars)     stage rows, emails and vars joined by "\n"
# ("commit",)                                  the end: commit (the process then exits)
_Frame = tuple[object, ...]


class _Repeats:
    """A writer's note of rows whose address may repeat an earlier row's, in file order.

    A table of 2^25 seen hash slots (4 MiB of bits), whatever the file's size: a row whose
    slot is taken may be a repeat (of its own address earlier, or a collision: about 3 % of
    the rows at a million addresses), a row whose slot is free is surely not. The key is
    Python's lower(), which folds more than SQLite's (ASCII only): equal SQLite keys give
    equal keys here, so no repeat is missed. Stage.index checks each noted row in the index.
    """

    _BITS = 25

    def __init__(self) -> None:
        self._seen = bytearray(1 << max(self._BITS - 3, 0))

    def note(self, first_row: int, addresses: list[str]) -> list[tuple[int, str]]:
        """(row number, address) of the rows among these that may be repeats ('' skipped)."""
        # A plain loop: measured twice as fast as C-level map/compress passes doing the same.
        if not addresses:
            return []
        seen = self._seen
        mask = (1 << self._BITS) - 1
        found: list[tuple[int, str]] = []
        keys = "\n".join(addresses).lower().split("\n")  # one C-level pass for all
        if len(keys) != len(addresses):
            raise ValueError(f"a line break in an address in rows from {first_row}")
        for k, key in enumerate(keys):
            if key:
                slot = hash(key) & mask
                byte, bit = slot >> 3, 1 << (slot & 7)
                if seen[byte] & bit:
                    found.append((first_row + k, addresses[k]))
                else:
                    seen[byte] |= bit
        return found


class _Applier:
    """Frames applied to the scratch database, in one transaction (a writer's own work)."""

    def __init__(self, path: str) -> None:
        # Its own connection, used by one thread at a time (the lock), not always the same.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._repeats = _Repeats()
        # Scratch data nobody else reads until the commit: no journal, no fsync.
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("BEGIN")

    def apply(self, frame: _Frame) -> None:
        with self._lock:
            if frame[0] == "rows":
                self._rows(cast(int, frame[1]), cast(str, frame[2]), cast(str, frame[3]))
            elif frame[0] == "many":
                many = cast(list[tuple[object, ...]], frame[2])
                self._db.executemany(cast(str, frame[1]), many)
            else:
                self._db.execute(cast(str, frame[1]))

    def commit(self) -> None:
        with self._lock:
            self._db.execute("COMMIT")
            self._db.close()

    def abandon(self) -> None:
        """Close without committing; waits for a frame still being applied (a cancelled
        import's thread cannot be stopped)."""
        with self._lock:
            self._db.close()  # an open transaction goes with it

    def _rows(self, first_row: int, emails: str, vars_json: str) -> None:
        addresses = emails.split("\n")
        values = vars_json.split("\n")
        count = len(addresses)
        if len(values) != count:
            raise ValueError(f"{count} addresses but {len(values)} vars in rows from {first_row}")
        # Every statement has the same number of rows (the last group is padded with rows the
        # WHERE drops, as it drops any row whose address is ''): one prepared statement serves
        # the whole import.
        rows = min(_GROUP_ROWS, _MAX_PARAMS // 3)
        sql = (
            "INSERT INTO rows (row_no, email, vars) SELECT * FROM (VALUES "
            + ", ".join(["(?, ?, ?)"] * rows)
            + ") WHERE column2 <> ''"
        )
        for start in range(0, count, rows):
            part = min(rows, count - start)
            flat: list[object] = [""] * (3 * rows)
            flat[0 : 3 * part : 3] = range(first_row + start, first_row + start + part)
            flat[1 : 3 * part : 3] = addresses[start : start + part]
            flat[2 : 3 * part : 3] = values[start : start + part]
            self._db.execute(sql, flat)
        maybe = self._repeats.note(first_row, addresses)
        if maybe:
            self._db.executemany("INSERT INTO maybe_repeats (row_no, email) VALUES (?, ?)", maybe)


def run_stage_writer(path: str) -> None:
    """The staging process: apply the frames read from stdin (pickled, each after its length
    in 8 bytes) to the scratch database at `path`; COMMIT on a ("commit",) frame and exit 0.
    On any error, or stdin ending before that frame (the parent is gone): nothing committed,
    the file deleted, the error on stderr, exit 1."""
    source = sys.stdin.buffer
    applier: _Applier | None = None
    try:
        applier = _Applier(path)
        while header := source.read(8):
            frame = pickle.loads(source.read(int.from_bytes(header, "little")))
            if frame[0] == "commit":
                applier.commit()
                return
            applier.apply(frame)
        raise EOFError("the input ended before the commit")
    except Exception as exc:  # any failure goes to the parent as text
        if applier is not None:
            applier.abandon()
        with suppress(OSError):
            os.unlink(path)
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        sys.exit(1)


class _Writer:
    """Fills the scratch database from frames: the interface of both kinds below."""

    async def send(self, frame: _Frame) -> None:
        raise NotImplementedError

    async def finish(self) -> None:
        """The rows are all there: return once they are committed."""
        raise NotImplementedError

    async def kill(self) -> None:
        """Stop, committing nothing (a no-op once finished)."""
        raise NotImplementedError


class _ThreadWriter(_Writer):
    """Frames applied in a worker thread of this process: for small files, where starting a
    process would cost more than the overlap saves."""

    def __init__(self, applier: _Applier) -> None:
        self._applier: _Applier | None = applier

    @classmethod
    async def start(cls, path: Path) -> _ThreadWriter:
        return cls(await _in_thread(_Applier, str(path)))

    async def send(self, frame: _Frame) -> None:
        if self._applier is None:
            raise RuntimeError("the staging writer has stopped")
        await _in_thread(self._applier.apply, frame)

    async def finish(self) -> None:
        applier, self._applier = self._applier, None
        if applier is None:
            raise RuntimeError("the staging writer has stopped")
        await _in_thread(applier.commit)

    async def kill(self) -> None:
        applier, self._applier = self._applier, None
        if applier is not None:
            await _in_thread(applier.abandon)


_ROOT = Path(__file__).resolve().parent.parent  # the project, for the process's import
_WRITER_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[2]); "
    "from storage.leads import run_stage_writer; run_stage_writer(sys.argv[1])"
)


class _ProcessWriter(_Writer):
    """A staging process (run_stage_writer) fed through its stdin: SQLite's work on the
    scratch database runs on another core while this process parses.

    Plain blocking pipes, written from a worker thread: a write holds no GIL while it waits
    for the pipe, where asyncio's transport would need the event loop (and so the GIL, which
    the parsing thread holds) every 64 KiB the writer reads.
    """

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc

    @classmethod
    async def start(cls, path: Path) -> _ProcessWriter:
        proc = await _in_thread(
            subprocess.Popen,
            [sys.executable, "-c", _WRITER_BOOT, str(path), str(_ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        return cls(proc)

    async def send(self, frame: _Frame) -> None:
        """One frame; returns once the pipe has taken it all."""
        data = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            await _in_thread(self._write, len(data).to_bytes(8, "little"), data)
        except (BrokenPipeError, ConnectionResetError):
            raise await self._failure() from None

    def _write(self, header: bytes, data: bytes) -> None:
        stdin = self._proc.stdin
        assert stdin is not None  # created with a pipe
        stdin.write(header)
        stdin.write(data)
        stdin.flush()

    async def finish(self) -> None:
        await self.send(("commit",))
        stdin = self._proc.stdin
        assert stdin is not None
        with suppress(BrokenPipeError, ConnectionResetError):
            await _in_thread(stdin.close)
        error = await self._failure()
        if self._proc.returncode != 0:
            raise error

    async def kill(self) -> None:
        if self._proc.poll() is None:
            with suppress(ProcessLookupError):
                self._proc.kill()
        await _in_thread(self._proc.wait)
        for pipe in (self._proc.stdin, self._proc.stderr):
            if pipe is not None:
                with suppress(OSError):
                    pipe.close()

    async def _failure(self) -> StagingError:
        """Wait for the process to exit; its complaint, if any, as an error."""
        stderr = self._proc.stderr
        assert stderr is not None
        text = (await _in_thread(stderr.read)).decode(errors="replace").strip()
        code = await _in_thread(self._proc.wait)
        return StagingError(f"the staging process failed ({code}): {text or 'no message'}")
