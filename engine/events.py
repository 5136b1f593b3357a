"""Reading what comes back (SPEC 8 IMAP part): replies, bounces and auto-replies, once each.

Every `[inbox].poll_seconds` each mailbox with `imap` is read, its inbox and spam folder from
where the last read stopped. Each mail is classified (core/inbox.py), matched to the send it
refers to, turned into effects (core/ingest.py) and, a folder's batch at a time, committed
together with the folder's cursor: a crash re-reads the batch, and the events' stable ids keep
anything from counting twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from core import ingest
from core.errors import LoginRefused, PeerUnavailable
from core.inbox import InboxMail, classify_mail
from core.models import EventKind
from core.records import Effects, FetchedMail, FolderBatch, NewAlert
from core.specs import ImapAccount, Rules
from engine.alerts import AlertOutbox, Severity
from engine.clock import Clock
from engine.health import HealthService
from engine.ports import InboxStore, MailboxReader

log = logging.getLogger("outreach.inbox")

BATCH = 200  # mails fetched, classified and committed together
MAX_BATCHES = 50  # per folder per poll: a backlog of 10,000 mails is read over a few polls
PARALLEL = 4  # mailboxes read at once
LOGIN_ALERT_QUIET = timedelta(days=1)  # "bad credentials" once, not every poll
_HEALTH_KINDS = {EventKind.BOUNCE_HARD, EventKind.COMPLAINT}


@dataclass(slots=True)
class PollReport:
    """What one poll read and did, for logs and tests."""

    mails: int = 0
    applied: Counter[str] = field(default_factory=Counter)  # event kind -> new events
    repeated: int = 0  # events stored before (a re-read)
    ignored: Counter[str] = field(default_factory=Counter)  # why -> mails
    failed: list[str] = field(default_factory=list)  # mailboxes that could not be read


class InboxService:
    """Polls every mailbox with `imap` and ingests what it finds."""

    def __init__(
        self,
        *,
        reader: MailboxReader,
        store: InboxStore,
        clock: Clock,
        rules: Rules,
        alerts: AlertOutbox,
        health: HealthService,
    ) -> None:
        self._reader = reader
        self._store = store
        self._clock = clock
        self._rules = rules
        self._alerts = alerts
        self._health = health
        self._accounts = [m.inbox for m in rules.mailboxes if m.inbox is not None]
        self._lock = asyncio.Lock()

    async def idle(self) -> None:
        """Wait until no poll is running (for a clean shutdown)."""
        async with self._lock:
            return

    async def poll(self) -> PollReport:
        """Read every mailbox once (one poll at a time)."""
        async with self._lock:
            report = PollReport()
            gate = asyncio.Semaphore(PARALLEL)

            async def one(account: ImapAccount) -> None:
                async with gate:
                    await self._poll_mailbox(account, report)

            await asyncio.gather(*(one(account) for account in self._accounts))
            return report

    async def _poll_mailbox(self, account: ImapAccount, report: PollReport) -> None:
        try:
            folders = await self._reader.folders(account)
            for folder in (folders.inbox, folders.junk):
                if folder is not None:
                    await self._poll_folder(account, folder, report)
        except LoginRefused as exc:
            report.failed.append(account.address)
            await self._alerts.raise_alert(
                "imap_login",
                account.address,
                Severity.CRITICAL,
                f"Mailbox {account.address}: bad credentials, the IMAP server refused the "
                f"login ({str(exc)[:200]}). Its replies and bounces are not read until the "
                "login in the config is fixed; sending goes on.",
                quiet=LOGIN_ALERT_QUIET,
            )
        except PeerUnavailable as exc:
            report.failed.append(account.address)
            log.warning("could not read %s: %s; trying again next poll", account.address, exc)

    async def _poll_folder(self, account: ImapAccount, folder: str, report: PollReport) -> None:
        source = f"imap:{account.address}:{folder}"
        after = await self._store.folder_cursor(source)
        for _ in range(MAX_BATCHES):
            batch = await self._reader.fetch_new(account, folder, after, limit=BATCH)
            if batch.cursor != after or batch.mails:
                await self._ingest(account, batch, source, report)
            after = batch.cursor
            if len(batch.mails) < BATCH:
                return

    async def _ingest(
        self, account: ImapAccount, batch: FolderBatch, source: str, report: PollReport
    ) -> None:
        stop_words = self._rules.inbox.stop_words
        # Parsing is CPU work: a batch of mails off the event loop keeps sending smooth.
        mails = await asyncio.to_thread(_classify_all, batch.mails, stop_words)
        refs = await self._store.sends_by_message_ids([ref for mail in mails for ref in mail.refs])
        now = self._clock.now()
        notify = self._notify if self._rules.inbox.notify_replies else None
        planned: list[Effects] = []
        for fetched, mail in zip(batch.mails, mails, strict=True):
            report.mails += 1
            ref = next((refs[r] for r in mail.refs if r in refs), None)
            where = ingest.Source(
                account.address, batch.folder, batch.cursor.uidvalidity, fetched.uid
            )
            outcome = ingest.effects_of(mail, ref, where, now=now, notify=notify)
            if isinstance(outcome, ingest.Ignored):
                report.ignored[outcome.why] += 1
                if mail.kind.value.startswith("bounce"):
                    log.info("%s in %s: ignored (%s)", mail.kind.value, account.address,
                             outcome.why)  # fmt: skip
                continue
            planned.append(outcome)
        # Bounces read now feed the SPEC 9 verdicts in the same commit, not at the next
        # health run: the pause they call for can't be lost to a crash in between.
        health_relevant = any(
            fx.event is not None and fx.event.kind in _HEALTH_KINDS for fx in planned
        )
        verdicts = (self._health.window_start(), self._health.verdicts) if health_relevant else None
        applied = await self._store.ingest(
            planned, source, batch.cursor, now=now, verdicts=verdicts
        )
        for effects, result in zip(planned, applied, strict=True):
            if not result.applied:
                report.repeated += 1
            elif effects.event is not None:
                report.applied[effects.event.kind.value] += 1

    def _notify(self, event_id: str, lead_id: int, text: str) -> NewAlert:
        # Each reply its own key: replies are never deduplicated away (SPEC 12).
        return self._alerts.draft("reply", event_id, Severity.INFO, text, lead_id=lead_id)


def _classify_all(mails: tuple[FetchedMail, ...], stop_words: tuple[str, ...]) -> list[InboxMail]:
    return [classify_mail(fetched.raw, stop_words) for fetched in mails]
