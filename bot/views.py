"""Pure formatting of what the bot and the CLI show; no I/O."""

from __future__ import annotations

from engine.status import StatusReport

LEAD_STATES = ("queued", "active", "finished", "replied", "bounced", "unsubscribed", "failed")


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
        why = f" - {item.reason}" if item.reason else ""
        lines.append(f"  {item.address}: {item.state}, {item.sent}/{item.cap} today{why}")
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
