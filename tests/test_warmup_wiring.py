"""The warm-up loop's receiving side as the service wires it: its receivers and its job."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

import bootstrap
import service
from config import MailboxConfig, OutreachConfig, SeedConfig, ServerConfig
from config.model import InboxConfig
from core.errors import PeerUnavailable
from core.records import FolderCursor, MailFolders, WarmupBatch
from core.specs import ImapAccount
from engine.clock import ManualClock

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def server(user: str) -> ServerConfig:
    return ServerConfig(host="127.0.0.1", port=1, security="none", username=user,
                        password=SecretStr("pw-S3cret"))  # fmt: skip


def outreach(*, seeds: bool) -> OutreachConfig:
    """Two pool mailboxes, one of them with imap; with `seeds`, a seed inbox."""
    return OutreachConfig(
        inbox=InboxConfig(poll_seconds=45),
        mailboxes=[
            MailboxConfig(address="m0@d0.test", smtp=server("m0"), imap=server("m0")),
            MailboxConfig(address="m1@d1.test", smtp=server("m1")),
        ],
        seeds=[SeedConfig(address="s@seed.test", imap=server("s"))] if seeds else [],
    )


class DownReader:
    """A warm-up IMAP port whose servers are all down; it notes whom it was asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def folders(self, account: ImapAccount) -> MailFolders:
        self.asked.append(account.address)
        raise PeerUnavailable(f"{account.address}: connection refused")

    async def warmup_candidates(
        self, account: ImapAccount, folder: str, since: FolderCursor | None, *, limit: int = 200
    ) -> WarmupBatch:
        raise AssertionError("never reached: folders() failed")

    async def rescue(
        self, account: ImapAccount, junk: str, uids: Sequence[int], *, inbox: str = "INBOX"
    ) -> int:
        raise AssertionError("never reached")

    async def mark_read(
        self, account: ImapAccount, folder: str, uids: Sequence[int], *, star: bool
    ) -> int:
        raise AssertionError("never reached")


async def nothing() -> None:
    return None


async def test_pool_mailboxes_with_imap_and_seeds_are_polled_with_the_inbox(
    tmp_path: Path,
) -> None:
    reader = DownReader()
    async with AsyncExitStack() as stack:
        built = await bootstrap.build_service(
            stack, db_path=tmp_path / "w.db", config=outreach(seeds=True), clock=ManualClock(T0),
            chats=[], warmup_reader=reader,
        )  # fmt: skip
        assert built.warmup_inbox.receivers == ["m0@d0.test", "s@seed.test"]
        jobs = {job.name: job for job in service._jobs(built, outreach(seeds=True), nothing)}
        assert jobs["warmup_inbox"].seconds == 45
        assert jobs["warmup_inbox"].job == built.warmup_inbox.poll
        report = await built.warmup_inbox.poll()
        # Both down: logged, tried again next poll; no alert (only a refused login alerts).
        assert sorted(report.failed) == ["m0@d0.test", "s@seed.test"]
        assert sorted(reader.asked) == ["m0@d0.test", "s@seed.test"]
        assert await built.stores.db.fetch("SELECT * FROM alerts") == []


async def test_no_job_without_a_receiver(tmp_path: Path) -> None:
    config = outreach(seeds=False).model_copy(
        update={"mailboxes": [MailboxConfig(address="m1@d1.test", smtp=server("m1"))]}
    )
    async with AsyncExitStack() as stack:
        built = await bootstrap.build_service(
            stack, db_path=tmp_path / "w.db", config=config, clock=ManualClock(T0), chats=[],
        )  # fmt: skip
        assert built.warmup_inbox.receivers == []
        assert "warmup_inbox" not in {job.name for job in service._jobs(built, config, nothing)}
