"""ESP event ingestion: 100,000 provider events read, matched and stored, then read again.

Mailgun: the fake events API (tests/fakes/mailgun.py, in a process of its own) holds 100,000
items over SPEC 1's ten domains in the documented shapes (tests/fixtures/esp/mailgun/
events.json: delivered, opened, clicked, failed permanent 5.1.1 and temporary, complained,
unsubscribed, and `accepted`, which is no signal), one per send of the database
(bench/esp_world.py: 100,000 leads, each sent its step 1 by one of 30 mailboxes, 3 on each of
the 10 domains). What is timed is the real EspService.poll() from bootstrap.build_service over the
real MailgunFeed (300 items a page, `paging.next`) and SQLite, polled until a poll ends its walk
(a poll reads at most engine.esp_events.MAX_PAGES pages). Then the feed's cursor is deleted and
a fresh service (a restart without its cursor) walks the whole log again: nothing may be stored
twice (the events' stable ids), which is asserted.

SES: the fake SQS queue (tests/fakes/sqs.py, its own process) holds 100,000 SNS notifications
(SQS message bodies shaped on tests/fixtures/esp/ses/: SNS-wrapped deliveries and bounces, raw
complaints), read ten a time by the real SesFeed (aiobotocore, SigV4) and deleted after the
commit that stores them: 10,000 ReceiveMessage and 10,000 DeleteMessageBatch calls. The second
pass is the same 100,000 messages queued again (SNS delivers at least once): 0 new events,
asserted.

Beside them the floor: json.loads of the same payloads alone, and the adapters' normalisation
of the parsed items alone, in this process on one core.
For SES also the signed SQS calls alone: the same queue emptied by aiobotocore's receive and
delete calls, one after the other, without parsing or storing anything.

    .venv/bin/python bench/bench_esp.py [--events N] [--runs N] [--ses-runs N] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's packages

from aiobotocore.config import AioConfig  # noqa: E402
from aiobotocore.session import get_session  # noqa: E402

import bootstrap  # noqa: E402
from bench.esp_world import (  # noqa: E402
    SPREAD,
    SQS_BATCH,
    bench_config,
    build,
    forget_cursor,
    mailgun_items,
    mailgun_normalise,
    mailgun_pages,
    ses_bodies,
    ses_feed,
    ses_json_floor,
    ses_normalise,
    sqs_answers,
    table_counts,
)
from bench.results import write_section  # noqa: E402
from config import OutreachConfig  # noqa: E402
from engine.clock import ManualClock  # noqa: E402
from engine.esp_events import COMMIT_EVENTS, MAX_PAGES, PollReport  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## ESP event ingestion"
EVENTS = 100_000
RUNS = 3
SES_RUNS = 1
TARGET = 10.0  # seconds for 100,000 Mailgun events (issue 11)


@dataclass(slots=True)
class Pass:
    """One read of a provider's whole backlog."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    load: float = 0.0  # the machine's 1-minute load average as the pass began
    polls: int = 0
    pages: int = 0
    events: int = 0
    applied: Counter[str] = field(default_factory=Counter)
    repeated: int = 0
    ignored: int = 0
    skipped: int = 0

    def add(self, report: PollReport) -> None:
        assert not report.failed, report.failed
        self.polls += 1
        self.pages += report.pages
        self.events += report.events
        self.applied.update(report.applied)
        self.repeated += report.repeated
        self.ignored += sum(report.ignored.values())
        self.skipped += report.skipped

    @property
    def stored(self) -> int:
        return sum(self.applied.values())


@dataclass(slots=True)
class Run:
    """A first pass on a fresh database copy, then everything read again."""

    first: Pass
    second: Pass
    counts: dict[str, int]


