"""The warm-up loop's sending side (SPEC 7, issue 12): plan each day, send what is due.

Each morning (the first tick of the day) the day is planned once and stored: every sending
mailbox's share of its cap (core.warmup_loop: the whole week-1 cap, then the phase-1 volume,
then `maintenance_share` of a warm mailbox's cap) and its new mails, spread over the loop's
hours with their Message-IDs chosen. Warm-up mail goes only to inboxes the loop reads: the
seeds and the pool mailboxes with `imap`; a mailbox with nobody to write to gets no share.
Campaigns see the share and fill only the rest of the cap (limits.campaign_room). On each tick
the mails due go out through the normal reservation (kind `warmup`), so every limit of SPEC 6
holds for campaign and warm-up mail together; a mail counts as sent once a sends row carries
its Message-ID, so a restart never sends one twice.
Answers to received warm-up mail are planned by the receiving side and go out the same way.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from core import limits
from core.message import OutgoingMessage
from core.models import MailboxView, OutcomeKind
from core.records import Refused, Reservation, SendKind, WarmupMail, WarmupShare
from core.specs import Rules
from core.warmup_loop import day_plan, window_bounds
from core.warmup_mail import Party, Received, new_message_id, warmup_message, warmup_reply
from engine.alerts import AlertOutbox
from engine.attempts import Attempt
from engine.clock import Clock
from engine.health import HealthService
from engine.ports import MailSender, SendingStore, WarmupStore
from engine.sending import SendingEngine
from engine.single_send import send_reserved

log = logging.getLogger("outreach.warmup")

LATE = timedelta(hours=1)  # a warm-up mail this late is dropped


@dataclass(slots=True)
class WarmupReport:
    """What one tick of the loop did, for logs and tests."""

    planned: int = 0  # new mails planned for the day (on its first tick only)
    due: int = 0
    sent: int = 0
    failed: int = 0
    refused: dict[str, int] = field(default_factory=dict)


class WarmupLoop:
    """Plans each day's warm-up and sends the mails that are due."""

    def __init__(
        self,
        *,
        store: WarmupStore,
        sending: SendingStore,
        sender: MailSender,
        engine: SendingEngine,
        clock: Clock,
        rules: Rules,
        alerts: AlertOutbox,
        health: HealthService,
        secret: bytes,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._sending = sending
        self._sender = sender
        self._engine = engine
        self._clock = clock
        self._rules = rules
        self._alerts = alerts
        self._health = health
        self._secret = secret
        self._rng = rng or random.Random()
        self._specs = {m.address: m for m in rules.mailboxes}
        self._domains = {d.name: d for d in rules.domains}

    async def tick(self) -> WarmupReport:
        """Plan today if not yet done, then send the mails due now."""
        report = WarmupReport()
        now = self._clock.now()
        tz = self._rules.timezone
        today = limits.local_day(now, tz)
        report.planned = await self.plan_day(today, now)
        start, end = window_bounds(today, self._rules.warmup.window, tz)
        if not start <= now < end:
            return report  # outside the loop's hours nothing goes out, late mail included
        # A mail more than LATE past its time (its mailbox was paused, the service down) is
        # dropped, not sent in a burst when the mailbox can send again.
        due = await self._store.due_mails(max(start, now - LATE), now)
        report.due = len(due)
        if due:
            await self._send(self._one_each(due), now, today, report)
        return report

    async def plan_day(self, today: date, now: datetime) -> int:
        """Plan today for the pool's mailboxes that have no share of it yet; how many mails.

        On the day's first tick that is the whole pool; later, a mailbox that joined since (a
        restart with a new one, a resume) is planned over what is left of the window.
        """
        day = today.isoformat()
        fresh = set(await self._store.unplanned(day))
        if not fresh:
            return 0
        pool = await self._store.pool()
        policy = self._rules.warmup
        planned = day_plan(
            pool,
            [seed.address for seed in self._rules.seeds],
            today,
            policy.window,
            self._rng,
            policy=policy,
            min_gap=timedelta(seconds=self._rules.sending.min_gap_seconds),
            tz=self._rules.timezone,
            week1_campaigns=any(c.during_warmup for c in self._rules.campaigns),
            not_before=now,
            # Mail nobody reads builds no reputation and can't be rescued or answered: pool
            # mailboxes receive warm-up mail only when the loop can log in to them.
            receivers={m.address for m in self._rules.mailboxes if m.imap is not None},
            tail=timedelta(seconds=self._rules.tick_seconds),
        )
        domains = {m.id: m.domain for m in pool}
        # Answers to yesterday's late mails, due today, take the places of the last new mails.
        ahead = await self._store.answers_ahead(day)
        room = Counter({box: -ahead.get(box, 0) for box in fresh})
        for p in planned:
            room[p.mailbox_id] += 1
        mails = []
        for p in planned:
            if p.mailbox_id not in fresh:
                continue
            if room[p.mailbox_id] <= 0:
                continue
            room[p.mailbox_id] -= 1
            mail = WarmupMail(
                mailbox_id=p.mailbox_id,
                recipient=p.recipient,
                due_at=p.not_before,
                message_id=new_message_id(domains[p.mailbox_id], self._rng),
            )
            mails.append(mail)
        # The share is what the loop will really send: fewer mails than the volume when the
        # day started late, none when nobody is there to write to (stored all the same, so
        # the mailbox counts as planned). Answers take new mails' places.
        count = Counter(m.mailbox_id for m in mails)
        shares = [
            WarmupShare(m.id, count[m.id] + ahead.get(m.id, 0)) for m in pool if m.id in fresh
        ]
        stored = await self._store.plan_day(day, shares, mails)
        log.info("warm-up %s: %d mails planned for %d mailboxes", day, stored, len(shares))
        return stored

    def _one_each(self, due: list[WarmupMail]) -> list[WarmupMail]:
        """The earliest due mail of each mailbox (all of them when there is no gap to keep)."""
        policy = self._rules.sending
        if policy.min_gap_seconds + policy.jitter_seconds == 0:
            return due
        first: dict[int, WarmupMail] = {}
        for mail in due:
            first.setdefault(mail.mailbox_id, mail)
        return list(first.values())

    async def _send(
        self, due: list[WarmupMail], now: datetime, today: date, report: WarmupReport
    ) -> None:
        """Reserve the due mails (every limit re-checked), then send them, mailboxes in parallel."""
        pool = {m.id: m for m in await self._store.pool({mail.mailbox_id for mail in due})}
        ready = [mail for mail in due if mail.mailbox_id in pool]
        requests = [self._reservation(mail, pool[mail.mailbox_id], now, today) for mail in ready]
        async with self._engine.exclusive():
            results = await self._sending.reserve_many(requests)
            jobs: dict[int, list[tuple[int, WarmupMail]]] = {}
            for mail, result in zip(ready, results, strict=True):
                if isinstance(result, Refused):
                    # It stays due: a later tick takes it when the gap or a slot allows.
                    reason = result.reason.value
                    report.refused[reason] = report.refused.get(reason, 0) + 1
                    continue
                jobs.setdefault(mail.mailbox_id, []).append((result.send_id, mail))
            await asyncio.gather(
                *(self._send_in_turn(pool[box], items, report) for box, items in jobs.items())
            )

    def _reservation(
        self, mail: WarmupMail, mailbox: MailboxView, now: datetime, today: date
    ) -> Reservation:
        domain = self._domains.get(mailbox.domain)
        return Reservation(
            kind=SendKind.WARMUP,
            mailbox_id=mailbox.id,
            day=today.isoformat(),
            now=now,
            next_send_at=limits.next_send_at(now, self._rules.sending, self._rng.random()),
            mailbox_cap=limits.mailbox_cap(mailbox, today, self._rules.warmup),
            domain_cap=domain.daily_limit if domain is not None else None,
            message_id=mail.message_id,
        )

    async def _send_in_turn(
        self, mailbox: MailboxView, items: list[tuple[int, WarmupMail]], report: WarmupReport
    ) -> None:
        """One mailbox's reserved mails, one after another on its connection."""
        spec = self._specs.get(mailbox.address)
        for send_id, mail in items:
            if spec is None:
                break  # gone from the config: its reservations become retries at the restart
            message = self._compose(mail, mailbox)
            attempt = Attempt(
                send_id=send_id, message_id=mail.message_id, email=mail.recipient,
                mailbox_id=mailbox.id, mailbox=mailbox.address, domain=mailbox.domain,
                campaign_id=None, step_no=None,
            )  # fmt: skip
            outcome = await send_reserved(
                attempt, spec.account, message, store=self._sending, sender=self._sender,
                clock=self._clock, timezone=self._rules.timezone, alerts=self._alerts,
                health=self._health,
            )  # fmt: skip
            if outcome is not None and outcome.kind is OutcomeKind.SENT:
                report.sent += 1
            else:
                report.failed += 1

    def _party(self, address: str) -> Party:
        spec = self._specs.get(address)
        return Party(address, spec.display_name if spec is not None else "")

    def _compose(self, mail: WarmupMail, mailbox: MailboxView) -> OutgoingMessage:
        """The mail's text: a new thread, or the answer in the thread it answers."""
        me = self._party(mailbox.address)
        now = self._clock.now()
        postal = self._rules.postal_address
        if mail.answers is None:
            return warmup_message(
                me, self._party(mail.recipient), self._rng, now, self._secret,
                postal_address=postal, message_id=mail.message_id,
            )  # fmt: skip
        original = Received(
            message_id=mail.answers,
            subject=mail.subject,
            sender=self._party(mail.recipient),
            receiver=me,
            references=mail.thread,
        )
        return warmup_reply(
            original, self._rng, now, self._secret, postal_address=postal,
            message_id=mail.message_id,
        )  # fmt: skip
