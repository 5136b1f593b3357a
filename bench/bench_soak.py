"""A compressed soak: 30 days of 1,200 sends a day on a manual clock, counts exact, RSS flat.

30 mailboxes (40 a day each) on 10 domains send three campaigns (2 and 3 steps, one with a
daily cap that binds) to 60,000 leads through the real service parts from
bootstrap.build_service (SQLite file, SendingEngine, HealthService) and an InstantSender
(bench/instant_sender.py). The clock is a ManualClock: each simulated day it walks the
campaigns' window 08:00-18:00 (Europe/Berlin) in steps of the config's tick (60 s) and at
each step runs what the service's scheduler runs at that moment: a sending tick, the
health upkeep (every 60 s) and the health evaluation (every 300 s). Nights are skipped.

After each day (bench/soak_checks.py): every mailbox sent exactly its cap while leads were
queued, no domain or campaign over its cap, the usage counters equal the sends, no send of
the day left unfinished, no two sends of a mailbox closer than the minimum gap. At the end:
36,000 sends, every follow-up from its thread's mailbox after its wait and after its
previous step, every finished lead with all its steps. The process's RSS (VmRSS from
/proc/self/status) is sampled after each day; flat is defined in soak_checks.rss_verdict.

Run alone:
    .venv/bin/python bench/bench_soak.py [--days N] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's packages

from pydantic import SecretStr  # noqa: E402

import bootstrap  # noqa: E402
from bench.instant_sender import InstantSender  # noqa: E402
from bench.results import write_section  # noqa: E402
from bench.soak_checks import Caps, DayCounts, RssVerdict, day_problems, rss_mb, rss_verdict  # noqa: E402
from config import (  # noqa: E402
    CampaignConfig,
    DomainConfig,
    MailboxConfig,
    OutreachConfig,
    SendingConfig,
    ServerConfig,
    StepConfig,
)
from engine.clock import ManualClock  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## Compressed soak: 30 days of 1,200 a day"
TIMEZONE = "Europe/Berlin"
FIRST_DAY = date(2027, 1, 4)  # a Monday; no DST change in the 30 days after it
DAYS = 30
MAILBOXES = 30
DOMAINS = 10
CAP = 40
TICK_SECONDS = 60
MAINTAIN_SECONDS = 60  # service.py's MAINTENANCE_SECONDS
EVALUATE_SECONDS = 300  # service.py's HEALTH_SECONDS
OPEN, CLOSE = 8, 18  # the campaigns' hours
MIN_GAP_SECONDS = 300
LEADS_PER_CAMPAIGN = 20_000
# (name, daily cap, waits of the steps after the first)
CAMPAIGNS: tuple[tuple[str, int | None, tuple[int, ...]], ...] = (
    ("alpha", None, (2, 3)),
    ("beta", 300, (3,)),
    ("gamma", None, (4,)),
)
DOMAIN_CAPS: tuple[int | None, ...] = (None, 120)  # alternating; 120 = 3 mailboxes x 40


def soak_config() -> OutreachConfig:
    """30 mailboxes x 40 on 10 domains, three campaigns open every day 08:00-18:00."""
    domains = [
        DomainConfig(name=f"soak{i}.example", daily_limit=DOMAIN_CAPS[i % len(DOMAIN_CAPS)])
        for i in range(DOMAINS)
    ]
    boxes = [
        MailboxConfig(
            address=f"rep{i:02d}@{domains[i % DOMAINS].name}",
            display_name=f"Rep {i}",
            daily_limit=CAP,
            smtp=ServerConfig(
                host="smtp.invalid",
                port=587,
                username=f"rep{i:02d}",
                password=SecretStr("soak"),
            ),
        )
        for i in range(MAILBOXES)
    ]
    campaigns = []
    for name, cap, waits in CAMPAIGNS:
        steps = [StepConfig(subject=f"{name}: a note for {{{{ company }}}}", body="Hi {{ name }}")]
        steps += [
            StepConfig(body=f"Following up ({n + 2})", wait_days=w) for n, w in enumerate(waits)
        ]
        campaigns.append(
            CampaignConfig(
                name=name,
                timezone=TIMEZONE,
                days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                hours=f"{OPEN:02d}:00-{CLOSE:02d}:00",
                daily_limit=cap,
                steps=steps,
            )
        )
    return OutreachConfig(
        sending=SendingConfig(
            timezone=TIMEZONE,
            daily_target=MAILBOXES * CAP,
            tick_seconds=TICK_SECONDS,
            min_gap_seconds=MIN_GAP_SECONDS,
        ),
        domains=domains,
        mailboxes=boxes,
        campaigns=campaigns,
    )


def caps(config: OutreachConfig) -> Caps:
    """The config's daily limits by name."""
    return Caps(
        mailbox={m.address: m.daily_limit for m in config.mailboxes},
        domain={d.name: d.daily_limit for d in config.domains},
        campaign={c.name: c.daily_limit for c in config.campaigns},
    )


