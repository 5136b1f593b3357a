"""The demo loop: the real engine against the SMTP sink, driven by a simulated clock.

The clock moves the way the service's scheduler would see time: a sending tick every
`tick_seconds`, upkeep every minute, health every five minutes, alert delivery after every
step. Time in which nothing can happen (nights, weekends, every mailbox inside its gap or at
its cap) is skipped by jumping to the next moment something could change, on the same tick
grid: that is what makes weeks fit in about a minute.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import time as wallclock
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import aiosqlite

import bootstrap
from config import OutreachConfig
from core import capacity, limits, ramp
from core.models import (
    WEEKDAYS,
    CampaignView,
    EventKind,
    LeadState,
    MailboxState,
    MailboxView,
    WarmupPolicy,
)
from core.records import DomainRow, Effects, MailboxRow, NewEvent, Suppression
from demo import facts
from demo.inboxes import DemoInboxes
from demo.job import MAILBOXES, job_story
from demo.report import DayRow, MailboxDay, render_png, table_header, table_row
from demo.sink import DemoSink
from demo.small import small_story
from demo.world import DEFAULT_START, TIMEZONE, DemoWorld, Fate, LeadList, Story
from engine.alert_subjects import AlertSubject
from engine.alerts import AlertOutbox, Severity
from engine.clock import ManualClock
from engine.control import ControlResult, ControlService
from engine.health import HealthService
from engine.importer import import_leads
from engine.ports import ControlStore, EventStore, LeadStore
from engine.sending import SendingEngine
from engine.warmup_inbox import WarmupInbox
from engine.warmup_loop import WarmupLoop

MAINTENANCE = timedelta(seconds=60)  # as service.MAINTENANCE_SECONDS
HEALTH = timedelta(seconds=300)  # as service.HEALTH_SECONDS
# The service reads the warm-up inboxes every [inbox].poll_seconds (60 s); the demo reads them
# every 30 simulated minutes once mail has come, on the grid its warm-up mails go out on (those
# due within WARMUP_WAKE go out together): answers wait 20 minutes to 4 hours anyway, and
# stopping the clock at each mail's own minute and reading every receiver's folders each time
# cost three times the steps of the whole run.
WARMUP_POLL = timedelta(minutes=30)
WARMUP_WAKE = timedelta(minutes=30)
RESUME_AFTER_DAYS = 8  # the demo's admin resumes a paused mailbox once its window is clean


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What `main.py demo` was asked for."""

    days: int = 35
    out: Path = Path("demo-out")
    seed: int = 7
    start: date = DEFAULT_START
    world: str = "job"  # or "small"
    mailboxes: int | None = None  # the job world's pool size (default 30)
    # Commits waited onto the disk as the service's are (synchronous=FULL); the demo's own
    # throwaway database does without, bench/bench_demo.py times both.
    durable: bool = False

    def story(self) -> Story:
        """The world asked for."""
        if self.world == "small":
            if self.mailboxes is not None:
                raise ValueError("--mailboxes sizes the job world; the small one has 12")
            return small_story()
        if self.world == "job":
            return job_story(self.mailboxes or MAILBOXES)
        raise ValueError(f"unknown world {self.world!r}: job or small")


@dataclass(frozen=True, slots=True)
class Delivered:
    """An alert as the collecting transport received it."""

    at: datetime
    severity: str
    text: str


@dataclass
class CollectingTransport:
    """Alert delivery for the demo: keeps what it is given, stamped with simulated time."""

    clock: ManualClock
    received: list[Delivered] = field(default_factory=list)

    async def deliver(
        self,
        chat_id: int,
        severity: Severity,
        text: str,
        *,
        lead_id: int | None = None,
        subject: AlertSubject | None = None,
    ) -> int | None:
        """Keep the alert."""
        self.received.append(Delivered(self.clock.now(), severity.value, text))
        return None


