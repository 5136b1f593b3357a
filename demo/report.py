"""The demo's output: the day-by-day table and the PNG report (matplotlib, Agg renderer)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from config import OutreachConfig
from core.ramp import RampDay

if TYPE_CHECKING:
    from matplotlib.axes import Axes

BAND_ROWS = 60  # above this many mailboxes the state panel counts them instead of one row each


@dataclass(frozen=True, slots=True)
class MailboxDay:
    """One mailbox on one day: its state at the end, its highest cap, the slots it used."""

    day: date
    state: str
    cap: int
    used: int
    warmup: int = 0  # of `used`, the warm-up loop's mails
    inbox: int = 0  # its warm-up mails first seen in a receiver's inbox that day
    spam: int = 0  # ... and in a spam folder (then rescued)
    held: bool = False  # campaign mail held for low inbox placement at the day's end


@dataclass(frozen=True, slots=True)
class DayRow:
    """One line of the table."""

    number: int
    day: date
    used: int  # sends as the limits count them: every slot used, bounces included
    sent: int
    bounces: int
    complaints: int
    replies: int
    active: int
    warming: int
    paused: int
    cooldown: int
    capacity: int  # what the pool may send, as of the start of the day
    events: list[str] = field(default_factory=list)
    warmup: int = 0  # of `used`, the warm-up loop's mails (answers included)
    inbox: int = 0  # warm-up mails first seen in a receiver's inbox that day
    spam: int = 0  # ... and in a spam folder

    @property
    def campaign(self) -> int:
        """Slots used by campaign mail."""
        return self.used - self.warmup

    @property
    def placement(self) -> float | None:
        """The day's inbox placement of warm-up mail, None when none was seen."""
        seen = self.inbox + self.spam
        return self.inbox / seen if seen else None


_COLUMNS = (
    f"{'day':>3}  {'date':<9} {'sends':>6} {'wup':>5} {'cap':>6} {'dlvd':>6} {'bnc':>4} "
    f"{'cmp':>4} {'rep':>4} {'inbx':>5}  {'act':>4} {'wrm':>4} {'pau':>3} {'cool':>4}  events"
)
_INDENT = " " * (_COLUMNS.index("events"))


def table_header() -> str:
    """The column titles and a legend line."""
    legend = (
        "sends: slots used (what the limits count); wup: of them, warm-up loop mail; "
        "cap: what the pool may send that day; dlvd: mails delivered\nbnc: hard bounces; "
        "cmp: complaints; rep: replies; inbx: warm-up mail found in the inbox, not in spam; "
        "act/wrm/pau/cool: mailboxes active / warming / paused / cooling down at the day's end"
    )
    return f"{legend}\n\n{_COLUMNS}\n{'-' * len(_COLUMNS)}"


def table_row(row: DayRow) -> str:
    """One day; each notable event on its own line under the events column."""
    placement = "-" if row.placement is None else f"{row.placement:.0%}"
    head = (
        f"{row.number:>3}  {row.day:%a %m-%d} {row.used:>6} {row.warmup:>5} {row.capacity:>6} "
        f"{row.sent:>6} {row.bounces:>4} {row.complaints:>4} {row.replies:>4} {placement:>5}  "
        f"{row.active:>4} {row.warming:>4} {row.paused:>3} {row.cooldown:>4}  "
    )
    events = row.events or [""]
    lines = [head + events[0]]
    lines += [_INDENT + event for event in events[1:]]
    return "\n".join(line.rstrip() for line in lines)


_STATE_COLOURS = {
    "active": "#4caf50",
    "warming": "#ffc107",
    "paused": "#e53935",
    "cooldown": "#1e88e5",
    "disabled": "#9e9e9e",
}


def render_png(
    days: list[DayRow],
    mailboxes: dict[str, list[MailboxDay]],
    path: Path,
    config: OutreachConfig,
    predicted: RampDay | None = None,
) -> Path:
    """Four panels over the days: volume (campaign and warm-up) against the target, warm-up
    caps, inbox placement of warm-up mail, mailbox states."""
    # Imported on use: matplotlib takes a second to load, and only the demo draws. A bare
    # Figure renders with Agg when saved to PNG: no pyplot state, never a display.
    from matplotlib.figure import Figure  # noqa: PLC0415

    numbers = [row.number for row in days]
    rows = len(mailboxes) if len(mailboxes) <= BAND_ROWS else 15
    ratios = [3, 2.4, 1.8, max(3.0, rows * 0.2)]  # a readable row per mailbox in the last
    height = 12 * sum(ratios) / 8.4
    fig = Figure(figsize=(13, height))
    top, middle, placed, bottom = fig.subplots(
        4, 1, sharex=True, gridspec_kw={"height_ratios": ratios}
    )
    span = f", {days[0].day:%Y-%m-%d} to {days[-1].day:%Y-%m-%d}" if days else ""
    fig.suptitle(
        f"Outreach demo{span}: {len(mailboxes)} mailboxes on {len(config.domains)} domains "
        "(grey: weekends)",
        fontsize=13,
    )
    for ax in (top, middle, placed, bottom):
        for row in days:
            if row.day.weekday() >= 5:  # weekends: only the all-week campaign sends
                ax.axvspan(row.number - 0.5, row.number + 0.5, color="#eeeeee", zorder=0)

    _volume(top, days, config.sending.daily_target, predicted)
    _caps(middle, mailboxes)
    _placement(placed, days, mailboxes)
    if len(mailboxes) > BAND_ROWS:
        _counts(bottom, mailboxes)
    else:
        _bands(bottom, mailboxes)
    bottom.set_xlabel("demo day")
    bottom.set_xlim(0.5, len(days) + 0.5)
    weekly = [r.number for r in days if (r.number - 1) % 7 == 0]
    bottom.set_xticks(numbers, minor=True)
    bottom.set_xticks(weekly)
    bottom.set_xticklabels([f"day {n}\n{days[n - 1].day:%a %m-%d}" for n in weekly], fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / height))  # half an inch for the title
    fig.savefig(path, dpi=90)
    return path


