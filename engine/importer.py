"""Import a leads file into a campaign (SPEC 5): parse off the loop, check in SQL, insert once.

The file is read and validated in a worker thread a chunk at a time, and each chunk is
appended to a scratch staging table. Then storage.leads sorts the staged rows by address,
drops repeats (the first row wins), and - in one write transaction - takes out rows already
in the campaign, suppressed addresses (list entries, and any lead that bounced, complained
or unsubscribed anywhere), addresses another active campaign still works, and rows lacking a
template variable, in that order, and inserts the rest as queued leads. A failure anywhere
before COMMIT leaves the leads table as it was; the scratch database is thrown away either
way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiosqlite

from core.leads import (
    MAX_REASONS,
    HeaderError,
    ImportReport,
    InvalidAddress,
    Layout,
    MissingRow,
    RowProblem,
    check_address,
    fast_address,
    missing_in_row,
    picker,
    vars_encoder,
)
from core.templates import TemplateError, compile_step, required_variables
from engine.lead_files import LeadFile, LeadFileError, LeadImportError, open_lead_file
from storage.db import to_ms, transaction
from storage.leads import Stage, campaign_names, campaign_steps, find_campaign

BATCH_ROWS = 10_000  # rows per chunk: one executemany and one progress call each

Progress = Callable[[int], Awaitable[None]]
PlainRow = tuple[int, str, str]
FullRow = tuple[int, str, str, str | None, str | None]


class UnknownCampaignError(LeadImportError):
    """No campaign of that name takes leads."""


async def import_leads(
    conn: aiosqlite.Connection,
    path: Path,
    campaign: str,
    *,
    now: datetime,
    progress: Progress | None = None,
) -> ImportReport:
    """Import `path` into `campaign`; `progress(rows_read)` is awaited after every chunk.

    `conn` must not be used by other tasks meanwhile (give the import its own connection from
    storage.db.open_db): their statements would land inside the import's transactions. The
    new leads are queued in address order, not file order (see storage.leads).
    Raises LeadImportError (LeadFileError, UnknownCampaignError) with a message for the user.
    """
    target = await find_campaign(conn, campaign)
    if target is None:
        known = await campaign_names(conn)
        listed = ", ".join(known) if known else "none yet"
        raise UnknownCampaignError(f"no campaign named {campaign!r}; known campaigns: {listed}")
    required = await _required_variables(conn, target.id, target.name)

    lead_file = await asyncio.to_thread(open_lead_file, path)
    parser: _Parser | None = None
    try:
        try:
            layout = Layout.from_headers(lead_file.header, required)
        except HeaderError as exc:
            raise LeadFileError(str(exc)) from None
        parser = _Parser(lead_file, layout, BATCH_ROWS)
        stage = Stage(conn)
        try:
            await stage.create()
            async with stage.filling():
                await _stage_all(parser, stage, progress)
            if parser.counts.rows_read == 0:
                raise LeadFileError("the file has a header row but no data rows")
            # The sort touches the scratch database only: nothing is locked for others yet.
            duplicates = await stage.index()
            async with transaction(conn):
                classified = await stage.classify(
                    target.id,
                    any_missing=parser.counts.any_missing,
                    any_unicode=parser.counts.any_unicode,
                )
                imported = await stage.insert_leads(target.id, to_ms(now))
            missing = await stage.missing_rows(MAX_REASONS)
        finally:
            await stage.drop()
    finally:
        # Closing waits for a chunk still being read in its thread (a thread cannot be
        # cancelled), so the file is never closed under its reader.
        await asyncio.to_thread(parser.close if parser is not None else lead_file.close)

    counts = parser.counts
    return ImportReport(
        campaign=target.name,
        rows_read=counts.rows_read,
        imported=imported,
        invalid=counts.invalid,
        invalid_rows=tuple(counts.invalid_rows),
        duplicate_in_file=duplicates,
        already_in_campaign=classified.already_in_campaign,
        suppressed=classified.suppressed,
        held_by_other_campaign=classified.held_by_other_campaign,
        missing_variables=classified.missing_variables,
        missing_rows=tuple(MissingRow(row, tuple(names.split(", "))) for row, names in missing),
        absent_columns=layout.absent,
    )


async def _required_variables(
    conn: aiosqlite.Connection, campaign_id: int, name: str
) -> frozenset[str]:
    """Variables some step of the campaign uses without a default."""
    required: set[str] = set()
    for step in await campaign_steps(conn, campaign_id):
        try:
            compiled = compile_step(step.subject, step.body, step.html)
        except TemplateError as exc:
            raise LeadImportError(
                f"campaign {name!r} step {step.step_no} has a template error: {exc}"
            ) from None
        required |= required_variables(compiled)
    return frozenset(required)


async def _stage_all(parser: _Parser, stage: Stage, progress: Progress | None) -> None:
    """Read a chunk in a worker thread, then write it; until the file ends."""
    # Reading chunk n+1 while chunk n is written was measured slower, not faster: binding is
    # Python work under the GIL too, and the threads' hand-overs cost more than the overlap
    # of SQLite's own share (about 1 us a row) saves.
    while True:
        chunk = await asyncio.to_thread(parser.chunk)
        if chunk.plain:
            await stage.add(chunk.plain)
        if chunk.full:
            await stage.add_full(chunk.full)
        if progress is not None:
            await progress(parser.counts.rows_read)
        if chunk.last:
            return


@dataclass(slots=True)
class _Counts:
    """What the parser saw; bounded whatever the file's size."""

    rows_read: int = 0
    invalid: int = 0
    invalid_rows: list[RowProblem] = field(default_factory=list)
    any_missing: bool = False
    any_unicode: bool = False