@dataclass(frozen=True, slots=True)
class TargetCheck:
    """The first day the pool sent its daily target, against the day the planner predicts."""

    target: int
    predicted: ramp.RampDay | None  # plan_for() on the run's config, as `main.py plan` prints
    reached: DayRow | None  # the first day whose sends (slots used) met the target

    @property
    def matches(self) -> bool:
        """Whether the run met the target first on the predicted day."""
        if self.predicted is None or self.reached is None:
            return self.predicted is None and self.reached is None
        return self.predicted.day == self.reached.number

    def line(self, days: int) -> str:
        """One sentence for the closing lines."""
        plan = self.predicted
        said = (
            f"plan predicts day {plan.day} ({plan.date:%a %m-%d})"
            if plan is not None
            else "plan says this pool never reaches it"
        )
        got = self.reached
        if got is None:
            seen = f"the run did not reach {self.target:,} a day in {days} day(s)"
            if plan is not None and plan.day > days:
                seen += f" (run at least {plan.day} days to see it)"
        else:
            seen = f"the run first sent {got.used:,} on day {got.number} ({got.day:%a %m-%d})"
        verdict = "they match" if self.matches else "they DIFFER"
        return f"target {self.target:,} a day: {said}; {seen}: {verdict}"


@dataclass
class DemoResult:
    """What the run produced: the table's rows, per-mailbox days, alerts, and the files."""

    world: str
    days: list[DayRow]
    mailboxes: dict[str, list[MailboxDay]]
    alerts: list[facts.StoredAlert]
    delivered_alerts: int
    target: TargetCheck
    db_path: Path
    png_path: Path | None
    summary_path: Path
    engine_seconds: float  # the simulation: world, database, engine, sink; no PNG
    wall_seconds: float

    def closing_lines(self) -> list[str]:
        """What the command prints after the table."""
        alerted = sum(a.delivered for a in self.alerts)
        png = [f"PNG report: {self.png_path}"] if self.png_path is not None else []
        return [
            "",
            self.target.line(len(self.days)),
            f"{len(self.alerts)} alerts raised (a rate warning at most once a day per mailbox "
            f"or domain), {alerted} delivered through the outbox",
            f"database: {self.db_path}",
            f"summary:  {self.summary_path}",
            *png,
            f"simulated {len(self.days)} day(s) in {self.wall_seconds:.1f} s of wall time "
            f"({self.engine_seconds:.1f} s of it the simulation, the rest the report)",
        ]


def _summary(result: DemoResult, options: DemoOptions) -> dict[str, object]:
    check = result.target
    return {
        "world": result.world,
        "seed": options.seed,
        "start": options.start.isoformat(),
        "target": {
            "daily": check.target,
            "predicted_day": check.predicted.day if check.predicted else None,
            "reached_day": check.reached.number if check.reached else None,
            "matches": check.matches,
        },
        "days": [asdict(row) | {"day": row.day.isoformat()} for row in result.days],
        "mailboxes": {
            address: [asdict(d) | {"day": d.day.isoformat()} for d in days]
            for address, days in result.mailboxes.items()
        },
        "alerts": [asdict(a) | {"created_at": a.created_at.isoformat()} for a in result.alerts],
        "delivered_alerts": result.delivered_alerts,
        "db": str(result.db_path),
        "png": str(result.png_path) if result.png_path else None,
    }


