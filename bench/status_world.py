"""The scale benchmarks' database: 5,000 mailboxes, 1,000,000 leads, 5,000,000 sends.

Built through the product's own storage code where that is cheap enough: the migrations,
ConfigStore.sync_config for 5,000 mailboxes on 800 domains and six campaigns (one of them
removed from the config again, as are 50 mailboxes), and the stores' state writers for paused,
resting and cooling-down mailboxes. Leads, sends, usage counters, events and alerts are
bulk-inserted with executemany in the shapes the importer and the engine write: 1,000,000
leads spread over every lead state, 20,000 sends a day for 251 days (the last day up to
"now", 14:00 in the sending timezone; the days before the last two weeks are the history,
see _history_steps) with their usage rows, bounces, complaints, replies, deliveries and
opens, and 200 alerts. Rows go in day by day in one transaction (a day's sends, usage and
events, then the next day), so the build holds one day in memory.

The built file is cached in the temp dir under a name that carries BUILD_VERSION and the
sizes, so a rerun only opens it; --rebuild builds it again.

A fixture of bench/bench_status.py and bench/bench_tick.py, which time /status and a sending
tick over it through bootstrap.py: this module writes through storage only and imports no
engine service.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import SecretStr

from config import (
    CampaignConfig,
    DomainConfig,
    MailboxConfig,
    OutreachConfig,
    SendingConfig,
    ServerConfig,
    StepConfig,
)
from core import limits
from core.models import MailboxState
from storage.db import run_sync, sync_transaction, to_ms
from storage.stores import Stores

BUILD_VERSION = 3  # bump when the generated data changes shape
MAILBOXES = 5000
DOMAINS = 800
LEADS = 1_000_000
# 251 days of 20,000 sends (the last one until NOW): just over 5,000,000 sends. The last
# RECENT_DAYS carry step 1 of the leads' current sequences; the days before them are history.
DAYS = 251
RECENT_DAYS = 14
HISTORY_FIRST_STEP = 3
SENDS_PER_DAY = 20_000
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
    return tmp / f"bench_status_v{BUILD_VERSION}_{MAILBOXES}m_{leads}l_{DAYS}d.db"


async def build(path: Path, leads: int) -> None:
    """Create the database at `path` (which must not exist)."""
    rnd = random.Random(7)
    today = limits.local_day(NOW, TIMEZONE)
    stores = await Stores.open(path)
    try:
        first = bench_config(extra=REMOVED_MAILBOXES)
        then = NOW - timedelta(days=60)
        await stores.config.sync_config(first.rules(), today, now=then)
        config = bench_config()
        await stores.config.sync_config(config.rules(), today, now=NOW)
        await _runtime_states(stores, rnd)
        campaigns = {
            str(r[0]): int(r[1]) for r in await stores.db.fetch("SELECT name, id FROM campaigns")
        }
        boxes = [
            (int(r[0]), int(r[1]), str(r[2]), str(r[3]))
            for r in await stores.db.fetch(
                "SELECT m.id, m.domain_id, d.name, m.state FROM mailboxes m "
                "JOIN domains d ON d.id = m.domain_id ORDER BY m.id"
            )
        ]

        def work(db: sqlite3.Connection) -> None:
            # The leads' indexes take addresses in random order: a big page cache keeps the
            # build within minutes (the service keeps SQLite's default).
            db.execute("PRAGMA cache_size = -1000000")
            with sync_transaction(db):
                opened = _insert_leads(db, rnd, leads, campaigns, boxes)
                _insert_sends(db, rnd, opened, boxes)
                _insert_alerts(db, rnd)
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        await run_sync(stores.db.conn, work)
    finally:
        await stores.close()


async def _runtime_states(stores: Stores, rnd: random.Random) -> None:
    """Paused, resting and cooling-down mailboxes, set the way the engine sets them."""
    rows = [m for m in await stores.control.mailboxes() if m.state is MailboxState.ACTIVE]
    picked = rnd.sample(rows, 65)
    for row in picked[:40]:
        await stores.health.set_mailbox_state(
            row.id, MailboxState.PAUSED, "bounce rate 6.2% over 7 days (31 of 500 sends)"
        )
    for row in picked[40:]:
        await stores.control.set_mailbox_resting(
            row.id, NOW + timedelta(minutes=rnd.randint(5, 600))
        )
    for i in (17, 230, 512, 777):
        await stores.health.cool_down_domain(
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
    """SENDS_PER_DAY a day for DAYS days (today until NOW), usage rows, events; day by day."""
    tz = ZoneInfo(TIMEZONE)
    today = limits.local_day(NOW, TIMEZONE)
    domain_of = {b[0]: (b[1], b[2]) for b in boxes}
    warming = [b[0] for b in boxes if b[3] == "warming"]
    pool = list(opened.leads)
    rnd.shuffle(pool)
    history = _history_steps(rnd, opened)
    last_sent: dict[int, int] = {}
    send_id = 0
    for back in range(DAYS - 1, -1, -1):
        day = today - timedelta(days=back)
        start = datetime(day.year, day.month, day.day, 8, tzinfo=tz).astimezone(UTC)
        end = min(start + timedelta(hours=10), NOW)
        span = int((end - start).total_seconds() * 1000)
        count = round(SENDS_PER_DAY * span / 36_000_000)
        usage: Counter[tuple[str, int, str]] = Counter()
        sends: list[tuple[object, ...]] = []
        events: list[tuple[object, ...]] = []
        for _ in range(count):
            send_id += 1
            at = to_ms(start) + rnd.randrange(span)
            lead: int | None
            campaign: int | None
            step: int | None
            if (rnd.random() < 0.12 or (back < RECENT_DAYS and not pool)) and warming:
                mailbox = rnd.choice(warming)
                kind, lead, campaign, step = "warmup", None, None, None
            elif back < RECENT_DAYS:
                lead, campaign, mailbox = pool.pop()
                kind, step = "campaign", 1
            else:
                lead, campaign, mailbox, step = next(history)
                kind = "campaign"
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
                last_sent[mailbox] = max(last_sent.get(mailbox, 0), at)
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
            "INSERT INTO events (source, source_id, kind, email, mailbox_id, send_id, "
            "campaign_id, step_no, occurred_at, received_at, detail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            events,
        )
    # The last send of each mailbox, as record_sends leaves it (kept while generating: a
    # max() per mailbox over millions of sends would cost more than the sends themselves).
    db.executemany(
        "UPDATE mailboxes SET last_sent_at = ? WHERE id = ?",
        [(at, mailbox) for mailbox, at in last_sent.items()],
    )


def _history_steps(rnd: random.Random, opened: _Opened) -> Iterator[tuple[int, int, int, int]]:
    """(lead, campaign, mailbox, step) for the sends older than RECENT_DAYS, never repeating.

    The leads table holds today's 1,000,000 leads, fewer than the history's (lead, step)
    pairs with two steps each: the history's campaign sends go to the leads that have had a
    step, with step numbers from HISTORY_FIRST_STEP up (sequences that were longer before
    their steps were edited), so UNIQUE (lead_id, step_no) holds and every lead of the
    history is a real row of leads.
    """
    step = HISTORY_FIRST_STEP
    while True:
        order = list(opened.leads)
        rnd.shuffle(order)
        for lead, campaign, mailbox in order:
            yield lead, campaign, mailbox, step
        step += 1


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
    start = to_ms(NOW - timedelta(days=RECENT_DAYS))
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
