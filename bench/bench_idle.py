"""Idle CPU and RSS of the real service (`python main.py`), headless and with the bot.

The world is SPEC 1's install: 30 mailboxes on 10 domains (pointing at the fake SMTP server,
tests/fakes/smtp_server.py), one campaign with 10,000 queued leads whose sending hours are
hours away, so nothing is due and the service only idles: its ticks (every 20 s, the default),
upkeep and alert jobs. The service is started as tests/e2e/procs.spawn_main does.

1. Headless (no BOT_TOKEN): after a warm-up, CPU over a window from /proc/<pid>/stat (utime +
   stime, all threads) and VmRSS / VmHWM from /proc/<pid>/status.
2. With BOT_TOKEN and TELEGRAM_API_URL pointing at the fake Bot API (tests/fakes/telegram.py,
   in this process; it holds each getUpdates as long as the bot asks, as Telegram does): the
   same, then 5 x /stats (a PNG chart each) and a leads CSV just under the 20 MB upload limit,
   RSS after each, then a second idle window.
Baselines in the same run: a bare interpreter (`python -c pass`) and `python -c "import
aiogram"` (aiogram builds every Bot API model at import: the floor of any process running it).

    .venv/bin/python bench/bench_idle.py [--warmup S] [--window S] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's packages

from bench.proc_meter import (  # noqa: E402
    ChildPeaks,
    CpuWindow,
    Memory,
    cpu_over,
    floor_rss,
    memory,
)
from bench.results import RESULTS, write_section  # noqa: E402
from bot.uploads import MAX_BYTES  # noqa: E402
from tests.e2e.procs import base_env, run_main, spawn_main, start_smtp  # noqa: E402
from tests.fakes.telegram import TOKEN, FakeTelegram  # noqa: E402

SECTION = "## Service idle CPU and RSS"
CAMPAIGN = "launch"
ADMIN = 111
DOMAINS, PER_DOMAIN = 10, 3
LEADS = 10_000
STATS_CALLS = 5
WARMUP_SECONDS = 30.0
WINDOW_SECONDS = 60.0
SETTLE_SECONDS = 3.0  # after a reply, before RSS is read: the handler's garbage is gone by then
UPLOAD_BYTES = MAX_BYTES - 64 * 1024  # just under the limit (SPEC 10: above 20 MB is refused)
START_SECONDS = 120  # importing aiogram on a busy 2-core box takes many seconds
# Targets of issue 13.
CPU_TARGET = 1.0  # % of one core, idle
HEADLESS_TARGET_MB = 80.0
BOT_ABOVE_FLOOR_MB = 40.0  # with the bot: RSS at most this above `import aiogram`'s
FLAT_MB = 5.0  # "flat": no RSS after a chart or the upload more than this above the idle RSS


# --- the world -----------------------------------------------------------------------------


def write_config(tmp: Path, smtp_port: int, now: datetime) -> str:
    """30 mailboxes on 10 domains, one campaign whose hours are far from now; the hours."""
    start = (now.hour + 8) % 24
    hours = f"{start:02d}:00-{start + 2:02d}:00" if start <= 22 else "02:00-04:00"
    server = (f'{{ host = "127.0.0.1", port = {smtp_port}, security = "none", username = "u", '
              'password = "env:SMTP_PW" }')  # fmt: skip
    tables = ['[sending]\ntimezone = "UTC"\npostal_address = "Bench Ltd, 1 Main St"\n']
    for d in range(DOMAINS):
        tables.append(f'[[domains]]\nname = "d{d}.test"\n')
        tables += [
            f'[[mailboxes]]\naddress = "m{m}@d{d}.test"\ndaily_limit = 40\nsmtp = {server}\n'
            for m in range(PER_DOMAIN)
        ]
    tables.append(
        f"""
