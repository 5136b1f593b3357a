"""/upload's chat side: which documents are taken, the campaign a chat's next file goes to.

What Telegram allows (the download size) and what a chat announced (in memory, for a few
minutes) belong to the bot; the engine only imports or stores the file it is handed.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePath

from engine.admin import AdminError
from engine.uploads import Progress

MAX_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download
PENDING_FOR = timedelta(minutes=5)
PROGRESS_EVERY = 2.0  # seconds between progress updates (Telegram rate-limits edits)
LEAD_SUFFIXES = (".csv", ".xlsx")
CAMPAIGN_SUFFIX = ".toml"


class FileKind(enum.StrEnum):
    """What an uploaded document holds."""

    LEADS = "leads"
    CAMPAIGN = "campaign"


def check_document(file_name: str | None, file_size: int | None) -> FileKind:
    """Which kind of file this is, judged before downloading; AdminError when it is refused."""
    if file_size is not None and file_size > MAX_BYTES:
        raise AdminError(
            f"the file is {_megabytes(file_size)}; files above {_megabytes(MAX_BYTES)} are "
            "refused (a bot cannot download more from Telegram). Split it and upload the parts."
        )
    suffix = PurePath(file_name or "").suffix.lower()
    if suffix in LEAD_SUFFIXES:
        return FileKind.LEADS
    if suffix == CAMPAIGN_SUFFIX:
        return FileKind.CAMPAIGN
    shown = repr(file_name) if file_name else "a file without a name"
    raise AdminError(
        f"{shown} is not accepted: send leads as .csv or .xlsx, or a campaign as .toml"
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


@dataclass(frozen=True, slots=True)
class Pending:
    """A chat announced an upload: the campaign (None: not chosen yet) and until when."""

    campaign: str | None
    until: datetime


class PendingUploads:
    """Which campaign a chat's next document goes to, for a few minutes; in memory only."""

    def __init__(self, ttl: timedelta = PENDING_FOR) -> None:
        self._ttl = ttl
        self._by_chat: dict[int, Pending] = {}

    def expect(self, chat_id: int, campaign: str | None, now: datetime) -> Pending:
        """Remember that `chat_id` will send a file (for `campaign`, if known)."""
        # Drop the expired entries of other chats so the map stays as small as the admin list.
        self._by_chat = {k: v for k, v in self._by_chat.items() if v.until > now}
        item = Pending(campaign, now + self._ttl)
        self._by_chat[chat_id] = item
        return item

    def get(self, chat_id: int, now: datetime) -> Pending | None:
        """What the chat announced, unless that has expired."""
        item = self._by_chat.get(chat_id)
        if item is not None and item.until <= now:
            del self._by_chat[chat_id]
            return None
        return item

    def clear(self, chat_id: int) -> None:
        """Forget the chat's announcement (its file arrived)."""
        self._by_chat.pop(chat_id, None)


class Throttle:
    """Passes progress on at most once per `interval` seconds; the rest is dropped."""

    def __init__(
        self,
        target: Progress,
        interval: float = PROGRESS_EVERY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._target = target
        self._interval = interval
        self._monotonic = monotonic
        self._last = monotonic()

    async def __call__(self, rows: int) -> None:
        """Forward `rows` if the last update is at least `interval` seconds old."""
        now = self._monotonic()
        if now - self._last >= self._interval:
            self._last = now
            await self._target(rows)
