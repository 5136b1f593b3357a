"""/status at 100x the typical install: 5,000 mailboxes, 1,000,000 leads, two weeks of sends.

The database is built through the product's own code where that is cheap enough: open_db
(every migration), Repository.sync_config for 5,000 mailboxes on 800 domains and six
campaigns (one of them removed from the config again, as are 50 mailboxes), and the
Repository's state writers for paused, resting and cooling-down mailboxes. Leads, sends,
usage counters, events and alerts are bulk-inserted with executemany in the shapes the
importer and the engine write: 1,000,000 leads spread over every lead state, 20,000 sends a
day for 14 days (the last day up to "now", 14:00 in the sending timezone) with their
usage rows, bounces, complaints, replies, deliveries and opens, and 200 alerts.

The built file is cached in the temp dir under a name that carries BUILD_VERSION and the
sizes, so a rerun only opens it (and applies any migration added since); --rebuild builds
it again. Building takes about a minute.

What is timed is what an admin's /status does in the running service: on one open
connection (Repository over aiosqlite, as the bot's AppContext holds it), gather_status()
and then status_lines() and chunk_lines() into the Telegram messages answer_lines() sends.
The first call on a fresh connection is reported as "cold" (SQLite's page cache empty; the
OS file cache is warm from the build or an earlier run); CALLS more calls follow and their
median is the figure against the target (the process's CPU time per call is recorded too).
The baseline is the sqlite3 CLI replaying the very statements one /status call issued
(caught with the connection's trace callback), CALLS times in one CLI process: what SQLite
alone costs for this call. The notes also time, in the CLI, the full count of leads by state
that /status ran before the lead_counts table (migration 3) took its place.

Needs the sqlite3 binary (Debian: apt-get install -y sqlite3); without it the baseline is
skipped with a message. Run alone:
    .venv/bin/python bench/bench_status.py [--calls N] [--rebuild] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's packages

from pydantic import SecretStr  # noqa: E402

from bench.results import write_section  # noqa: E402
from bot.views.common import chunk_lines, utf16_len  # noqa: E402
from bot.views.status import status_lines  # noqa: E402
from config import (  # noqa: E402
    CampaignConfig,
    DomainConfig,
    MailboxConfig,
    OutreachConfig,
    SendingConfig,
    ServerConfig,
    StepConfig,
)
from core import limits  # noqa: E402
from core.models import MailboxState  # noqa: E402
from engine.clock import ManualClock  # noqa: E402
from engine.status import ATTENTION_LIMIT, gather_status  # noqa: E402
from storage.db import open_db, run_sync, sync_transaction, to_ms  # noqa: E402
from storage.repository import Repository  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## /status"
BUILD_VERSION = 2  # bump when the generated data changes shape
MAILBOXES = 5000
DOMAINS = 800
LEADS = 1_000_000
DAYS = 14
SENDS_PER_DAY = 20_000
CALLS = 15
TARGET_MS = 300.0
# what /status ran before lead_counts, timed in the CLI for the notes
FORMER_COUNT = "SELECT campaign_id, state, count(*) FROM leads GROUP BY campaign_id, state"
FORMER_RUNS = 3
TIMEZONE = "Europe/Berlin"
NOW = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)  # a Wednesday, 14:00 in Berlin
REMOVED_MAILBOXES = 50  # in the first config only: then disabled, as after an edit
# (name, share of the leads, timezone, daily limit); the last one leaves the config again
CAMPAIGNS = (
    ("q4-founders", 0.35, "America/New_York", 6000),
    ("eu-cto", 0.25, "Europe/Berlin", 5000),
    ("agencies", 0.20, "Europe/London", None),
    ("saas-ops", 0.10, "Europe/Berlin", 2000),
    ("retail-pilot", 0.05, "Europe/Paris", 1000),
    ("summer-2026", 0.05, "Europe/Berlin", None),
)
LEAD_STATES = (
    ("queued", 0.55),
    ("active", 0.12),
    ("finished", 0.20),
    ("replied", 0.04),
    ("bounced", 0.03),
    ("complained", 0.002),
    ("unsubscribed", 0.01),
    ("suppressed", 0.02),
    ("failed", 0.008),
)


# --- the database --------------------------------------------------------------------------


def bench_config(*, mailboxes: int = MAILBOXES, extra: int = 0) -> OutreachConfig:
    """The config: `mailboxes` (+ `extra` more) on DOMAINS domains, the campaigns, 12 % warming."""
    rnd = random.Random(11)
    today = limits.local_day(NOW, TIMEZONE)
    domains = [
        DomainConfig(name=f"brand{i:03d}-mail.com", daily_limit=rnd.choice([None, 120, 200]))
        for i in range(DOMAINS)
    ]
    boxes = []
    for i in range(mailboxes + extra):
        domain = domains[i % DOMAINS].name
        warming = rnd.random() < 0.12
        start = today - timedelta(days=rnd.randint(0, 13)) if warming else None
        boxes.append(
            MailboxConfig(
                address=f"sender{i:04d}@{domain}",
                display_name=f"Sender {i}",
                daily_limit=40,
                warmup_start=start,
                smtp=ServerConfig(
                    host=f"smtp.{domain}",
                    port=587,
                    username=f"sender{i:04d}@{domain}",
                    password=SecretStr("bench"),
                ),
            )
        )
    steps = [
        StepConfig(
            subject="{Quick question|An idea} for {{ company }}", body="Hi {{ first_name }}"
        ),
        StepConfig(body="Just bumping this, {{ first_name | default('there') }}", wait_days=3),
    ]
    campaigns = [
        CampaignConfig(name=name, timezone=tz, daily_limit=limit, steps=steps)
        for name, _, tz, limit in CAMPAIGNS[: len(CAMPAIGNS) - (0 if extra else 1)]
    ]
    return OutreachConfig(
        sending=SendingConfig(timezone=TIMEZONE, daily_target=120_000),
        domains=domains,
        mailboxes=boxes,
        campaigns=campaigns,
    )


@dataclass(frozen=True, slots=True)
class Built:
    """What the build made, for the section's "data" line."""

    seconds: float
    size_mb: float
    counts: dict[str, int]


