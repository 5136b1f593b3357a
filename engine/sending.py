"""One sending tick: load a snapshot, plan, reserve, render, send, record (SPEC 6 and 8)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import Protocol

from config import MailboxConfig, OutreachConfig
from core import health, limits, message, outcomes, planner, templates, unsubscribe
from core.models import (
    CampaignState,
    EventKind,
    LeadState,
    MailboxState,
    MailboxView,
    Outcome,
    SendPlan,
    SendState,
    Snapshot,
)
from engine.alerts import AlertOutbox, Severity
from engine.clock import Clock
from engine.health import HealthService
from mail.smtp import SmtpAccount
from storage.records import Refused, Reservation, SendKind
from storage.repository import Repository
from storage.sends import LeadInput, StepRow

log = logging.getLogger("outreach.sending")

NEW_LEADS_PER_CAMPAIGN = 200  # how many queued leads one tick looks at per campaign
FOLLOWUPS_PER_TICK = 500


class MailSender(Protocol):
    """The SMTP port: deliver one message from one mailbox; never raises for SMTP trouble."""

    async def send(self, account: SmtpAccount, message: EmailMessage) -> Outcome:
        """Attempt delivery and say how it went."""
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
    message: EmailMessage
    account: SmtpAccount
    lead: LeadInput
    next_wait_days: int | None  # days until the next step, None after the last one


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
        self._compiled: dict[tuple[int, int, str | None, str, str | None], templates.CompiledStep]
        self._compiled = {}
        self._lock = asyncio.Lock()

    async def recover(self) -> int:
        """On start: steps a crash left mid-send become 'unknown' (never resent) and are listed."""
        lost = await self._repo.recover_sends(self._clock.now())
        if lost:
            lines = [
                f"- {item.email or 'warm-up'} (campaign {item.campaign or '-'}, step "
                f"{item.step_no or '-'}, from {item.mailbox})"
                for item in lost[:50]
            ]
            more = f"\n... and {len(lost) - 50} more" if len(lost) > 50 else ""
            await self._alerts.raise_alert(
                "unknown_sends",
                self._clock.now().isoformat(),
                Severity.CRITICAL,
                f"{len(lost)} send(s) were interrupted mid-send and are marked unknown; they "
                "will not be resent automatically:\n" + "\n".join(lines) + more,
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
        now = self._clock.now()
        snap = await self._snapshot()
        plans = planner.plan(snap, now)
        report.planned = len(plans)
        if not plans:
            return report
        jobs = await self._prepare(plans, snap, report)
        if not jobs:
            return report
        by_mailbox: dict[int, list[_Job]] = defaultdict(list)
        for job in jobs:
            by_mailbox[job.plan.mailbox_id].append(job)
        # Mailboxes send in parallel; one mailbox's mails go one after another on its connection.
        await asyncio.gather(*(self._send_all(queue, report) for queue in by_mailbox.values()))
        return report

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
        self, plans: Sequence[SendPlan], snap: Snapshot, report: TickReport
    ) -> list[_Job]:
        """Render each planned step, then reserve it; a refused or broken one is skipped."""
        now = self._clock.now()
        today = limits.local_day(now, snap.sending_timezone)
        steps = await self._steps({p.campaign_id for p in plans})
        leads = await self._repo.lead_inputs([p.lead_id for p in plans])
        mailboxes = {m.id: m for m in snap.mailboxes}
        domains = {d.name: d for d in snap.domains}
        campaigns = {c.id: c for c in snap.campaigns}
        stopped: set[int] = set()
        jobs: list[_Job] = []
        for plan in plans:
            if plan.campaign_id in stopped or plan.lead_id not in leads:
                continue
            mailbox = mailboxes[plan.mailbox_id]
            built = await self._build(plan, mailbox, leads[plan.lead_id], steps, stopped)
            if built is None:
                continue
            msg, next_wait = built
            campaign = campaigns[plan.campaign_id]
            result = await self._repo.reserve(
                Reservation(
                    kind=SendKind.CAMPAIGN,
                    mailbox_id=mailbox.id,
                    day=today.isoformat(),
                    now=now,
                    next_send_at=limits.next_send_at(now, snap.sending, self._rng.random()),
                    mailbox_cap=limits.mailbox_cap(mailbox, today, snap.warmup),
                    domain_cap=domains[mailbox.domain].daily_limit,
                    campaign_cap=campaign.daily_limit,
                    lead_id=plan.lead_id,
                    campaign_id=plan.campaign_id,
                    step_no=plan.step_no,
                    message_id=msg["Message-ID"],
                )
            )
            if isinstance(result, Refused):
                report.refused[result.reason.value] = report.refused.get(result.reason.value, 0) + 1
                continue
            account = SmtpAccount(mailbox.address, self._mailboxes[mailbox.address].smtp)
            jobs.append(_Job(plan, result.send_id, msg, account, leads[plan.lead_id], next_wait))
        return jobs

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
    ) -> tuple[EmailMessage, int | None] | None:
        """The message for one planned step, or None when the lead or campaign can't send it."""
        row = steps.get((plan.campaign_id, plan.step_no))
        first = steps.get((plan.campaign_id, 1))
        if row is None or first is None:
            return None
        variables = {**lead.variables, "email": lead.email}
        try:
            rendered = templates.render(self._compile(row), variables, self._rng)
            # The thread's subject is step 1's, spun with a per-lead seed: every follow-up's
            # `Re:` then repeats exactly the words the first mail used.
            thread_subject = templates.render(
                self._compile(first), variables, random.Random(plan.lead_id)
            ).subject
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
            text=rendered.text,
            html=rendered.html,
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

    async def _send_all(self, queue: list[_Job], report: TickReport) -> None:
        for index, job in enumerate(queue):
            # Marked one by one, right before SMTP: a crash then leaves at most the mails
            # actually in flight as 'unknown'; the rest are still 'reserved' and go out later.
            await self._repo.mark_sending([job.send_id], self._clock.now())
            outcome = await self._sender.send(job.account, job.message)
            stop = await self._record(job, outcome, report)
            if stop:
                # The mailbox can't send now (paused, resting, cooling down): put the rest back.
                for later in queue[index + 1 :]:
                    await self._repo.schedule_retry(
                        later.send_id, now=self._clock.now(), due=self._clock.now(), code=None,
                        reply="not attempted: mailbox stopped", refund_attempt=True,
                    )  # fmt: skip
                    report.retried += 1
                return

    async def _record(self, job: _Job, outcome: Outcome, report: TickReport) -> bool:
        """Apply the decision for one attempt; True when the mailbox must stop for now."""
        now = self._clock.now()
        tz = self._config.sending.timezone
        _, day_end = limits.day_bounds(limits.local_day(now, tz), tz)
        attempts = await self._repo.send_attempts(job.send_id)
        decision = outcomes.decide(
            outcome,
            attempts=attempts,
            max_attempts=self._config.sending.max_attempts,
            now=now,
            day_end=day_end,
        )
        reply = outcome.summary
        if decision.send_state is SendState.SENT:
            report.sent += 1
            due = None if job.next_wait_days is None else now + timedelta(days=job.next_wait_days)
            await self._repo.finish_sent(
                job.send_id, now=now, code=outcome.code, reply=reply, lead_id=job.plan.lead_id,
                next_due_at=due,
            )  # fmt: skip
            return False
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
                source_id=f"{job.send_id}:{job.message['Message-ID']}",
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