def insert_leads(path: Path, created: datetime) -> int:
    """LEADS_PER_CAMPAIGN queued leads for each campaign, as the importer leaves them."""
    ms = int(created.timestamp() * 1000)
    db = sqlite3.connect(path, timeout=10)
    try:
        with db:
            ids = dict(db.execute("SELECT name, id FROM campaigns").fetchall())
            rows = [
                (
                    ids[name],
                    f"lead{n}@{name}-{n % 97}.example",
                    json.dumps({"name": f"Lead {n}", "company": f"Co {n % 500}"}),
                    ms,
                )  # fmt: skip
                for name, _, _ in CAMPAIGNS
                for n in range(LEADS_PER_CAMPAIGN)
            ]
            db.executemany(
                "INSERT INTO leads (campaign_id, email, vars, created_at) VALUES (?, ?, ?, ?)", rows
            )
    finally:
        db.close()
    return len(rows)


# --- the run -------------------------------------------------------------------------------


@dataclass(slots=True)
class Soak:
    """What the soak saw: per-day counts and problems, RSS samples, timings."""

    rss_start_mb: float = 0.0
    rss_mb: list[float] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    final: dict[str, int] = field(default_factory=dict)
    day_seconds: list[float] = field(default_factory=list)
    ticks: int = 0
    leads: int = 0


async def soak(workdir: Path, days: int) -> Soak:
    """Run `days` simulated days and check each one; the findings."""
    config = soak_config()
    limits = caps(config)
    tz = ZoneInfo(TIMEZONE)
    clock = ManualClock(datetime.combine(FIRST_DAY, datetime.min.time(), tz))
    path = workdir / "soak.db"
    found = Soak()
    async with AsyncExitStack() as stack:
        service = await bootstrap.build_service(
            stack,
            db_path=path,
            config=config,
            clock=clock,
            chats=[],
            sender=InstantSender(),
            rng=random.Random(7),
        )
        found.leads = await asyncio.to_thread(insert_leads, path, clock.now())
        db = service.stores.db
        found.rss_start_mb = rss_mb()
        for number in range(days):
            day = FIRST_DAY + timedelta(days=number)
            start = datetime.combine(day, datetime.min.time(), tz).replace(hour=OPEN)
            seconds = (CLOSE - OPEN) * 3600
            began = time.perf_counter()
            for offset in range(0, seconds, TICK_SECONDS):
                clock.set(start + timedelta(seconds=offset))
                await service.engine.tick()
                found.ticks += 1
                if offset % MAINTAIN_SECONDS == 0:
                    await service.health.maintain()
                if offset % EVALUATE_SECONDS == 0:
                    await service.health.evaluate()
            found.day_seconds.append(time.perf_counter() - began)
            counts = await day_counts(db, day.isoformat())
            found.sent.append(sum(counts.per_mailbox.values()))
            found.problems += [f"{day}: {p}" for p in day_problems(counts, limits)]
            found.problems += [f"{day}: {p}" for p in await gap_problems(db, day.isoformat())]
            found.rss_mb.append(rss_mb())
            print(
                f"day {number + 1}: {found.sent[-1]} sent, RSS {found.rss_mb[-1]:.1f} MB, "
                f"{found.day_seconds[-1]:.1f} s",
                flush=True,
            )
        found.final = await final_counts(db)
    return found


class _Rows(Protocol):
    """The one thing the checks need of the service's database: rows of a query."""

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]: ...


async def _one(db: _Rows, sql: str, params: Sequence[object] = ()) -> int:
    return int((await db.fetch(sql, params))[0][0])


