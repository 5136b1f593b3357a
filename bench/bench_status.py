"""/status at 100x the typical install: 5,000 mailboxes, 1,000,000 leads, 5,000,000 sends.

The database is built by bench/status_world.py (through the product's storage code where that
is cheap enough, bulk inserts for the rest; see there) and cached in the temp dir under a name
that carries its BUILD_VERSION and the sizes, so a rerun only opens it (and applies any
migration added since); --rebuild builds it again. Building takes many minutes (the build
time is in the section when this run built it).

What is timed is what an admin's /status does in the running service: on one open
connection (the stores bootstrap.py builds, over aiosqlite; the bot's AppContext holds their
ReportStore), gather_status() and then status_lines() and chunk_lines() into the Telegram
messages answer_lines() sends. The stores come from bootstrap.open_stores_as_is: the file is
opened without the service's config sync, so the first call still finds SQLite's page cache
empty.
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
import os
import platform
import pstats
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's packages

import bootstrap  # noqa: E402
from bench.results import write_section  # noqa: E402
from bench.status_world import (  # noqa: E402
    DAYS,
    LEADS,
    NOW,
    REMOVED_MAILBOXES,
    SENDS_PER_DAY,
    Built,
    bench_config,
    db_path,
    prepare,
    table_counts,
)
from bot.views.common import chunk_lines, utf16_len  # noqa: E402
from bot.views.status import status_lines  # noqa: E402
from engine.clock import ManualClock  # noqa: E402
from engine.status import ATTENTION_LIMIT, gather_status  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## /status"
CALLS = 15
TARGET_MS = 300.0
# what /status ran before lead_counts, timed in the CLI for the notes
FORMER_COUNT = "SELECT campaign_id, state, count(*) FROM leads GROUP BY campaign_id, state"
FORMER_RUNS = 3


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
    rules = bench_config().rules()
    async with AsyncExitStack() as stack:
        start = time.perf_counter()
        # Opening also applies a migration added since the file was built.
        stores = await bootstrap.open_stores_as_is(stack, path)
        migrated_ms = (time.perf_counter() - start) * 1000
        reports = stores.reports
        clock = ManualClock(NOW)
        spent: dict[str, float] = {}
        _time_methods(reports, spent)

        async def once() -> tuple[float, float, list[str], int]:
            spent.clear()
            cpu = time.process_time()
            begin = time.perf_counter()
            report = await gather_status(reports, clock, rules)
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
        conn = stores.db.conn
        await conn.set_trace_callback(statements.append)
        await once()
        # None clears it (sqlite3's API); aiosqlite's annotation only names a callable.
        await conn.set_trace_callback(None)  # type: ignore[arg-type]
        profile = await _profile(once)
    return Measured(cold, times, cpu_ms, parts, statements, messages, lines, migrated_ms, profile)


def _time_methods(reports: object, spent: dict[str, float]) -> None:
    """Wrap the ReportStore calls gather_status makes (on this instance only) to time them."""
    for name in _TIMED:
        method: Callable[..., Awaitable[Any]] = getattr(reports, name)

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

        setattr(reports, name, wrapper())


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
        "| /status: gather_status + status_lines + chunk_lines (ReportStore over aiosqlite) | "
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
        "Where a warm call's time goes (medians; each ReportStore call includes its wait for "
        "aiosqlite's thread):",
        "",
        "| Part | ms |",
        "|---|---:|",
    ]
    names = {
        "load_snapshot": "ReportStore.load_snapshot: mailboxes, domains, campaigns with today's "
        "use (5,000 rows mapped to MailboxView)",
        "mailbox": "ReportStore.mailbox, once for each mailbox named (its reason)",
        "sent_on": "ReportStore.sent_on (today's sends)",
        "campaign_counts": "ReportStore.campaign_counts (leads by state per campaign)",
        "recent_alerts": "ReportStore.recent_alerts",
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