async def run_demo(
    options: DemoOptions,
    echo: Callable[[str], None] = print,
    *,
    png: bool = True,
    story: Story | None = None,
) -> DemoResult:
    """Simulate `options.days` days; print the table row by row through `echo`.

    `story` replaces the world `options` names (the benchmark's resized pools); `png=False`
    leaves the report picture out.
    """
    began = wallclock.perf_counter()
    story = story if story is not None else options.story()
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    db_path = out / "demo.db"
    for stale in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        stale.unlink(missing_ok=True)  # every run starts from an empty database
    zone = limits.zone(TIMEZONE)
    start = datetime.combine(options.start, time(0), zone).astimezone(UTC)
    end = datetime.combine(options.start + timedelta(days=options.days), time(0), zone)
    clock = ManualClock(start)
    world = DemoWorld(story, options.seed, options.start, clock)
    paths = world.write_lists(out / "leads")
    password = secrets.token_urlsafe(16)  # lives only in this process: sink and config
    inboxes = story.inboxes(options.seed)
    sink = DemoSink(world, dict.fromkeys(story.mailbox_addresses(), password), inboxes)
    async with AsyncExitStack() as stack:
        port = await sink.start()
        stack.push_async_callback(sink.stop)
        config = story.build_config(options.start, port, password)
        # The planner's own answer for this pool: the same functions `main.py plan` runs.
        predicted = ramp.plan_for(config.rules(), options.start).target_day
        sim = await _Simulation.open(
            stack=stack, config=config, clock=clock, world=world, db_path=db_path,
            options=options, echo=echo, inboxes=inboxes,
        )  # fmt: skip
        sim.paths = paths
        per_domain = {len(d.people) for d in story.senders}
        shape = (
            f"{len(config.domains)} domains x {per_domain.pop()} mailboxes"
            if len(per_domain) == 1
            else f"{story.mailboxes} mailboxes on {len(config.domains)} domains"
        )
        warming = sum(len(d.people) for d in story.senders if d.warming)
        echo(
            f"Outreach demo, {story.name} world: {shape} ({warming} new, warming from day 1), "
            f"{len(config.campaigns)} campaigns, {story.leads:,} leads; "
            f"{options.days} days from {options.start:%a %Y-%m-%d} ({TIMEZONE}), "
            f"seed {options.seed}"
        )
        target = config.sending.daily_target
        echo(
            f"daily target {target:,}: "
            + (
                f"plan (core/ramp.py) predicts it on day {predicted.day} "
                f"({predicted.date:%a %m-%d})"
                if predicted is not None
                else "plan (core/ramp.py) says this pool never reaches it"
            )
        )
        sending = config.sending
        echo(
            f"engine tick every {sending.tick_seconds} s, gap {sending.min_gap_seconds} s + "
            f"0..{sending.jitter_seconds} s, upkeep every minute, health every 5 minutes; "
            "idle time is skipped"
        )
        echo(f"SMTP sink on 127.0.0.1:{port}; database {db_path}")
        echo("")
        echo(table_header())
        await sim.run(end.astimezone(UTC))
        result_days = sim.rows
        mailboxes = sim.mailbox_days
        alerts = await facts.alerts_after(sim.side, 0)
    simulated = wallclock.perf_counter() - began
    reached = next((row for row in result_days if row.used >= target), None)
    picture = (
        render_png(result_days, mailboxes, out / "report.png", config, predicted) if png else None
    )
    result = DemoResult(
        world=story.name,
        days=result_days,
        mailboxes=mailboxes,
        alerts=alerts,
        delivered_alerts=len(sim.transport.received),
        target=TargetCheck(target, predicted, reached),
        db_path=db_path,
        png_path=picture,
        summary_path=out / "summary.json",
        engine_seconds=simulated,
        wall_seconds=wallclock.perf_counter() - began,
    )
    result.summary_path.write_text(json.dumps(_summary(result, options), indent=1))
    return result


