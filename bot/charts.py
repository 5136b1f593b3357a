"""PNG charts for /stats, /warmup and /plan, drawn with matplotlib's Agg renderer.

Handlers call `render(...)`, which draws in a short-lived child process (bot/chart_worker.py):
matplotlib holds ~50 MB once imported, and what a drawing allocates is not given back to the
system, so a service that drew one chart would keep that for months (issue 13: 187 MB idle,
233 MB after one /stats). The child also keeps the drawing's CPU off the event loop. Each
function builds its own Figure (no pyplot, no global state). The CLI (`main.py plan`) calls
them directly: its process ends anyway. matplotlib is imported on first use only.
"""

from __future__ import annotations

import asyncio
import io
import math
import pickle
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from engine.children import child_env

if TYPE_CHECKING:  # the chart process imports only what unpickling its data needs
    from matplotlib.figure import Figure

    from core.ramp import RampPlan
    from engine.stats import StatsReport
    from engine.warmup_admin import WarmupReport

WIDTH_PX = 1000
HEIGHT_PX = 500
DPI = 100
BAR_DAYS = 62  # up to two months as bars, longer ranges as an area

RENDER_SECONDS = 120.0  # the child's start, matplotlib's import and one drawing, on a busy box
WORKER = "bot.chart_worker"
ROOT = Path(__file__).resolve().parent.parent  # where `python -m bot.chart_worker` finds `bot`

T = TypeVar("T")


class ChartError(RuntimeError):
    """The chart process failed or took too long; the message holds its last words."""


async def render(draw: Callable[[T], bytes], data: T) -> bytes:
    """Draw `data` with one of this module's chart functions in a child process; its PNG."""
    name = draw.__name__
    if CHARTS.get(name) is not draw:
        raise ValueError(f"{name} is not one of the charts of bot.charts")
    payload = pickle.dumps((name, data), protocol=pickle.HIGHEST_PROTOCOL)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", WORKER, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
        env=child_env(),
    )  # fmt: skip
    try:
        async with asyncio.timeout(RENDER_SECONDS):
            png, err = await proc.communicate(payload)
    except TimeoutError:
        raise ChartError(f"{name}: no chart within {RENDER_SECONDS:.0f} s") from None
    finally:
        if proc.returncode is None:  # timed out or cancelled: never leave the child behind
            proc.kill()
            await proc.wait()
    if proc.returncode != 0 or not png:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ChartError(f"{name}: the chart process exited with {proc.returncode}: {last[0]}")
    return png


def _figure() -> Figure:
    from matplotlib.figure import Figure  # noqa: PLC0415 - deferred: see the module docstring

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    # Fixed margins: an automatic layout engine would cost a second draw pass per chart.
    fig.subplots_adjust(left=0.07, right=0.93, top=0.92, bottom=0.1)
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)  # a pyplot-free Figure renders PNG with Agg
    return buffer.getvalue()


def date_ticks(days: Sequence[date], most: int = 10) -> tuple[list[int], list[str]]:
    """Positions and labels of at most `most` evenly spaced days ('11-23', the year if mixed)."""
    step = max(1, math.ceil(len(days) / most))
    positions = list(range(len(days) - 1, -1, -step))[::-1]  # always label today
    fmt = "%Y-%m-%d" if days and days[0].year != days[-1].year else "%m-%d"
    return positions, [days[i].strftime(fmt) for i in positions]


def stats_chart(report: StatsReport) -> bytes:
    """Sends per day as bars; bounces, complaints and replies as lines on a second axis."""
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    fig = _figure()
    ax = fig.add_subplot()
    days = [d.day for d in report.days]
    x = list(range(len(days)))
    sent = [d.sent for d in report.days]
    if len(days) <= BAR_DAYS:
        ax.bar(x, sent, color="#9ecae1", label="sent", width=0.8)
    else:  # hundreds of bar patches take seconds to draw; one filled area takes milliseconds
        ax.fill_between(x, sent, step="mid", color="#9ecae1", label="sent")
    ax.set_ylabel("sent")
    ax.set_ylim(bottom=0)
    events = ax.twinx()
    for name, color, values in (
        ("bounces", "#d62728", [d.bounces for d in report.days]),
        ("complaints", "#9467bd", [d.complaints for d in report.days]),
        ("replies", "#2ca02c", [d.replies for d in report.days]),
    ):
        events.plot(x, values, color=color, marker="o" if len(days) <= 31 else "", label=name)
    events.set_ylabel("bounces / complaints / replies")
    events.set_ylim(bottom=0)
    events.yaxis.set_major_locator(MaxNLocator(integer=True))
    positions, labels = date_ticks(days)
    ax.set_xticks(positions, labels)
    ax.set_xlim(-0.6, len(days) - 0.4)
    handles, names = ax.get_legend_handles_labels()
    more_handles, more_names = events.get_legend_handles_labels()
    ax.legend(handles + more_handles, names + more_names, loc="upper left", framealpha=0.9)
    ax.set_title(f"Per day, last {len(days)} day(s) ({report.timezone})")
    return _png(fig)


