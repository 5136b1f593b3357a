"""/export: the caption of the CSV document and the messages around it."""

from __future__ import annotations

from core.export import HEADER
from engine.export import ExportFile

EXPORT_USAGE = "expected a campaign name, like /export q4-founders"


def export_caption(export: ExportFile) -> str:
    """What the document is: the campaign, the lead count and the columns."""
    plural = "" if export.leads == 1 else "s"
    return f"{export.campaign}: {export.leads} lead{plural}.\nColumns: {', '.join(HEADER)}"