class _Simulation:
    """One run's engine, state and bookkeeping."""

    def __init__(
        self,
        *,
        config: OutreachConfig,
        clock: ManualClock,
        world: DemoWorld,
        control: ControlService,
        stored: ControlStore,
        events: EventStore,
        leads: LeadStore,
        side: aiosqlite.Connection,
        engine: SendingEngine,
        health: HealthService,
        alerts: AlertOutbox,
        echo: Callable[[str], None],
        warmup: WarmupLoop,
        inboxes: DemoInboxes,
        warmup_inbox: WarmupInbox,
    ) -> None:
        self.config = config
        self.warmup = warmup  # the loop's sending side; each tick runs it before the engine
        self.inboxes = inboxes  # the pool's and the seeds' INBOX and Junk
        self.warmup_inbox = warmup_inbox  # the loop's receiving side, reading `inboxes`
        self.poll = WARMUP_POLL
        self.next_poll = clock.now()
        self.clock = clock
        self.world = world
        self.stored = stored  # mailboxes, domains and campaigns as stored
        self.events_store = events
        self.leads = leads  # imports, on a connection of their own
        self.side = side  # the demo's own reads, on another
        self.engine = engine
        self.health = health
        self.alerts = alerts
        self.transport = CollectingTransport(clock)
        self.control = control
        self.echo = echo
        self.paths: dict[str, Path] = {}
        self.tick = timedelta(seconds=config.sending.tick_seconds)
        self.origin = clock.now()
        self.tz = config.sending.timezone
        self.rows: list[DayRow] = []
        self.mailbox_days: dict[str, list[MailboxDay]] = {m.address: [] for m in config.mailboxes}
        self.today: date | None = None
        self.events: list[str] = []
        self.capacity = 0
        self.next_maintenance = self.origin
        self.next_health = self.origin
        self.pending_imports = sorted(world.imports(), key=lambda item: item[0])
        self.last_alert = 0
        self.states: dict[str, MailboxState] = {}
        self.paused_on: dict[str, date] = {}
        self.caps: dict[str, int] = {}
        self.warned_today: set[str] = set()  # mailboxes and domains warned about today
        self.warned_yesterday: set[str] = set()
        self.unevaluated = False  # bounces or complaints the health job has not seen yet

    @classmethod
    async def open(
        cls,
        *,
        stack: AsyncExitStack,
        config: OutreachConfig,
        clock: ManualClock,
        world: DemoWorld,
        db_path: Path,
        options: DemoOptions,
        echo: Callable[[str], None],
        inboxes: DemoInboxes,
    ) -> _Simulation:
        """Database, config sync and the engine, wired as the service is (bootstrap.py)."""
        service = await bootstrap.build_service(
            stack,
            db_path=db_path,
            config=config,
            clock=clock,
            chats=[],
            # A fixed EHLO name: the default looks up this host's FQDN, which may ask DNS.
            sender=bootstrap.smtp_sender(timeout=10.0, local_hostname="demo.localhost"),
            rng=random.Random(options.seed),
            # The receiving side reads the in-memory inboxes the sink files warm-up mail in.
            warmup_reader=inboxes,
            # A throwaway database: waiting for the disk at every commit (the service's FULL)
            # was about half the run's wall time and shows nothing the demo is about.
            durable=options.durable,
        )
        side = await stack.enter_async_context(bootstrap.side_connection(db_path))
        leads = await stack.enter_async_context(service.open_leads())
        return cls(
            config=config, clock=clock, world=world, control=service.control,
            stored=service.stores.control, events=service.stores.events, leads=leads, side=side,
            engine=service.engine, health=service.health, alerts=service.alerts, echo=echo,
            warmup=service.warmup, inboxes=inboxes, warmup_inbox=service.warmup_inbox,
        )  # fmt: skip

    # --- the loop -------------------------------------------------------------------------

    async def run(self, end: datetime) -> None:
        """Step the clock from now to `end`, closing each day as it passes."""
        now = self.clock.now()
        while now < end:
            await self._step(now)
            # Straight to the next tick at which anything can happen; ticks in between
            # would only find every mailbox in its gap, at its cap, or outside every window.
            self.clock.set(min(self._on_grid(await self._next_wake(now)), end))
            now = self.clock.now()
        await self._close_day()

    async def _step(self, now: datetime) -> None:
        """Everything the scheduler's jobs would do at `now`, and what the world reports."""
        today = limits.local_day(now, self.tz)
        if today != self.today:
            await self._close_day()
            await self._open_day(today)
        while self.pending_imports and self.pending_imports[0][0] <= now:
            await self._import(self.pending_imports.pop(0)[1])
        await self._feedback(now)
        if now >= self.next_maintenance:
            await self.health.maintain()
            self.next_maintenance = now + MAINTENANCE
        if now >= self.next_health:
            await self.health.evaluate()
            self.next_health = now + HEALTH
            self.unevaluated = False
        if self.inboxes.unread and now >= self.next_poll:
            # Only once mail has come, at most every WARMUP_POLL.
            self.inboxes.take_news()
            await self.warmup_inbox.poll()
            self.next_poll = now + self.poll
        # As Service.tick: the loop's day and due mails first, then campaign mail.
        warm = await self.warmup.tick()
        report = await self.engine.tick()
        if warm.failed or report.failed or report.retried or report.unknown:
            # A bounce can raise a rate; a delivered mail only lowers one. (Wake-ups for the
            # next sends come soon enough to catch a mailbox that just reached min_sends.)
            self.unevaluated = True
        if await self.alerts.deliver_due(self.transport):
            await self._new_alerts()

    def _warmup_wake(self, due: datetime) -> datetime:
        """When to send a warm-up mail due at `due`: the next WARMUP_WAKE step of the grid.

        The loop spreads each mailbox's mails over its hours, so exact due times would stop
        the clock at nearly every tick of the day; taking them a few minutes late in batches
        keeps them spread and the run short. Never past the end of the loop's hours.
        """
        wake = self._on_warmup_grid(due)
        local = due.astimezone(limits.zone(self.tz))
        window = self.config.warmup.policy().window
        closes = datetime.combine(local.date(), time(0), local.tzinfo) + timedelta(
            minutes=window.end_minute
        )
        return wake if wake < closes else due

    def _on_warmup_grid(self, moment: datetime) -> datetime:
        """The first WARMUP_WAKE step at or after `moment` (warm-up sends and polls share it)."""
        return self.origin + math.ceil((moment - self.origin) / WARMUP_WAKE) * WARMUP_WAKE

    def _on_grid(self, moment: datetime) -> datetime:
        """The first scheduler tick at or after `moment`."""
        steps = math.ceil((moment - self.origin) / self.tick)
        return self.origin + steps * self.tick

    async def _next_wake(self, now: datetime) -> datetime:
        """The next moment anything could be sent or could change."""
        today = limits.local_day(now, self.tz)
        pool = await facts.pool(self.side, today.isoformat())
        _, midnight = limits.day_bounds(today, self.tz)
        wake = [midnight, *self.world.wake_times(), *pool.cooldown_ends]
        if self.unevaluated:
            # The health job would look at a new bounce or complaint within five minutes.
            wake.append(self.next_health)
        wake += [when for when, _ in self.pending_imports]
        feedback = self.world.next_feedback()
        if feedback is not None:
            wake.append(feedback)
        due = await facts.warmup_due(self.side, limits.day_bounds(today, self.tz)[0], now)
        if due.next_due is not None:
            wake.append(self._warmup_wake(due.next_due))
        # A warm-up mail already due goes out when its mailbox's gap is over.
        wake += [
            ready
            for m in pool.mailboxes
            if m.id in due.waiting and (ready := _ready_at(m)) is not None
        ]
        if self.inboxes.unread:
            wake.append(self._on_warmup_grid(max(self.next_poll, now + self.tick)))
        wake += [_next_window(c, now) for c in pool.campaigns]
        open_now = any(_open(c, now) for c in pool.campaigns)
        senders = _senders(pool, today, self.config.warmup.policy())
        if open_now and senders:
            # Only while some campaign is open and some mailbox has room does a gap ending
            # or a follow-up coming due make a difference.
            wake += [ready for m in senders if (ready := _ready_at(m)) is not None]
            follow_up = await facts.next_follow_up(self.side, now)
            if follow_up is not None:
                wake.append(follow_up)
        return min((when for when in wake if when > now), default=midnight)

    async def _capacity(self, today: date) -> int:
        """What the pool may send today, as /status computes it."""
        pool = await facts.pool(self.side, today.isoformat())
        return capacity.capacity_today(
            pool.mailboxes, pool.domains, today, self.config.warmup.policy(),
            self.config.sending.daily_target,
        ).total  # fmt: skip

    # --- days -----------------------------------------------------------------------------

    async def _open_day(self, today: date) -> None:
        """Midnight: upkeep first (warm-up promotions), the admin's resumes, then the caps."""
        self.today = today
        self.events = []
        self.warned_yesterday, self.warned_today = self.warned_today, set()
        now = self.clock.now()
        await self.health.maintain()
        self.next_maintenance = now + MAINTENANCE
        await self._admin_resumes(today)
        self.capacity = await self._capacity(today)
        self.caps = {}
        await self._observe(opening=True)

    async def _close_day(self) -> None:
        if self.today is None:
            return
        day = self.today
        await self._observe()
        # Capacity can grow during a day (a cool-down ends): the table shows the day's most.
        self.capacity = max(self.capacity, await self._capacity(day))
        start, end = limits.day_bounds(day, self.tz)
        totals = await facts.day_totals(self.side, start, end)
        used = await facts.usage_on(self.side, day.isoformat())
        warm = await facts.warmup_day(self.side, day.isoformat(), start, end)
        stored = {m.address: m for m in await self.stored.mailboxes()}
        counts = dict.fromkeys(("active", "warming", "paused", "cooldown"), 0)
        for address, state in self.states.items():
            counts[state.value] = counts.get(state.value, 0) + 1
            box = stored[address].id
            self.mailbox_days[address].append(
                MailboxDay(
                    day,
                    state.value,
                    self.caps.get(address, 0),
                    used.get(box, 0),
                    warmup=warm.sent.get(box, 0),
                    inbox=warm.inbox.get(box, 0),
                    spam=warm.spam.get(box, 0),
                    held=stored[address].placement_hold,
                )  # fmt: skip
            )
        row = DayRow(
            number=len(self.rows) + 1,
            day=day,
            used=sum(used.values()),
            warmup=sum(warm.sent.values()),
            inbox=sum(warm.inbox.values()),
            spam=sum(warm.spam.values()),
            sent=totals.get("sent", 0),
            bounces=totals.get(EventKind.BOUNCE_HARD.value, 0),
            complaints=totals.get(EventKind.COMPLAINT.value, 0),
            replies=totals.get(EventKind.REPLY.value, 0),
            active=counts["active"],
            warming=counts["warming"],
            paused=counts["paused"],
            cooldown=counts["cooldown"],
            capacity=self.capacity,
            events=list(self.events),
        )
        self.rows.append(row)
        self.echo(table_row(row))
        self.today = None

    async def _observe(self, *, opening: bool = False) -> None:
        """Read every mailbox's state and cap; note changes the engine made without an alert."""
        today = self.today
        assert today is not None
        warmup = self.config.warmup.policy()
        promoted = []
        for row in await self.stored.mailboxes():
            if row.state is MailboxState.DISABLED:
                continue
            view = MailboxView(
                id=row.id, address=row.address, domain=row.domain, state=row.state,
                daily_limit=row.daily_limit, warmup_start=row.warmup_start,
            )  # fmt: skip
            cap = limits.mailbox_cap(view, today, warmup)
            # The highest cap of the day: a mailbox back from cool-down gains one mid-day.
            self.caps[row.address] = max(self.caps.get(row.address, 0), cap)
            before = self.states.get(row.address)
            if before is MailboxState.WARMING and row.state is MailboxState.ACTIVE:
                promoted.append(row.address)
            if row.state is MailboxState.PAUSED and before is not MailboxState.PAUSED:
                self.paused_on[row.address] = today
            self.states[row.address] = row.state
        if promoted and opening:
            names = ", ".join(promoted) if len(promoted) <= 3 else f"{len(promoted)} mailboxes"
            self.events.append(f"warm-up done, now active: {names}")

    async def _admin_resumes(self, today: date) -> None:
        """The demo's admin: /resume a paused mailbox once its health window holds no cause."""
        for address, since in sorted(self.paused_on.items()):
            if (today - since).days < RESUME_AFTER_DAYS:
                continue
            self.paused_on.pop(address)
            result = await self.control.resume(address, actor="the demo's admin")
            if isinstance(result, ControlResult):
                for change in result.changed:
                    note = f" ({change.note.split(';', 1)[0]})" if change.note else ""
                    self.events.append(
                        f"admin /resume {address} (paused since {since:%m-%d}): "
                        f"{change.before} -> {change.after}{note}"
                    )

    # --- what the world does --------------------------------------------------------------

    async def _import(self, spec: LeadList) -> None:
        report = await import_leads(
            self.leads, self.paths[spec.campaign], spec.campaign, now=self.clock.now()
        )
        skipped = f", {report.skipped} skipped" if report.skipped else ""
        self.events.append(f"import {spec.file} -> {spec.campaign}: {report.imported}{skipped}")

    async def _feedback(self, now: datetime) -> None:
        """Replies and complaints reported now, as an ESP's feedback loop or IMAP would."""
        for item in self.world.due_feedback(now):
            ref = await facts.send_by_message_id(self.side, item.message_id)
            if ref is None:
                continue
            self.unevaluated = True
            complaint = item.kind is Fate.COMPLAIN
            kind = EventKind.COMPLAINT if complaint else EventKind.REPLY
            event = NewEvent(
                source="demo", source_id=f"{kind.value}:{item.message_id}", kind=kind,
                occurred_at=item.due, received_at=now, email=item.email,
                mailbox_id=ref.mailbox_id, send_id=ref.send_id, campaign_id=ref.campaign_id,
                step_no=ref.step_no,
                detail="simulated feedback-loop report" if complaint else "simulated reply",
            )  # fmt: skip
            # The event, the suppression entry and the closed leads commit together.
            if complaint:
                suppress = Suppression(item.email, "complaint", "demo", now, LeadState.COMPLAINED)
                effects = Effects(event=event, repeatable=True, suppress=suppress)
            else:
                closing = (item.email, LeadState.REPLIED)
                effects = Effects(event=event, repeatable=True, close_address=closing)
            await self.events_store.apply(effects)

    async def _new_alerts(self) -> None:
        """Turn freshly delivered alerts into the day's notable events."""
        fresh = await facts.alerts_after(self.side, self.last_alert)
        if not fresh:
            return
        self.last_alert = fresh[-1].id
        mailboxes = {m.address: m for m in await self.stored.mailboxes()}
        domains = {d.name: d for d in await self.stored.domains()}
        warned: dict[str, list[str]] = {}  # the day's warning line -> whom it names
        for alert in fresh:
            kind, _, subject = alert.key.partition(":")
            if kind in _WARNINGS or kind == "domain_complaints":
                # Warnings come back every quiet period (or day) while the rate stays bad; the
                # table shows one when it starts, not its repeats (the alerts table keeps them).
                about = subject.rpartition(":")[0]
                new = f"{kind}:{about}" not in self.warned_today | self.warned_yesterday
                self.warned_today.add(f"{kind}:{about}")
                if not new:
                    continue
                if kind in _WARNINGS:
                    warned.setdefault(_WARNINGS[kind], []).append(about)
                    continue
            if kind in ("placement_hold", "placement_release"):
                placed = await facts.placement_of(self.side, subject, self.clock.now())
                self.events.append(_placement_event(kind, subject, placed))
                continue
            self.events.append(_describe(kind, subject, alert.text, mailboxes, domains))
        for prefix, names in warned.items():
            earlier = [i for i, event in enumerate(self.events) if event.startswith(prefix)]
            # One line a day, however many times the health job found new ones.
            before = self.events.pop(earlier[0]).removeprefix(prefix).split(", ") if earlier else []
            self.events.append(prefix + ", ".join([*before, *names]))
        await self._observe()