def _volume(ax: Axes, days: list[DayRow], target: int, predicted: RampDay | None) -> None:
    """Campaign and warm-up mail per day (stacked), capacity, the target, and the outcomes."""
    top = ax
    numbers = [row.number for row in days]
    campaign = [r.campaign for r in days]
    top.bar(numbers, campaign, color="#90caf9", label="campaign mail")
    top.bar(numbers, [r.warmup for r in days], bottom=campaign, color="#ffb74d",
            label="warm-up loop mail")  # fmt: skip
    top.step(numbers, [r.capacity for r in days], where="mid", color="#1565c0", lw=1.2,
             label="capacity")  # fmt: skip
    top.axhline(target, color="#2e7d32", ls="--", lw=1, label=f"target {target:,}")
    reached = next((r for r in days if r.used >= target), None)
    if predicted is not None and predicted.day <= len(days):
        top.axvline(predicted.day, color="#2e7d32", lw=1, ls=":")
        top.annotate(f"plan: day {predicted.day}", (predicted.day, target), xytext=(4, 6),
                     textcoords="offset points", fontsize=8, color="#2e7d32")  # fmt: skip
    if reached is not None:
        top.plot([reached.number], [reached.used], "*", color="#2e7d32", ms=14,
                 label=f"first day at the target: {reached.number}")  # fmt: skip
    top.set_ylabel("mails per day")
    peak_volume = max([r.capacity for r in days] + [r.used for r in days] + [target, 1])
    top.set_ylim(0, peak_volume * 1.3)
    outcomes = top.twinx()
    outcomes.plot(numbers, [r.bounces for r in days], "o-", color="#e53935", ms=3, lw=1,
                  label="hard bounces")  # fmt: skip
    outcomes.plot(numbers, [r.replies for r in days], "s-", color="#43a047", ms=3, lw=1,
                  label="replies")  # fmt: skip
    complained = [r for r in days if r.complaints]
    outcomes.plot([r.number for r in complained], [r.complaints for r in complained], "X",
                  color="#6a1b9a", ms=10, ls="none", label="complaints")  # fmt: skip
    outcomes.set_ylabel("bounces / replies / complaints")
    peak = max([r.bounces for r in days] + [r.replies for r in days] + [r.complaints for r in days])
    outcomes.set_ylim(0, max(peak, 1) * 1.6)
    handles = top.get_legend_handles_labels()
    more = outcomes.get_legend_handles_labels()
    top.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=8, ncol=4)
    top.set_title(
        "Sends (slots used: campaign and warm-up mail), capacity and outcomes per day",
        fontsize=10, loc="left",
    )  # fmt: skip


def _caps(ax: Axes, mailboxes: dict[str, list[MailboxDay]]) -> None:
    """Warm-up caps (lines) and what warming mailboxes sent (dots); equal ramps share a line."""
    groups: dict[tuple[tuple[int, int], ...], list[str]] = {}
    # Pools of thousands share a handful of ramps: one line each keeps the legend short.
    for address, days in mailboxes.items():
        points = tuple((n, d.cap) for n, d in enumerate(days, start=1) if d.state == "warming")
        if points:
            groups.setdefault(points, []).append(address)
    for points, addresses in groups.items():
        xs: list[float] = []
        caps: list[float] = []
        for n, cap in points:
            if xs and n != xs[-1] + 1:
                # A break in warm-up (a cool-down between two ramps): no line across it.
                xs.append(math.nan)
                caps.append(math.nan)
            xs.append(n)
            caps.append(cap)
        domains = {a.rpartition("@")[2] for a in addresses}
        if len(addresses) > 4:
            names = f"{len(addresses)} mailboxes"
        elif len(domains) == 1:
            names = ", ".join(a.partition("@")[0] for a in addresses) + f" @{domains.pop()}"
        else:
            names = ", ".join(addresses)
        line = ax.plot(xs, caps, "o-", ms=3, lw=1.6, label=f"cap: {names}")
        numbers = [n for n, _ in points]
        sent = [sum(mailboxes[a][n - 1].used for a in addresses) / len(addresses) for n in numbers]
        ax.plot(numbers, sent, "o", ms=5, mfc="none", color=line[0].get_color(),
                label="  sent per mailbox (mean)")  # fmt: skip
    ax.set_ylabel("mails/day per mailbox")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if groups:
        ax.legend(loc="upper left", fontsize=8)
    ax.set_title(
        "Warm-up caps while warming (SPEC 7: 5, 6, 7, 8, 8, 9, 10, then +20 % a day; back from "
        "a cool-down: from 12)\nWeek 1 is warm-up loop mail, and the mail of campaigns that "
        "opt in (during_warmup)",
        fontsize=9, loc="left",
    )  # fmt: skip


