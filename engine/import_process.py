"""A lead import in a child process, and the JSON lines it reports back on.

Parsed in the service, a 20 MB upload left 30-45 MB of heap behind for good (freed, but kept
by the allocator; issue 13). A child (bootstrap's `import-child`, started by `run_import`)
runs engine.importer.import_leads on a connection of its own and writes one JSON object a
line to stdout: {"progress": rows} after each chunk, then {"report": {...}} or {"error": text}
(a LeadImportError's message, for the user). Its memory leaves with it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from core.leads import ImportReport, MissingRow, RowProblem
from engine.lead_files import LeadImportError

Progress = Callable[[int], Awaitable[None]]


class ImportProcessError(RuntimeError):
    """The import process ended without a report (killed, crashed); nothing was committed."""


def report_to_json(report: ImportReport) -> dict[str, Any]:
    """An ImportReport as plain JSON values."""
    return asdict(report)


def report_from_json(data: Mapping[str, Any]) -> ImportReport:
    """The ImportReport that report_to_json wrote."""
    return ImportReport(
        campaign=str(data["campaign"]),
        rows_read=int(data["rows_read"]),
        imported=int(data["imported"]),
        invalid=int(data["invalid"]),
        invalid_rows=tuple(
            RowProblem(int(r["row"]), str(r["reason"])) for r in data["invalid_rows"]
        ),
        duplicate_in_file=int(data["duplicate_in_file"]),
        already_in_campaign=int(data["already_in_campaign"]),
        suppressed=int(data["suppressed"]),
        held_by_other_campaign=int(data["held_by_other_campaign"]),
        missing_variables=int(data["missing_variables"]),
        missing_rows=tuple(
            MissingRow(int(r["row"]), tuple(str(n) for n in r["names"]))
            for r in data["missing_rows"]
        ),
        absent_columns=tuple(str(c) for c in data["absent_columns"]),
    )


def write_line(out: TextIO, **item: Any) -> None:
    """One message of the child to its parent."""
    out.write(json.dumps(item) + "\n")
    out.flush()


async def run_import(
    argv: Sequence[str],
    progress: Progress | None = None,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> ImportReport:
    """Run the import process `argv` to its end: its report; LeadImportError with its reason."""
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, cwd=cwd, env=env
    )
    assert proc.stdout is not None  # created with a pipe
    report: ImportReport | None = None
    error: str | None = None
    try:
        async for raw in proc.stdout:
            item = json.loads(raw)
            if "progress" in item:
                if progress is not None:
                    await progress(int(item["progress"]))
            elif "report" in item:
                report = report_from_json(item["report"])
            elif "error" in item:
                error = str(item["error"])
        code = await proc.wait()
    finally:
        if proc.returncode is None:  # cancelled (the service stops): the import is abandoned
            proc.terminate()
            await proc.wait()
    if error is not None:
        raise LeadImportError(error)
    if report is None or code != 0:
        raise ImportProcessError(f"the import process exited with {code} without a report")
    return report
