"""The warm-up loop's receiving side (SPEC 7, issue 12): placement, spam rescue, answers.

Every `[inbox].poll_seconds` each pool mailbox with `imap` and each `[[seeds]]` inbox is
searched for warm-up mail after where the last search stopped, its inbox and its spam folder.
A mail is the loop's own only when its token header is our HMAC of its Message-ID and that
Message-ID is one of our planned warm-up mails; anything else is left alone, untouched.

For each of ours: where it was first seen is its placement (inbox or spam), counted for the
pool mailbox that sent it; it is marked read and starred, and out of spam moved to the inbox
(marked first, so it arrives read). Pool receivers answer `reply_rate` of what they get, in
thread, each answer taking the place of one of the receiver's new mails of its day not sent
yet (WarmupStore.reply_room, plan_answers): with none left, or before the sending side has
planned the receiver's day, a mail read then goes unanswered. An answer that falls on a later
day (mail read late in the window) is kept for that day, whose plan makes room for it. Seeds
have no SMTP and answer nothing. Threads stay short: a mail that already carries MAX_THREAD
References (the third of a thread) is not answered, so a thread is at most a mail, its
answer and the answer to that.

After each pass the 7-day placement of every sending mailbox is judged (core/placement.py):
a warning under 70 %, campaign mail held under 50 %, released once back over 70 %.

Crash safety: in the inbox the mails are marked, then placements and cursor commit together
(a crash re-reads the batch; placements are first-sighting-only, answers one per mail). In the
spam folder the placements commit first, then the mails are marked and rescued, then the
cursor moves: a crash in between re-reads the batch and rescues it, and a rescued mail seen
again in the inbox still counts as spam.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from core import limits
from core.errors import LoginRefused, PeerUnavailable
from core.placement import WINDOW, Action, PlacementCount, WarmupOrigin, describe, verdict
from core.records import (
    FolderCursor,
    MailFolders,
    NewAlert,
    Placement,
    WarmupBatch,
    WarmupMail,
    WarmupSeen,
)
from core.specs import ImapAccount, Rules
from core.warmup_loop import reply_plan
from core.warmup_mail import Party, Received, is_warmup, new_message_id
from engine.alerts import AlertOutbox, Severity
from engine.clock import Clock
from engine.ports import PlacementStore, WarmupMailbox, WarmupStore

log = logging.getLogger("outreach.warmup")

BATCH = 200  # warm-up mails handled and committed together
MAX_BATCHES = 50  # per folder per poll: a backlog is worked off over a few polls
PARALLEL = 4  # receivers searched at once
MAX_THREAD = 2  # a mail with this many References is not answered: threads stay short
LOGIN_ALERT_QUIET = timedelta(days=1)  # as the inbox poller: "bad credentials" once a day
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class _Receiver:
    """An inbox the loop's mail goes to: a pool mailbox (it answers) or a seed (it doesn't)."""

    account: ImapAccount
    display_name: str
    answers: bool


@dataclass(slots=True)
class WarmupInboxReport:
    """What one poll found and did, for logs and tests."""

    found: int = 0  # the loop's own mails seen (again included)
    inbox: int = 0  # new placements in an inbox
    spam: int = 0  # new placements in a spam folder
    ignored: int = 0  # warm-up-looking mails that are not ours (forged token, unknown id)
    marked: int = 0
    rescued: int = 0
    answers: int = 0  # answers planned
    failed: list[str] = field(default_factory=list)  # receivers that could not be read
    held: list[str] = field(default_factory=list)  # mailboxes whose campaign mail is now held
    released: list[str] = field(default_factory=list)
    warned: list[str] = field(default_factory=list)


class WarmupInbox:
    """Searches every receiver for the loop's warm-up mail and acts on what it finds."""

    def __init__(
        self,
        *,
        reader: WarmupMailbox,
        store: PlacementStore,
        warmup: WarmupStore,
        clock: Clock,
        rules: Rules,
        alerts: AlertOutbox,
        secret: bytes,
        rng: random.Random | None = None,
    ) -> None:
        self._reader = reader
        self._store = store
        self._warmup = warmup
        self._clock = clock
        self._rules = rules
        self._alerts = alerts
        self._secret = secret
        self._rng = rng or random.Random()
        self._names = {m.address: m.display_name for m in rules.mailboxes}
        receivers = [
            _Receiver(m.inbox, m.display_name, answers=True)
            for m in rules.mailboxes
            if m.inbox is not None
        ]
        pool = {r.account.address for r in receivers}
        receivers += [
            _Receiver(ImapAccount(s.address, s.imap), "", answers=False)
            for s in rules.seeds
            if s.address not in pool
        ]
        self._receivers = receivers
        self._folders: dict[str, MailFolders] = {}  # per receiver, until its server complains
        # Each folder's committed cursor, read from the database once per run.
        self._cursors: dict[str, FolderCursor | None] = {}
        self._lock = asyncio.Lock()

    @property
    def receivers(self) -> list[str]:
        """The addresses searched, pool mailboxes first."""
        return [r.account.address for r in self._receivers]

    async def idle(self) -> None:
        """Wait until no poll is running (for a clean shutdown)."""
        async with self._lock:
            return

    async def poll(self) -> WarmupInboxReport:
        """Search every receiver once, then judge placement (one poll at a time)."""
        async with self._lock:
            report = WarmupInboxReport()
            gate = asyncio.Semaphore(PARALLEL)

            async def one(receiver: _Receiver) -> None:
                async with gate:
                    await self._poll_receiver(receiver, report)

            await asyncio.gather(*(one(receiver) for receiver in self._receivers))
            await self._judge(report)
            log.info(
                "warm-up inbox: %d found, %d new in inbox, %d new in spam, %d rescued, "
                "%d answers planned%s",
                report.found, report.inbox, report.spam, report.rescued, report.answers,
                f", unread: {', '.join(report.failed)}" if report.failed else "",
            )  # fmt: skip
            return report

    async def _poll_receiver(self, receiver: _Receiver, report: WarmupInboxReport) -> None:
        account = receiver.account
        try:
            folders = self._folders.get(account.address)
            if folders is None:
                folders = await self._reader.folders(account)
                self._folders[account.address] = folders
            await self._poll_folder(receiver, folders, folders.inbox, report)
            if folders.junk is not None:
                await self._poll_folder(receiver, folders, folders.junk, report)
        except LoginRefused as exc:
            self._folders.pop(account.address, None)
            report.failed.append(account.address)
            what = "Mailbox" if receiver.answers else "Seed inbox"
            await self._alerts.raise_alert(
                "imap_login",
                account.address,
                Severity.CRITICAL,
                f"{what} {account.address}: bad credentials, the IMAP server refused the login "
                f"({str(exc)[:200]}). Its warm-up mail is not counted, rescued from spam or "
                "answered until the login in the config is fixed; sending goes on.",
                quiet=LOGIN_ALERT_QUIET,
            )
        except PeerUnavailable as exc:
            # The folder list is read again next time: a renamed spam folder is found anew.
            self._folders.pop(account.address, None)
            report.failed.append(account.address)
            log.warning("warm-up: could not read %s: %s; trying again next poll",
                        account.address, exc)  # fmt: skip

    async def _poll_folder(
        self, receiver: _Receiver, folders: MailFolders, folder: str, report: WarmupInboxReport
    ) -> None:
        source = f"warmup:{receiver.account.address}:{folder}"
        if source in self._cursors:
            cursor = self._cursors[source]
        else:
            cursor = await self._store.folder_cursor(source)
        for _ in range(MAX_BATCHES):
            batch = await self._reader.warmup_candidates(
                receiver.account, folder, cursor, limit=BATCH
            )
            if batch.cursor != cursor or batch.seen:
                await self._handle(receiver, folders, batch, source, report)
            cursor = batch.cursor
            # Committed by _handle (or nothing to commit): the next poll starts here without
            # reading it back. A failed batch raises before this, so the kept one stays.
            self._cursors[source] = cursor
            if len(batch.seen) < BATCH:
                return

    async def _handle(
        self,
        receiver: _Receiver,
        folders: MailFolders,
        batch: WarmupBatch,
        source: str,
        report: WarmupInboxReport,
    ) -> None:
        """One batch: keep ours, plan answers, record placements, mark and rescue."""
        account = receiver.account
        tokened = [
            seen
            for seen in batch.seen
            if seen.message_id and is_warmup(seen.message_id, seen.token, self._secret)
        ]
        origins = await self._store.origins([s.message_id for s in tokened if s.message_id])
        ours = [(seen, origins[seen.message_id]) for seen in tokened if seen.message_id in origins]
        report.found += len(ours)
        report.ignored += len(batch.seen) - len(ours)
        if ours and receiver.answers:
            # Before the placements commit: a crash in between re-reads the batch, and the
            # answers planned already are known (WarmupOrigin.answered) and not planned again.
            await self._plan_answers(receiver, ours, report)
        now = self._clock.now()
        spam = batch.folder == folders.junk and folders.junk != folders.inbox
        placements = [
            Placement(origin.message_id, account.address, origin.mailbox_id, spam, now)
            for _, origin in ours
        ]
        uids = [seen.uid for seen, _ in ours]
        # Each count is awaited first, then added: `report.x += await ...` reads report.x
        # before the await, and the receivers polled meanwhile would lose their additions.
        if spam:
            new = await self._store.record(placements, source, None, now)
            report.spam += new
            if uids:
                marked = await self._reader.mark_read(account, batch.folder, uids, star=True)
                report.marked += marked
                moved = await self._reader.rescue(account, batch.folder, uids, inbox=folders.inbox)
                report.rescued += moved
            await self._store.record([], source, batch.cursor, now)
            return
        unmarked = [seen.uid for seen, _ in ours if not _read_and_starred(seen)]
        if unmarked:
            marked = await self._reader.mark_read(account, batch.folder, unmarked, star=True)
            report.marked += marked
        new = await self._store.record(placements, source, batch.cursor, now)
        report.inbox += new

    async def _plan_answers(
        self,
        receiver: _Receiver,
        ours: Sequence[tuple[WarmupSeen, WarmupOrigin]],
        report: WarmupInboxReport,
    ) -> None:
        """Answers of a pool receiver at `reply_rate`, as many as its unsent new mails allow."""
        address = receiver.account.address
        wanted = [
            (seen, origin)
            for seen, origin in ours
            if not origin.answered
            and len(seen.references) < MAX_THREAD
            and origin.sender != address
        ]
        if not wanted:
            return
        now = self._clock.now()
        tz = self._rules.timezone
        today = limits.local_day(now, tz).isoformat()
        me = await self._warmup.member(address)
        if me is None:
            return  # paused, cooling down or gone: it sends nothing, answers included
        room = await self._warmup.reply_room(today, me.id)
        myself = Party(address, receiver.display_name)
        received = [
            Received(
                message_id=origin.message_id,
                subject=seen.subject,
                sender=Party(origin.sender, self._names.get(origin.sender, "")),
                receiver=myself,
                references=seen.references,
            )
            for seen, origin in wanted
        ]
        policy = self._rules.warmup
        # Room today, plus a day's cap for answers that fall on a later day (mail read late
        # in the window): those are planned into that day's share, not today's.
        later = limits.mailbox_cap(me, limits.local_day(now, tz), policy)
        plan = reply_plan(
            received, policy.reply_rate, self._rng, now, window=policy.window, tz=tz,
            left={address: room.get(me.id, 0) + later},
        )  # fmt: skip
        mails = [
            WarmupMail(
                mailbox_id=me.id,
                recipient=planned.original.sender.address,
                due_at=planned.at,
                message_id=new_message_id(me.domain, self._rng),
                answers=planned.original.message_id,
                subject=planned.original.subject,
                thread=planned.original.references,
            )
            for planned in plan
        ]
        by_day: dict[str, list[WarmupMail]] = {}
        for mail in mails:
            by_day.setdefault(limits.local_day(mail.due_at, tz).isoformat(), []).append(mail)
        for day, due in sorted(by_day.items()):
            stored = await self._warmup.plan_answers(day, due)  # awaited first: see _handle
            report.answers += stored

    async def _judge(self, report: WarmupInboxReport) -> None:
        """SPEC 7 on every sending mailbox's last 7 days: warn, hold or release."""
        now = self._clock.now()
        today = limits.local_day(now, self._rules.timezone).isoformat()
        for count in await self._store.counts(now - WINDOW, now):
            action = verdict(count)
            if action is Action.HOLD:
                if await self._store.set_hold(count.mailbox_id, True, self._hold_alert(count)):
                    report.held.append(count.address)
            elif action is Action.RELEASE:
                if await self._store.set_hold(count.mailbox_id, False, self._release_alert(count)):
                    report.released.append(count.address)
            elif action is Action.WARN:
                # Once a day per mailbox, as the bounce warning (SPEC 9).
                raised = await self._alerts.raise_alert(
                    "placement_warn",
                    f"{count.address}:{today}",
                    Severity.WARNING,
                    f"Mailbox {count.address}: inbox placement {describe(count)}, under 70 %. "
                    "Under 50 % its campaign mail is held.",
                    quiet=ONE_DAY,
                )
                if raised:
                    report.warned.append(count.address)

    def _hold_alert(self, count: PlacementCount) -> NewAlert:
        return self._alerts.draft(
            "placement_hold",
            count.address,
            Severity.CRITICAL,
            f"Mailbox {count.address}: inbox placement {describe(count)}, under 50 %. Its "
            "campaign mail is held until placement is back over 70 %; warm-up goes on.",
        )

    def _release_alert(self, count: PlacementCount) -> NewAlert:
        return self._alerts.draft(
            "placement_release",
            count.address,
            Severity.INFO,
            f"Mailbox {count.address}: inbox placement back to {describe(count)}. Its "
            "campaign mail goes out again.",
        )


def _read_and_starred(seen: WarmupSeen) -> bool:
    flags = {flag.casefold() for flag in seen.flags}
    return "\\seen" in flags and "\\flagged" in flags
