"""A sending run through a faulty SMTP server, then the books: shared by the test and the bench.

N leads in two campaigns go out over several simulated days (a manual clock) through the real
SendingEngine, wired by bootstrap.build_service as the service wires it, with the real
SmtpSender talking STARTTLS to a FaultySmtpServer. Mailboxes, domains and one campaign have
daily limits. The engine ticks every `tick` of simulated time; the health upkeep the service
schedules (maintain: cool-downs end; evaluate: pauses) runs every simulated hour.

At the end the server's record and the database are checked against each other:
- duplicates: a (lead, step) the server took more than once (the lead by its address, the
  step by the References chain), or a Message-ID it took twice;
- limit breaches: per mailbox, domain and campaign per local day, the server's accepted mails
  (dated by their Date header) and the database's usage counters and its sent + unknown sends,
  each over the configured limit;
- leads lost: a lead neither final (finished, bounced, failed ...) nor queued, a lead missing,
  or a finished lead the server lacks a step of;
- the reconciliation: the server's accepted Message-IDs are exactly the database's 'sent' ones
  plus its 'unknown' ones; the 'unknown' ones are exactly the mails whose final reply the client
  never saw (a disconnect after DATA, a reply slower than the client's timeout); so
  DB sent == accepted - reply lost, and DB unknown == reply lost == those two faults' tallies.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

import bootstrap
from config import (
    CampaignConfig,
    DomainConfig,
    HealthConfig,
    MailboxConfig,
    OutreachConfig,
    SendingConfig,
    ServerConfig,
    StepConfig,
)
from core import limits, warmup
from engine.clock import ManualClock
from tests.fakes.faulty_smtp import REPLY_LOST, Accepted, Fault, FaultySmtpServer
from tests.fakes.smtp_server import make_test_ca

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # a Monday morning in Berlin
TIMEZONE = "Europe/Berlin"
USER, PASSWORD = "pool", "faulty-smtp-pass"
FINAL = frozenset({"finished", "replied", "bounced", "complained", "unsubscribed", "suppressed",
                   "failed"})  # fmt: skip
CAMPAIGNS = ("qa", "qb")  # each lead's subject carries [qa] or [qb]

# Per transaction; TLS_FAIL per connection. About one transaction in five fails somehow.
DEFAULT_SHARES: Mapping[Fault, float] = {
    Fault.TEMP_MAIL: 0.02,
    Fault.TEMP_RCPT: 0.03,
    Fault.TEMP_DATA: 0.03,
    Fault.USER_UNKNOWN: 0.03,
    Fault.SPAM_BLOCK: 0.005,
    Fault.TOO_BIG: 0.01,
    Fault.DROP_BEFORE_DATA: 0.02,
    Fault.DROP_AFTER_DATA: 0.01,
    Fault.SLOW_UNDER: 0.03,
    Fault.SLOW_OVER: 0.005,
    Fault.TLS_FAIL: 0.05,
}


@dataclass(frozen=True, slots=True)
class FaultRun:
    """The run's shape: leads, limits, faults and the simulated time it may take."""

    leads: int = 150  # split evenly over the two campaigns
    steps: int = 2  # the follow-up waits a day
    domains: int = 2
    mailbox_limits: tuple[int, ...] = (30, 25, 20)  # per domain: mailbox j's daily limit
    domain_limit: int = 60  # under the sum of its mailboxes': both limits bind
    campaign_limit: int = 45  # campaign qa only; qb is uncapped
    shares: Mapping[Fault, float] = field(default_factory=lambda: dict(DEFAULT_SHARES))
    seed: int = 5
    every_kind: bool = True  # each fault kind with a share comes at least once
    timeout: float = 2.0  # the client's per-step SMTP timeout (seconds, real)
    tick: timedelta = timedelta(minutes=30)
    max_days: int = 40


@dataclass(frozen=True, slots=True)
class Figures:
    """What a run did and what the books say; every list of problems is empty when all is well."""

    leads: int
    lead_steps: int  # sends rows: (lead, step) pairs the engine took on
    transactions: int  # MAIL FROMs the server answered: mails attempted
    connections: int
    accepted: int  # messages the server took
    reply_lost: int  # of those, taken without the client seeing the 250
    db_sent: int
    db_unknown: int
    db_failed: int
    faults: dict[str, int]  # injected, by kind
    lead_states: dict[str, int]
    waiting: int  # leads with a step to retry later (only when a run stops before it is due)
    at_cap: int  # (mailbox, domain or campaign, day)s whose usage reached its limit
    sim_days: float
    seconds: float  # wall time of the run
    duplicates: list[str]
    limit_breaches: list[str]
    leads_lost: list[str]
    mismatches: list[str]  # reconciliation failures

    @property
    def faults_total(self) -> int:
        """All faults injected."""
        return sum(self.faults.values())

    def problems(self) -> list[str]:
        """Every problem found, each on one line."""
        return [
            *(f"duplicate: {d}" for d in self.duplicates),
            *(f"limit breach: {b}" for b in self.limit_breaches),
            *(f"lead lost: {x}" for x in self.leads_lost),
            *(f"mismatch: {m}" for m in self.mismatches),
        ]


