"""How long the demo's default world takes to simulate, and what 5,000 mailboxes would take.

Timed is the simulation as demo/run.py runs it (`DemoResult.engine_seconds`): in it, building
the world (leads generated, lists written), the database and the config sync, every import,
every engine tick over the SMTP sink, upkeep, health, alerts and the day's bookkeeping. Out of
it: the interpreter's start and imports, the PNG report (not drawn here) and summary.json.

Contenders, in one run:
  - the default world (SPEC 1's job: 30 new mailboxes ramping to 1,200 a day), `--days` days,
    `--runs` times; target <= 10 s;
  - baseline: the planner's pure computation of the same days (core/ramp.py's capacity per day
    for the same pool, no I/O), the floor of any simulation of these rules;
  - baseline: the small world (12 mailboxes, about 60 mails a day) over the same days;
  - 5,000 new mailboxes (the job world resized, its lists cut to what `--big-days` days use) for
    `--big-days` days, measured; its 30 days are projected from the measured time per mail and
    the mails the planner allows in 30 days (a projection, said so). Target <= 5 minutes.

Run alone:
    .venv/bin/python bench/bench_demo.py [--days 30] [--runs 3] [--big-days 1] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's packages

from bench.results import opening, write_section  # noqa: E402
from config import OutreachConfig  # noqa: E402
from core import ramp  # noqa: E402
from demo.job import job_story  # noqa: E402
from demo.run import DemoOptions, DemoResult, run_demo  # noqa: E402
from demo.small import small_story  # noqa: E402
from demo.world import DEFAULT_START, Story  # noqa: E402

SECTION = "## Demo simulation"
TARGET_SECONDS = 10.0
BIG_MAILBOXES = 5_000
BIG_TARGET_SECONDS = 300.0
PLANNER_REPEATS = 20


@dataclass(frozen=True, slots=True)
class Timed:
    """One simulation: its wall and CPU seconds and the mails the limits counted."""

    seconds: float
    cpu: float
    mails: int
    matched: bool


def _quiet(line: str) -> None:
    """The table is not wanted here."""


def simulate(story: Story, days: int, folder: Path, *, durable: bool = False) -> Timed:
    """Run the demo loop on `story` for `days` days, no PNG (`durable`: as the service's DB)."""
    options = DemoOptions(days=days, out=folder, world=story.name, durable=durable)
    cpu = time.process_time()
    result: DemoResult = asyncio.run(run_demo(options, _quiet, png=False, story=story))
    return Timed(
        seconds=result.engine_seconds,
        cpu=time.process_time() - cpu,
        mails=sum(row.used for row in result.days),
        matched=result.target.matches,
    )


def planner_days(config: OutreachConfig, days: int) -> int:
    """The planner's capacity for each of `days` days of the config's pool; the mails allowed."""
    rules = config.rules()
    pool = ramp.configured_pool(rules.mailboxes, rules.domains)
    return sum(
        ramp.pool_capacity(
            pool, DEFAULT_START + timedelta(days=n), rules.warmup, rules.daily_target
        ).total
        for n in range(days)
    )


def time_planner(config: OutreachConfig, days: int) -> tuple[float, int]:
    """Median seconds of `planner_days` over a few repeats, and its answer."""
    runs = []
    allowed = 0
    for _ in range(PLANNER_REPEATS):
        began = time.perf_counter()
        allowed = planner_days(config, days)
        runs.append(time.perf_counter() - began)
    return statistics.median(runs), allowed


def main(argv: list[str] | None = None) -> int:
    """Measure, print, and write the section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big-days", type=int, default=1)
    parser.add_argument("--no-big", action="store_true", help="skip the 5,000-mailbox run")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    job = job_story()
    small = small_story()
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        folder = Path(tmp)
        job_runs: list[Timed] = []
        durable_runs: list[Timed] = []
        small_runs: list[Timed] = []
        for n in range(args.runs):  # alternating, so a change in the load falls on all
            job_runs.append(simulate(job, args.days, folder / f"job{n}"))
            durable_runs.append(simulate(job, args.days, folder / f"durable{n}", durable=True))
            small_runs.append(simulate(small, args.days, folder / f"small{n}"))
            print(
                f"run {n + 1}: default world {job_runs[-1].seconds:.1f} s "
                f"({job_runs[-1].mails:,} mails), with the service's fsync "
                f"{durable_runs[-1].seconds:.1f} s, small world {small_runs[-1].seconds:.1f} s"
            )
        job_config = job.build_config(DEFAULT_START, 1, "x")
        planner_s, allowed = time_planner(job_config, args.days)
        big: Timed | None = None
        big_allowed = 0
        if not args.no_big:
            # Leads for the days run only: a 35-day list of 5,000 mailboxes is millions of rows.
            scale = min(1.0, 0.015 * args.big_days)
            big_story = job_story(BIG_MAILBOXES, lead_scale=scale)
            big = simulate(big_story, args.big_days, folder / "big")
            big_config = big_story.build_config(DEFAULT_START, 1, "x")
            big_allowed = planner_days(big_config, 30)
            print(f"5,000 mailboxes, {args.big_days} day(s): {big.seconds:.1f} s, {big.mails:,}")
    load_after = os.getloadavg()
    section = _section(
        args=args, job_runs=job_runs, durable_runs=durable_runs, small_runs=small_runs,
        planner_s=planner_s,
        allowed=allowed, big=big, big_allowed=big_allowed, load_before=load_before,
        load_after=load_after,
    )  # fmt: skip
    print(section)
    if not args.no_write:
        write_section(SECTION, section)
    return 0


def _median(runs: list[Timed], pick: str) -> float:
    return float(statistics.median(getattr(r, pick) for r in runs))


def _section(
    *,
    args: argparse.Namespace,
    job_runs: list[Timed],
    durable_runs: list[Timed],
    small_runs: list[Timed],
    planner_s: float,
    allowed: int,
    big: Timed | None,
    big_allowed: int,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> str:
    job_s = _median(job_runs, "seconds")
    job_mails = int(_median(job_runs, "mails"))
    small_s = _median(small_runs, "seconds")
    small_mails = int(_median(small_runs, "mails"))
    per_mail = job_s / max(job_mails, 1) * 1000
    runs = ", ".join(f"{r.seconds:.1f}" for r in job_runs)
    durable_s = _median(durable_runs, "seconds")
    durable_mails = int(_median(durable_runs, "mails"))
    durable_list = ", ".join(f"{r.seconds:.1f}" for r in durable_runs)
    small_list = ", ".join(f"{r.seconds:.1f}" for r in small_runs)
    command = "`.venv/bin/python bench/bench_demo.py" + (
        "" if (args.days, args.runs, args.big_days) == (30, 3, 1)
        else f" --days {args.days} --runs {args.runs} --big-days {args.big_days}"
    ) + ("`" if not args.no_big else " --no-big`")  # fmt: skip
    met = "met" if job_s <= TARGET_SECONDS else "NOT met"
    lines = [
        *opening(
            SECTION,
            load_before,
            load_after,
            note=" (other agents share the cores: provisional numbers)",
        ),  # fmt: skip
        f"- Command: {command}",
        "- Timed: the demo's simulation (DemoResult.engine_seconds): world and lists, database "
        "and config sync, imports, every engine tick over the SMTP sink, upkeep, health, alerts, "
        "the day's bookkeeping. Not in it: interpreter start and imports, the PNG, summary.json.",
        f"- {args.days} simulated days each; {len(job_runs)} run(s) of each world, alternating; "
        "medians.",
        "",
        "| Contender | Median s | Runs (s) | CPU s | Mails | ms/mail |",
        "|---|---:|---|---:|---:|---:|",
        f"| default world (30 new mailboxes to 1,200 a day) | {job_s:.1f} | {runs} | "
        f"{_median(job_runs, 'cpu'):.1f} | {job_mails:,} | {per_mail:.2f} |",
        f"| baseline: default world on a database as the service's (synchronous=FULL: an "
        f"fsync a commit) | {durable_s:.1f} | {durable_list} | "
        f"{_median(durable_runs, 'cpu'):.1f} | {durable_mails:,} | "
        f"{durable_s / max(durable_mails, 1) * 1000:.2f} |",
        f"| baseline: small world (12 mailboxes) | {small_s:.1f} | {small_list} | "
        f"{_median(small_runs, 'cpu'):.1f} | {small_mails:,} | "
        f"{small_s / max(small_mails, 1) * 1000:.2f} |",
        f"| baseline: planner only (core/ramp.py capacity, {args.days} days, no I/O; median of "
        f"{PLANNER_REPEATS}) | {planner_s:.4f} | - | - | {allowed:,} allowed | - |",
        "",
        f"Target: default world <= {TARGET_SECONDS:.0f} s for {args.days} days ({met}: "
        f"{job_s:.1f} s). It sent {job_mails:,} of the {allowed:,} mails the planner allows "
        "for the same days (the pauses and the cool-down after day 15 take the rest); the "
        f"target day matched plan's in every run: {all(r.matched for r in job_runs)}.",
    ]
    if big is not None:
        big_per_mail = big.seconds / max(big.mails, 1)
        projected = big_per_mail * big_allowed
        big_met = "met" if projected <= BIG_TARGET_SECONDS else "NOT met"
        lines += [
            "",
            f"5,000 mailboxes (the job world resized: 1,667 domains, target 200,000 a day), "
            f"{args.big_days} day(s) measured: {big.seconds:.1f} s ({big.cpu:.1f} s CPU) for "
            f"{big.mails:,} mails, {big_per_mail * 1000:.2f} ms a mail. 30 days are "
            f"{big_allowed:,} mails by the planner; at the measured rate that is "
            f"{projected / 60:.0f} minutes (a projection, not a run). Target <= "
            f"{BIG_TARGET_SECONDS / 60:.0f} minutes: {big_met}.",
        ]
    lines += [
        "",
        "Notes:",
        "- Every mail is real work: the engine renders it, reserves its slot in SQLite (every "
        "limit re-checked), commits it as 'sending', speaks SMTP to the in-process sink "
        "(demo/sink.py) and records the outcome. The time per mail is the engine's own cost "
        "(bench_send: about 1.1 ms of CPU a mail against Postfix's smtp-sink) plus the sink's, "
        "in one process on a loaded machine; the planner row is the same rules without I/O.",
        "- The demo's database is a throwaway one, opened with synchronous=NORMAL (WAL: no fsync "
        "at commit); the service keeps FULL, an fsync for every commit, and the row 'as the "
        f"service's' shows what that costs here: {durable_s - job_s:.1f} s, "
        f"{(durable_s - job_s) / max(job_mails, 1) * 1000:.2f} ms a mail.",
        f"- The {TARGET_SECONDS:.0f} s target leaves "
        f"{TARGET_SECONDS / max(job_mails, 1) * 1000:.2f} ms for each of the {job_mails:,} "
        "mails, all of it in one Python process: the engine's "
        "render, reservation, SMTP exchange and record, the sink's side of the exchange, and "
        "for warm-up mail its delivery into the in-memory inboxes, the receiving side's poll, "
        f"placement record and answer. Measured: {per_mail:.2f} ms a mail, "
        f"{per_mail / max(TARGET_SECONDS / max(job_mails, 1) * 1000, 1e-9):.1f} times that budget.",
        "- The clock skips idle time (nights, gaps, caps) to the next 5-minute tick at which "
        "anything can happen, so ticks are few and the mails decide the time.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