def db_path(tmp: Path, leads: int) -> Path:
    """The cached database's file: the build version and sizes are in its name."""
    return tmp / f"bench_status_v{BUILD_VERSION}_{MAILBOXES}m_{leads}l.db"


async def build(path: Path, leads: int) -> None:
    """Create the database at `path` (which must not exist)."""
    rnd = random.Random(7)
    today = limits.local_day(NOW, TIMEZONE)
    conn = await open_db(path)
    try:
        repo = Repository(conn)
        first = bench_config(extra=REMOVED_MAILBOXES)
        then = NOW - timedelta(days=60)
        await repo.sync_config(first, today, first.warmup.policy(), now=then)
        config = bench_config()
        await repo.sync_config(config, today, config.warmup.policy(), now=NOW)
        await _runtime_states(repo, rnd)
        campaigns = {
            str(r[0]): int(r[1])
            for r in await conn.execute_fetchall("SELECT name, id FROM campaigns")
        }
        boxes = [
            (int(r[0]), int(r[1]), str(r[2]), str(r[3]))
            for r in await conn.execute_fetchall(
                "SELECT m.id, m.domain_id, d.name, m.state FROM mailboxes m "
                "JOIN domains d ON d.id = m.domain_id ORDER BY m.id"
            )
        ]

        def work(db: sqlite3.Connection) -> None:
            # The leads' indexes take addresses in random order: a big page cache keeps the
            # build inside a minute or two (the service keeps SQLite's default).
            db.execute("PRAGMA cache_size = -400000")
            with sync_transaction(db):
                opened = _insert_leads(db, rnd, leads, campaigns, boxes)
                _insert_sends(db, rnd, opened, boxes)
                _insert_alerts(db, rnd)
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        await run_sync(conn, work)
    finally:
        await conn.close()


