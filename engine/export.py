"""/export and `main.py export`: a campaign's leads as CSV, written page by page to a file.

The leads are read in pages of `PAGE` by id, each page a short query of its own, so a large
campaign neither sits in memory nor holds the database from the sending engine while the file
is written; a lead changing between pages shows its state at the time its page was read.
"""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from core.export import HEADER, ExportRow, csv_fields
from engine.admin import unknown
from engine.clock import Clock
from engine.ports import ReportQueries

PAGE = 2000  # leads per query and per write


@dataclass(frozen=True, slots=True)
class ExportFile:
    """A written export: where it is and how many leads it holds."""

    path: Path
    campaign: str
    leads: int


def _write(stream: TextIO, rows: list[ExportRow] | None) -> None:
    """Write the CSV lines of a page (the header for None)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if rows is None:
        writer.writerow(HEADER)
    else:
        writer.writerows(csv_fields(row) for row in rows)
    stream.write(out.getvalue())


async def write_export(
    repo: ReportQueries, campaign: str, target: Path, *, page: int = PAGE
) -> ExportFile:
    """Write every lead of `campaign` to `target` (created or replaced); AdminError if none."""
    campaigns = await repo.campaigns()
    found = next((c for c in campaigns if c.name == campaign), None)
    if found is None:
        raise unknown("campaign", campaign, (c.name for c in campaigns))
    stream: TextIO = await asyncio.to_thread(target.open, "w", encoding="utf-8", newline="")
    count = 0
    try:
        await asyncio.to_thread(_write, stream, None)
        after = 0
        while True:
            rows = await repo.export_page(found.id, after, page)
            if not rows:
                break
            # Formatting and writing off the loop: a page is a few hundred kB at most.
            await asyncio.to_thread(_write, stream, rows)
            count += len(rows)
            after = rows[-1].lead_id
    finally:
        await asyncio.to_thread(stream.close)
    return ExportFile(target, campaign, count)


@asynccontextmanager
async def export_for_chat(
    repo: ReportQueries, clock: Clock, campaign: str
) -> AsyncIterator[ExportFile]:
    """The export in a scratch directory, named after the campaign and time; gone after."""
    scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="outreach-export-"))
    try:
        stamp = clock.now().strftime("%Y%m%d-%H%M%S")
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in campaign)
        yield await write_export(repo, campaign, scratch / f"{safe}-{stamp}.csv")
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)