def _placement(ax: Axes, days: list[DayRow], mailboxes: dict[str, list[MailboxDay]]) -> None:
    """Inbox placement of warm-up mail: the pool's per day, the worst domain's over 7 days."""
    numbers = [row.number for row in days]
    ax.plot(numbers, [_percent(r.placement) for r in days], "o-", ms=3, lw=1.4,
            color="#2e7d32", label="pool, per day")  # fmt: skip
    by_domain: dict[str, list[tuple[int, int]]] = {}
    for address, per_day in mailboxes.items():
        counts = by_domain.setdefault(address.rpartition("@")[2], [(0, 0)] * len(per_day))
        for n, d in enumerate(per_day):
            inbox, spam = counts[n]
            counts[n] = (inbox + d.inbox, spam + d.spam)
    totals = {name: sum(i for i, _ in c) / max(1, sum(i + s for i, s in c))
              for name, c in by_domain.items() if any(i + s for i, s in c)}  # fmt: skip
    if totals:
        worst = min(totals, key=lambda name: totals[name])
        # Over the last 7 days, as the hold is judged (per mailbox there, per domain here).
        counts = by_domain[worst]
        rates = []
        for n in range(len(counts)):
            inbox = sum(i for i, _ in counts[max(0, n - 6) : n + 1])
            seen = sum(i + s for i, s in counts[max(0, n - 6) : n + 1])
            rates.append(_percent(inbox / seen if seen else None))
        ax.plot(numbers[: len(rates)], rates, "s-", ms=3, lw=1.2, color="#c62828",
                label=f"{worst}, last 7 days (the lowest domain)")  # fmt: skip
    ax.axhline(70, color="#f9a825", ls="--", lw=1, label="70 %: warning")
    ax.axhline(50, color="#c62828", ls=":", lw=1, label="50 %: campaign mail held")
    ax.set_ylim(0, 105)
    ax.set_ylabel("% in the inbox")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8, ncol=4)
    ax.set_title(
        "Inbox placement of warm-up mail (first seen in the inbox, not in spam; spam is "
        "rescued); under 50 % over 7 days a mailbox's campaign mail is held",
        fontsize=10, loc="left",
    )  # fmt: skip


def _percent(rate: float | None) -> float:
    return math.nan if rate is None else 100 * rate


def _bands(ax: Axes, mailboxes: dict[str, list[MailboxDay]]) -> None:
    """One row per mailbox, coloured by its state at the end of each day."""
    names = list(mailboxes)
    for row, address in enumerate(names):
        days = mailboxes[address]
        start = 0
        for index in range(1, len(days) + 1):
            if index == len(days) or days[index].state != days[start].state:
                colour = _STATE_COLOURS.get(days[start].state, "#cccccc")
                ax.broken_barh([(start + 0.5, index - start)], (row - 0.4, 0.8), color=colour)
                start = index
        held = [(n + 0.5, 1) for n, day in enumerate(days) if day.held]
        if held:
            ax.broken_barh(held, (row - 0.4, 0.8), facecolor="none", edgecolor="#212121",
                           hatch="///", lw=0)  # fmt: skip
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_title("Mailbox states (end of day)", fontsize=10, loc="left")
    from matplotlib.patches import Patch  # noqa: PLC0415 - see render_png

    legend = [Patch(color=c, label=s) for s, c in _STATE_COLOURS.items() if s != "disabled"]
    legend.append(Patch(facecolor="white", edgecolor="#212121", hatch="///",
                        label="campaign mail held (placement)"))  # fmt: skip
    ax.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=5,
              fontsize=8)  # fmt: skip


def _counts(ax: Axes, mailboxes: dict[str, list[MailboxDay]]) -> None:
    """Mailboxes in each state at the end of each day, stacked (pools too big for one row each)."""
    length = max((len(days) for days in mailboxes.values()), default=0)
    numbers = list(range(1, length + 1))
    bottom = [0] * length
    for state, colour in _STATE_COLOURS.items():
        counts = [
            sum(1 for days in mailboxes.values() if n < len(days) and days[n].state == state)
            for n in range(length)
        ]
        if any(counts):
            ax.bar(numbers, counts, bottom=bottom, color=colour, label=state, width=0.9)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax.set_ylabel("mailboxes")
    ax.set_title("Mailbox states (end of day)", fontsize=10, loc="left")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=4, fontsize=8)