def mailbox_address(domain: int, index: int) -> str:
    """Mailbox `index` of domain `domain`."""
    return f"m{index}@d{domain}.test"


def lead_address(number: int) -> str:
    """Lead `number`'s address, unique over both campaigns."""
    return f"lead{number}@example.com"


def run_config(run: FaultRun, port: int) -> OutreachConfig:
    """Mailboxes over STARTTLS on the faulty server, two campaigns, the run's limits."""
    server = ServerConfig(
        host="127.0.0.1", port=port, security="starttls", username=USER,
        password=SecretStr(PASSWORD),
    )  # fmt: skip
    steps = [StepConfig(subject="Hello {{ first_name }} [CAMPAIGN]", body="Hi {{ first_name }}")]
    steps += [StepConfig(body=f"Bump {n}", wait_days=1) for n in range(2, run.steps + 1)]
    return OutreachConfig(
        sending=SendingConfig(
            timezone=TIMEZONE,
            min_gap_seconds=0,
            jitter_seconds=0,
            max_attempts=3,
            postal_address="Brand Ltd, 1 Main St",
        ),  # fmt: skip
        # The faults include hard bounces at rates that would pause a real mailbox (and a
        # paused one waits for /resume): this run tests the sending machinery, not SPEC 9's
        # policy, so pauses need a far higher bounce rate and a block cools a domain a day.
        health=HealthConfig(bounce_warn=0.25, bounce_pause=0.5, cooldown_days=1),
        domains=[
            DomainConfig(name=f"d{i}.test", daily_limit=run.domain_limit)
            for i in range(run.domains)
        ],
        mailboxes=[
            MailboxConfig(address=mailbox_address(i, j), daily_limit=limit, smtp=server)
            for i in range(run.domains)
            for j, limit in enumerate(run.mailbox_limits)
        ],
        campaigns=[
            CampaignConfig(
                name=name,
                hours="00:00-24:00",
                days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                daily_limit=run.campaign_limit if name == "qa" else None,
                steps=[
                    step.model_copy(
                        update={"subject": step.subject.replace("CAMPAIGN", name)}
                        if step.subject
                        else {}
                    )
                    for step in steps
                ],
            )
            for name in CAMPAIGNS
        ],
    )