async def _runtime_states(repo: Repository, rnd: random.Random) -> None:
    """Paused, resting and cooling-down mailboxes, set the way the engine sets them."""
    rows = [m for m in await repo.mailboxes() if m.state is MailboxState.ACTIVE]
    picked = rnd.sample(rows, 65)
    for row in picked[:40]:
        await repo.set_mailbox_state(
            row.id, MailboxState.PAUSED, "bounce rate 6.2% over 7 days (31 of 500 sends)"
        )
    for row in picked[40:]:
        await repo.set_mailbox_resting(row.id, NOW + timedelta(minutes=rnd.randint(5, 600)))
    for i in (17, 230, 512, 777):
        await repo.cool_down_domain(
            f"brand{i:03d}-mail.com",
            "spam block: 554 5.7.1 listed at zen.spamhaus.org",
            NOW + timedelta(days=rnd.randint(2, 13)),
        )


def _weighted(rnd: random.Random, table: tuple[tuple[str, float], ...]) -> Iterator[str]:
    names = [n for n, _ in table]
    weights = [w for _, w in table]
    while True:
        yield from rnd.choices(names, weights, k=10_000)


@dataclass(slots=True)
class _Opened:
    """Leads that have had a step: the sends are drawn from these."""

    leads: list[tuple[int, int, int]] = field(default_factory=list)  # id, campaign, mailbox