# Warnings the table gathers into one line a day: alert kind -> the line's start.
_WARNINGS = {
    "bounce_warn": "bounce rate over 3% (warning): ",
    "placement_warn": "inbox placement under 70% (warning): ",
}


def _placement_event(kind: str, address: str, placed: tuple[int, int]) -> str:
    """A hold or its release, with the 7 days' placement it was decided on."""
    inbox, spam = placed
    rate = f"{inbox / (inbox + spam):.0%} of {inbox + spam}" if inbox + spam else "n/a"
    if kind == "placement_hold":
        return (
            f"HOLD {address}: inbox placement {rate} in 7 days; campaign mail held, warm-up goes on"
        )
    return f"{address}: inbox placement back to {rate}; campaign mail again"


def _describe(
    kind: str,
    subject: str,
    text: str,
    mailboxes: dict[str, MailboxRow],
    domains: dict[str, DomainRow],
) -> str:
    """One short line per alert, from the stored state it is about (not the alert's wording)."""
    mailbox = mailboxes.get(subject)
    domain = domains.get(subject)
    if kind == "mailbox_paused" and mailbox is not None:
        return f"PAUSE {subject}: {mailbox.reason}"
    if kind == "cooldown" and domain is not None and domain.cooldown_until is not None:
        until = domain.cooldown_until.astimezone(limits.zone(TIMEZONE))
        why = domain.reason.split("; http", 1)[0]  # the verdict and the server's words
        return f"COOL-DOWN {subject} until {until:%m-%d %H:%M}: {why}"
    if kind == "cooldown_over":
        return f"{subject} back from cool-down: its mailboxes re-enter warm-up at phase 2"
    if kind == "provider_cap" and mailbox is not None and mailbox.resting_until is not None:
        until = mailbox.resting_until.astimezone(limits.zone(TIMEZONE))
        return f"provider cap (550 5.4.5) on {subject}: rests until {until:%m-%d %H:%M}"
    if kind == "domain_complaints":
        return f"complaint-rate alert for {subject.partition(':')[0]}"
    return f"{kind} {subject}: {text.splitlines()[0][:80]}"


