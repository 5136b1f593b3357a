"""Does SQLite on aiosqlite's thread run beside the event loop's Python code? Measured.

The engine's database work runs on aiosqlite's worker thread while the event loop renders
messages and speaks SMTP. If the two overlapped, the engine's throughput would follow the
larger of their CPU times per mail; bench_send finds it follows their sum. This bench runs
the engine's real reservations (SendingStore.reserve_many, 25 to a transaction, on a database
made as bench_send makes it) alone, then the engine's real message building
(core.message.build_message) alone on a plain thread, then both at once. Each RUNS times,
alternating; medians go to the "## SQLite beside the event loop" section of bench/RESULTS.md.
It measures storage alone (no engine service), so it opens the stores itself.

Run alone:
    .venv/bin/python bench/bench_sqlite_thread.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's packages

from bench.bench_send import _insert_leads, bench_config, leads  # noqa: E402
from bench.results import write_section  # noqa: E402
from core import limits, message  # noqa: E402
from core.records import Reservation, Reserved, SendKind  # noqa: E402
from storage.stores import Stores  # noqa: E402

SECTION = "## SQLite beside the event loop"
LEADS = 5_000
CHUNK = 25  # the engine's RESERVE_CHUNK
BUILDS = 12_000
RUNS = 3


@dataclass(frozen=True, slots=True)
class Run:
    """Wall seconds of one round: each workload alone, then both at once."""

    sql: float
    python: float
    together: float


def build_messages(count: int) -> None:
    """The event loop's kind of work: the engine's own message building, `count` times."""
    when = datetime.now(UTC)
    for i in range(count):
        message.build_message(
            sender="sam@d0.bench.test",
            display_name="Sam Smith",
            to=f"lead{i}@example.com",
            subject="A question for Acme",
            text="Hi Anna,\n\nWould a 15-minute call next week be useful?\n\nBest,\nSam\n",
            message_id=f"<{i:032x}@d0.bench.test>",
            date=when,
            postal_address="Bench Ltd, 1 Main Street, 10115 Berlin",
            unsubscribe_url=f"https://u.bench.test/u/{i:032x}",
        )


async def _prepare(path: Path) -> list[Reservation]:
    """A fresh database with the bench config and LEADS queued leads; one request per lead."""
    config = bench_config(2525)
    now = datetime.now(UTC)
    stores = await Stores.open(path)
    try:
        today = limits.local_day(now, "UTC")
        await stores.config.sync_config(config.rules(), today, now=now)
    finally:
        await stores.close()
    _insert_leads(path, leads(LEADS), now)
    db = sqlite3.connect(path)
    try:
        mailboxes = [row[0] for row in db.execute("SELECT id FROM mailboxes ORDER BY id")]
        (campaign,) = db.execute("SELECT id FROM campaigns").fetchone()
        lead_ids = [row[0] for row in db.execute("SELECT id FROM leads ORDER BY id")]
    finally:
        db.close()
    return [
        Reservation(
            kind=SendKind.CAMPAIGN,
            mailbox_id=mailboxes[i % len(mailboxes)],
            day=today.isoformat(),
            now=now,
            next_send_at=now,
            mailbox_cap=1_000_000,
            domain_cap=None,
            campaign_cap=None,
            lead_id=lead,
            campaign_id=campaign,
            step_no=1,
            message_id=f"<{lead:032x}@d0.bench.test>",
        )
        for i, lead in enumerate(lead_ids)
    ]


async def _reserve(path: Path, reqs: list[Reservation]) -> float:
    """Seconds to reserve every request through the sending store, CHUNK to a transaction."""
    stores = await Stores.open(path)
    try:
        started = time.perf_counter()
        for first in range(0, len(reqs), CHUNK):
            results = await stores.sending.reserve_many(reqs[first : first + CHUNK])
            if not all(isinstance(result, Reserved) for result in results):
                raise RuntimeError(f"a reservation was refused: {results}")
        return time.perf_counter() - started
    finally:
        await stores.close()


def one_round(workdir: Path, run: int) -> Run:
    """The reservations alone, the message building alone, then both at once."""
    alone = workdir / f"alone{run}.db"
    both = workdir / f"both{run}.db"
    reqs_alone = asyncio.run(_prepare(alone))
    reqs_both = asyncio.run(_prepare(both))

    sql = asyncio.run(_reserve(alone, reqs_alone))
    started = time.perf_counter()
    build_messages(BUILDS)
    python = time.perf_counter() - started

    builder = threading.Thread(target=build_messages, args=(BUILDS,))
    started = time.perf_counter()
    builder.start()
    asyncio.run(_reserve(both, reqs_both))
    builder.join()
    together = time.perf_counter() - started
    return Run(sql, python, together)


def main() -> None:
    """Run RUNS rounds; print and record the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    args = parser.parse_args()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench_sqlite_thread_") as tmp:
        for run in range(args.runs):
            runs.append(one_round(Path(tmp), run))
            last = runs[-1]
            print(
                f"run {run + 1}: reservations {last.sql:.2f} s, message building "
                f"{last.python:.2f} s, both at once {last.together:.2f} s"
            )
    section = _section(sys.argv[1:], runs)
    print(section)
    if not args.no_write:
        write_section(SECTION, section)
        print("written to bench/RESULTS.md")


