"""Pure formatting for /upload, /stats, /warmup, /cost, /suppress and /dns; no I/O.

Functions return plain-text lines; `pre` wraps a table for Telegram's HTML mode (escaped).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from bot.uploads import PENDING_FOR
from core.cost import CostEstimate
from core.leads import ImportReport, report_lines
from engine.dns_check import DomainDns, Lookup, Status
from engine.stats import DayStats, StatsReport
from engine.suppression import SuppressResult, UnsuppressResult
from engine.uploads import StoredCampaign
from engine.warmup_admin import WarmupReport

DAILY_ROWS = 31  # /stats lists each day up to this many days, then weeks
WARMUP_ROWS = 60  # /warmup lists at most this many mailboxes in text


def number(value: int) -> str:
    """40000 -> '40 000' (thin groups read well in chat, in any locale)."""
    return f"{value:,}".replace(",", " ")


def usd(value: float) -> str:
    """A dollar amount with cents."""
    return f"${value:,.2f}"


def pre(lines: Iterable[str]) -> str:
    """Lines as a monospace block for parse_mode=HTML."""
    return "<pre>" + html.escape("\n".join(lines)) + "</pre>"


# --- /upload -----------------------------------------------------------------------------


def upload_usage() -> str:
    """What /upload expects."""
    minutes = int(PENDING_FOR.total_seconds() // 60)
    return (
        "Send a .csv or .xlsx leads file with the caption /upload <campaign>, or send "
        f"/upload <campaign> and then the file within {minutes} minutes. A campaign is "
        "uploaded as a .toml file holding one [[campaigns]] table."
    )


def upload_waiting(campaign: str) -> str:
    """After /upload <campaign>: the file is awaited."""
    minutes = int(PENDING_FOR.total_seconds() // 60)
    return f"Send the .csv or .xlsx file for campaign {campaign!r} within {minutes} minutes."


def upload_choose(count: int, shown: int) -> str:
    """Above the campaign keyboard of `shown` of `count` campaigns."""
    if not count:
        return (
            "There is no campaign yet. Send a .toml file holding one [[campaigns]] table "
            "to create one."
        )
    more = (
        f" The first {shown} of {count} are shown; name any other with /upload <campaign>."
        if shown < count
        else ""
    )
    return f"Which campaign do the leads go to? (Or send a .toml file to add a campaign.){more}"


def upload_without_campaign() -> str:
    """A leads file arrived but no campaign was named."""
    return "Which campaign is this file for? Send /upload <campaign>, then the file again."


def import_started(campaign: str, file_name: str) -> str:
    """The progress message's first text."""
    return f"Importing {file_name} into {campaign!r}..."


def import_progress(campaign: str, rows: int) -> str:
    """The progress message while rows are read."""
    return f"Importing into {campaign!r}... {number(rows)} rows read"


def import_done(report: ImportReport) -> str:
    """The progress message once the import is over."""
    return f"Import into {report.campaign!r} done: {number(report.rows_read)} rows read."


def import_report(report: ImportReport) -> list[str]:
    """The SPEC 5 report."""
    return report_lines(report)


def campaign_stored(stored: StoredCampaign) -> str:
    """After a .toml upload."""
    what = "created" if stored.created else "replaced"
    return (
        f"Campaign {stored.name!r} {what} with {stored.steps} step(s). "
        f"Upload its leads with /upload {stored.name}."
    )


# --- /stats ------------------------------------------------------------------------------


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def _stats_row(label: str, d: DayStats) -> str:
    return (
        f"{label:<10} {d.sent:>7} {d.bounces:>6} {d.complaints:>6} {d.replies:>6}"
        f" {_rate(d.bounces, d.sent):>6}"
    )


def _weeks(days: Sequence[DayStats]) -> list[tuple[str, DayStats]]:
    """Days grouped into weeks starting Monday, each labelled by its first day in range."""
    groups: dict[str, list[DayStats]] = {}
    for day in days:
        monday = day.day - timedelta(days=day.day.weekday())
        groups.setdefault(monday.isoformat(), []).append(day)
    return [
        (
            week[0].day.isoformat(),
            DayStats(
                week[-1].day,
                sum(d.sent for d in week),
                sum(d.bounces for d in week),
                sum(d.complaints for d in week),
                sum(d.replies for d in week),
            ),
        )
        for week in groups.values()
    ]


def stats_lines(report: StatsReport) -> list[str]:
    """The /stats table: one row per day (per week beyond a month), then the totals."""
    first, last = report.days[0].day, report.days[-1].day
    weekly = len(report.days) > DAILY_ROWS
    header = f"{'week of' if weekly else 'day':<10} {'sent':>7} {'bounce':>6} {'compl':>6}"
    lines = [
        f"{first.isoformat()} .. {last.isoformat()} ({report.timezone})",
        f"{header} {'reply':>6} {'b-rate':>6}",
    ]
    if weekly:
        lines += [_stats_row(label, week) for label, week in _weeks(report.days)]
    else:
        lines += [_stats_row(d.day.isoformat(), d) for d in report.days]
    total = report.total()
    lines.append(_stats_row("total", total))
    lines.append(
        f"complaint rate {_rate(total.complaints, total.sent)}, "
        f"reply rate {_rate(total.replies, total.sent)}"
    )
    return lines