class Provider:
    """The fake provider in a child process (bench/esp_fakes.py), filled and listening."""

    def __init__(self, kind: str, count: int, base: float) -> None:
        script = ROOT / "bench" / "esp_fakes.py"
        self.proc = subprocess.Popen(
            [sys.executable, str(script), kind, str(count), repr(base)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "listening":
            self.proc.kill()
            raise RuntimeError(f"the fake {kind} did not start: {line}")
        self.urls = line[1:]

    def stop(self) -> str:
        """Close its stdin and wait; what it said last."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        said = self.proc.stdout.read()
        self.proc.stdout.close()
        self.proc.wait(30)
        return said.strip()


def fresh_copy(template: Path, work: Path) -> Path:
    """A copy of the built database, replacing the last run's."""
    path = work / "esp-bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)
    return path


async def read_all(path: Path, config: OutreachConfig, clock: ManualClock, ses: bool) -> Pass:
    """A fresh service over `path` polls its one feed until a poll ends the backlog."""
    done = Pass()
    async with AsyncExitStack() as stack:
        feeds = None
        if ses:
            feed = ses_feed(config.rules().esps[0])
            stack.push_async_callback(feed.close)
            feeds = [feed]
        service = await bootstrap.build_service(
            stack, db_path=path, config=config, clock=clock, chats=[], feeds=feeds
        )
        done.load = os.getloadavg()[0]
        cpu = time.process_time()
        start = time.perf_counter()
        while True:
            report = await service.esp.poll()
            done.add(report)
            if report.pages < MAX_PAGES:  # the poll ended because the feed had no more
                break
            if done.events and not report.events:
                # Ten domains' trailing windows re-read (MailgunFeed re-reads each domain's
                # last 30 minutes, all of this backlog) fill every poll: nothing new is the end.
                break
        done.seconds = time.perf_counter() - start
        done.cpu_seconds = time.process_time() - cpu
    return done


async def mailgun_run(template: Path, work: Path, count: int, base: float) -> Run:
    """Copy the database, read the fake Mailgun's log, delete the cursor, read it again."""
    path = fresh_copy(template, work)
    clock = ManualClock(datetime.fromtimestamp(base + SPREAD + 60, UTC))
    provider = await asyncio.to_thread(Provider, "mailgun", count, base)
    try:
        config = bench_config(mailgun_url=provider.urls[0])
        first = await read_all(path, config, clock, ses=False)
        counts = table_counts(path)
        assert forget_cursor(path, "esp:mg") == 1
        second = await read_all(path, config, clock, ses=False)
    finally:
        await asyncio.to_thread(provider.stop)
    return _checked(first, second, counts, table_counts(path), count)


async def ses_run(template: Path, work: Path, count: int, base: float) -> Run:
    """Copy the database, empty the fake queue; queue the same messages again, empty it again."""
    path = fresh_copy(template, work)
    clock = ManualClock(datetime.fromtimestamp(base + SPREAD + 60, UTC))
    passes = []
    counts: dict[str, int] = {}
    for _ in range(2):
        provider = await asyncio.to_thread(Provider, "sqs", count, base)
        try:
            config = bench_config(sqs_url=provider.urls[0], queue_url=provider.urls[1])
            passes.append(await read_all(path, config, clock, ses=True))
        finally:
            said = await asyncio.to_thread(provider.stop)
        assert said.startswith("left 0 "), said  # every message was deleted after its commit
        counts = counts or table_counts(path)
    return _checked(passes[0], passes[1], counts, table_counts(path), count)


def _checked(first: Pass, second: Pass, counts: dict[str, int], again: dict[str, int],
             count: int) -> Run:  # fmt: skip
    print(
        f"  first pass {first.seconds:.1f} s, CPU {first.cpu_seconds:.1f} s, load "
        f"{first.load:.2f} ({first.events:,} "
        f"events, {first.stored:,} stored, "
        f"{first.polls} polls, {first.pages} pages); second pass {second.seconds:.1f} s "
        f"({second.stored} stored, {second.repeated:,} found stored)",
        flush=True,
    )
    assert first.events >= count * 0.9, first  # every signal of the backlog was read
    assert first.stored == first.events - first.ignored, first
    assert second.stored == 0 and again == counts, (second.applied, again, counts)
    assert second.repeated == first.stored, (second.repeated, first.stored)
    return Run(first, second, counts)


@dataclass(slots=True)
class Transport:
    """The signed SQS calls of a pass alone: receive ten, delete them, one after the other."""

    seconds: float
    cpu_seconds: float
    calls: int


async def sqs_transport(count: int, base: float) -> Transport:
    """Empty a fake queue of `count` messages with aiobotocore calls alone (no parsing, no
    database), with the client SesFeed makes: what reading and deleting cost by themselves."""
    provider = await asyncio.to_thread(Provider, "sqs", count, base)
    try:
        config = bench_config(sqs_url=provider.urls[0], queue_url=provider.urls[1])
        spec = config.rules().esps[0]
        calls = 0
        async with get_session().create_client(
            "sqs", region_name=spec.region, endpoint_url=spec.endpoint_url,
            aws_access_key_id=spec.access_key_id, aws_secret_access_key=spec.secret_access_key,
            config=AioConfig(retries={"total_max_attempts": 1}),
        ) as client:  # fmt: skip
            cpu = time.process_time()
            start = time.perf_counter()
            while True:
                reply = await client.receive_message(
                    QueueUrl=spec.queue_url, MaxNumberOfMessages=SQS_BATCH, WaitTimeSeconds=0
                )
                calls += 1
                messages = reply.get("Messages", [])
                if not messages:
                    break
                await client.delete_message_batch(
                    QueueUrl=spec.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(messages)
                    ],
                )
                calls += 1
            done = Transport(time.perf_counter() - start, time.process_time() - cpu, calls)
    finally:
        said = await asyncio.to_thread(provider.stop)
    assert said.startswith("left 0 "), said
    return done


def median_seconds(work: Callable[[], object], runs: int) -> list[float]:
    """Seconds of `runs` calls of `work`."""
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        out.append(time.perf_counter() - start)
    return out


async def measure(
    args: argparse.Namespace, work: Path, base: float
) -> tuple[list[Run], list[Run], list[Transport]]:
    """Build the database once; the Mailgun runs, then the SES runs and SQS calls alone."""
    template = work / "esp-template.db"
    await build(template, bench_config(mailgun_url="http://127.0.0.1:9"), args.events)
    mailgun = []
    for number in range(args.runs):
        print(f"Mailgun run {number + 1}", flush=True)
        mailgun.append(await mailgun_run(template, work, args.events, base))
    ses = []
    for number in range(args.ses_runs):
        print(f"SES run {number + 1}", flush=True)
        ses.append(await ses_run(template, work, args.ses_events, base))
    transport = []
    for _ in range(args.ses_runs):
        transport.append(await sqs_transport(args.ses_events, base))
    return mailgun, ses, transport


def main() -> None:
    """Build, time the passes and the floors, record the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--runs", type=int, default=RUNS, help="Mailgun runs")
    parser.add_argument("--ses-runs", type=int, default=SES_RUNS)
    parser.add_argument(
        "--ses-events", type=int, default=0, help="SES messages (default: --events)"
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    args = parser.parse_args()
    args.ses_events = args.ses_events or args.events

    base = time.time() - 2 * SPREAD
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-esp-") as tmp:
        mailgun, ses, transport = asyncio.run(measure(args, Path(tmp), base))
    floor_runs = max(args.runs, 3)
    items = mailgun_items(args.events, base)
    pages = mailgun_pages(items)
    parsed = [json.loads(page) for page in pages]
    mg_json = median_seconds(lambda: [json.loads(page) for page in pages], floor_runs)
    mg_norm = median_seconds(lambda: mailgun_normalise(parsed), floor_runs)
    answers = sqs_answers(ses_bodies(args.ses_events, base))
    ses_json = median_seconds(lambda: ses_json_floor(answers), floor_runs)
    ses_norm = median_seconds(lambda: ses_normalise(answers), floor_runs)
    load_end = os.getloadavg()[0]
    section = _section(
        args=sys.argv[1:], count=args.events, ses_count=args.ses_events, mailgun=mailgun, ses=ses,
        transport=transport,
        floors={"mg_json": mg_json, "mg_norm": mg_norm, "ses_json": ses_json,
                "ses_norm": ses_norm},
        sizes=(sum(len(p) for p in pages), sum(len(a) for a in answers)),
        load=(load, load_end),
    )  # fmt: skip
    print(section)
    if not args.no_write:
        write_section(SECTION, section)
        print(f"written to {RESULTS.relative_to(ROOT)}")


def _section(
    *,
    args: list[str],
    count: int,
    ses_count: int,
    mailgun: list[Run],
    ses: list[Run],
    transport: list[Transport],
    floors: dict[str, list[float]],
    sizes: tuple[int, int],
    load: tuple[float, float],
) -> str:
    command = " ".join([".venv/bin/python bench/bench_esp.py", *args])

    def med(values: list[float]) -> float:
        return statistics.median(values)

    def each(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    def row(name: str, values: list[float], floor: float) -> str:
        m = med(values)
        return (f"| {name} | {m:.2f} | {count / m:,.0f} | {each(values)} | "
                f"{m / floor:.1f}x |")  # fmt: skip

    def srow(name: str, values: list[float], floor: float) -> str:
        m = med(values)
        return (f"| {name} | {m:.2f} | {ses_count / m:,.0f} | {each(values)} | "
                f"{m / floor:.1f}x |")  # fmt: skip

    lines = [
        SECTION,
        "",
        f"- Date: {datetime.now(UTC).date().isoformat()}",
        f"- Machine: {os.cpu_count()} cores (nproc), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}; load "
        f"average (1 min) {load[0]:.2f} at the start, {load[1]:.2f} at the end"
        + (
            ". PROVISIONAL: measured while other agents shared the 2 cores."
            if max(load) > 1.5
            else " (other agents share the machine; it was quiet enough)."
        ),
        f"- Command: `{command}`",
        f"- Database: {count:,} leads each with its sent step 1 from one of 30 mailboxes "
        f"(SPEC 1: 10 domains x 3, taking turns); one "
        f"provider event per send; a fresh copy per run. Target (issue 11): {count:,} Mailgun "
        f"events in <= {TARGET:.0f} s.",
    ]
    if mailgun:
        first = [r.first.seconds for r in mailgun]
        second = [r.second.seconds for r in mailgun]
        floor = med(floors["mg_json"])
        last = mailgun[-1]
        lines += [
            "",
            f"### Mailgun ({len(mailgun)} run(s), medians)",
            "",
            f"The fake events API in its own process; {count:,} items over 10 domains' logs "
            "(read one domain after the other), "
            f"{sizes[0] / 1e6:.1f} MB of JSON in pages of 300; "
            f"{last.first.polls} polls of at most {MAX_PAGES} pages, {last.first.pages} pages.",
            "",
            "| Contender | Median s | events/s | Runs (s) | this / JSON alone |",
            "|---|---:|---:|---|---:|",
            row("First pass: EspService.poll() over MailgunFeed and SQLite (fetch, parse, "
                "match by Message-ID, commit with the cursor)", first, floor),
            row("Second pass (cursor deleted, fresh service): all re-read, 0 stored",
                second, floor),
            row("Adapter normalisation alone (mail/esp/mailgun.py `_event` per parsed item)",
                floors["mg_norm"], floor),
            row("Floor: json.loads of the same pages alone", floors["mg_json"], floor),
            "",
            _cpu(mailgun),
            "",
            f"First pass outcome (each run the same): {_outcome(last)}. Target "
            f"{'met' if med(first) <= TARGET else 'MISSED'}: median {med(first):.1f} s for "
            f"{count:,} events (<= {TARGET:.0f} s).",
        ]  # fmt: skip
    if ses:
        first = [r.first.seconds for r in ses]
        second = [r.second.seconds for r in ses]
        floor = med(floors["ses_json"])
        last = ses[-1]
        lines += [
            "",
            f"### SES ({len(ses)} run(s), medians)",
            "",
            f"The fake SQS queue in its own process; {ses_count:,} messages "
            f"({sizes[1] / 1e6:.1f} MB as ReceiveMessage answers), read {SQS_BATCH} at a time "
            f"by SesFeed (aiobotocore, SigV4 signed; short polling, see below): "
            f"{last.first.pages:,} ReceiveMessage and about {ses_count // SQS_BATCH:,} "
            f"DeleteMessageBatch calls a pass, committed up to {COMMIT_EVENTS:,} events at a "
            "time; after a full batch SesFeed asks for the next one at once.",
            "",
            "| Contender | Median s | events/s | Runs (s) | this / JSON alone |",
            "|---|---:|---:|---|---:|",
            srow("First pass: EspService.poll() over SesFeed and SQLite (receive, parse, match, "
                "commit, delete)", first, floor),
            srow("Second pass (the same messages queued again): 0 stored", second, floor),
            srow("Adapter parsing and normalisation alone (mail/esp/ses_events.py parse_body)",
                floors["ses_norm"], floor),
            srow("Signed SQS calls alone (aiobotocore: receive ten, delete them, one call "
                 "after the other; no parsing, no database)",
                 [t.seconds for t in transport], floor),
            srow("Floor: json.loads of the answers, bodies and SNS Messages alone",
                floors["ses_json"], floor),
            "",
            _cpu(ses),
            "",
            _transport(transport, ses),
            "",
            f"First pass outcome: {_outcome(last)}.",
            *(
                [
                    "",
                    f"SES was measured at {ses_count:,} messages, not {count:,}: each page of "
                    "ten is a signed ReceiveMessage and a DeleteMessageBatch, so "
                    f"{count:,} messages are {count // SQS_BATCH:,} of each; pages are "
                    "independent, so the time grows about linearly with the backlog.",
                ]
                if ses_count < count
                else []
            ),
        ]  # fmt: skip
    lines += [
        "",
        "Notes:",
        "- events/s counts the provider events handed over (one per send), including those "
        "the adapter leaves out (Mailgun `accepted`).",
        "- The fakes serve from their own process, so their JSON encoding runs beside the "
        "service, not inside the timed process (on a shared 2-core machine it still competes).",
        f"- A feed's pages are committed together up to {COMMIT_EVENTS:,} events "
        "(engine/esp_events.py COMMIT_EVENTS): one fsync and one verdict count per commit, "
        "not per page (SES's pages of ten made 10,000 commits of 100,000 events). A page's "
        "events stored before are found by one look-up of its ids and skip matching and "
        "effects (the second pass; Mailgun's trailing re-reads). MailgunFeed asks for the "
        "next page as soon as its `paging.next` is known, and SesFeed for the next batch after "
        "a full one, so the provider prepares it while the page before is committed.",
        "- The verdicts each commit with new bounces or complaints decides read the window's "
        "sends from a running count (storage/health.py SendCounts: the sends stamped since "
        "the last read, plus a fresh count of the last minute), not from every send of the "
        "window each time.",
        "- The first pass's last poll is 50 pages of trailing re-reads with nothing new: "
        "MailgunFeed re-reads each domain's last 30 minutes (all of this backlog) on every "
        "walk, so ten busy domains fill every poll; the bench ends a pass at a poll with no "
        "new event. That poll is timed (a real cost of a busy account; see the report).",
        "- SES: the bench's SesFeed short-polls (WaitTimeSeconds=0) so the end of the queue is "
        "an empty answer at once; the service's feed long-polls 20 s, which only matters when "
        "the queue is empty.",
    ]
    return "\n".join(lines) + "\n"


def _cpu(runs: list[Run]) -> str:
    """The passes' CPU time of this process (loop and SQLite thread): steadier under load."""
    first = statistics.median(r.first.cpu_seconds for r in runs)
    second = statistics.median(r.second.cpu_seconds for r in runs)
    wall = statistics.median(r.first.seconds for r in runs)
    each = ", ".join(
        f"{r.first.seconds:.1f} s ({r.first.cpu_seconds:.1f} s CPU) at load {r.first.load:.2f}"
        for r in runs
    )
    return (
        f"CPU time of the bench process (event loop and SQLite's thread; the fake's process "
        f"not counted), medians: first pass {first:.1f} s, second pass {second:.1f} s; the "
        f"first pass got {first / wall:.0%} of a core's time on this shared machine. Each "
        f"first pass with the 1-minute load as it began: {each}."
    )


def _transport(transport: list[Transport], ses: list[Run]) -> str:
    """What share of the SES pass the signed calls alone take."""
    if not transport:
        return ""
    wall = statistics.median(t.seconds for t in transport)
    cpu = statistics.median(t.cpu_seconds for t in transport)
    calls = transport[-1].calls
    first = statistics.median(r.first.seconds for r in ses)
    first_cpu = statistics.median(r.first.cpu_seconds for r in ses)
    return (
        f"The signed SQS calls alone ({calls:,} calls, one after the other): {wall:.1f} s, "
        f"{cpu:.1f} s CPU ({cpu / calls * 1000:.2f} ms of CPU a call, building, signing and "
        f"parsing in aiobotocore): {cpu / first_cpu:.0%} of the first pass's CPU; the pass "
        f"takes {first / wall:.2f}x their time."
    )


def _outcome(run: Run) -> str:
    applied = ", ".join(f"{kind} {n:,}" for kind, n in sorted(run.first.applied.items()))
    states = ", ".join(
        f"{key.removeprefix('leads ')} {n:,}"
        for key, n in sorted(run.counts.items())
        if key.startswith("leads ")
    )
    return (
        f"{run.first.events:,} events read, new events {applied}; {run.first.ignored:,} "
        f"ignored, {run.first.skipped} skipped as malformed; leads {states}; "
        f"{run.counts['suppression']:,} addresses suppressed. Second pass: "
        f"{run.second.events:,} read again, {run.second.repeated:,} found stored, 0 new, "
        "tables unchanged (asserted)"
    )


if __name__ == "__main__":
    main()