def ramp_chart(report: WarmupReport) -> bytes:
    """The configured ramp (cap per warm-up day), each warming mailbox marked at today."""
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    fig = _figure()
    ax = fig.add_subplot()
    policy = report.policy
    ramp = list(report.ramp)
    days = list(range(1, len(ramp) + 1))
    ax.step(days, ramp, where="mid", color="#1f77b4", label="cap per day")
    ax.axvspan(0.5, policy.phase1_days + 0.5, color="#fdd0a2", alpha=0.4, label="phase 1")
    placed = [row for row in report.rows if row.day is not None]
    if placed:
        ax.scatter(
            [row.day or 0 for row in placed],
            [row.cap for row in placed],
            color="#d62728",
            zorder=3,
            label="today",
        )
        if len(placed) <= 10:
            for row in placed:
                ax.annotate(
                    row.address, (row.day or 0, row.cap), textcoords="offset points",
                    xytext=(4, 6), fontsize=8,
                )  # fmt: skip
    ax.set_xlim(0.5, max([len(ramp), *(row.day or 0 for row in placed)]) + 0.5)
    ax.set_ylim(0, policy.target * 1.15)
    ax.set_xlabel("warm-up day")
    ax.set_ylabel("daily cap")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left")
    ax.set_title(f"Warm-up ramp to {policy.target} a day, {report.today.isoformat()}")
    return _png(fig)


def plan_chart(plan: RampPlan) -> bytes:
    """Pool capacity per day against the target, the per-mailbox cap on a second axis."""
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    fig = _figure()
    ax = fig.add_subplot()
    days = [d.day for d in plan.days]
    capacity = [d.capacity for d in plan.days]
    if len(days) <= BAR_DAYS:
        ax.bar(days, capacity, color="#9ecae1", label="pool capacity")
    else:  # as in stats_chart: one area draws in milliseconds where hundreds of bars take seconds
        ax.fill_between(days, capacity, step="mid", color="#9ecae1", label="pool capacity")
    ax.axhline(plan.target, color="#2ca02c", linestyle="--", label=f"target {plan.target}")
    reached = plan.target_day
    if reached is not None:
        ax.axvline(reached.day, color="#d62728", linestyle=":", label=f"reached day {reached.day}")
    ax.set_ylim(0, max(plan.target, plan.steady_capacity, 1) * 1.15)
    ax.set_xlim(0.4, len(days) + 0.6)
    ax.set_xlabel("day")
    ax.set_ylabel("sends per day")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    caps = ax.twinx()
    caps.step(
        days,
        [d.cap_high for d in plan.days],
        where="mid",
        color="#e6550d",
        label="per-mailbox cap (right)",
    )
    caps.set_ylim(0, max([d.cap_high for d in plan.days] + [1]) * 1.15)
    caps.set_ylabel("per-mailbox cap")
    handles, names = ax.get_legend_handles_labels()
    more_handles, more_names = caps.get_legend_handles_labels()
    ax.legend(handles + more_handles, names + more_names, loc="upper left", framealpha=0.9)
    ax.set_title(
        f"Warm-up ramp: {plan.mailboxes} mailboxes on {plan.domains} domains, "
        f"day 1 = {plan.start.isoformat()}"
    )
    return _png(fig)


# The charts `render` may draw, by name: the child is told a name, never handed code.
CHARTS: dict[str, Callable[..., bytes]] = {
    f.__name__: f for f in (stats_chart, ramp_chart, plan_chart)
}
