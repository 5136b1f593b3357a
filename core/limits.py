"""What a mailbox, domain or campaign may still send today, and when (SPEC 6.1-6.5)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from core import warmup
from core.models import (
    SENDING_STATES,
    WEEKDAYS,
    CampaignState,
    CampaignView,
    DomainState,
    DomainView,
    MailboxState,
    MailboxView,
    SendingPolicy,
    WarmupPolicy,
)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """A cached ZoneInfo: the planner asks for the same few zones on every tick."""
    return ZoneInfo(name)


def local_day(now: datetime, tz: str) -> date:
    """The calendar day `now` falls on in `tz`: the key of every daily counter."""
    return now.astimezone(zone(tz)).date()


@lru_cache(maxsize=256)  # asked again for every mail sent; a few days and zones at a time
def day_bounds(day: date, tz: str) -> tuple[datetime, datetime]:
    """UTC start (included) and end (excluded) of a local day; 23 or 25 hours across DST."""
    start = datetime.combine(day, time(0), zone(tz))
    end = datetime.combine(day + timedelta(days=1), time(0), zone(tz))
    return start.astimezone(UTC), end.astimezone(UTC)


def mailbox_cap(mailbox: MailboxView, today: date, policy: WarmupPolicy) -> int:
    """Today's cap of a mailbox: 0 unless it may send; the warm-up cap while warming."""
    if mailbox.state not in SENDING_STATES:
        return 0
    if mailbox.state is MailboxState.WARMING and mailbox.warmup_start is not None:
        day = warmup.warmup_day(mailbox.warmup_start, today)
        return warmup.warmup_cap(policy, day, mailbox.daily_limit)
    return mailbox.daily_limit


def mailbox_left(mailbox: MailboxView, today: date, policy: WarmupPolicy) -> int:
    """Sends a mailbox may still make today (warm-up loop mails included in `sent_today`)."""
    return max(0, mailbox_cap(mailbox, today, policy) - mailbox.sent_today)


def campaign_room(mailbox: MailboxView, today: date, policy: WarmupPolicy) -> int:
    """Campaign mails a mailbox may still send today: what the warm-up loop leaves (SPEC 7).

    The loop keeps `warmup_volume` of the cap for its own mails; campaigns fill the rest, and
    never more than the cap leaves (`mailbox_left`, every kind of mail counted).
    """
    cap = mailbox_cap(mailbox, today, policy)
    campaign_sent = mailbox.sent_today - mailbox.warmup_sent
    allowance = cap - mailbox.warmup_volume - campaign_sent
    return max(0, min(allowance, cap - mailbox.sent_today))


def mailbox_ready(mailbox: MailboxView, now: datetime) -> bool:
    """Whether the mailbox may send at `now`: a sending state, its gap over, not resting."""
    if mailbox.state not in SENDING_STATES:
        return False
    if mailbox.next_send_at is not None and mailbox.next_send_at > now:
        return False
    return mailbox.resting_until is None or mailbox.resting_until <= now


def takes_campaign_mail(
    mailbox: MailboxView, today: date, policy: WarmupPolicy, *, during_warmup: bool
) -> bool:
    """Week 1 of warm-up carries warm-up traffic only, unless the campaign opts in; a mailbox
    whose inbox placement fell under 50 % carries none until it recovers (SPEC 7)."""
    if mailbox.placement_hold:
        return False
    if mailbox.state is not MailboxState.WARMING or mailbox.warmup_start is None:
        return True
    day = warmup.warmup_day(mailbox.warmup_start, today)
    return during_warmup or warmup.phase(policy, day) == 2


def domain_left(domain: DomainView) -> int | None:
    """Sends the domain may still make today; None when it has no cap."""
    if domain.state is not DomainState.ACTIVE:
        return 0
    if domain.daily_limit is None:
        return None
    return max(0, domain.daily_limit - domain.sent_today)


def domain_room(domain: DomainView) -> int | None:
    """Campaign mails the domain may still send today: what its cap leaves once the warm-up
    loop's remaining shares are kept (SPEC 7: campaigns fill what the loop leaves)."""
    left = domain_left(domain)
    if left is None:
        return None
    return max(0, left - domain.warmup_pending)


def campaign_left(campaign: CampaignView) -> int | None:
    """Sends the campaign may still make today; None when it has no cap."""
    if campaign.state is not CampaignState.ACTIVE:
        return 0
    if campaign.daily_limit is None:
        return None
    return max(0, campaign.daily_limit - campaign.sent_today)


def in_window(campaign: CampaignView, now: datetime) -> bool:
    """Whether `now` is on one of the campaign's days and inside its hours, in its timezone."""
    local = now.astimezone(zone(campaign.timezone))
    return WEEKDAYS[local.weekday()] in campaign.days and campaign.window.contains(local.time())


def next_send_at(now: datetime, policy: SendingPolicy, jitter: float) -> datetime:
    """When a mailbox that sends at `now` may send again; `jitter` is a draw from 0..1."""
    return now + timedelta(seconds=policy.min_gap_seconds + policy.jitter_seconds * jitter)
