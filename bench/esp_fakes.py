"""The ESP benchmark's providers in a process of their own: the fake Mailgun events API or the
fake SQS queue, filled with bench/esp_world.py's events, until stdin closes.

    python bench/esp_fakes.py mailgun|sqs COUNT BASE

prints `listening URL` once it serves. In a process of its own so that what the bench times
is the service's work, not the fake's (it runs on the other core).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's packages

from bench.esp_world import (  # noqa: E402
    MAILGUN_KEY,
    SQS_KEY_ID,
    item_domain,
    mailgun_items,
    ses_bodies,
)
from tests.fakes.mailgun import FakeMailgun  # noqa: E402
from tests.fakes.sqs import FakeSqs  # noqa: E402


async def serve(kind: str, count: int, base: float) -> None:
    """Fill the fake, say where it listens, serve until stdin closes."""
    loop = asyncio.get_running_loop()
    if kind == "mailgun":
        async with FakeMailgun(MAILGUN_KEY) as mailgun:
            for item in mailgun_items(count, base):
                mailgun.add(item_domain(item), item)
            print(f"listening {mailgun.url}", flush=True)
            await loop.run_in_executor(None, sys.stdin.read)
    else:
        async with FakeSqs(SQS_KEY_ID) as sqs:
            for body in ses_bodies(count, base):
                sqs.send(body)
            print(f"listening {sqs.url} {sqs.queue_url}", flush=True)
            await loop.run_in_executor(None, sys.stdin.read)
            left = len(sqs.messages)
            print(f"left {left} receives {len(sqs.received())}", flush=True)


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