async def day_counts(db: _Rows, day: str) -> DayCounts:
    """The day's sends by mailbox, domain and campaign, its usage rows, what is left."""

    async def pairs(sql: str) -> dict[str, int]:
        return {str(r[0]): int(r[1]) for r in await db.fetch(sql, (day,))}

    usage = {
        (str(r[0]), str(r[1])): int(r[2])
        for r in await db.fetch(
            "SELECT u.scope, coalesce(m.address, d.name, c.name), u.sent FROM usage u "
            "LEFT JOIN mailboxes m ON u.scope = 'mailbox' AND m.id = u.ref "
            "LEFT JOIN domains d ON u.scope = 'domain' AND d.id = u.ref "
            "LEFT JOIN campaigns c ON u.scope = 'campaign' AND c.id = u.ref WHERE u.day = ?",
            (day,),
        )
    }
    return DayCounts(
        per_mailbox=await pairs(
            "SELECT m.address, count(*) FROM mailboxes m JOIN sends s ON s.mailbox_id = m.id "
            "WHERE s.day = ? AND s.state = 'sent' GROUP BY m.address"
        ),
        per_domain=await pairs(
            "SELECT d.name, count(*) FROM domains d JOIN mailboxes m ON m.domain_id = d.id "
            "JOIN sends s ON s.mailbox_id = m.id WHERE s.day = ? AND s.state = 'sent' "
            "GROUP BY d.name"
        ),
        per_campaign=await pairs(
            "SELECT c.name, count(*) FROM campaigns c JOIN sends s ON s.campaign_id = c.id "
            "WHERE s.day = ? AND s.state = 'sent' GROUP BY c.name"
        ),
        usage=usage,
        unfinished=await _one(
            db, "SELECT count(*) FROM sends WHERE day = ? AND state != 'sent'", (day,)
        ),
        queued_left=await _one(db, "SELECT count(*) FROM leads WHERE state = 'queued'"),
    )


async def gap_problems(db: _Rows, day: str) -> list[str]:
    """Two sends of one mailbox closer than the minimum gap on `day`."""
    close = await _one(
        db,
        "SELECT count(*) FROM (SELECT sent_at - lag(sent_at) OVER "
        "(PARTITION BY mailbox_id ORDER BY sent_at) AS gap FROM sends WHERE day = ?) "
        "WHERE gap < ?",
        (day, MIN_GAP_SECONDS * 1000),
    )
    return (
        [f"{close} sends closer than {MIN_GAP_SECONDS} s to their mailbox's previous one"]
        if close
        else []
    )


async def final_counts(db: _Rows) -> dict[str, int]:
    """Whole-run checks: each is a count that must be 0, but 'sends' and 'leads touched'."""
    return {
        "sends": await _one(db, "SELECT count(*) FROM sends"),
        "leads touched": await _one(db, "SELECT count(DISTINCT lead_id) FROM sends"),
        "lead steps sent twice": await _one(
            db,
            "SELECT count(*) FROM (SELECT 1 FROM sends GROUP BY lead_id, step_no "
            "HAVING count(*) > 1)",
        ),
        "follow-ups without their previous step": await _one(
            db,
            "SELECT count(*) FROM sends s WHERE s.step_no > 1 AND NOT EXISTS (SELECT 1 "
            "FROM sends p WHERE p.lead_id = s.lead_id AND p.step_no = s.step_no - 1)",
        ),
        "follow-ups from another mailbox or before their wait": await _one(
            db,
            "SELECT count(*) FROM sends s JOIN sends p ON p.lead_id = s.lead_id "
            "AND p.step_no = s.step_no - 1 JOIN steps st ON st.campaign_id = s.campaign_id "
            "AND st.step_no = s.step_no WHERE s.mailbox_id != p.mailbox_id "
            "OR s.sent_at < p.sent_at + st.wait_days * 86400000",
        ),
        "finished leads missing a step": await _one(
            db,
            "SELECT count(*) FROM leads l WHERE l.state = 'finished' AND "
            "(SELECT count(*) FROM sends s WHERE s.lead_id = l.id AND s.state = 'sent') != "
            "(SELECT count(*) FROM steps st WHERE st.campaign_id = l.campaign_id)",
        ),
        "sends not 'sent'": await _one(db, "SELECT count(*) FROM sends WHERE state != 'sent'"),
    }


