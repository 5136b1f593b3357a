"""Group commit of send records: many mailboxes' marks and records in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from core.records import Delivered


class _Recorder(Protocol):
    async def record_sends(
        self, *, delivered: Sequence[Delivered], starting: Sequence[int], now: datetime
    ) -> set[int]: ...


class SendLedger:
    """Writes the send records of all mailboxes in shared transactions (a group commit).

    A mailbox hands in the record of its last mail and the id of its next one and resumes once
    the transaction holding both has committed: a step is always marked 'sending' in the
    database before its SMTP transaction begins, and one commit serves many mailboxes.
    """

    def __init__(self, store: _Recorder, now: Callable[[], datetime]) -> None:
        self._store = store
        self._now = now
        self._waiting: list[tuple[Delivered | None, int | None, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    def write(self, delivered: Delivered | None, starting: int | None) -> asyncio.Future[bool]:
        """Record `delivered` and mark `starting` 'sending'; True when `starting` was marked."""
        # A bare future, not a coroutine: the sender awaits it as its gate without a task.
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((delivered, starting, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return future

    async def close(self) -> None:
        """Wait for the last write."""
        if self._writer is not None:
            await self._writer

    async def _drain(self) -> None:
        # Whatever arrives while a transaction is on its way goes into the next one.
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                marked = await self._store.record_sends(
                    delivered=[done for done, _, _ in batch if done is not None],
                    starting=[send_id for _, send_id, _ in batch if send_id is not None],
                    now=self._now(),
                )
            except Exception as exc:  # handed to every writer of this batch
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException:
                for _, _, future in batch:
                    future.cancel()
                raise
            for _, send_id, future in batch:
                if not future.done():
                    future.set_result(send_id in marked)
