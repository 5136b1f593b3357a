"""Waiting on a condition instead of on the clock: tests that hold on a loaded 2-core machine."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], object | Awaitable[object]], within: float = 10.0, every: float = 0.05
) -> None:
    """Poll `check` (sync or async) until it is true; fail after `within` seconds.

    `within` is a bound for a hung test, not a measurement: it is generous on purpose.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not within {within} s: {check}")
        await asyncio.sleep(every)
