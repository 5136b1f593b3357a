"""engine/import_process.py: the JSON lines of the import child, read back by run_import."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from core.leads import ImportReport, MissingRow, RowProblem
from engine.import_process import (
    ImportProcessError,
    report_from_json,
    report_to_json,
    run_import,
)
from engine.lead_files import LeadImportError

REPORT = ImportReport(
    campaign="q4",
    rows_read=12,
    imported=7,
    invalid=2,
    invalid_rows=(RowProblem(3, "no @"), RowProblem(9, "empty")),
    duplicate_in_file=1,
    already_in_campaign=1,
    suppressed=0,
    held_by_other_campaign=1,
    missing_variables=0,
    missing_rows=(MissingRow(5, ("company", "city")),),
    absent_columns=("city",),
)


def child(*lines: dict[str, object], code: int = 0) -> list[str]:
    """A stand-in child that prints `lines` as JSON and exits with `code`."""
    script = "import sys\n" + "".join(
        f"print({json.dumps(json.dumps(line))}, flush=True)\n" for line in lines
    )
    return [sys.executable, "-c", script + f"sys.exit({code})"]


def test_a_report_survives_its_json() -> None:
    assert report_from_json(json.loads(json.dumps(report_to_json(REPORT)))) == REPORT


async def test_progress_then_the_report() -> None:
    seen: list[int] = []

    async def progress(rows: int) -> None:
        seen.append(rows)

    argv = child({"progress": 5}, {"progress": 12}, {"report": report_to_json(REPORT)})
    assert await run_import(argv, progress) == REPORT
    assert seen == [5, 12]


async def test_the_child_s_reason_becomes_a_lead_import_error() -> None:
    argv = child({"error": "no campaign named 'q5'; known campaigns: q4"}, code=1)
    with pytest.raises(LeadImportError, match="no campaign named 'q5'"):
        await run_import(argv)


async def test_a_child_that_ends_without_a_report_is_an_error() -> None:
    with pytest.raises(ImportProcessError, match="exited with 3 without a report"):
        await run_import(child({"progress": 1}, code=3))


async def test_a_cancelled_import_ends_its_child() -> None:
    pids: list[int] = []
    started = asyncio.Event()

    async def progress(pid: int) -> None:
        pids.append(pid)
        started.set()

    script = (
        "import os, time\nprint('{\"progress\": %d}' % os.getpid(), flush=True)\ntime.sleep(600)\n"
    )
    task = asyncio.create_task(run_import([sys.executable, "-c", script], progress))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(ProcessLookupError):  # ended and reaped
        os.kill(pids[0], 0)