[[campaigns]]
name = "{CAMPAIGN}"
hours = "{hours}"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
[[campaigns.steps]]
subject = "Hello {{{{ first_name }}}}"
body = "Hi {{{{ first_name }}}}, a short note from {{{{ company }}}}."
"""
    )
    (tmp / "outreach.toml").write_text("\n".join(tables))
    return hours


def leads_csv(rows: int, start: int = 0, size: int | None = None, seed: int = 13) -> bytes:
    """A leads CSV: `rows` rows, or as many as fit in `size` bytes when that is given."""
    rng = random.Random(seed)
    words = ["alpha", "brook", "cedar", "delta", "ember", "fjord", "grove", "harbor", "iris"]
    out = ["email,first_name,last_name,company,city\n"]
    total = len(out[0])
    i = start
    while (size is None and i - start < rows) or (size is not None and total < size):
        first, last = rng.choice(words).title(), rng.choice(words).title()
        line = f"{first.lower()}.{last.lower()}{i}@lead{i % 997}.example,{first},{last},"
        line += f"{rng.choice(words).title()} {rng.choice(['Ltd', 'GmbH', 'Inc'])},"
        line += f"{rng.choice(words).title()}ville\n"
        if size is not None and total + len(line) > size:
            break
        out.append(line)
        total += len(line)
        i += 1
    return "".join(out).encode()


# --- measuring one service run ----------------------------------------------------------------


@dataclass
class Run:
    """What one service run measured."""

    mode: str
    start_seconds: float = 0.0
    idle_cpu: CpuWindow | None = None
    idle: Memory | None = None
    after: list[tuple[str, Memory]] = field(default_factory=list)
    later_cpu: CpuWindow | None = None
    later: Memory | None = None
    chart_seconds: list[float] = field(default_factory=list)
    upload_seconds: float = 0.0
    upload_report: str = ""
    children: dict[str, float] = field(default_factory=dict)  # label -> peak MB


def child_label(cmdline: str) -> str:
    """What a child process of the service is, from its command line."""
    if "bot.chart_worker" in cmdline:
        return "chart process (python -m bot.chart_worker), each /stats"
    if "import-child" in cmdline:
        return "import process (python -m bootstrap import-child), the upload"
    if "run_stage_writer" in cmdline:
        return "its staging process (storage.leads.run_stage_writer)"
    return cmdline[:80]


def log_text(log: Path) -> str:
    """The service's log so far (a few kB: read whole)."""
    return log.read_text() if log.exists() else ""


async def wait_log(log: Path, text: str, proc: subprocess.Popen[bytes], within: float) -> None:
    """Wait until the service's log holds `text`; RuntimeError if it exits first."""
    deadline = time.monotonic() + within
    while text not in log_text(log):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the service did not log {text!r}:\n{log_text(log)[-3000:]}")
        await asyncio.sleep(0.2)


async def idle_window(pid: int, warmup: float, window: float) -> tuple[CpuWindow, Memory]:
    """Let the process settle for `warmup` s, then its CPU over `window` s and its RSS."""
    await asyncio.sleep(warmup)
    cpu = await asyncio.to_thread(cpu_over, pid, window)
    return cpu, memory(pid)


