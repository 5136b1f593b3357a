"""Import a leads file into a campaign (SPEC 5): parse off the loop, check in SQL, insert once.

The file is read and validated in a worker thread a chunk at a time (a column at a time, see
_Parser), and each chunk goes to storage.leads's staging writer - a process of its own for a
file of a few MB or more - which appends it to a scratch staging table while the next chunk
is parsed. Then storage.leads sorts the staged rows by address, drops repeats (the first row
wins), and - in one write transaction - takes out rows already in the campaign, suppressed
addresses (list entries, and any lead that bounced, complained or unsubscribed anywhere),
addresses another active campaign still works, and rows lacking a template variable, in that
order, and inserts the rest as queued leads. A failure anywhere before COMMIT leaves the
leads table as it was; the scratch database is thrown away either way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import cast

from core.leads import (
    MAX_REASONS,
    HeaderError,
    ImportReport,
    InvalidAddress,
    Layout,
    MissingRow,
    RowProblem,
    check_address,
    fast_addresses,
    missing_in_row,
    positions,
    surely_invalid,
    vars_column_encoder,
)
from core.templates import TemplateError, compile_step, required_variables
from engine.lead_files import LeadFile, LeadFileError, LeadImportError, RowBlock, open_lead_file
from engine.ports import LeadStage, LeadStore

BATCH_ROWS = 10_000  # rows per chunk: one frame for the staging writer, one progress call

Progress = Callable[[int], Awaitable[None]]
RareRow = tuple[int, str | None, str | None]  # row number, missing variables, ukey


class UnknownCampaignError(LeadImportError):
    """No campaign of that name takes leads."""


async def import_leads(
    store: LeadStore,
    path: Path,
    campaign: str,
    *,
    now: datetime,
    progress: Progress | None = None,
) -> ImportReport:
    """Import `path` into `campaign`; `progress(rows_read)` is awaited after every chunk.

    `store` must have a connection of its own (engine.ports.OpenLeadStore): other tasks'
    statements would land inside the import's transactions. The new leads are queued in
    address order, not file order (see storage.leads).
    Raises LeadImportError (LeadFileError, UnknownCampaignError) with a message for the user.
    """
    target = await store.find_campaign(campaign)
    if target is None:
        known = await store.campaign_names()
        listed = ", ".join(known) if known else "none yet"
        raise UnknownCampaignError(f"no campaign named {campaign!r}; known campaigns: {listed}")
    required = await _required_variables(store, target.id, target.name)

    lead_file = await asyncio.to_thread(open_lead_file, path)
    parser: _Parser | None = None
    try:
        try:
            layout = Layout.from_headers(lead_file.header, required)
        except HeaderError as exc:
            raise LeadFileError(str(exc)) from None
        parser = _Parser(lead_file, layout, BATCH_ROWS)
        stage = store.stage()
        try:
            await stage.create(expected_bytes=await asyncio.to_thread(_size, path))
            async with stage.filling():
                await _stage_all(parser, stage, progress)
            if parser.counts.rows_read == 0:
                raise LeadFileError("the file has a header row but no data rows")
            # The sort touches the scratch database only: nothing is locked for others yet.
            duplicates = await stage.index()
            classified, imported = await stage.commit(
                target.id,
                any_missing=parser.counts.any_missing,
                any_unicode=parser.counts.any_unicode,
                created_at=now,
            )
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


async def _required_variables(store: LeadStore, campaign_id: int, name: str) -> frozenset[str]:
    """Variables some step of the campaign uses without a default."""
    required: set[str] = set()
    for step in await store.campaign_steps(campaign_id):
        try:
            compiled = compile_step(step.subject, step.body, step.html)
        except TemplateError as exc:
            raise LeadImportError(
                f"campaign {name!r} step {step.step_no} has a template error: {exc}"
            ) from None
        required |= required_variables(compiled)
    return frozenset(required)


async def _stage_all(parser: _Parser, stage: LeadStage, progress: Progress | None) -> None:
    """Parse chunk n+1 in a worker thread while chunk n goes to the staging writer; until the
    file ends. The writer (a process, for a big file) inserts on another core meanwhile."""
    pending = asyncio.ensure_future(asyncio.to_thread(parser.chunk))
    try:
        while True:
            chunk = await pending
            if not chunk.last:
                pending = asyncio.ensure_future(asyncio.to_thread(parser.chunk))
            if chunk.emails:
                await stage.add(chunk.first_row, chunk.emails, chunk.vars)
            if chunk.rare:
                await stage.add_rare(chunk.rare)
            if progress is not None:
                await progress(chunk.rows_read)
            if chunk.last:
                return
    finally:
        # A chunk still being parsed is not waited for here: import_leads closes the file
        # only once it is done (_Parser.close takes the parser's lock).
        if pending.done():
            if not pending.cancelled():
                pending.exception()  # seen: the error that ended the import is another
        else:
            pending.cancel()


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

    first_row: int  # the row number of emails[0]
    emails: list[str]  # every row's address; '' for a row not to stage
    vars: list[str]  # every row's vars JSON
    rare: list[RareRow]  # staged rows lacking variables or with a non-ASCII address
    last: bool
    rows_read: int  # rows read up to the end of this chunk


class _Parser:
    """Reads and validates rows a chunk at a time; keeps counts, never the rows."""

    def __init__(self, lead_file: LeadFile, layout: Layout, chunk_rows: int) -> None:
        self._file = lead_file
        self._layout = layout
        self._chunk_rows = chunk_rows
        self._next_row = lead_file.first_row
        self._encode_all = vars_column_encoder(layout.names)
        self._lock = threading.Lock()  # chunk() and close() never overlap
        self.counts = _Counts()

    def chunk(self) -> _Chunk:
        """The next chunk's rows, and whether the file is done."""
        with self._lock:
            blocks = self._file.read(self._chunk_rows)
            first_row = self._next_row
            emails: list[str] = []
            vars_json: list[str] = []
            rare: list[RareRow] = []
            for block in blocks:
                self._block(block, emails, vars_json, rare)
            last = sum(map(len, blocks)) < self._chunk_rows
            return _Chunk(first_row, emails, vars_json, rare, last, self.counts.rows_read)

    def close(self) -> None:
        """Close the file once no chunk is being read."""
        with self._lock:
            self._file.close()

    def _block(
        self, block: RowBlock, emails: list[str], vars_out: list[str], rare: list[RareRow]
    ) -> None:
        # The import's hot path (a million rows must take seconds): a column at a time, in
        # C-level passes (map, fast_addresses, the vars template, slice assignment), and
        # Python per row only for the rows that need it: addresses fast_addresses leaves to
        # email-validator, blank cells, values to escape, missing variables.
        layout = self._layout
        count = len(block)
        first = self._next_row
        self._next_row += count
        if block.trimmed:  # nothing to trim: the cells as they are
            texts = block.column(layout.email_index)
            columns = [block.column(index) for index in layout.indices]
        else:
            strip = str.strip
            texts = list(map(strip, block.column(layout.email_index)))
            columns = [list(map(strip, block.column(index))) for index in layout.indices]
        addresses, misses = fast_addresses(texts)
        unstaged = self._check_rest(block, first, texts, addresses, misses)
        vars_json = self._encode_all(columns, count)
        special = self._unicode(addresses, misses, unstaged)
        special.update(self._missing(columns, count, unstaged))
        counts = self.counts
        for k in sorted(special):
            address = addresses[k] or ""  # never None: rows that failed are not special
            names = special[k]
            ukey = None if address.isascii() else address.lower()
            counts.any_missing = counts.any_missing or names is not None
            counts.any_unicode = counts.any_unicode or ukey is not None
            rare.append((first + k, names, ukey))
        # Every row's address and vars; '' for a row Stage.add leaves out (invalid, blank).
        for k in misses:
            if addresses[k] is None:
                addresses[k] = ""
        emails += cast(list[str], addresses)  # no None left
        vars_out += vars_json

    def _check_rest(
        self,
        block: RowBlock,
        first: int,
        texts: list[str],
        addresses: list[str | None],
        misses: list[int],
    ) -> set[int]:
        """Decide the addresses fast_addresses left open: email-validator's verdict, or an
        empty cell. Count the rows read and the invalid ones; return the rows not to stage."""
        counts = self.counts
        unstaged: set[int] = set()
        blank = 0
        for k in misses:
            text = texts[k]
            unstaged.add(k)
            if not text and not any(cell.strip() for cell in block.row(k)):
                blank += 1  # an entirely blank row is layout, not data
                continue
            if len(counts.invalid_rows) >= MAX_REASONS and surely_invalid(text):
                counts.invalid += 1  # email-validator's verdict too; no reason left to show
                continue
            try:
                if not text:
                    raise InvalidAddress("the e-mail cell is empty")
                addresses[k] = check_address(text)
            except InvalidAddress as exc:
                counts.invalid += 1
                if len(counts.invalid_rows) < MAX_REASONS:
                    counts.invalid_rows.append(RowProblem(first + k, _reason(text, exc)))
                continue
            unstaged.discard(k)
        counts.rows_read += len(texts) - blank
        return unstaged

    @staticmethod
    def _unicode(
        addresses: list[str | None], misses: list[int], unstaged: set[int]
    ) -> dict[int, str | None]:
        """Rows to stage whose address is not ASCII (email-validator's): position -> None."""
        found: dict[int, str | None] = {}
        for k in misses:
            address = addresses[k]
            if k not in unstaged and address is not None and not address.isascii():
                found[k] = None
        return found

    def _missing(
        self, columns: list[list[str]], count: int, unstaged: set[int]
    ) -> dict[int, str | None]:
        """Rows to stage lacking required variables: position -> the names, joined."""
        layout = self._layout
        if layout.absent:
            lacking: Iterable[int] = range(count)
        elif layout.checks:
            lacking = sorted({k for at, _ in layout.checks for k in positions(columns[at], "")})
        else:
            return {}
        found: dict[int, str | None] = {}
        for k in lacking:
            if k not in unstaged:
                values = [column[k] for column in columns]
                found[k] = ", ".join(missing_in_row(layout, values)) or None
        return found


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _reason(text: str, exc: InvalidAddress) -> str:
    if not text:
        return str(exc)
    shown = text if len(text) <= 60 else text[:57] + "..."
    return f"{shown!r}: {exc}"
