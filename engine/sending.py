"""One sending tick: load a snapshot, plan, reserve, render, send, record (SPEC 6 and 8)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from config import MailboxConfig, OutreachConfig
from core import health, limits, message, outcomes, planner, templates, unsubscribe
from core.message import OutgoingMessage
from core.models import (
    CampaignState,
    CampaignView,
    DomainView,
    EventKind,
    LeadState,
    MailboxState,
    MailboxView,
    Outcome,
    SendPlan,
    SendState,
    Snapshot,
)
from core.specs import SmtpAccount
from engine.alerts import AlertOutbox, Severity
from engine.clock import Clock
from engine.health import HealthService
from storage.records import Refused, Reservation, SendKind
from storage.repository import Repository
from storage.sends import Delivered, LeadInput, StepRow

log = logging.getLogger("outreach.sending")

NEW_LEADS_PER_CAMPAIGN = 200  # how many queued leads one tick looks at per campaign
FOLLOWUPS_PER_TICK = 500
# Planned steps rendered and reserved together (one transaction) while the earlier ones go out:
# small enough that the first mails leave soon, big enough that a reservation is cheap.
RESERVE_CHUNK = 25
RENDERS_PER_YIELD = 5  # messages rendered before the mailboxes' SMTP replies get a turn
# The alert after a crash: 25 lines of at most 150 characters fit one Telegram message; 20
# such alerts (500 steps) are as much as a chat should take, the log has the rest.
UNKNOWN_LINE_CHARS = 150
UNKNOWN_LINES_PER_ALERT = 25
UNKNOWN_ALERTS = 20


class MailSender(Protocol):
    """The SMTP port: deliver one message from one mailbox; never raises for SMTP trouble."""

    async def send(
        self, account: SmtpAccount, message: OutgoingMessage, *, gate: Awaitable[bool] | None
    ) -> Outcome:
        """Attempt delivery and say how it went; the message data waits for `gate` to say True."""
        ...


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


class _Ledger:
    """Writes the send records of all mailboxes in shared transactions (a group commit).

    A mailbox hands in the record of its last mail and the id of its next one and resumes once
    the transaction holding both has committed: a step is always marked 'sending' in the
    database before its SMTP transaction begins, and one commit serves many mailboxes.
    """

    def __init__(self, repo: Repository, clock: Clock) -> None:
        self._repo = repo
        self._clock = clock
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
                marked = await self._repo.record_sends(
                    delivered=[done for done, _, _ in batch if done is not None],
                    starting=[send_id for _, send_id, _ in batch if send_id is not None],
                    now=self._clock.now(),
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


class SendingEngine:
    """Runs ticks; every limit is re-checked by the database when a step is reserved."""

    def __init__(
        self,
        *,
        repo: Repository,
        sender: MailSender,
        clock: Clock,
        config: OutreachConfig,
        alerts: AlertOutbox,
        domains: HealthService,
        rng: random.Random | None = None,
        unsubscribe_secret: bytes | None = None,
    ) -> None:
        self._repo = repo
        self._sender = sender
        self._clock = clock
        self._config = config
        self._alerts = alerts
        self._domains = domains
        self._rng = rng or random.Random()
        self._secret = unsubscribe_secret
        self._mailboxes: dict[str, MailboxConfig] = {m.address: m for m in config.mailboxes}
        self._accounts = {
            m.address: SmtpAccount(m.address, m.smtp.server()) for m in config.mailboxes
        }
        self._compiled: dict[tuple[int, int, str | None, str, str | None], templates.CompiledStep]
        self._compiled = {}
        self._lock = asyncio.Lock()

    async def recover(self) -> int:
        """On start: steps a crash left mid-send become 'unknown' (never resent) and are listed."""
        now = self._clock.now()
        lost = await self._repo.recover_sends(now)
        lines = [
            f"- {item.email or 'warm-up'} (campaign {item.campaign or '-'}, step "
            f"{item.step_no or '-'}, from {item.mailbox})"[:UNKNOWN_LINE_CHARS]
            for item in lost
        ]
        for line in lines:
            log.warning("unknown send (interrupted mid-send, not resent): %s", line[2:])
        # Several alerts rather than one long text: each must fit one chat message. Past the
        # cap the chat gets a count, and the log above has every one.
        parts = [
            lines[at : at + UNKNOWN_LINES_PER_ALERT]
            for at in range(0, len(lines), UNKNOWN_LINES_PER_ALERT)
        ]
        shown = parts[:UNKNOWN_ALERTS]
        rest = len(lines) - sum(map(len, shown))
        for number, part in enumerate(shown, 1):
            which = f" (list {number} of {len(shown)})" if len(shown) > 1 else ""
            more = ""
            if number == len(shown) and rest > 0:
                more = f"\n... and {rest} more: the log lists every one ('unknown send')"
            await self._alerts.raise_alert(
                "unknown_sends",
                f"{now.isoformat()}#{number}",
                Severity.CRITICAL,
                f"{len(lost)} send(s) were interrupted mid-send and are marked unknown; they "
                f"will not be resent automatically{which}:\n" + "\n".join(part) + more,
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
        """Render and reserve the plans chunk by chunk while the reserved ones go out."""
        tick = _Tick(
            snap=snap,
            steps=await self._steps({p.campaign_id for p in plans}),
            leads=await self._repo.lead_inputs([p.lead_id for p in plans]),
            mailboxes={m.id: m for m in snap.mailboxes},
            domains={d.name: d for d in snap.domains},
            campaigns={c.id: c for c in snap.campaigns},
        )
        ledger = _Ledger(self._repo, self._clock)
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
        tz = self._config.sending.timezone
        today = limits.local_day(now, tz)
        start_day = health.window_start(today, self._config.health.policy())
        window_start, _ = limits.day_bounds(start_day, tz)
        snap = await self._repo.load_snapshot(
            now=now,
            day=today.isoformat(),
            window_start=window_start,
            followup_limit=FOLLOWUPS_PER_TICK,
            new_per_campaign=NEW_LEADS_PER_CAMPAIGN,
        )
        return dataclasses.replace(
            snap,
            sending_timezone=tz,
            warmup=self._config.warmup.policy(),
            sending=self._config.sending.policy(),
        )

    async def _prepare(
        self, plans: Sequence[SendPlan], tick: _Tick, report: TickReport
    ) -> list[_Job]:
        """Render each planned step, then reserve them all; a refused or broken one is skipped."""
        built: list[tuple[SendPlan, OutgoingMessage, int | None]] = []
        for index, plan in enumerate(plans, 1):
            if index % RENDERS_PER_YIELD == 0:
                # Rendering is CPU work: now and then let the mailboxes' SMTP replies in (a
                # turn of the loop costs a little too, so not after every message).
                await asyncio.sleep(0)
            if plan.campaign_id in tick.stopped or plan.lead_id not in tick.leads:
                continue
            mailbox = tick.mailboxes[plan.mailbox_id]
            rendered = await self._build(
                plan, mailbox, tick.leads[plan.lead_id], tick.steps, tick.stopped
            )
            if rendered is not None:
                built.append((plan, *rendered))
        now = self._clock.now()
        today = limits.local_day(now, tick.snap.sending_timezone)
        reqs = [self._reservation(plan, msg, tick, now, today) for plan, msg, _ in built]
        jobs: list[_Job] = []
        for (plan, msg, next_wait), result in zip(
            built, await self._repo.reserve_many(reqs), strict=True
        ):
            if isinstance(result, Refused):
                report.refused[result.reason.value] = report.refused.get(result.reason.value, 0) + 1
                continue
            account = self._accounts[tick.mailboxes[plan.mailbox_id].address]
            lead = tick.leads[plan.lead_id]
            jobs.append(
                _Job(plan, result.send_id, msg, account, lead, next_wait, result.attempts + 1)
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
        rows = await self._repo.steps(sorted(campaign_ids))
        return {(row.campaign_id, row.step_no): row for row in rows}

    def _compile(self, row: StepRow) -> templates.CompiledStep:
        # Compiling costs milliseconds; the key holds the text so an edited step recompiles.
        key = (row.campaign_id, row.step_no, row.subject, row.body, row.html)
        if key not in self._compiled:
            self._compiled[key] = templates.compile_step(row.subject, row.body, row.html)
        return self._compiled[key]

    async def _build(
        self,
        plan: SendPlan,
        mailbox: MailboxView,
        lead: LeadInput,
        steps: dict[tuple[int, int], StepRow],
        stopped: set[int],
    ) -> tuple[OutgoingMessage, int | None] | None:
        """The message for one planned step, or None when the lead or campaign can't send it."""
        row = steps.get((plan.campaign_id, plan.step_no))
        first = steps.get((plan.campaign_id, 1))
        if row is None or first is None:
            return None
        variables = {**lead.variables, "email": lead.email}
        try:
            text, html = templates.render_content(self._compile(row), variables, self._rng)
            # The thread's subject is step 1's, spun with a per-lead seed: every follow-up's
            # `Re:` then repeats exactly the words the first mail used.
            thread_subject = templates.render_subject(
                self._compile(first), variables, random.Random(plan.lead_id)
            )
        except templates.MissingVariableError as exc:
            log.warning("lead %s lacks %s; not sent", plan.lead_id, sorted(exc.names))
            await self._repo.close_lead_by_id(plan.lead_id, LeadState.FAILED)
            return None
        except templates.TemplateError as exc:
            stopped.add(plan.campaign_id)
            await self._stop_campaign(plan.campaign_id, str(exc))
            return None
        config = self._mailboxes.get(mailbox.address)
        if config is None:
            return None
        in_reply_to = lead.thread[-1] if plan.step_no > 1 and lead.thread else None
        url = None
        if self._secret is not None and self._config.unsubscribe is not None:
            token = unsubscribe.make_token(self._secret, plan.lead_id)
            url = f"{self._config.unsubscribe.base_url.rstrip('/')}/u/{token}"
        msg = message.build_message(
            sender=mailbox.address,
            display_name=config.display_name,
            to=lead.email,
            subject=thread_subject or "",
            text=text,
            html=html,
            message_id=message.make_message_id(
                mailbox.domain, f"{self._rng.getrandbits(128):032x}"
            ),
            date=self._clock.now(),
            postal_address=self._config.sending.postal_address,
            in_reply_to=in_reply_to,
            references=list(lead.thread[:-1]) if in_reply_to else None,
            unsubscribe_url=url,
        )
        after = steps.get((plan.campaign_id, plan.step_no + 1))
        return msg, (after.wait_days if after else None)

    async def _stop_campaign(self, campaign_id: int, why: str) -> None:
        await self._repo.set_campaign_state(campaign_id, CampaignState.STOPPED, why[:500])
        name = next((c.name for c in await self._repo.campaigns() if c.id == campaign_id), "?")
        await self._alerts.raise_alert(
            "campaign_stopped",
            name,
            Severity.CRITICAL,
            f"Campaign {name} stopped: its template is broken, nothing was sent with it.\n{why}",
        )

    async def _send_all(
        self, queue: asyncio.Queue[_Job | None], ledger: _Ledger, report: TickReport
    ) -> None:
        """Send one mailbox's jobs in order until None; after a stop, put the rest back."""
        delivered: Delivered | None = None  # the last mail's record, written with the next mark
        stopped = False
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
            try:
                outcome = await self._sender.send(job.account, job.message, gate=mark)
            finally:
                marked = await mark
            if not marked:
                log.warning("send %s is no longer reserved; not sent", job.send_id)
                continue
            delivered, stopped = await self._settle(job, outcome, report)
        if delivered is not None:
            await ledger.write(delivered, None)

    async def _put_back(self, job: _Job, report: TickReport) -> None:
        """The mailbox can't send now (paused, resting, cooling down): the step waits."""
        now = self._clock.now()
        await self._repo.schedule_retry(
            job.send_id, now=now, due=now, code=None, reply="not attempted: mailbox stopped",
            refund_attempt=False,  # never marked 'sending': no attempt was counted
        )  # fmt: skip
        report.retried += 1

    async def _settle(
        self, job: _Job, outcome: Outcome, report: TickReport
    ) -> tuple[Delivered | None, bool]:
        """Decide on one attempt: a delivery to record, or else act on it now.

        Returns the delivery (None unless sent) and whether the mailbox must stop for now.
        """
        now = self._clock.now()
        tz = self._config.sending.timezone
        _, day_end = limits.day_bounds(limits.local_day(now, tz), tz)
        decision = outcomes.decide(
            outcome,
            attempts=job.attempts,
            max_attempts=self._config.sending.max_attempts,
            now=now,
            day_end=day_end,
        )
        if decision.send_state is SendState.SENT:
            report.sent += 1
            due = None if job.next_wait_days is None else now + timedelta(days=job.next_wait_days)
            done = Delivered(job.send_id, now, outcome.code, outcome.summary, job.plan.lead_id, due)
            return done, False
        return None, await self._record(job, outcome, decision, report)

    async def _record(
        self, job: _Job, outcome: Outcome, decision: outcomes.Decision, report: TickReport
    ) -> bool:
        """Apply the decision for an attempt that did not deliver; True when the mailbox stops."""
        now = self._clock.now()
        reply = outcome.summary
        if decision.send_state is SendState.RETRY:
            report.retried += 1
            assert decision.retry_at is not None
            await self._repo.schedule_retry(
                job.send_id, now=now, due=decision.retry_at, code=outcome.code, reply=reply,
                refund_attempt=decision.refund_attempt,
            )  # fmt: skip
        else:
            if decision.send_state is SendState.UNKNOWN:
                report.unknown += 1
            else:
                report.failed += 1
            await self._repo.finish_failed(
                job.send_id, state=decision.send_state, now=now, code=outcome.code, reply=reply,
                lead_id=job.plan.lead_id, lead_state=decision.lead_state,
            )  # fmt: skip
        await self._side_effects(job, outcome, decision)
        return bool(
            decision.pause_mailbox or decision.rest_mailbox_until or decision.cool_down_domain
        )

    async def _side_effects(self, job: _Job, outcome: Outcome, decision: outcomes.Decision) -> None:
        now = self._clock.now()
        address = job.account.address
        if decision.event is not None:
            await self._repo.add_event(
                source="smtp",
                source_id=f"{job.send_id}:{job.message.message_id}",
                kind=decision.event,
                occurred_at=now,
                received_at=now,
                email=job.lead.email,
                mailbox_id=job.plan.mailbox_id,
                send_id=job.send_id,
                campaign_id=job.plan.campaign_id,
                step_no=job.plan.step_no,
                detail=outcome.summary,
            )
        if decision.suppress:
            await self._repo.suppress(job.lead.email, "hard bounce", "smtp", now=now)
            # The address is dead for every campaign: close its other open leads too.
            await self._repo.close_open_leads(LeadState.SUPPRESSED, address=job.lead.email)
        if decision.pause_mailbox:
            await self._repo.set_mailbox_state(
                job.plan.mailbox_id, MailboxState.PAUSED, decision.pause_mailbox
            )
            await self._alerts.raise_alert(
                "mailbox_paused",
                address,
                Severity.CRITICAL,
                f"Mailbox {address} paused: {decision.pause_mailbox}. Fix it, then /resume.",
            )
        if decision.rest_mailbox_until is not None:
            await self._repo.set_mailbox_resting(job.plan.mailbox_id, decision.rest_mailbox_until)
            if outcome.kind.value == "provider_cap":
                await self._alerts.raise_alert(
                    "provider_cap",
                    address,
                    Severity.CRITICAL,
                    f"Mailbox {address} hit its provider's sending cap ({outcome.summary}); "
                    f"stopped until {decision.rest_mailbox_until:%Y-%m-%d %H:%M} UTC.",
                )
        if decision.cool_down_domain:
            await self._domains.cool_down(job.plan.domain, address, outcome.summary)
        if decision.event is EventKind.BOUNCE_HARD:
            log.info("hard bounce from %s for lead %s", address, job.plan.lead_id)
