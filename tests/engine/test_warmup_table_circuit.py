"""/warmup after two days of the whole warm-up circuit (issue 12's "/warmup shows day, cap,
sent and the placement the test arranged").

The service as bootstrap.build_service composes it, on a manual clock, its real SMTP sender:
4 new pool mailboxes on 2 domains and 2 seeds. The loop's mails go to the demo's SMTP sink,
which files them in the demo's in-memory inboxes, every 4th mail of each sender in Junk (the
spam filter the test arranges); the receiving side reads them there, rescues the junked ones
and plans answers. Ticks every 5 minutes from 07:00 to 19:00, the receiving side every 30
minutes. Then /warmup's table must say what the database and the inboxes say.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

import bootstrap
from bot.views.warmup import warmup_lines
from config import (
    DomainConfig,
    MailboxConfig,
    OutreachConfig,
    SeedConfig,
    SendingConfig,
    ServerConfig,
    WarmupConfig,
)
from demo.inboxes import INBOX, JUNK, DemoInboxes
from demo.sink import DemoSink
from engine.clock import ManualClock
from engine.warmup_admin import gather_warmup
from tests.engine.warmup_days import run_days

POOL = ["ann@alpha.test", "bob@alpha.test", "cat@beta.test", "dan@beta.test"]
SEEDS = ["one@seeds.test", "two@seeds.test"]
PASSWORD = "sink-pw"
DAY1 = date(2026, 11, 24)  # a Tuesday
DAYS = 2
CAPS = (5, 6)  # SPEC 7, days 1 and 2


class EveryFourthInJunk(DemoInboxes):
    """The arranged spam filter: a sender's 4th, 8th, ... mail lands in Junk."""

    def __init__(self) -> None:
        super().__init__([*POOL, *SEEDS], seed=1, spam_share=0.0)
        self.sent: Counter[str] = Counter()

    def filter(self, sender: str) -> str:
        self.sent[sender] += 1
        return JUNK if self.sent[sender] % 4 == 0 else INBOX


class AcceptAll:
    """Recipients that take every mail and do nothing more (the inboxes hold it)."""

    def at_rcpt(self, sender: str, recipient: str) -> tuple[int, str] | None:
        return None

    def delivered(self, sender: str, recipient: str, message_id: str | None) -> None:
        return None


def config(port: int) -> OutreachConfig:
    def server(user: str) -> ServerConfig:
        return ServerConfig(
            host="127.0.0.1", port=port, security="none", username=user,
            password=SecretStr(PASSWORD),
        )  # fmt: skip

    return OutreachConfig(
        sending=SendingConfig(
            timezone="UTC", min_gap_seconds=300, jitter_seconds=0, postal_address="1 Main St"
        ),
        warmup=WarmupConfig(reply_rate=0.5),
        domains=[DomainConfig(name="alpha.test"), DomainConfig(name="beta.test")],
        mailboxes=[
            MailboxConfig(
                address=address,
                daily_limit=40,
                warmup_start=DAY1,
                smtp=server(address),
                imap=server(address),  # never dialled: the in-memory inboxes stand in
            )  # fmt: skip
            for address in POOL
        ],
        seeds=[SeedConfig(address=seed, imap=server(seed)) for seed in SEEDS],
    )


@pytest.fixture
async def circuit(
    tmp_path: Path,
) -> AsyncIterator[tuple[bootstrap.Service, EveryFourthInJunk]]:
    inboxes = EveryFourthInJunk()
    sink = DemoSink(AcceptAll(), dict.fromkeys(POOL, PASSWORD), inboxes)
    async with AsyncExitStack() as stack:
        port = await sink.start()
        stack.push_async_callback(sink.stop)
        clock = ManualClock(datetime.combine(DAY1, datetime.min.time(), UTC))
        service = await bootstrap.build_service(
            stack, db_path=tmp_path / "outreach.db", config=config(port), clock=clock, chats=[],
            sender=bootstrap.smtp_sender(timeout=10.0, local_hostname="test.localhost"),
            warmup_reader=inboxes, feeds=[], rng=random.Random(2026),
        )  # fmt: skip
        yield service, inboxes


async def test_warmup_table_shows_the_days_traffic_and_the_arranged_placement(
    circuit: tuple[bootstrap.Service, EveryFourthInJunk],
) -> None:
    service, inboxes = circuit
    clock = service.clock
    assert isinstance(clock, ManualClock)
    await run_days(service, clock, DAY1, DAYS)

    report = await gather_warmup(service.context())
    rows = {row.address: row for row in report.rows}
    assert list(rows) == POOL and {row.state for row in rows.values()} == {"warming"}
    today = (DAY1 + timedelta(days=DAYS - 1)).isoformat()
    db = service.stores.db
    for address, row in rows.items():
        assert (row.day, row.phase, row.cap) == (DAYS, 1, CAPS[-1])
        sends = await db.fetch(
            "SELECT s.day, w.answers FROM sends s JOIN mailboxes m ON m.id = s.mailbox_id "
            "JOIN warmup_mails w ON w.message_id = s.message_id WHERE m.address = ? "
            "AND s.kind = 'warmup' AND s.state = 'sent'",
            (address,),
        )
        # The mailbox's cap of each day filled with warm-up mail; today's shown.
        assert [sum(1 for s in sends if s["day"] == d) for d in sorted({s["day"] for s in sends})
                ] == list(CAPS)  # fmt: skip
        assert row.today.sent == CAPS[-1] == row.sent_today
        assert row.today.replied == sum(1 for s in sends if s["day"] == today and s["answers"])
        got = await db.fetch(
            "SELECT count(*) FROM placements WHERE receiver = ? AND seen_at >= ?",
            (address, int(datetime.fromisoformat(today).replace(tzinfo=UTC).timestamp() * 1000)),
        )
        assert row.today.received == got[0][0] > 0
        # Placement as arranged: every 4th of its mails in Junk, the rest in the inbox.
        mailed = inboxes.sent[address]
        assert mailed == sum(CAPS)
        assert (row.inbox, row.spam) == (mailed - mailed // 4, mailed // 4)
    assert sum(row.today.replied for row in rows.values()) > 0
    assert inboxes.junked == sum(n // 4 for n in inboxes.sent.values())

    lines = warmup_lines(report)
    ann = rows["ann@alpha.test"]
    at = lines.index("ann@alpha.test")
    rate = f"{(sum(CAPS) - sum(CAPS) // 4) / sum(CAPS):.0%}"  # 9 of 11 in the inbox: 82%
    assert lines[at + 1] == (
        f"  2  1   6   6 {ann.today.received:>3} {ann.today.replied:>3} {rate:>5} {sum(CAPS):>5}"
    )
