"""/export: one CSV row per lead of a campaign (SPEC 10)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# The lead's own variables are left out: their keys differ from upload to upload, so they
# would not fit one header, and the uploaded file already holds them.
HEADER = ("email", "state", "steps_sent", "last_event", "last_event_at", "label")


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One lead as exported."""

    lead_id: int  # the paging key; not exported
    email: str
    state: str
    steps_sent: int
    last_event: str | None
    last_event_at: datetime | None
    label: str | None


def csv_fields(row: ExportRow) -> tuple[str, ...]:
    """The row's CSV fields in HEADER order; empty strings for what it lacks."""
    at = row.last_event_at
    return (
        row.email,
        row.state,
        str(row.steps_sent),
        row.last_event or "",
        at.strftime("%Y-%m-%dT%H:%M:%SZ") if at is not None else "",
        row.label or "",
    )
