"""An in-memory EspFeed: a scripted list of events served a page at a time after a cursor."""

from __future__ import annotations

from datetime import datetime

from core.connect import LoginResult, Verdict
from core.esp import EspEvent, EspPage


class ScriptedFeed:
    """Serves `events` in order, `page_size` a page; the cursor is the count served so far.

    `fail` makes the next reads raise it; `ack_fail` makes acknowledge raise (a crash between
    the commit and the acknowledgement), and the page is then served again by the next read
    whatever its cursor, as a queue redelivers a message not deleted (SES over SQS);
    `skipped` is reported on the next page read.
    """

    def __init__(self, name: str, *, page_size: int = 300) -> None:
        self.name = name
        self.page_size = page_size
        self.events: list[EspEvent] = []
        self.fail: Exception | None = None
        self.ack_fail: Exception | None = None
        self.skipped = 0
        self.reads: list[str | None] = []  # the cursor of each read
        self.acknowledged: list[EspPage] = []
        self._unacknowledged: EspPage | None = None
        self.probe_result = LoginResult(Verdict.OK)
        self.closed = False

    async def read(self, cursor: str | None, now: datetime) -> EspPage:
        """The next page after `cursor`."""
        self.reads.append(cursor)
        if self.fail is not None:
            raise self.fail
        if self._unacknowledged is not None:
            page, self._unacknowledged = self._unacknowledged, None
            return page
        start = int(cursor) if cursor else 0
        chunk = self.events[start : start + self.page_size]
        end = start + len(chunk)
        skipped, self.skipped = self.skipped, 0
        receipts = tuple(f"r{i}" for i in range(start, end))
        return EspPage(tuple(chunk), str(end), end < len(self.events), skipped, receipts)

    async def acknowledge(self, page: EspPage) -> None:
        """Record the page (or fail as told)."""
        if self.ack_fail is not None:
            self._unacknowledged = page
            raise self.ack_fail
        self.acknowledged.append(page)

    async def probe(self) -> LoginResult:
        """The scripted verdict."""
        return self.probe_result

    async def close(self) -> None:
        """Mark closed."""
        self.closed = True