async def stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM and wait for a clean exit."""
    proc.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(proc.wait, 30)
    if code != 0:
        raise RuntimeError(f"the service exited with {code}:\n{log_text(log)[-3000:]}")


async def headless(tmp: Path, env: dict[str, str], warmup: float, window: float) -> Run:
    """The service without a bot token."""
    run = Run("headless")
    log = tmp / "headless.log"
    began = time.monotonic()
    proc = spawn_main(env, log)
    try:
        await wait_log(log, "running headless", proc, START_SECONDS)
        run.start_seconds = time.monotonic() - began
        run.idle_cpu, run.idle = await idle_window(proc.pid, warmup, window)
    finally:
        await stop(proc, log)
    return run


async def with_bot(tmp: Path, env: dict[str, str], warmup: float, window: float) -> Run:
    """The service with the bot on the fake Bot API: idle, /stats x5, a 20 MB upload, idle."""
    run = Run("with the bot")
    log = tmp / "bot.log"
    # Telegram holds a long poll as long as asked (aiogram asks 25 s here): so does the fake.
    async with FakeTelegram(max_poll_wait=60.0) as fake:
        env = {**env, "BOT_TOKEN": TOKEN, "ADMIN_IDS": str(ADMIN), "ALERT_CHAT_IDS": "",
               "TELEGRAM_API_URL": fake.url}  # fmt: skip
        began = time.monotonic()
        proc = spawn_main(env, log)
        try:
            await fake.wait_for(lambda: fake.attempts("getUpdates") > 0, within=START_SECONDS)
            run.start_seconds = time.monotonic() - began
            run.idle_cpu, run.idle = await idle_window(proc.pid, warmup, window)
            print(f"  idle: {_line(run.idle_cpu, run.idle)}", flush=True)
            with ChildPeaks(proc.pid, child_label) as meter:
                await charts_and_upload(fake, proc.pid, run)
            run.children = dict(meter.peaks)
            print(f"  child processes' peaks (MB): {run.children}", flush=True)
            run.later_cpu, run.later = await idle_window(proc.pid, warmup, window)
            print(f"  idle again: {_line(run.later_cpu, run.later)}", flush=True)
        finally:
            await stop(proc, log)
    return run


async def charts_and_upload(fake: FakeTelegram, pid: int, run: Run) -> None:
    """5 x /stats, then a leads file just under 20 MB: the service's RSS after each."""
    for i in range(STATS_CALLS):
        since = len(fake.calls)

        def photo(since: int = since) -> bool:
            return any(c["method"] == "sendPhoto" for c in fake.calls[since:])

        asked = time.monotonic()
        fake.push_message(ADMIN, "/stats 30")
        await fake.wait_for(photo, within=120)
        await fake.wait_for_message(ADMIN, "total", within=60, since=since)
        run.chart_seconds.append(time.monotonic() - asked)
        await asyncio.sleep(SETTLE_SECONDS)
        run.after.append((f"after /stats #{i + 1}", memory(pid)))
        print(f"  {run.after[-1][0]}: {_mb(run.after[-1][1])}", flush=True)
    content = leads_csv(0, start=LEADS, size=UPLOAD_BYTES)
    fake.add_file("big", content, "leads.csv", "text/csv")
    since = len(fake.calls)
    asked = time.monotonic()
    fake.push_message(ADMIN, document="big", caption=f"/upload {CAMPAIGN}")
    report = await fake.wait_for_message(ADMIN, "imported", within=600, since=since)
    run.upload_seconds = time.monotonic() - asked
    run.upload_report = " ".join(str(report["params"]["text"]).split())
    await asyncio.sleep(SETTLE_SECONDS)
    label = f"after the {len(content) / 1024 / 1024:.1f} MB upload"
    run.after.append((label, memory(pid)))
    print(f"  {label}: {_mb(run.after[-1][1])}", flush=True)


def _mb(m: Memory) -> str:
    return f"RSS {m.rss_mb:.1f} MB (peak {m.hwm_mb:.1f} MB)"


def _line(cpu: CpuWindow, m: Memory) -> str:
    spent = f"{cpu.cpu_seconds:.2f} s in {cpu.wall_seconds:.0f} s"
    return f"CPU {cpu.percent:.2f} % ({spent}), {_mb(m)}"


# --- the run ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Floors:
    """Baselines measured in the same run (medians of 3)."""

    bare: Memory
    aiogram: Memory


def floors() -> Floors:
    """A bare interpreter's RSS and one that imported aiogram."""

    def median(code: str) -> Memory:
        runs = [floor_rss(code) for _ in range(3)]
        return Memory(
            statistics.median(r.rss_mb for r in runs), statistics.median(r.hwm_mb for r in runs)
        )

    return Floors(median("pass"), median("import aiogram"))