def _section(args: list[str], runs: list[Run]) -> str:
    sql = statistics.median(r.sql for r in runs)
    python = statistics.median(r.python for r in runs)
    together = statistics.median(r.together for r in runs)
    serial, overlapped = sql + python, max(sql, python)
    # 0 %: the two ran one after the other; 100 %: the shorter one hid entirely in the longer.
    overlap = (serial - together) / (serial - overlapped)
    command = " ".join([".venv/bin/python bench/bench_sqlite_thread.py", *args])

    def each(values: list[float]) -> str:
        return ", ".join(f"{value:.2f}" for value in values)

    return (
        "\n".join(
            [
                SECTION,
                "",
                f"- Date: {datetime.now(UTC).date().isoformat()}",
                f"- Machine: {len(os.sched_getaffinity(0))} cores (nproc), "
                f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}",
                f"- Command: `{command}`",
                f"- Workloads: the engine's reservations of {LEADS:,} queued leads "
                f"(SendingStore.reserve_many, {CHUNK} to a transaction, on aiosqlite's thread; the "
                f"event loop only waits), and {BUILDS:,} messages built with "
                "core.message.build_message on a plain thread. Each alone, then both at once; "
                f"{len(runs)} rounds, alternating; medians.",
                "",
                "| Workload | Median s | Runs (s) |",
                "|---|---:|---|",
                f"| reservations alone | {sql:.2f} | {each([r.sql for r in runs])} |",
                f"| message building alone | {python:.2f} | {each([r.python for r in runs])} |",
                f"| both at once | {together:.2f} | {each([r.together for r in runs])} |",
                f"| one after the other (sum) | {serial:.2f} | - |",
                f"| fully side by side (max) | {overlapped:.2f} | - |",
                "",
                f"Overlap: {overlap:.0%} (0% is one after the other, 100% fully side by side"
                + (", below 0% slower than one after the other" if overlap < 0 else "")
                + "). "
                + _reading(overlap),
            ]
        )
        + "\n"
    )


def _reading(overlap: float) -> str:
    """What this run's overlap says; the text follows the figure, never the other way round."""
    if overlap < 0.25:
        return (
            "In this run the database's thread hardly hid behind the Python work, though 2 "
            "cores would allow it. Only SQLite's own steps run without the GIL: the thread "
            "takes the GIL back for the Python side of every statement (binding, rows, the "
            "reservation code), so the two mostly take turns, and the engine's send throughput "
            "follows the sum of its event loop's and its database thread's CPU per mail."
        )
    if overlap < 0.75:
        return (
            "In this run the two partly overlapped: SQLite's own steps ran beside the Python "
            "work, the Python side of each statement did not (it needs the GIL)."
        )
    return (
        "In this run the database's thread mostly hid behind the Python work: SQLite's own "
        "steps, which run without the GIL, dominated the reservations."
    )


if __name__ == "__main__":
    main()
