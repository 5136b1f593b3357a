"""/backup and `main.py backup`: what was written, and why a copy was not sent."""

from __future__ import annotations

from datetime import UTC

from core.backup import BackupCopy


def size_text(size: int) -> str:
    """Bytes as MB with one decimal, the exact count beside it."""
    return f"{size / (1024 * 1024):.1f} MB ({size:,} bytes)"


def _moment(copy: BackupCopy) -> str:
    return f"{copy.consistent_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def backup_lines(copy: BackupCopy) -> list[str]:
    """What `main.py backup FILE` wrote, and how to put it back."""
    return [
        f"Wrote {copy.path}: {size_text(copy.size)}, schema version {copy.schema_version}.",
        f"Consistent as of {_moment(copy)}: it holds every change committed before then.",
        "To restore: stop the service, remove the database's -wal and -shm files, copy this "
        "file to DATABASE_PATH, start the service (see README, Backups).",
    ]


def backup_caption(copy: BackupCopy) -> str:
    """The caption of the gzipped copy sent to the chat."""
    return (
        f"Database backup, consistent as of {_moment(copy)}; schema version "
        f"{copy.schema_version}; {size_text(copy.database_size)} unpacked. "
        "Restore it with the service stopped (README, Backups)."
    )


def too_large_lines(copy: BackupCopy, limit: int) -> list[str]:
    """Why the copy was not sent: its size against the upload limit, and the way that works."""
    return [
        f"The backup is {size_text(copy.size)} gzipped; Telegram lets a bot send at most "
        f"{limit / (1024 * 1024):.0f} MB, so it was not sent.",
        "Run `python main.py backup FILE` on the server instead.",
    ]
