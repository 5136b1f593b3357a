"""/status: today's numbers, or one mailbox, domain or campaign in detail."""

from __future__ import annotations

from datetime import datetime

from bot.views.campaigns import LEAD_STATES, leads_summary, rates_summary, window_line
from core.warmup import PLACEMENT_SHOWN
from engine.control import Unknown
from engine.status import CampaignDetail, Detail, DomainDetail, MailboxDetail, StatusReport


def status_lines(report: StatusReport) -> list[str]:
    """The /status text: today's numbers, mailboxes by state, queues, last alerts."""
    cap = report.capacity
    lines = [
        f"Today {report.day.isoformat()}: sent {report.sent} / capacity {cap.total} "
        f"/ target {cap.target}",
    ]
    if cap.shortfall:
        lines.append(f"Capacity is {cap.shortfall} below the target.")
    states = cap.by_state()
    lines.append(
        "Mailboxes: "
        + ", ".join(f"{count} {state.value}" for state, count in states.items() if count)
    )
    for item in report.attention:
        why = f" - {item.reason[:160]}" if item.reason else ""
        lines.append(f"  {item.address}: {item.state}, {item.sent}/{item.cap} today{why}")
    if report.unlisted:
        more = ", ".join(f"{n} {kind}" for kind, n in report.unlisted.items())
        lines.append(
            f"  ... and {sum(report.unlisted.values())} more ({more}); "
            "/status <mailbox or domain> shows one, /warmup the warming ones"
        )
    lines.append("Campaigns:")
    if not report.campaigns:
        lines.append("  (none)")
    for camp in report.campaigns:
        limit = f"/{camp.daily_limit}" if camp.daily_limit is not None else ""
        counts = ", ".join(f"{camp.leads[s]} {s}" for s in LEAD_STATES if camp.leads.get(s))
        state = camp.state if not camp.reason else f"{camp.state} ({camp.reason[:80]})"
        lines.append(
            f"  {camp.name}: {state}; sent today {camp.sent_today}{limit}; "
            f"queue {camp.leads.get('queued', 0)}; {counts or 'no leads'}"
        )
    if report.alerts:
        lines.append("Last alerts:")
        for alert in report.alerts:
            first = alert.text.splitlines()[0][:160]
            lines.append(f"  {alert.created_at:%m-%d %H:%M} [{alert.severity}] {first}")
    return lines


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "never"


def unknown_lines(unknown: Unknown, what: str = "mailbox, domain or campaign") -> list[str]:
    """A name that matched nothing, with the closest names."""
    line = f"unknown {what} {unknown.name!r}"
    if unknown.suggestions:
        return [f"{line}; did you mean: {', '.join(unknown.suggestions)}"]
    return [f"{line}; /status lists mailboxes that need attention and every campaign"]


def detail_lines(detail: Detail) -> list[str]:
    """/status NAME: one mailbox, domain or campaign."""
    if isinstance(detail, MailboxDetail):
        return _mailbox_detail_lines(detail)
    if isinstance(detail, DomainDetail):
        return _domain_detail_lines(detail)
    return _campaign_detail_lines(detail)


def _mailbox_detail_lines(d: MailboxDetail) -> list[str]:
    lines = [f"Mailbox {d.address} (domain {d.domain}, {d.domain_state})"]
    lines.append(f"State: {d.state}" + (f" - {d.reason}" if d.reason else ""))
    lines.append(f"Today: sent {d.sent} / cap {d.cap} (daily limit {d.daily_limit})")
    if d.warmup_day is not None:
        lines.append(f"Warm-up: day {d.warmup_day}, phase {d.warmup_phase}")
    placed = d.placement_inbox + d.placement_spam
    found = f"{placed} warm-up mails found" + (
        f" ({d.placement_spam} in spam)" if d.placement_spam else ""
    )
    rate = (
        f"n/a, {found}, a rate from {PLACEMENT_SHOWN}"
        if d.placement is None
        else f"{d.placement:.0%} of {found}"
    )
    lines.append(f"Inbox placement, last {d.placement_days} days: {rate}")
    if d.placement_hold:
        lines.append(
            "Campaign mail held: inbox placement under 50 %, until it is back over 70 %; "
            "warm-up goes on"
        )
    if d.cooldown_until is not None:
        lines.append(f"Cool-down of {d.domain} until {_when(d.cooldown_until)}")
    if d.resting_until is not None:
        lines.append(f"Resting until {_when(d.resting_until)}")
    lines.append(f"Last sent: {_when(d.last_sent_at)}")
    lines.append(window_line(d.rates, d.window_days))
    return lines


def _domain_detail_lines(d: DomainDetail) -> list[str]:
    limit = f"/{d.daily_limit}" if d.daily_limit is not None else " (no domain cap)"
    lines = [f"Domain {d.name}"]
    lines.append(f"State: {d.state}" + (f" - {d.reason}" if d.reason else ""))
    if d.cooldown_until is not None:
        lines.append(f"Cool-down until {_when(d.cooldown_until)}")
    lines.append(f"Today: sent {d.sent}{limit}")
    lines.append(window_line(d.rates, d.window_days))
    lines.append(f"Mailboxes ({len(d.mailboxes)}):")
    for box in d.mailboxes:
        why = f" - {box.reason}" if box.reason else ""
        lines.append(f"  {box.address}: {box.state}, {box.sent}/{box.cap} today{why}")
    return lines


def _campaign_detail_lines(d: CampaignDetail) -> list[str]:
    c = d.counts
    limit = f"/{c.daily_limit}" if c.daily_limit is not None else ""
    return [
        f"Campaign {c.name}" + (" (uploaded)" if d.origin == "upload" else ""),
        f"State: {c.state}" + (f" - {c.reason}" if c.reason else ""),
        f"Window: {', '.join(d.days)} {d.hours} {d.timezone}",
        f"Today: sent {c.sent_today}{limit}",
        f"Leads: {leads_summary(c)}",
        f"Last {d.window_days} days: {rates_summary(d.rates)}",
    ]