async def measure(warmup: float, window: float) -> tuple[Floors, Run, Run, str, int]:
    """The baselines, then both service runs over one database."""
    base = await asyncio.to_thread(floors)
    print(f"floors: bare {base.bare.rss_mb:.1f} MB, import aiogram {base.aiogram.rss_mb:.1f} MB")
    with tempfile.TemporaryDirectory(prefix="bench_idle_") as name:
        tmp = Path(name)
        (tmp / "data").mkdir()
        smtp, port = await asyncio.to_thread(start_smtp, tmp)
        try:
            hours = write_config(tmp, port, datetime.now(UTC))
            env = base_env(tmp, SMTP_PW="pw", LOG_LEVEL="INFO")
            csv = tmp / "leads.csv"
            csv.write_bytes(leads_csv(LEADS))
            done = await asyncio.to_thread(
                run_main, ["import", str(csv), "--campaign", CAMPAIGN], env, 300
            )
            if done.returncode != 0:
                raise RuntimeError(done.stdout + done.stderr)
            print("headless ...", flush=True)
            alone = await headless(tmp, env, warmup, window)
            assert alone.idle_cpu is not None and alone.idle is not None
            print(f"  idle: {_line(alone.idle_cpu, alone.idle)}", flush=True)
            print("with the bot ...", flush=True)
            bot = await with_bot(tmp, env, warmup, window)
            mails = (
                len((tmp / "smtp.jsonl").read_text().splitlines())
                if (tmp / "smtp.jsonl").exists()
                else 0
            )
        finally:
            smtp.send_signal(signal.SIGTERM)
            await asyncio.to_thread(smtp.wait, 10)
            if smtp.stdout is not None:
                smtp.stdout.close()
    return base, alone, bot, hours, mails


