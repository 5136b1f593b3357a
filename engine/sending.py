"""One sending tick: load a snapshot, plan, reserve, compose, send, record (SPEC 6 and 8)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from core import health, limits, outcomes, planner, recovery, templates
from core.compose import (
    BrokenTemplate,
    Composed,
    LacksVariables,
    Sender,
    Unsubscribe,
    compose,
)
from core.message import OutgoingMessage
from core.models import (
    CampaignView,
    DomainView,
    EventKind,
    LeadState,
    MailboxView,
    Outcome,
    SendPlan,
    SendState,
    Snapshot,
)
from core.provider_ids import provider_message_id
from core.records import (
    Delivered,
    Effects,
    LeadInput,
    Refused,
    Reservation,
    SendFinish,
    SendKind,
    StepRow,
)
from core.specs import Rules, SmtpAccount
from engine.alerts import AlertOutbox, Severity
from engine.attempts import Attempt, attempt_effects
from engine.clock import Clock
from engine.health import HealthService
from engine.ports import Ledger, MailSender, SendingStore

log = logging.getLogger("outreach.sending")

NEW_LEADS_PER_CAMPAIGN = 200  # how many queued leads one tick looks at per campaign
FOLLOWUPS_PER_TICK = 500
# Planned steps rendered and reserved together (one transaction) while the earlier ones go out:
# small enough that the first mails leave soon, big enough that a reservation is cheap.
RESERVE_CHUNK = 25
RENDERS_PER_YIELD = 5  # messages rendered before the mailboxes' SMTP replies get a turn
_NOT_MARKED = "send %s not marked 'sending' (its mailbox, domain or campaign stopped); not sent"


@dataclass(slots=True)
class TickReport:
    """What one tick did, for logs and tests."""

    planned: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    failed: int = 0
    retried: int = 0
    unknown: int = 0


@dataclass(frozen=True, slots=True)
class _Job:
    """A reserved step with its message, ready for SMTP."""

    plan: SendPlan
    send_id: int
    message: OutgoingMessage
    account: SmtpAccount
    lead: LeadInput
    next_wait_days: int | None  # days until the next step, None after the last one
    attempts: int  # SMTP attempts of this step, the coming one included


@dataclass(frozen=True, slots=True)
class _Tick:
    """What every chunk of one tick's plans shares."""

    snap: Snapshot
    steps: dict[tuple[int, int], StepRow]
    leads: dict[int, LeadInput]
    mailboxes: dict[int, MailboxView]
    domains: dict[str, DomainView]
    campaigns: dict[int, CampaignView]
    stopped: set[int] = field(default_factory=set)  # campaigns stopped by a broken template