def stats_caption(report: StatsReport) -> str:
    """The chart's caption."""
    total = report.total()
    return (
        f"Last {len(report.days)} day(s): {number(total.sent)} sent, {total.bounces} bounces, "
        f"{total.complaints} complaints, {total.replies} replies"
    )


# --- /warmup -----------------------------------------------------------------------------


def warmup_lines(report: WarmupReport) -> list[str]:
    """The SPEC 10 warm-up table: day, phase, today's cap, sent, inbox placement."""
    policy = report.policy
    lines = [
        f"Warm-up on {report.today.isoformat()}: ramp {policy.phase1_start}->"
        f"{policy.phase1_end} over {policy.phase1_days} days, then +{policy.daily_growth:.0%} "
        f"a day up to {policy.target}",
    ]
    if not report.rows:
        lines.append("No mailbox is warming up. Start one with /warmup start <mailbox>.")
        return lines
    lines.append(f"{'mailbox':<28} {'day':>3} {'ph':>2} {'cap':>3} {'sent':>4} inbox")
    for row in report.rows[:WARMUP_ROWS]:
        placement = "n/a" if row.placement is None else f"{row.placement:.0%}"
        address = row.address if len(row.address) <= 28 else row.address[:25] + "..."
        day = "-" if row.day is None else str(row.day)
        phase = "-" if row.phase is None else str(row.phase)
        lines.append(
            f"{address:<28} {day:>3} {phase:>2} {row.cap:>3} {row.sent_today:>4} {placement}"
        )
    if len(report.rows) > WARMUP_ROWS:
        lines.append(f"... and {len(report.rows) - WARMUP_ROWS} more warming mailboxes")
    lines.append(
        f"inbox = warm-up mails found in the inbox over the last {report.placement_days} "
        "days; n/a until the warm-up loop reports any"
    )
    return lines


def warmup_started(address: str, day: date) -> str:
    """After /warmup start."""
    return f"{address} starts warm-up: {day.isoformat()} is day 1 of its ramp."


def warmup_stopped(address: str, daily_limit: int) -> str:
    """After /warmup stop."""
    return f"{address} stopped warming up; it is active at its daily limit of {daily_limit}."


# --- /cost -------------------------------------------------------------------------------


def cost_lines(est: CostEstimate) -> list[str]:
    """Each cost line and the total, in USD, with the volumes they come from."""
    per_domain = est.domain_cost / est.domains if est.domains else 0.0
    return [
        f"Cost estimate for {est.month:%B %Y} (USD)",
        f"Mails sent so far: {number(est.sent_so_far)} "
        f"(about {number(round(est.daily_average))} a day)",
        f"Projected by month end ({est.days_in_month} days): {number(est.projected)}",
        f"ESP: {number(est.projected)} mails: {usd(est.esp)}",
        f"Domains: {est.domains} x {usd(per_domain)} a month: {usd(est.domain_cost)}",
        f"Server: {usd(est.server)}",
        f"Total: {usd(est.total)}",
    ]


# --- /suppress, /unsuppress ---------------------------------------------------------------


def suppress_text(result: SuppressResult) -> str:
    """What /suppress changed."""
    entry = result.entry.stored
    head = (
        f"{entry} added to the suppression list."
        if result.added
        else f"{entry} was already on the suppression list."
    )
    what = "of that domain " if result.entry.is_domain else "with that address "
    return f"{head} {result.closed_leads} open lead(s) {what}closed in all campaigns."


def unsuppress_text(result: UnsuppressResult) -> str:
    """What /unsuppress changed."""
    entry = result.entry.stored
    if not result.removed:
        text = f"{entry} was not on the suppression list; nothing changed."
    else:
        text = f"{entry} removed from the suppression list. Leads it closed stay closed."
    if result.domain_still_suppressed:
        domain = "@" + result.entry.value.rpartition("@")[2]
        text += f" Its whole domain {domain} is still suppressed."
    return text


# --- /dns --------------------------------------------------------------------------------

_MARK = {Status.FOUND: "ok", Status.MISSING: "MISSING", Status.INVALID: "BAD", Status.UNKNOWN: "?"}


def _lookup(name: str, lookup: Lookup, found: str) -> str:
    if lookup.status is Status.FOUND:
        return f"  {name}: ok - {found}"
    note = f" - {lookup.note}" if lookup.note else ""
    return f"  {name}: {_MARK[lookup.status]}{note}"


def _clip(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def dns_lines(results: Sequence[DomainDns]) -> list[str]:
    """Per domain: SPF, DKIM per selector, DMARC with its policy, MX, and what is missing."""
    if not results:
        return ["No domain is configured: add [[domains]] tables to the config."]
    lines: list[str] = []
    for result in results:
        problems = result.problems()
        verdict = "missing " + ", ".join(problems) if problems else "all present"
        lines.append(f"{result.domain}: {verdict}")
        lines.append(_lookup("SPF", result.spf, _clip(" | ".join(result.spf.values))))
        for selector, lookup in result.dkim:
            lines.append(_lookup(f"DKIM {selector}", lookup, "key published"))
        lines.append(_lookup("DMARC", result.dmarc, f"p={result.dmarc_policy}"))
        lines.append(_lookup("MX", result.mx, _clip(", ".join(result.mx.values))))
        unknown = result.unknown()
        if unknown:
            lines.append("  could not check: " + "; ".join(unknown))
    return lines
