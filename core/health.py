"""Rates over the health window -> verdicts: warn, pause, cool down, alert (SPEC 9)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.models import HealthPolicy, RateCounts


class Action(enum.StrEnum):
    """What the shell should do about a mailbox or domain."""

    WARN = "warn"  # warning alert, nothing stops
    PAUSE = "pause"  # mailbox paused until /resume
    COOLDOWN = "cooldown"  # domain rests until `until`
    ALERT = "alert"  # domain-level warning alert


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision about one subject (a mailbox address or a domain name), with its why."""

    action: Action
    subject: str
    reason: str
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Culprit:
    """Campaign and step of the latest complaint, so admins can review that content."""

    campaign: str
    step_no: int


def mailbox_verdicts(
    address: str, counts: RateCounts, policy: HealthPolicy, culprit: Culprit | None = None
) -> list[Verdict]:
    """Pause on complaints or on a bounce rate over the pause level with enough sends; else warn."""
    verdicts: list[Verdict] = []
    if counts.complaints >= policy.complaints_pause:
        where = f" (latest: campaign {culprit.campaign}, step {culprit.step_no})" if culprit else ""
        verdicts.append(
            Verdict(
                Action.PAUSE,
                address,
                f"{counts.complaints} complaint(s) in {policy.window_days} days{where}",
            )
        )
    rate = counts.bounce_rate
    if rate > policy.bounce_pause and counts.sends >= policy.min_sends:
        verdicts.append(
            Verdict(
                Action.PAUSE,
                address,
                f"bounce rate {rate:.1%} over {policy.bounce_pause:.1%} "
                f"({counts.bounces}/{counts.sends} in {policy.window_days} days)",
            )
        )
    elif rate > policy.bounce_warn:
        verdicts.append(
            Verdict(
                Action.WARN,
                address,
                f"bounce rate {rate:.1%} over {policy.bounce_warn:.1%} "
                f"({counts.bounces}/{counts.sends} in {policy.window_days} days)",
            )
        )
    return verdicts


def domain_verdicts(name: str, counts: RateCounts, policy: HealthPolicy) -> list[Verdict]:
    """Alert when the domain's complaint rate passes `domain_complaint_alert`."""
    rate = counts.complaint_rate
    if counts.sends and rate > policy.domain_complaint_alert:
        return [
            Verdict(
                Action.ALERT,
                name,
                f"complaint rate {rate:.2%} over {policy.domain_complaint_alert:.2%} "
                f"({counts.complaints}/{counts.sends} in {policy.window_days} days)",
            )
        ]
    return []


def block_verdict(domain: str, mailbox: str, now: datetime, policy: HealthPolicy) -> Verdict:
    """A spam block on any of its mailboxes sends the whole domain to cool-down."""
    until = now + timedelta(days=policy.cooldown_days)
    return Verdict(Action.COOLDOWN, domain, f"spam block on {mailbox}", until=until)


def cooldown_over(until: datetime | None, now: datetime) -> bool:
    """Whether a cool-down that lasts until `until` has ended at `now`."""
    return until is not None and until <= now


def window_start(today: date, policy: HealthPolicy) -> date:
    """First day of the rolling health window that ends with `today`."""
    return today - timedelta(days=policy.window_days - 1)


def total(counts: Iterable[RateCounts]) -> RateCounts:
    """Several mailboxes' counts as one (a domain's)."""
    items = list(counts)
    return RateCounts(
        **{
            name: sum(getattr(item, name) for item in items)
            for name in RateCounts.__dataclass_fields__
        }
    )