class SendingEngine:
    """Runs ticks; every limit is re-checked by the database when a step is reserved."""

    def __init__(
        self,
        *,
        store: SendingStore,
        sender: MailSender,
        clock: Clock,
        rules: Rules,
        alerts: AlertOutbox,
        domains: HealthService,
        rng: random.Random | None = None,
        unsubscribe_secret: bytes | None = None,
    ) -> None:
        self._store = store
        self._sender = sender
        self._clock = clock
        self._rules = rules
        self._alerts = alerts
        self._domains = domains
        self._rng = rng or random.Random()
        self._unsubscribe = (
            Unsubscribe(rules.unsubscribe_url, unsubscribe_secret)
            if rules.unsubscribe_url is not None and unsubscribe_secret is not None
            else None
        )
        self._senders = {m.address: m for m in rules.mailboxes}
        self._accounts = {m.address: m.account for m in rules.mailboxes}
        self._compiled: dict[tuple[int, int, str | None, str, str | None], templates.CompiledStep]
        self._compiled = {}
        self._lock = asyncio.Lock()

    async def recover(self) -> int:
        """On start: steps a crash left mid-send become 'unknown' (never resent) and are listed."""
        now = self._clock.now()
        lost = await self._store.recover_sends(now)
        for item in lost:
            log.warning(
                "unknown send (interrupted mid-send, not resent): %s",
                recovery.unknown_line(item)[2:],
            )
        # Several alerts rather than one long text: each must fit one chat message. Past the
        # cap the chat gets a count, and the log above has every one.
        for number, text in enumerate(recovery.unknown_alerts(lost), 1):
            await self._alerts.raise_alert(
                "unknown_sends", f"{now.isoformat()}#{number}", Severity.CRITICAL, text
            )
        return len(lost)

    async def tick_idle(self) -> None:
        """Wait until no tick is running (for a clean shutdown)."""
        async with self._lock:
            return

    async def tick(self) -> TickReport:
        """Plan and send whatever is due now; one tick at a time."""
        async with self._lock:
            return await self._tick()

    async def _tick(self) -> TickReport:
        report = TickReport()
        snap = await self._snapshot()
        plans = planner.plan(snap, self._clock.now())
        report.planned = len(plans)
        if plans:
            await self._send_plans(plans, snap, report)
        return report

    async def _send_plans(
        self, plans: Sequence[SendPlan], snap: Snapshot, report: TickReport
    ) -> None:
        """Compose and reserve the plans chunk by chunk while the reserved ones go out."""
        tick = _Tick(
            snap=snap,
            steps=await self._steps({p.campaign_id for p in plans}),
            leads=await self._store.lead_inputs([p.lead_id for p in plans]),
            mailboxes={m.id: m for m in snap.mailboxes},
            domains={d.name: d for d in snap.domains},
            campaigns={c.id: c for c in snap.campaigns},
        )
        ledger = self._store.ledger(self._clock.now)
        queues: dict[int, asyncio.Queue[_Job | None]] = {}
        workers: list[asyncio.Task[None]] = []
        try:
            for first in range(0, len(plans), RESERVE_CHUNK):
                chunk = plans[first : first + RESERVE_CHUNK]
                for job in await self._prepare(chunk, tick, report):
                    queue = queues.get(job.plan.mailbox_id)
                    if queue is None:
                        # Mailboxes send in parallel; one mailbox's mails go one after
                        # another on its connection.
                        queue = queues[job.plan.mailbox_id] = asyncio.Queue()
                        workers.append(asyncio.create_task(self._send_all(queue, ledger, report)))
                    queue.put_nowait(job)
        finally:
            # Even when preparing failed, what is reserved goes out; no send is cut short.
            for queue in queues.values():
                queue.put_nowait(None)
            results = await asyncio.gather(*workers, return_exceptions=True)
            await ledger.close()
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _snapshot(self) -> Snapshot:
        now = self._clock.now()
        tz = self._rules.timezone
        today = limits.local_day(now, tz)
        start_day = health.window_start(today, self._rules.health)
        window_start, _ = limits.day_bounds(start_day, tz)
        snap = await self._store.load_snapshot(
            now=now,
            day=today.isoformat(),
            window_start=window_start,
            followup_limit=FOLLOWUPS_PER_TICK,
            new_per_campaign=NEW_LEADS_PER_CAMPAIGN,
            # The planner only ever picks a mailbox that may send now (limits.mailbox_ready).
            senders_only=True,
            new_per_sender=self._rules.sending.one_per_tick,
        )
        return dataclasses.replace(
            snap, sending_timezone=tz, warmup=self._rules.warmup, sending=self._rules.sending
        )

    async def _prepare(
        self, plans: Sequence[SendPlan], tick: _Tick, report: TickReport
    ) -> list[_Job]:
        """Compose each planned step, then reserve them all; a refused or broken one is skipped."""
        built: list[tuple[SendPlan, Composed]] = []
        for index, plan in enumerate(plans, 1):
            if index % RENDERS_PER_YIELD == 0:
                # Rendering is CPU work: now and then let the mailboxes' SMTP replies in (a
                # turn of the loop costs a little too, so not after every message).
                await asyncio.sleep(0)
            if plan.campaign_id in tick.stopped or plan.lead_id not in tick.leads:
                continue
            composed = await self._compose(plan, tick)
            if composed is not None:
                built.append((plan, composed))
        now = self._clock.now()
        today = limits.local_day(now, tick.snap.sending_timezone)
        reqs = [self._reservation(plan, c.message, tick, now, today) for plan, c in built]
        jobs: list[_Job] = []
        for (plan, composed), result in zip(
            built, await self._store.reserve_many(reqs), strict=True
        ):
            if isinstance(result, Refused):
                report.refused[result.reason.value] = report.refused.get(result.reason.value, 0) + 1
                continue
            account = self._accounts[tick.mailboxes[plan.mailbox_id].address]
            lead = tick.leads[plan.lead_id]
            jobs.append(
                _Job(
                    plan,
                    result.send_id,
                    composed.message,
                    account,
                    lead,
                    composed.next_wait_days,
                    result.attempts + 1,
                )  # fmt: skip
            )
        return jobs

    def _reservation(
        self, plan: SendPlan, msg: OutgoingMessage, tick: _Tick, now: datetime, today: date
    ) -> Reservation:
        """The request for one planned step's slot, with today's caps."""
        mailbox = tick.mailboxes[plan.mailbox_id]
        return Reservation(
            kind=SendKind.CAMPAIGN,
            mailbox_id=mailbox.id,
            day=today.isoformat(),
            now=now,
            next_send_at=limits.next_send_at(now, tick.snap.sending, self._rng.random()),
            mailbox_cap=limits.mailbox_cap(mailbox, today, tick.snap.warmup),
            domain_cap=tick.domains[mailbox.domain].daily_limit,
            campaign_cap=tick.campaigns[plan.campaign_id].daily_limit,
            lead_id=plan.lead_id,
            campaign_id=plan.campaign_id,
            step_no=plan.step_no,
            message_id=msg.message_id,
        )

    async def _steps(self, campaign_ids: set[int]) -> dict[tuple[int, int], StepRow]:
        rows = await self._store.steps(sorted(campaign_ids))
        return {(row.campaign_id, row.step_no): row for row in rows}

    def _compile(self, row: StepRow) -> templates.CompiledStep:
        # Compiling costs milliseconds; the key holds the text so an edited step recompiles.
        key = (row.campaign_id, row.step_no, row.subject, row.body, row.html)
        if key not in self._compiled:
            self._compiled[key] = templates.compile_step(row.subject, row.body, row.html)
        return self._compiled[key]

    async def _compose(self, plan: SendPlan, tick: _Tick) -> Composed | None:
        """The message for one planned step, or None when the lead or campaign can't send it."""
        mailbox = tick.mailboxes[plan.mailbox_id]
        spec = self._senders.get(mailbox.address)
        if spec is None:
            return None
        result = compose(
            plan,
            tick.leads[plan.lead_id],
            tick.steps,
            Sender(mailbox.address, mailbox.domain, spec.display_name),
            compile_step=self._compile,
            rng=self._rng,
            now=self._clock.now(),
            postal_address=self._rules.postal_address,
            unsubscribe_link=self._unsubscribe,
        )
        if isinstance(result, LacksVariables):
            log.warning("lead %s lacks %s; not sent", plan.lead_id, sorted(result.names))
            await self._store.apply(Effects(close_lead=(plan.lead_id, LeadState.FAILED)))
            return None
        if isinstance(result, BrokenTemplate):
            tick.stopped.add(plan.campaign_id)
            await self._stop_campaign(tick.campaigns[plan.campaign_id], result.why)
            return None
        return result

    async def _stop_campaign(self, campaign: CampaignView, why: str) -> None:
        alert = self._alerts.draft(
            "campaign_stopped",
            campaign.name,
            Severity.CRITICAL,
            f"Campaign {campaign.name} stopped: its template is broken, nothing was sent with "
            f"it.\n{why}",
        )
        await self._store.stop_campaign(campaign.id, why[:500], alert)

    async def _send_all(
        self, queue: asyncio.Queue[_Job | None], ledger: Ledger, report: TickReport
    ) -> None:
        """Send one mailbox's jobs in order until None; after a stop, put the rest back."""
        delivered: Delivered | None = None  # the last mail's record, written with the next mark
        stopped = False
        # Once a mark is refused (the mailbox, its domain or a campaign stopped mid-tick), each
        # later job waits for its mark before SMTP: a refused one must not cost a login and an
        # abandoned transaction on a server that may just have blocked us.
        careful = False
        while True:
            if delivered is not None and queue.empty():
                # Nothing to mark yet: don't keep the record waiting for the next job.
                await ledger.write(delivered, None)
                delivered = None
            job = await queue.get()
            if job is None:
                break
            if stopped:
                await self._put_back(job, report)
                continue
            # Marked one by one: a crash then leaves at most the mails actually in flight as
            # 'unknown'; the rest are still 'reserved' and go out later. The mark commits while
            # MAIL, RCPT and DATA make their round trips, and the message data waits for it
            # (the gate): the server can't have the message before the database says 'sending'.
            mark = ledger.write(delivered, job.send_id)
            delivered = None
            if careful and not await mark:
                log.warning(_NOT_MARKED, job.send_id)
                continue
            try:
                outcome = await self._sender.send(job.account, job.message, gate=mark)
            finally:
                marked = await mark
            if not marked:
                log.warning(_NOT_MARKED, job.send_id)
                careful = True
                continue
            delivered, stopped = await self._settle(job, outcome, report)
        if delivered is not None:
            await ledger.write(delivered, None)

    async def _put_back(self, job: _Job, report: TickReport) -> None:
        """The mailbox can't send now (paused, resting, cooling down): the step waits."""
        now = self._clock.now()
        finish = SendFinish(
            job.send_id, SendState.RETRY, now, code=None, reply="not attempted: mailbox stopped",
            retry_at=now, refund_attempt=False,  # never marked 'sending': no attempt was counted
            release_slots=True,  # nor sent: others may use its place in today's caps
        )  # fmt: skip
        await self._store.settle(finish, Effects())
        report.retried += 1

    async def _settle(
        self, job: _Job, outcome: Outcome, report: TickReport
    ) -> tuple[Delivered | None, bool]:
        """Decide on one attempt: a delivery to record, or else act on it now.

        Returns the delivery (None unless sent) and whether the mailbox must stop for now.
        """
        now = self._clock.now()
        tz = self._rules.timezone
        _, day_end = limits.day_bounds(limits.local_day(now, tz), tz)
        decision = outcomes.decide(
            outcome,
            attempts=job.attempts,
            max_attempts=self._rules.sending.max_attempts,
            now=now,
            day_end=day_end,
        )
        if decision.send_state is SendState.SENT:
            report.sent += 1
            due = None if job.next_wait_days is None else now + timedelta(days=job.next_wait_days)
            done = Delivered(
                job.send_id, now, outcome.code, outcome.summary, job.plan.lead_id, due,
                provider_message_id(outcome.text),
            )  # fmt: skip
            return done, False
        if decision.send_state is SendState.RETRY:
            report.retried += 1
        elif decision.send_state is SendState.UNKNOWN:
            report.unknown += 1
        else:
            report.failed += 1
        await self._store.settle(
            self._finish(job, outcome, decision, now), self._effects(job, outcome, decision, now)
        )
        if decision.event is EventKind.BOUNCE_HARD:
            log.info("hard bounce from %s for lead %s", job.account.address, job.plan.lead_id)
        stops = decision.pause_mailbox or decision.rest_mailbox_until or decision.cool_down_domain
        return None, bool(stops)

    @staticmethod
    def _finish(
        job: _Job, outcome: Outcome, decision: outcomes.Decision, now: datetime
    ) -> SendFinish:
        """How the step ends: retried, or closed with its lead."""
        if decision.send_state is SendState.RETRY:
            assert decision.retry_at is not None
            return SendFinish(
                job.send_id, SendState.RETRY, now, outcome.code, outcome.summary,
                retry_at=decision.retry_at, refund_attempt=decision.refund_attempt,
            )  # fmt: skip
        return SendFinish(
            job.send_id, decision.send_state, now, outcome.code, outcome.summary,
            lead_id=job.plan.lead_id, lead_state=decision.lead_state,
        )  # fmt: skip

    def _effects(
        self, job: _Job, outcome: Outcome, decision: outcomes.Decision, now: datetime
    ) -> Effects:
        """What the attempt causes beyond its step, committed with it (SPEC 8 and 9)."""
        attempt = Attempt(
            send_id=job.send_id,
            message_id=job.message.message_id,
            email=job.lead.email,
            mailbox_id=job.plan.mailbox_id,
            mailbox=job.account.address,
            domain=job.plan.domain,
            campaign_id=job.plan.campaign_id,
            step_no=job.plan.step_no,
        )
        return attempt_effects(
            attempt, outcome, decision, now, alerts=self._alerts, domains=self._domains
        )

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """No tick runs while the block does (an answer sends between ticks)."""
        async with self._lock:
            yield