def main() -> None:
    """Run the soak, check it, record the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=DAYS)
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_soak_") as tmp:
        found = asyncio.run(soak(Path(tmp), args.days))
    wall = time.perf_counter() - began
    verdict = rss_verdict(found.rss_mb)
    expected = args.days * MAILBOXES * CAP
    if found.final["sends"] != expected:
        found.problems.append(f"{found.final['sends']} sends in all, not {expected}")
    for name, count in found.final.items():
        if name not in ("sends", "leads touched") and count:
            found.problems.append(f"{name}: {count}")
    section = _section(
        args=sys.argv[1:], found=found, verdict=verdict, wall=wall,
        load=(load, os.getloadavg()[0]), expected=expected,
    )  # fmt: skip
    print(section)
    if not args.no_write:
        write_section(SECTION, section)
        print(f"written to {RESULTS.relative_to(ROOT)}")
    if found.problems or not verdict.flat:
        sys.exit(1)


def _section(
    *,
    args: list[str],
    found: Soak,
    verdict: RssVerdict,
    wall: float,
    load: tuple[float, float],
    expected: int,
) -> str:
    command = " ".join([".venv/bin/python bench/bench_soak.py", *args])
    days = len(found.sent)
    exact = "exact" if not found.problems else f"{len(found.problems)} PROBLEMS"
    ticks_a_day = (CLOSE - OPEN) * 3600 // TICK_SECONDS
    per_tick = statistics.median(found.day_seconds) * 1000 / ticks_a_day
    lines = [
        SECTION,
        "",
        f"- Date: {datetime.now(UTC).date().isoformat()}",
        f"- Machine: {os.cpu_count()} cores (nproc), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}; load "
        f"average (1 min) {load[0]:.2f} at the start, {load[1]:.2f} at the end",
        f"- Command: `{command}`",
        f"- Load: {MAILBOXES} mailboxes x {CAP} a day on {DOMAINS} domains (every other one "
        f"capped at 120), campaigns "
        + ", ".join(
            f"{name} ({len(waits) + 1} steps, cap {cap or 'none'})"
            for name, cap, waits in CAMPAIGNS
        )
        + f", {found.leads:,} leads; {days} simulated days from {FIRST_DAY} ({TIMEZONE}), "
        f"{OPEN:02d}:00-{CLOSE:02d}:00 in {TICK_SECONDS}-s ticks ({found.ticks:,} ticks), "
        "each with the health upkeep every 60 s and the health evaluation every 300 s; "
        "InstantSender; ManualClock.",
        "",
        "| Measure | Value |",
        "|---|---:|",
        f"| Sends in all (expected {expected:,}) | {found.final.get('sends', 0):,} |",
        f"| Sent per day (min-max) | {min(found.sent):,}-{max(found.sent):,} |",
        f"| Daily checks over {days} days | {exact} |",
        f"| RSS after start-up, before day 1 (baseline) | {found.rss_start_mb:.1f} MB |",
        f"| RSS after day 1 | {verdict.first_day_mb:.1f} MB |",
        f"| RSS, median of the last 7 days | {verdict.last_week_mb:.1f} MB |",
        f"| RSS trend over days 2-{days} (least squares) | {verdict.slope_mb_per_day * 1024:+.0f} "
        f"kB a day, {verdict.trend_mb:+.2f} MB in all |",
        f"| Flat (trend <= {verdict.allowed_mb:.1f} MB) | {'yes' if verdict.flat else 'NO'} |",
        f"| Wall time per simulated day (median) | {statistics.median(found.day_seconds):.1f} s |",
        f"| Wall time per tick with its health jobs (median over days) | {per_tick:.1f} ms |",
        f"| Whole run | {wall:.0f} s |",
        "",
        "RSS after each day (MB): " + ", ".join(f"{v:.1f}" for v in found.rss_mb),
        "",
        "Whole-run checks (each must be 0 but the first two): "
        + "; ".join(f"{name} {count:,}" for name, count in found.final.items())
        + ".",
    ]
    if found.problems:
        lines += ["", "Problems:", *(f"- {p}" for p in found.problems[:20])]
    lines += [
        "",
        "Notes:",
        "- Daily checks (bench/soak_checks.py): each mailbox sent exactly its cap while leads "
        "were still queued; no domain or campaign over its cap; the usage counters equal the "
        "sends by mailbox, domain and campaign; no send of the day unfinished; no two sends of "
        f"one mailbox closer than min_gap_seconds ({MIN_GAP_SECONDS} s).",
        f"- Flat: the least-squares trend of RSS over days 2-{days} (day 1 loads code and fills "
        "caches) adds at most the larger of 2 MB and 2% of the median over the run. "
        "RSS is VmRSS from /proc/self/status after each day's checks; no gc.collect() is forced.",
        "- The figures are provisional while other jobs share the machine: the wall times "
        "move with the load, the counts and the RSS trend should not.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
