"""The SQL of a leads import: a per-import scratch database, set-based checks, one insert.

Rows are appended to a staging table as they are parsed (cheap: no index yet). One covering
index sorted by the folded address then serves everything else: the duplicates (the first row
of each address wins), the lookups against leads and the suppression list, and the final
insert, which reads it in order. Rows taken out are recorded with why in a second table, so
the staged rows are never updated. SQLite (its sorter, its scratch file) holds the addresses;
Python memory stays bounded whatever the file's size. The scratch file takes about 500 bytes
of disk per row (a million rows of six columns: ~500 MB in SQLite's temp directory) until the
import ends.

Matching is case-insensitive through SQLite's lower(), which folds ASCII letters only, on both
sides (`lower(leads.email)`). The suppression list holds Python-lower-cased entries, so an
address with non-ASCII letters also carries its fully lower-cased form (`ukey`).

Leads of one import go in ordered by address, not by file row: inserting in index order keeps
the leads table's two address indexes append-only, where file order would scatter a million
inserts over them (measured 8x slower for a million rows). Their ids, and so the order the
sender takes new leads in, follow that.
"""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import aiosqlite

# Why a staged row is not imported; recorded in the `out` table. The order they are checked in.
DUPLICATE, ALREADY, SUPPRESSED, HELD, MISSING = 1, 2, 3, 4, 5
_BLOCKING_STATES = "('bounced', 'complained', 'unsubscribed')"
_GROUP = 100  # staged rows per INSERT statement


@dataclass(frozen=True, slots=True)
class CampaignRef:
    """The campaign an import goes into."""

    id: int
    name: str
    state: str


@dataclass(frozen=True, slots=True)
class StepSource:
    """A stored step's template texts."""

    step_no: int
    subject: str | None
    body: str
    html: str | None


@dataclass(frozen=True, slots=True)
class Classified:
    """How many staged rows each check took out; a row counts once, for the first check."""

    already_in_campaign: int
    suppressed: int
    held_by_other_campaign: int
    missing_variables: int


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


class Stage:
    """One import's scratch database: fill, index, classify, move to leads, throw away.

    It is a private temporary database ATTACHed to the connection (ATTACH of '' in SQLite):
    its file goes away on DETACH in one step, where dropping a million-row TEMP table would
    walk every page (seconds). A random schema name keeps imports sharing a connection apart.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._schema = f"lead_import_{uuid.uuid4().hex}"
        self._rows = f"{self._schema}.rows"
        self._out = f"{self._schema}.taken_out"
        self._attached = False

    async def create(self) -> None:
        """Attach the scratch database and create the staging and taken-out tables."""
        # The schema name is ours (hex); ATTACH cannot take it as a parameter.
        await self._conn.execute(f"ATTACH DATABASE '' AS {self._schema}")
        self._attached = True
        # Scratch data: no fsync, and a rollback journal in memory (only the small taken-out
        # table is written inside the import's main transaction).
        await self._conn.execute(f"PRAGMA {self._schema}.synchronous = OFF")
        await self._conn.execute(f"PRAGMA {self._schema}.journal_mode = MEMORY")
        await self._conn.execute(
            f"""
            CREATE TABLE {self._rows} (
                row_no   INTEGER PRIMARY KEY,  -- as the user sees the file: header = 1
                email    TEXT NOT NULL,        -- normalised
                vars     TEXT NOT NULL,        -- JSON object
                missing  TEXT,                 -- required variables the row lacks
                ukey     TEXT                  -- lower(email) by Python, when not ASCII
            )
            """
        )
        await self._conn.execute(
            f"CREATE TABLE {self._out} (row_no INTEGER PRIMARY KEY, status INTEGER NOT NULL)"
        )

    @asynccontextmanager
    async def filling(self) -> AsyncIterator[None]:
        """Stage inside one transaction: it writes the scratch database only, locking nothing
        another connection needs."""
        await self._conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            with suppress(sqlite3.Error, ValueError):
                await self._conn.execute("ROLLBACK")
            raise
        await self._conn.execute("COMMIT")

    async def add(self, rows: Sequence[tuple[int, str, str]]) -> None:
        """Stage plain rows: (row number, address, vars JSON)."""
        await self._insert(("row_no", "email", "vars"), rows)

    async def add_full(self, rows: Sequence[tuple[int, str, str, str | None, str | None]]) -> None:
        """Stage rare rows: (row number, address, vars, missing names or None, ukey or None)."""
        # Kept apart from add(): binding None goes through sqlite3's adapter lookup and costs
        # as much as a string, so the common row binds three values, not five.
        await self._insert(("row_no", "email", "vars", "missing", "ukey"), rows)

    async def _insert(self, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        # _GROUP rows per INSERT ... VALUES: half the cost of one statement per row, and
        # sqlite3 takes the GIL back once per statement, not once per row.
        width = len(columns)
        head = f"INSERT INTO {self._rows} ({', '.join(columns)}) VALUES "
        one = f"({', '.join('?' * width)})"
        flat = list(itertools.chain.from_iterable(rows))
        step = width * _GROUP
        whole = len(rows) // _GROUP * step
        if whole:
            groups = [flat[start : start + step] for start in range(0, whole, step)]
            await self._conn.executemany(head + ", ".join([one] * _GROUP), groups)
        if whole < len(flat):
            rest = flat[whole:]
            await self._conn.execute(head + ", ".join([one] * (len(rest) // width)), rest)

    async def index(self) -> int:
        """Sort the staged rows by address and mark repeats; return how many were repeats."""
        # Covering: every later statement, the final insert included, reads this index alone.
        await self._conn.execute(
            f"CREATE INDEX {self._schema}.by_key ON rows (lower(email), row_no, email, vars)"
        )
        return await self._count(
            f"""
            INSERT INTO {self._out} (row_no, status)
            SELECT s.row_no, {DUPLICATE}
            FROM (SELECT lower(email) AS key, min(row_no) AS first FROM {self._rows}
                  GROUP BY lower(email) HAVING count(*) > 1) AS d
            JOIN {self._rows} AS s ON lower(s.email) = d.key AND s.row_no > d.first
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

    async def insert_leads(self, campaign_id: int, created_ms: int) -> int:
        """Insert every row not taken out as a queued lead at step 1; return how many."""
        # Every row gets the constants 'queued' and 1, which satisfy leads' CHECKs by
        # construction; SQLite would still evaluate them per row, and its `state IN (...)`
        # check alone doubled this statement's time (4 -> 8 s for a million rows). The pragma
        # acts on statements prepared while it is on; it is put back before anything else runs.
        rows = await self._conn.execute_fetchall("PRAGMA ignore_check_constraints")
        previous = int(next(iter(rows))[0])
        await self._conn.execute("PRAGMA ignore_check_constraints = ON")
        try:
            return await self._count(
                f"""
                INSERT INTO leads (campaign_id, email, vars, state, next_step, created_at)
                SELECT ?, email, vars, 'queued', 1, ?
                FROM {self._rows} INDEXED BY by_key
                WHERE row_no NOT IN (SELECT row_no FROM {self._out})
                ORDER BY lower(email), row_no
                """,
                (campaign_id, created_ms),
            )
        finally:
            with suppress(ValueError):  # the connection is closed: nothing left to put back
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
        """Detach (and so delete) the scratch database; never hides the error that ended the
        import."""
        if self._attached:
            with suppress(sqlite3.Error, ValueError):  # ValueError: the connection is closed
                await self._conn.execute(f"DETACH DATABASE {self._schema}")
                self._attached = False

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