def _open(campaign: CampaignView, now: datetime) -> bool:
    left = limits.campaign_left(campaign)
    return limits.in_window(campaign, now) and (left is None or left > 0)


def _next_window(campaign: CampaignView, now: datetime) -> datetime:
    """When the campaign's sending window next opens after `now`."""
    zone = limits.zone(campaign.timezone)
    local = now.astimezone(zone)
    start = time(campaign.window.start_minute // 60, campaign.window.start_minute % 60)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        opens = datetime.combine(day, start, zone).astimezone(UTC)
        if opens > now and WEEKDAYS[day.weekday()] in campaign.days:
            return opens
    return now + timedelta(days=1)


def _senders(pool: facts.Pool, today: date, warmup: WarmupPolicy) -> list[MailboxView]:
    """Mailboxes that may still send campaign mail today: a sending state, room under what the
    warm-up loop leaves of their cap and under their domain's, not in warm-up week 1 (unless
    an open campaign opts in), not held for placement."""
    room = {d.name for d in pool.domains if (left := limits.domain_left(d)) is None or left > 0}
    week1 = any(c.during_warmup for c in pool.campaigns)
    return [
        m
        for m in pool.mailboxes
        if m.domain in room
        and m.state in (MailboxState.ACTIVE, MailboxState.WARMING)
        and limits.campaign_room(m, today, warmup) > 0
        and limits.takes_campaign_mail(m, today, warmup, during_warmup=week1)
    ]


def _ready_at(mailbox: MailboxView) -> datetime | None:
    """When the mailbox's gap and rest are over; None when it never sent and is not resting."""
    times = [t for t in (mailbox.next_send_at, mailbox.resting_until) if t is not None]
    return max(times) if times else None