def main() -> None:
    """Measure, print, and record the section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=float, default=WARMUP_SECONDS)
    parser.add_argument("--window", type=float, default=WINDOW_SECONDS)
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    args = parser.parse_args()
    load = os.getloadavg()
    base, alone, bot, hours, mails = asyncio.run(measure(args.warmup, args.window))
    section = _section(
        args=sys.argv[1:], load=(load[0], os.getloadavg()[0]), base=base, alone=alone, bot=bot,
        hours=hours, mails=mails, warmup=args.warmup,
    )  # fmt: skip
    print(section)
    if not args.no_write:
        write_section(SECTION, section)
        print(f"written to {RESULTS.relative_to(ROOT)}")


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _section(
    *,
    args: list[str],
    load: tuple[float, float],
    base: Floors,
    alone: Run,
    bot: Run,
    hours: str,
    mails: int,
    warmup: float,
) -> str:
    assert alone.idle_cpu and alone.idle and bot.idle_cpu and bot.idle
    assert bot.later_cpu and bot.later
    command = " ".join([".venv/bin/python bench/bench_idle.py", *args])
    bot_limit = base.aiogram.rss_mb + BOT_ABOVE_FLOOR_MB
    flat_limit = bot.idle.rss_mb + FLAT_MB
    highest = max([m.rss_mb for _, m in bot.after] + [bot.later.rss_mb])
    window = alone.idle_cpu.wall_seconds

    def row(label: str, cpu: CpuWindow | None, m: Memory, floor: float) -> str:
        shown = f"{cpu.percent:.2f} % ({cpu.cpu_seconds:.2f} s)" if cpu else "-"
        return f"| {label} | {shown} | {m.rss_mb:.1f} | {m.hwm_mb:.1f} | {m.rss_mb - floor:+.1f} |"

    lines = [
        SECTION,
        "",
        f"- Date: {datetime.now(UTC).date().isoformat()}",
        f"- Machine: {os.cpu_count()} cores (nproc), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average (1 min) {load[0]:.2f} at the "
        f"start, {load[1]:.2f} at the end",
        f"- Command: `{command}`",
        f"- World: {DOMAINS * PER_DOMAIN} mailboxes on {DOMAINS} domains (fake SMTP server), "
        f"one campaign with {LEADS:,} queued leads and sending hours {hours} UTC, hours away: "
        f"nothing is due (mails the SMTP server got during the whole run: {mails}). Default "
        "tick (20 s), upkeep every 60 s, alert outbox every 5 s. The real `python main.py`, "
        "started as tests/e2e/procs.spawn_main does.",
        f"- Idle: measured after {warmup:.0f} s of warm-up (`--warmup`), CPU over "
        f"{window:.0f} s from /proc/<pid>/stat (utime + stime, all threads, % of one core), "
        "RSS = VmRSS and peak = VmHWM from /proc/<pid>/status, in MiB. Start-up (to the "
        f"log's 'running' line, or the bot's first getUpdates): headless "
        f"{alone.start_seconds:.1f} s, with the bot {bot.start_seconds:.1f} s.",
        "",
        "### The service's idle CPU and RSS, headless and with the bot",
        "",
        "| Process | Idle CPU | RSS MB | Peak MB | RSS vs its floor MB |",
        "|---|---:|---:|---:|---:|",
        f"| `python -c pass` (floor of any process) | - | {base.bare.rss_mb:.1f} | "
        f"{base.bare.hwm_mb:.1f} | |",
        f'| `python -c "import aiogram"` (floor of the bot) | - | {base.aiogram.rss_mb:.1f} | '
        f"{base.aiogram.hwm_mb:.1f} | |",
        row("service, headless", alone.idle_cpu, alone.idle, base.bare.rss_mb),
        row("service with the bot (fake Bot API)", bot.idle_cpu, bot.idle, base.aiogram.rss_mb),
        row(
            "the same, idle again after the charts and the upload",
            bot.later_cpu,
            bot.later,
            base.aiogram.rss_mb,
        ),  # fmt: skip
        "",
        "Targets (issue 13):",
        f"- idle CPU < {CPU_TARGET:.0f} % ({_met(alone.idle_cpu.percent < CPU_TARGET)} headless: "
        f"{alone.idle_cpu.percent:.2f} %; {_met(bot.idle_cpu.percent < CPU_TARGET)} with the "
        f"bot: {bot.idle_cpu.percent:.2f} %, {bot.later_cpu.percent:.2f} % after the activity);",
        f"- idle RSS headless <= {HEADLESS_TARGET_MB:.0f} MB "
        f"({_met(alone.idle.rss_mb <= HEADLESS_TARGET_MB)}: {alone.idle.rss_mb:.1f} MB);",
        f"- with the bot <= aiogram's floor + {BOT_ABOVE_FLOOR_MB:.0f} MB = {bot_limit:.1f} MB "
        f"({_met(bot.idle.rss_mb <= bot_limit)}: {bot.idle.rss_mb:.1f} MB idle, "
        f"{_met(highest <= bot_limit)} after the charts and the upload: at most "
        f"{highest:.1f} MB).",
        "",
        "### RSS after /stats charts and a 20 MB upload (with the bot)",
        "",
        f"Each /stats 30 is a PNG chart plus the table; RSS read {SETTLE_SECONDS:.0f} s after "
        "the bot's last reply. Criterion for flat: no reading more than "
        f"{FLAT_MB:.0f} MB above the idle RSS before them ({bot.idle.rss_mb:.1f} + "
        f"{FLAT_MB:.0f} = {flat_limit:.1f} MB).",
        "",
        "| When | RSS MB | Peak so far MB | vs idle MB |",
        "|---|---:|---:|---:|",
        f"| idle, before | {bot.idle.rss_mb:.1f} | {bot.idle.hwm_mb:.1f} | |",
    ]
    for label, m in [*bot.after, ("idle again, after the window", bot.later)]:
        lines.append(
            f"| {label} | {m.rss_mb:.1f} | {m.hwm_mb:.1f} | {m.rss_mb - bot.idle.rss_mb:+.1f} |"
        )
    lines += [
        "",
        f"Flat ({_met(highest <= flat_limit)}): highest reading {highest:.1f} MB, "
        f"{highest - bot.idle.rss_mb:+.1f} MB against idle.",
        "",
        "Charts and imports run in child processes that end with the request (bot/charts.py, "
        "engine/import_process.py): their memory is the service's only while they run. Their "
        "peaks (VmHWM, sampled every 20 ms while they lived):",
        "",
        "| Child process | Peak MB |",
        "|---|---:|",
        *[f"| {label} | {peak:.1f} |" for label, peak in sorted(bot.children.items())],
        "",
        "Notes:",
        "- /stats round trips (push to the bot's last reply): "
        + ", ".join(f"{s:.1f}" for s in bot.chart_seconds)
        + " s; the upload: "
        f"{bot.upload_seconds:.1f} s (download from the fake, import, report). Its report: "
        f"{bot.upload_report[:300]}",
        "- The peak column is the process's high-water mark: what the chart or the import "
        "needed at its height, given back afterwards when RSS is lower.",
        "- On a shared machine the idle CPU moves with the load (other processes' wake-ups, "
        "cache misses): read it with the load average above.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
