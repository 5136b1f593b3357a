"""A database backup as the rest of the program sees it, and what a chat may receive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# Telegram's Bot API refuses uploads above 50 MB (sendDocument, "Sending files").
UPLOAD_LIMIT = 50 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BackupCopy:
    """One written copy: where, how big, its schema version and the moment it is consistent to."""

    path: Path
    size: int  # bytes of the file written (the gzip when compressed)
    database_size: int  # bytes of the database itself
    schema_version: int
    # The copy holds every commit made before this moment and none made after its snapshot,
    # which was taken right after it.
    consistent_at: datetime


def fits_upload(copy: BackupCopy, limit: int = UPLOAD_LIMIT) -> bool:
    """Whether a chat may be sent this file (Telegram's bot upload limit)."""
    return copy.size <= limit
