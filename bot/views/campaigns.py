"""/campaigns: each campaign's state, leads by state, sent today and rates."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.models import RateCounts
from core.records import CampaignCounts

LEAD_STATES = ("queued", "active", "finished", "replied", "bounced", "unsubscribed", "failed")


def rates_summary(rates: RateCounts) -> str:
    """Sends, bounce, complaint and reply rates over the window, in one line."""
    if not rates.sends:
        return "no sends"
    return (
        f"{rates.sends} sent, bounces {rates.bounce_rate:.1%}, "
        f"complaints {rates.complaints} ({rates.complaint_rate:.2%}), "
        f"replies {rates.rate(rates.replies):.1%}"
    )


def window_line(rates: RateCounts, days: int) -> str:
    """SPEC 9's rates over the health window: delivery, open, reply, bounce, complaint."""
    if not rates.sends:
        return f"Last {days} days: no sends"
    return (
        f"Last {days} days: {rates.sends} sent, delivered {rates.rate(rates.delivered):.1%}, "
        f"opened {rates.rate(rates.opens):.1%}, replies {rates.rate(rates.replies):.1%}, "
        f"bounces {rates.bounce_rate:.1%}, complaints {rates.complaints} "
        f"({rates.complaint_rate:.2%})"
    )


def leads_summary(counts: CampaignCounts) -> str:
    """A campaign's leads by state, the usual states first."""
    known = [s for s in LEAD_STATES if counts.leads.get(s)]
    others = sorted(s for s in counts.leads if s not in LEAD_STATES and counts.leads[s])
    parts = [f"{counts.leads[s]} {s}" for s in [*known, *others]]
    return ", ".join(parts) or "no leads"


def campaigns_lines(
    counts: Sequence[CampaignCounts],
    rates: Mapping[int, RateCounts],
    window_days: int,
    labels: Mapping[int, Mapping[str, int]] | None = None,
) -> list[str]:
    """/campaigns: each campaign's state, leads by state, sent today and rates."""
    if not counts:
        return ["No campaigns yet: add one to the config, or /upload a campaign .toml."]
    lines = [f"Campaigns (rates over the last {window_days} days):"]
    for c in counts:
        limit = f"/{c.daily_limit}" if c.daily_limit is not None else ""
        state = c.state + (f" ({c.reason[:80]})" if c.reason else "")
        lines.append(f"{c.name}: {state}; sent today {c.sent_today}{limit}")
        lines.append(f"  leads: {leads_summary(c)}")
        lines.append(f"  {rates_summary(rates.get(c.id, RateCounts()))}")
        labelled = (labels or {}).get(c.id)
        if labelled:
            shown = ", ".join(
                f"{label.replace('_', ' ')} {labelled[label]}"
                for label in ("interested", "not_interested", "unsubscribe")
                if labelled.get(label)
            )
            lines.append(f"  reply labels: {shown}")
    return lines