@dataclass(slots=True)
class _Chunk:
    """One chunk's rows ready to stage."""

    plain: list[PlainRow]
    full: list[FullRow]
    last: bool


class _Parser:
    """Reads and validates rows a chunk at a time; keeps counts, never the rows."""

    def __init__(self, lead_file: LeadFile, layout: Layout, chunk_rows: int) -> None:
        self._file = lead_file
        self._layout = layout
        self._chunk_rows = chunk_rows
        self._next_row = lead_file.first_row
        self._encode = vars_encoder(layout.names)
        self._lock = threading.Lock()  # chunk() and close() never overlap
        self.counts = _Counts()

    def chunk(self) -> _Chunk:
        """The next chunk's rows, and whether the file is done."""
        with self._lock:
            return self._chunk()

    def close(self) -> None:
        """Close the file once no chunk is being read."""
        with self._lock:
            self._file.close()

    def _chunk(self) -> _Chunk:
        # The per-row loop is the import's hot path (a million rows must take seconds): locals,
        # C-level getters, and core.leads.row_values() inlined (same rules: padded, trimmed).
        rows = self._file.read(self._chunk_rows)
        layout = self._layout
        email_at = layout.email_index
        width = layout.width
        pick = picker(layout.indices)
        required = picker([k for k, _ in layout.checks])
        check = bool(layout.checks or layout.absent)
        strip = str.strip
        encode = self._encode
        counts = self.counts
        plain: list[PlainRow] = []
        full: list[FullRow] = []
        row_no = self._next_row - 1
        read = 0
        for cells in rows:
            row_no += 1
            text = cells[email_at].strip() if email_at < len(cells) else ""
            if not text and not any(cell.strip() for cell in cells):
                continue  # an entirely blank row is layout, not data
            read += 1
            address = fast_address(text) if text else None
            if address is None:
                try:
                    if not text:
                        raise InvalidAddress("the e-mail cell is empty")
                    address = check_address(text)
                except InvalidAddress as exc:
                    counts.invalid += 1
                    if len(counts.invalid_rows) < MAX_REASONS:
                        counts.invalid_rows.append(RowProblem(row_no, _reason(text, exc)))
                    continue
            # Missing cells are empty; extra cells are never picked.
            full_row = cells if len(cells) >= width else [*cells, *[""] * (width - len(cells))]
            values = tuple(map(strip, pick(full_row)))
            if check and (layout.absent or not all(required(values))):
                names = ", ".join(missing_in_row(layout, values)) or None
            else:
                names = None
            if names is None and address.isascii():
                plain.append((row_no, address, encode(values)))
                continue
            ukey = None if address.isascii() else address.lower()
            counts.any_missing = counts.any_missing or names is not None
            counts.any_unicode = counts.any_unicode or ukey is not None
            full.append((row_no, address, encode(values), names, ukey))
        self._next_row += len(rows)
        counts.rows_read += read
        return _Chunk(plain, full, last=len(rows) < self._chunk_rows)


def _reason(text: str, exc: InvalidAddress) -> str:
    if not text:
        return str(exc)
    shown = text if len(text) <= 60 else text[:57] + "..."
    return f"{shown!r}: {exc}"