def _insert_leads(
    db: sqlite3.Connection,
    rnd: random.Random,
    total: int,
    campaigns: dict[str, int],
    boxes: list[tuple[int, int, str, str]],
) -> _Opened:
    letters = "abcdefghijklmnopqrstuvwxyz"

    def word() -> str:
        return "".join(rnd.choices(letters, k=rnd.randint(4, 9)))

    firsts = [word().title() for _ in range(3000)]
    lasts = [word().title() for _ in range(5000)]
    domains = [f"{word()}.{rnd.choice(['com', 'de', 'io', 'co.uk'])}" for _ in range(20_000)]
    companies = [f"{word().title()} {rnd.choice(['GmbH', 'Ltd', 'Inc.'])}" for _ in range(20_000)]
    cities = [word().title() for _ in range(2000)]
    titles = ["CEO", "CTO", "Founder", "Head of Sales", "VP Marketing", "Owner"]
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    ids = [campaigns[name] for name, *_ in CAMPAIGNS]
    shares = [share for _, share, *_ in CAMPAIGNS]
    states = _weighted(rnd, LEAD_STATES)
    senders = [b[0] for b in boxes]
    now_ms = to_ms(NOW)
    created = to_ms(NOW - timedelta(days=40))
    opened = _Opened()
    sql = (
        "INSERT INTO leads (id, campaign_id, email, vars, state, next_step, next_due_at, "
        "mailbox_id, thread_message_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    batch: list[tuple[object, ...]] = []
    picks = rnd.choices(ids, shares, k=total)
    for lead_id in range(1, total + 1):
        first, last = rnd.choice(firsts), rnd.choice(lasts)
        domain = rnd.choice(domains)
        variables = {
            "first_name": first,
            "last_name": last,
            "company": rnd.choice(companies),
            "city": rnd.choice(cities),
            "title": rnd.choice(titles),
        }
        campaign = picks[lead_id - 1]
        state = next(states)
        row: tuple[object, ...]
        if state == "queued":
            row = (lead_id, campaign, f"{first}.{last}{lead_id}@{domain}".lower(),
                   dumps(variables), state, 1, None, None, None, created)  # fmt: skip
        else:
            mailbox = rnd.choice(senders)
            due = now_ms + rnd.randint(-86_400_000, 3 * 86_400_000) if state == "active" else None
            row = (lead_id, campaign, f"{first}.{last}{lead_id}@{domain}".lower(),
                   dumps(variables), state, 2 if state == "active" else 3, due, mailbox,
                   f"<{lead_id:x}.bench@{domain}>", created)  # fmt: skip
            opened.leads.append((lead_id, campaign, mailbox))
        batch.append(row)
        if len(batch) == 50_000:
            db.executemany(sql, batch)
            batch.clear()
    db.executemany(sql, batch)
    return opened


def _insert_sends(
    db: sqlite3.Connection,
    rnd: random.Random,
    opened: _Opened,
    boxes: list[tuple[int, int, str, str]],
) -> None:
    """SENDS_PER_DAY a day for DAYS days (today until NOW), usage rows, events."""
    tz = ZoneInfo(TIMEZONE)
    today = limits.local_day(NOW, TIMEZONE)
    domain_of = {b[0]: (b[1], b[2]) for b in boxes}
    warming = [b[0] for b in boxes if b[3] == "warming"]
    pool = list(opened.leads)
    rnd.shuffle(pool)
    usage: Counter[tuple[str, int, str]] = Counter()
    sends: list[tuple[object, ...]] = []
    events: list[tuple[object, ...]] = []
    send_id = 0
    for back in range(DAYS - 1, -1, -1):
        day = today - timedelta(days=back)
        start = datetime(day.year, day.month, day.day, 8, tzinfo=tz).astimezone(UTC)
        end = min(start + timedelta(hours=10), NOW)
        span = int((end - start).total_seconds() * 1000)
        count = round(SENDS_PER_DAY * span / 36_000_000)
        for _ in range(count):
            send_id += 1
            at = to_ms(start) + rnd.randrange(span)
            if (rnd.random() < 0.12 or not pool) and warming:
                mailbox = rnd.choice(warming)
                kind, lead, campaign, step = "warmup", None, None, None
            else:
                lead, campaign, mailbox = pool.pop()
                kind, step = "campaign", 1
            domain_id, domain = domain_of[mailbox]
            failed = rnd.random() < 0.02
            reply = "5.1.1 user unknown" if failed else "2.0.0 Ok: queued"
            row = (send_id, kind, lead, campaign, step, mailbox, day.isoformat(),
                   "failed" if failed else "sent", f"<{send_id:x}.{at:x}@{domain}>", 1,
                   550 if failed else 250, reply, at - 400, None if failed else at,
                   at)  # fmt: skip
            sends.append(row)
            usage[("mailbox", mailbox, day.isoformat())] += 1
            usage[("domain", domain_id, day.isoformat())] += 1
            if campaign is not None:
                usage[("campaign", campaign, day.isoformat())] += 1
            if not failed:
                events.extend(
                    _events_of(rnd, send_id, at, mailbox=mailbox, campaign=campaign, domain=domain)
                )
    db.executemany(
        "INSERT INTO sends (id, kind, lead_id, campaign_id, step_no, mailbox_id, day, state, "
        "message_id, attempts, smtp_code, smtp_reply, reserved_at, sent_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        sends,
    )
    db.executemany(
        "INSERT INTO usage (scope, ref, day, sent) VALUES (?, ?, ?, ?)",
        [(*key, n) for key, n in usage.items()],
    )
    db.executemany(
        "INSERT INTO events (source, source_id, kind, email, mailbox_id, send_id, campaign_id, "
        "step_no, occurred_at, received_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        events,
    )
    # The last send of each mailbox, as record_sends leaves it.
    db.execute(
        "UPDATE mailboxes SET last_sent_at = (SELECT max(sent_at) FROM sends "
        "WHERE sends.mailbox_id = mailboxes.id)"
    )


_EVENT_KINDS = (
    ("delivered", 0.5),
    ("open", 0.15),
    ("bounce_hard", 0.02),
    ("bounce_soft", 0.01),
    ("complaint", 0.0005),
    ("reply", 0.03),
    ("auto_reply", 0.01),
)


def _events_of(
    rnd: random.Random,
    send_id: int,
    at: int,
    *,
    mailbox: int,
    campaign: int | None,
    domain: str,
) -> Iterator[tuple[object, ...]]:
    now_ms = to_ms(NOW)
    step = None if campaign is None else 1
    for kind, share in _EVENT_KINDS:
        if rnd.random() >= share:
            continue
        when = min(at + rnd.randint(1000, 6 * 3_600_000), now_ms)
        source = "mg" if kind in ("delivered", "open", "complaint") else "imap"
        yield (source, f"{kind}-{send_id}", kind, f"x{send_id}@{domain}", mailbox, send_id,
               campaign, step, when, when + 60_000, None)  # fmt: skip
        if kind == "bounce_hard" and rnd.random() < 0.3:  # the same bounce from the ESP too
            yield ("mg", f"b-{send_id}", kind, f"x{send_id}@{domain}", mailbox, send_id,
                   campaign, step, when + 5000, when + 90_000, None)  # fmt: skip


def _insert_alerts(db: sqlite3.Connection, rnd: random.Random) -> None:
    start = to_ms(NOW - timedelta(days=DAYS))
    span = to_ms(NOW) - start
    texts = [
        ("critical", "mailbox {n} paused: bounce rate 6.2% over 7 days (31 of 500 sends)"),
        ("warning", "mailbox {n}: bounce rate 3.4% over 7 days (17 of 500 sends)"),
        ("critical", "domain brand{n:03d}-mail.com cools down until 2026-12-01: spam block"),
        ("info", "Daily digest: 19,873 sent yesterday, 2.1% bounces, 0.02% complaints"),
    ]
    rows = []
    for alert_id, at in enumerate(sorted(rnd.randrange(span) + start for _ in range(200)), 1):
        severity, text = rnd.choice(texts)
        rows.append((alert_id, f"k{alert_id}", severity, text.format(n=alert_id % 800), at))
    db.executemany(
        "INSERT INTO alerts (id, key, severity, text, created_at) VALUES (?, ?, ?, ?, ?)", rows
    )
    db.executemany(
        "INSERT INTO alert_deliveries (alert_id, chat_id, state, attempts, next_attempt_at, "
        "sent_at) VALUES (?, 1001, 'sent', 1, ?, ?)",
        [(r[0], r[4], r[4] + 800) for r in rows],
    )


def table_counts(path: Path) -> dict[str, int]:
    """Rows per table of the built file."""
    with sqlite3.connect(path) as db:
        tables = ("domains", "mailboxes", "campaigns", "leads", "sends", "usage", "events",
                  "alerts")  # fmt: skip
        return {t: int(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}


def prepare(path: Path, leads: int, rebuild: bool) -> Built | None:
    """Build the file unless it is cached; the build's figures, or None when it was cached."""
    if path.exists() and not rebuild:
        return None
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    partial = path.with_name(path.name + ".partial")
    for stale in path.parent.glob(partial.name + "*"):
        stale.unlink()
    print(f"building {path} ...", flush=True)
    start = time.perf_counter()
    asyncio.run(build(partial, leads))
    seconds = time.perf_counter() - start
    for suffix in ("-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    partial.rename(path)
    return Built(seconds, path.stat().st_size / 1e6, table_counts(path))


# --- the measurement -----------------------------------------------------------------------


@dataclass(slots=True)
class Measured:
    """Milliseconds of every /status call, the parts of the warm ones, and the reply."""

    cold_ms: float
    calls_ms: list[float]
    cpu_ms: list[float]  # CPU time of the whole process (both threads) during each call
    parts_ms: dict[str, list[float]]
    statements: list[str]
    messages: list[str]
    lines: int
    migrated_ms: float
    profile: list[tuple[str, float]]


_TIMED = ("load_snapshot", "mailbox", "sent_on", "campaign_counts", "recent_alerts")


async def measure(path: Path, calls: int) -> Measured:
    """Cold call, then `calls` timed ones, on one connection; the statements of one call."""
    config = bench_config()
    start = time.perf_counter()
    conn = await open_db(path)  # also applies a migration added since the file was built
    migrated_ms = (time.perf_counter() - start) * 1000
    try:
        repo = Repository(conn)
        clock = ManualClock(NOW)
        spent: dict[str, float] = {}
        _time_methods(repo, spent)

        async def once() -> tuple[float, float, list[str], int]:
            spent.clear()
            cpu = time.process_time()
            begin = time.perf_counter()
            report = await gather_status(repo, clock, config)
            lines = status_lines(report)
            messages = chunk_lines(lines)
            done = time.perf_counter()
            spent["render"] = done - begin - sum(spent.values())
            return (done - begin) * 1000, (time.process_time() - cpu) * 1000, messages, len(lines)

        cold, _, messages, lines = await once()
        times: list[float] = []
        cpu_ms: list[float] = []
        parts: dict[str, list[float]] = {}
        for _ in range(calls):
            ms, cpu, _, _ = await once()
            times.append(ms)
            cpu_ms.append(cpu)
            for name, seconds in spent.items():
                parts.setdefault(name, []).append(seconds * 1000)
        statements: list[str] = []
        await run_sync(conn, lambda db: db.set_trace_callback(statements.append))
        await once()
        await run_sync(conn, lambda db: db.set_trace_callback(None))
        profile = await _profile(once)
    finally:
        await conn.close()
    return Measured(cold, times, cpu_ms, parts, statements, messages, lines, migrated_ms, profile)


def _time_methods(repo: Repository, spent: dict[str, float]) -> None:
    """Wrap the Repository calls gather_status makes (on this instance only) to time them."""
    for name in _TIMED:
        method: Callable[..., Awaitable[Any]] = getattr(repo, name)

        def wrapper(
            method: Callable[..., Awaitable[Any]] = method, name: str = name
        ) -> Callable[..., Awaitable[Any]]:
            async def timed(*args: Any, **kwargs: Any) -> Any:
                begin = time.perf_counter()
                try:
                    return await method(*args, **kwargs)
                finally:
                    spent[name] = spent.get(name, 0.0) + time.perf_counter() - begin

            return timed

        setattr(repo, name, wrapper())


async def _profile(once: Callable[[], Awaitable[object]]) -> list[tuple[str, float]]:
    """Event-loop functions by own time over 5 calls under cProfile: (name, ms per call)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(5):
        await once()
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw = stats.stats  # type: ignore[attr-defined]
    rows = []
    for (file, _line, func), (_, _, own, _, _) in raw.items():
        where = f"{Path(file).name}:{func}" if file != "~" else f"~:{func}"
        rows.append((where, own * 1000 / 5))
    return sorted(rows, key=lambda r: -r[1])[:8]


# --- the baseline --------------------------------------------------------------------------


def sqlite_cli() -> str | None:
    """The sqlite3 binary, or None with the reason printed."""
    found = shutil.which("sqlite3")
    if found is None:
        print(
            "sqlite3 CLI not found: the baseline is skipped. Install it (Debian/Ubuntu: "
            "apt-get install -y sqlite3, or make bench-deps) and run again for the ratio.",
            file=sys.stderr,
        )
    return found


def run_cli(cli: str, path: Path, statements: list[str], calls: int) -> list[float]:
    """Milliseconds per replay of `statements`, `calls` + 1 replays in one CLI (first dropped)."""
    script = ["PRAGMA busy_timeout = 10000;", ".output /dev/null", ".timer on"]
    for _ in range(calls + 1):
        script.append("SELECT 'replay';")
        script += [s.rstrip().rstrip(";") + ";" for s in statements]
    done = subprocess.run(
        [cli, "-readonly", str(path)],
        input="\n".join(script) + "\n",
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    found = [float(x) for x in re.findall(r"Run Time: real ([0-9.]+)", done.stdout)]
    per = len(statements) + 1
    if len(found) != per * (calls + 1):
        raise RuntimeError(f"unexpected sqlite3 output: {done.stdout[:400]!r} {done.stderr!r}")
    replays = [sum(found[i * per : (i + 1) * per]) * 1000 for i in range(calls + 1)]
    return replays[1:]


def cli_version(cli: str) -> str:
    done = subprocess.run([cli, "--version"], check=True, capture_output=True, text=True)
    return done.stdout.split()[0]


# --- the run -------------------------------------------------------------------------------


def main() -> None:
    """Build (or reuse) the database, time /status and the baselines, record the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--leads", type=int, default=LEADS)
    parser.add_argument("--rebuild", action="store_true", help="build the database again")
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    args = parser.parse_args()

    cli = sqlite_cli()
    path = db_path(Path(tempfile.gettempdir()), args.leads)
    built = prepare(path, args.leads, args.rebuild)
    if built is not None:
        print(f"built in {built.seconds:.0f} s, {built.size_mb:.0f} MB", flush=True)
    counts = built.counts if built else table_counts(path)
    load = os.getloadavg()[0]
    measured = asyncio.run(measure(path, args.calls))
    print(
        f"/status: cold {measured.cold_ms:.0f} ms, median "
        f"{statistics.median(measured.calls_ms):.0f} ms over {args.calls} calls",
        flush=True,
    )
    cli_runs: list[float] = []
    former: list[float] = []
    if cli is not None:
        cli_runs = run_cli(cli, path, measured.statements, args.calls)
        print(f"sqlite3 CLI replay: median {statistics.median(cli_runs):.0f} ms", flush=True)
        former = run_cli(cli, path, [FORMER_COUNT], FORMER_RUNS)
    load_end = os.getloadavg()[0]
    section = _section(
        args=sys.argv[1:],
        path=path,
        built=built,
        counts=counts,
        measured=measured,
        baselines=(cli_runs, former),
        cli=cli_version(cli) if cli else None,
        load=(load, load_end),
    )
    print(section)
    if not args.no_write:
        write_section(SECTION, section)
        print(f"written to {RESULTS.relative_to(ROOT)}")


def _section(
    *,
    args: list[str],
    path: Path,
    built: Built | None,
    counts: dict[str, int],
    measured: Measured,
    baselines: tuple[list[float], list[float]],
    cli: str | None,
    load: tuple[float, float],
) -> str:
    cli_runs, former = baselines
    median = statistics.median(measured.calls_ms)
    command = " ".join([".venv/bin/python bench/bench_status.py", *args])
    size_mb = path.stat().st_size / 1e6

    def each(values: list[float]) -> str:
        return ", ".join(f"{v:.0f}" for v in values)

    how = (
        f"built in this run in {built.seconds:.0f} s"
        if built
        else "reused from an earlier run (cached in the temp dir; --rebuild builds it again)"
    )
    lines = [
        SECTION,
        "",
        f"- Date: {datetime.now(UTC).date().isoformat()}",
        f"- Machine: {os.cpu_count()} cores (nproc), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}; load "
        f"average (1 min) {load[0]:.2f} at the start, {load[1]:.2f} at the end",
        f"- Command: `{command}`",
        f"- Data: {counts['mailboxes']:,} mailboxes ({REMOVED_MAILBOXES} of them removed from "
        f"the config; 12% warming, 40 paused, 25 resting, 4 domains cooling down) on "
        f"{counts['domains']:,} domains, {counts['campaigns']} campaigns (one removed), "
        f"{counts['leads']:,} leads over every lead state, {counts['sends']:,} sends "
        f"({SENDS_PER_DAY:,} a day for {DAYS} days, today until 14:00), {counts['usage']:,} "
        f"usage rows, {counts['events']:,} events, {counts['alerts']} alerts; a {size_mb:.0f} "
        f"MB file, {how}.",
        f"- Calls: one cold call on a fresh connection, then {len(measured.calls_ms)} timed "
        "calls on the same connection; medians.",
        "",
        "| Contender | Median ms | Cold ms | CPU ms | Calls (ms) | /status / this |",
        "|---|---:|---:|---:|---|---:|",
        "| /status: gather_status + status_lines + chunk_lines (Repository over aiosqlite) | "
        f"{median:.0f} | {measured.cold_ms:.0f} | {statistics.median(measured.cpu_ms):.0f} | "
        f"{each(measured.calls_ms)} | 1.00x |",
    ]
    if cli_runs and cli:
        baseline = statistics.median(cli_runs)
        lines.append(
            f"| sqlite3 {cli} CLI replaying the call's {len(measured.statements)} statements | "
            f"{baseline:.0f} | - | - | {each(cli_runs)} | {median / baseline:.2f}x |"
        )
    else:
        lines.append("| sqlite3 CLI | skipped: binary not found | | | | |")
    met = "met" if median <= TARGET_MS else "MISSED"
    sizes = [utf16_len(m) for m in measured.messages]
    lines += [
        "",
        f"Target: median <= {TARGET_MS:.0f} ms ({met}: {median:.0f} ms).",
        "",
        f"The reply: {measured.lines} lines in {len(measured.messages)} message(s) of "
        f"{', '.join(f'{s:,}' for s in sizes)} characters (Telegram's limit is 4,096).",
        "",
        "Where a warm call's time goes (medians; each Repository call includes its wait for "
        "aiosqlite's thread):",
        "",
        "| Part | ms |",
        "|---|---:|",
    ]
    names = {
        "load_snapshot": "Repository.load_snapshot: mailboxes, domains, campaigns with today's "
        "use (5,000 rows mapped to MailboxView)",
        "mailbox": "Repository.mailbox, once for each mailbox named (its reason)",
        "sent_on": "Repository.sent_on (today's sends)",
        "campaign_counts": "Repository.campaign_counts (leads by state per campaign)",
        "recent_alerts": "Repository.recent_alerts",
        "render": "the rest: capacity per mailbox and domain, the attention list, status_lines, "
        "chunk_lines",
    }
    for key, label in names.items():
        values = measured.parts_ms.get(key)
        if values:
            lines.append(f"| {label} | {statistics.median(values):.1f} |")
    lines += [
        "",
        "Top functions by own time (cProfile, 5 more calls, event-loop thread; ms a call):",
        "",
        *(f"- `{name}` {ms:.1f}" for name, ms in measured.profile),
        "",
        "Notes:",
        "- Timed is what the bot's /status handler runs before it sends the messages: the "
        "Telegram round trip is not in it. Opening the database is not either (the service "
        f"holds one connection; open_db took {measured.migrated_ms:.0f} ms here). CPU ms is "
        "the process's CPU time (event loop and aiosqlite's thread) during a call: on a busy "
        "machine the steadier figure.",
        "- The baseline is what SQLite alone takes for the same statements with their values "
        "bound (BEGIN/ROLLBACK included), in the CLI's own process; /status adds the "
        "aiosqlite thread hops, building the rows in Python and the report itself.",
        "- Leads by state come from `lead_counts`, kept by triggers on `leads` (migration 3). "
        "Counting them instead, as /status did before, takes SQLite alone "
        + (
            f"{statistics.median(former):,.0f} ms on this file (sqlite3 CLI, `{FORMER_COUNT}`, "
            f"median of {len(former)}: {each(former)})."
            if former
            else "(not measured: no sqlite3 CLI)."
        ),
        "- /status reads no health window (it shows no rates), today's sends over all "
        "mailboxes come from the `usage_day` index, and it names at most "
        f"{ATTENTION_LIMIT} mailboxes (the most urgent first) and counts the rest, so none of "
        "its statements grows with the history.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