async def fault_run(workdir: Path, run: FaultRun) -> Figures:
    """Send every lead through the faulty server, then check the books (see the module doc)."""
    ca = make_test_ca()
    clock = ManualClock(T0)
    db_path = workdir / "outreach.db"
    started = time.perf_counter()
    async with AsyncExitStack() as stack:
        server = FaultySmtpServer(
            username=USER, password=PASSWORD, security="starttls",
            ssl_context=ca.server_context, shares=run.shares, seed=run.seed,
            every_kind=run.every_kind,
        )  # fmt: skip
        await stack.enter_async_context(server)
        config = run_config(run, server.port)
        # From the composition root, as the benches take it (bench_faults runs this module).
        sender = bootstrap.smtp_sender(
            timeout=run.timeout, local_hostname="faults.test", tls_context=ca.client_context
        )
        stack.push_async_callback(sender.close)
        service = await bootstrap.build_service(
            stack, db_path=db_path, config=config, clock=clock, chats=[], sender=sender,
            rng=random.Random(run.seed),
        )  # fmt: skip
        _insert_leads(db_path, run.leads, clock.now())
        ticks_per_hour = max(1, timedelta(hours=1) // run.tick)
        deadline = T0 + timedelta(days=run.max_days)
        ticks = 0
        settled = False
        while clock.now() < deadline:
            if ticks % ticks_per_hour == 0:
                await service.health.maintain()
                await service.health.evaluate()
                settled = _open_leads(db_path) == 0
                if settled:
                    break
            await service.engine.tick()
            ticks += 1
            clock.advance(run.tick)
        sim_days = (clock.now() - T0) / timedelta(days=1)
    seconds = time.perf_counter() - started
    figures = books(
        db_path, leads=run.leads, steps=run.steps, config=config, server=server,
        sim_days=sim_days, seconds=seconds,
    )  # fmt: skip
    if not settled:
        # Leads still queued or active when the days ran out: say so beside the leads listed.
        figures.leads_lost.insert(0, f"the run did not settle within {run.max_days} days")
    return figures


def _insert_leads(db_path: Path, count: int, now: datetime) -> None:
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        with conn:
            ids = dict(conn.execute("SELECT name, id FROM campaigns").fetchall())
            conn.executemany(
                "INSERT INTO leads (campaign_id, email, vars, created_at) VALUES (?, ?, ?, ?)",
                [
                    (ids[CAMPAIGNS[n % 2]], lead_address(n), f'{{"first_name": "L{n}"}}',
                     int(now.timestamp() * 1000))
                    for n in range(count)
                ],
            )  # fmt: skip
    finally:
        conn.close()


def _open_leads(db_path: Path) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        sql = "SELECT count(*) FROM leads WHERE state IN ('queued', 'active')"
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def _campaign_of(mail: Accepted) -> str:
    return next((name for name in CAMPAIGNS if f"[{name}]" in mail.subject), "?")


def books(  # noqa: PLR0913 - the run's shape and its two records, all needed
    db_path: Path,
    *,
    leads: int,
    steps: int,
    config: OutreachConfig,
    server: FaultySmtpServer,
    sim_days: float,
    seconds: float,
    killed: bool = False,
) -> Figures:
    """Compare the server's record with the database; see the module docstring.

    `killed`: the service was killed -9 along the way, so 'unknown' also holds the mails in
    flight at a kill, some of which the server never got: the reconciliation is then
    DB sent = accepted - unknown on the server, and the replies lost are among the unknown.
    """
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        sends = conn.execute(
            "SELECT l.email, c.name, s.step_no, s.state, s.message_id, m.address, d.name, s.day "
            "FROM sends s JOIN leads l ON l.id = s.lead_id "
            "JOIN campaigns c ON c.id = s.campaign_id JOIN mailboxes m ON m.id = s.mailbox_id "
            "JOIN domains d ON d.id = m.domain_id"
        ).fetchall()
        lead_rows = conn.execute("SELECT email, state FROM leads").fetchall()
        ramps = dict(
            conn.execute(
                "SELECT address, warmup_start FROM mailboxes WHERE warmup_start IS NOT NULL"
            ).fetchall()
        )
        usage = conn.execute(
            "SELECT u.scope, coalesce(m.address, d.name, c.name), u.day, u.sent FROM usage u "
            "LEFT JOIN mailboxes m ON u.scope = 'mailbox' AND m.id = u.ref "
            "LEFT JOIN domains d ON u.scope = 'domain' AND d.id = u.ref "
            "LEFT JOIN campaigns c ON u.scope = 'campaign' AND c.id = u.ref"
        ).fetchall()
    finally:
        conn.close()

    caps: dict[tuple[str, str], int] = {}
    for mailbox in config.mailboxes:
        caps["mailbox", mailbox.address] = mailbox.daily_limit
    for domain in config.domains:
        if domain.daily_limit is not None:
            caps["domain", domain.name] = domain.daily_limit
    for campaign in config.campaigns:
        if campaign.daily_limit is not None:
            caps["campaign", campaign.name] = campaign.daily_limit

    accepted = server.accepted
    duplicates = [
        f"{who} step {step} of {name} taken {n} times"
        for (who, name, step), n in Counter(
            (a.recipient, _campaign_of(a), a.step_no) for a in accepted
        ).items()
        if n > 1
    ]
    duplicates += [
        f"Message-ID {mid} taken {n} times"
        for mid, n in Counter(a.message_id for a in accepted).items()
        if n > 1
    ]

    # Limits, three ways: what the server took, the DB's counters, the DB's sends.
    seen: Counter[tuple[str, str, date]] = Counter()
    for mail in accepted:
        day = limits.local_day(mail.date, TIMEZONE)
        seen["mailbox", mail.sender, day] += 1
        seen["domain", mail.sender.rpartition("@")[2], day] += 1
        seen["campaign", _campaign_of(mail), day] += 1
    counted: Counter[tuple[str, str, date]] = Counter()
    for scope, name, day, sent in usage:
        counted[str(scope), str(name), date.fromisoformat(str(day))] += int(sent)
    went: Counter[tuple[str, str, date]] = Counter()
    for _email, campaign, _step, state, _mid, mailbox, domain, day in sends:
        if state in ("sent", "unknown"):
            when = date.fromisoformat(str(day))
            went["mailbox", str(mailbox), when] += 1
            went["domain", str(domain), when] += 1
            went["campaign", str(campaign), when] += 1
    # A domain's cool-down ends in warm-up (SPEC 9): from its mailboxes' warmup_start on, the
    # warm-up cap of the day is their limit (the ramp's last start: earlier ones are gone).
    policy = config.rules().warmup

    def cap_of(scope: str, name: str, day: date) -> int | None:
        cap = caps.get((scope, name))
        start = ramps.get(name) if scope == "mailbox" else None
        if cap is None or start is None or day < date.fromisoformat(str(start)):
            return cap
        return warmup.warmup_cap(
            policy, warmup.warmup_day(date.fromisoformat(str(start)), day), cap
        )

    breaches = [
        f"{source}: {scope} {name} on {day}: {n} > {cap}"
        for source, tally in (("server", seen), ("usage", counted), ("sends", went))
        for (scope, name, day), n in sorted(tally.items())
        if (cap := cap_of(scope, name, day)) is not None and n > cap
    ]

    # The limits did bind: (scope, day)s whose usage reached the day's cap, warm-up ones too.
    at_cap = 0
    for (scope, name, day), n in counted.items():
        cap = cap_of(scope, name, day)
        at_cap += cap is not None and n >= cap

    states = Counter(str(state) for _email, state in lead_rows)
    # A lead whose step failed softly waits for its retry (minutes away): not lost, not final.
    waiting = {str(row[0]) for row in sends if row[3] == "retry"}
    lost = [
        f"{email} is {state}"
        for email, state in lead_rows
        if state not in FINAL | {"queued"} and not (state == "active" and email in waiting)
    ]
    missing = leads - len(lead_rows)
    if missing:
        lost.append(f"{missing} lead(s) missing from the database")
    taken = {(a.recipient, a.step_no) for a in accepted}
    lost += [
        f"{email} is finished but the server lacks step {step}"
        for email, state in lead_rows
        if state == "finished"
        for step in range(1, steps + 1)
        if (email, step) not in taken
    ]

    server_ids = {a.message_id for a in accepted}
    lost_ids = {a.message_id for a in accepted if a.reply_lost}
    sent_ids = {str(s[4]).strip("<>") for s in sends if s[3] == "sent"}
    unknown_ids = {str(s[4]).strip("<>") for s in sends if s[3] == "unknown"}
    mismatches = []
    if sent_ids - server_ids:
        mismatches.append(f"{len(sent_ids - server_ids)} sent in the DB, not on the server")
    if server_ids - sent_ids - unknown_ids:
        mismatches.append(f"{len(server_ids - sent_ids - unknown_ids)} on the server, unknown "
                          "to the DB")  # fmt: skip
    lost_faults = sum(server.faults[f] for f in REPLY_LOST)
    if len(lost_ids) != lost_faults:
        mismatches.append(f"replies lost {len(lost_ids)} != their faults' tally {lost_faults}")
    if killed:
        if not lost_ids <= unknown_ids:
            mismatches.append(f"{len(lost_ids - unknown_ids)} replies lost, not unknown in the DB")
        if len(sent_ids) != len(server_ids) - len(unknown_ids & server_ids):
            mismatches.append(f"DB sent {len(sent_ids)} != accepted {len(server_ids)} - unknown "
                              f"on the server {len(unknown_ids & server_ids)}")  # fmt: skip
    else:
        if unknown_ids != lost_ids:
            mismatches.append(
                f"DB unknown {len(unknown_ids)} != replies lost {len(lost_ids)} "
                f"({len(unknown_ids - lost_ids)} unknown but answered or absent)"
            )
        if len(sent_ids) != len(server_ids) - len(lost_ids):
            mismatches.append(f"DB sent {len(sent_ids)} != accepted {len(server_ids)} - lost "
                              f"{len(lost_ids)}")  # fmt: skip

    return Figures(
        leads=leads,
        lead_steps=len(sends),
        transactions=server.transactions,
        connections=server.connections,
        accepted=len(accepted),
        reply_lost=len(lost_ids),
        db_sent=len(sent_ids),
        db_unknown=len(unknown_ids),
        db_failed=sum(1 for s in sends if s[3] == "failed"),
        faults=server.injected,
        lead_states=dict(sorted(states.items())),
        waiting=len(waiting),
        at_cap=at_cap,
        sim_days=sim_days,
        seconds=seconds,
        duplicates=duplicates,
        limit_breaches=breaches,
        leads_lost=lost,
        mismatches=mismatches,
    )
