"""Frozen value types shared by the pure core and the shell around it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, time


class MailboxState(enum.StrEnum):
    """Lifecycle of a sending mailbox (SPEC 6.1)."""

    ACTIVE = "active"
    WARMING = "warming"
    PAUSED = "paused"
    COOLDOWN = "cooldown"
    DISABLED = "disabled"


SENDING_STATES = frozenset({MailboxState.ACTIVE, MailboxState.WARMING})


class DomainState(enum.StrEnum):
    """A domain is either usable or resting after a spam block."""

    ACTIVE = "active"
    PAUSED = "paused"
    COOLDOWN = "cooldown"
    DISABLED = "disabled"


class CampaignState(enum.StrEnum):
    """Whether a campaign's leads are being worked."""

    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"  # stopped by the system (template error); needs an admin
    DISABLED = "disabled"  # removed from the config


class LeadState(enum.StrEnum):
    """Where a lead stands in its campaign's sequence."""

    QUEUED = "queued"  # no step sent yet
    ACTIVE = "active"  # at least one step sent, more may follow
    FINISHED = "finished"  # every step sent
    REPLIED = "replied"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    SUPPRESSED = "suppressed"
    FAILED = "failed"  # gave up after max_attempts, or unknown after a crash


OPEN_LEAD_STATES = frozenset({LeadState.QUEUED, LeadState.ACTIVE})


class SendState(enum.StrEnum):
    """One lead step's send: reserved -> sending -> sent | failed | retry | unknown."""

    RESERVED = "reserved"
    SENDING = "sending"
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    UNKNOWN = "unknown"  # crashed mid-send: never resent automatically


class EventKind(enum.StrEnum):
    """Every deliverability signal, whatever its source (SPEC 8)."""

    DELIVERED = "delivered"
    BOUNCE_HARD = "bounce_hard"
    BOUNCE_SOFT = "bounce_soft"
    COMPLAINT = "complaint"
    OPEN = "open"
    CLICK = "click"
    UNSUBSCRIBE = "unsubscribe"
    REPLY = "reply"
    AUTO_REPLY = "auto_reply"
    BLOCK = "block"


class ReplyLabel(enum.StrEnum):
    """What an admin made of a reply (SPEC 12 buttons)."""

    INTERESTED = "interested"
    NOT_INTERESTED = "not_interested"
    UNSUBSCRIBE = "unsubscribe"


@dataclass(frozen=True, slots=True)
class WarmupPolicy:
    """The ramp of SPEC 7."""

    phase1_days: int = 7
    phase1_start: int = 5
    phase1_end: int = 10
    daily_growth: float = 0.20
    target: int = 40
    reply_rate: float = 0.3
    maintenance_share: float = 0.10  # warm mailboxes keep this share of their cap as warm-up mail
    window: Window = field(default_factory=lambda: Window(8 * 60, 18 * 60))  # the loop's hours


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """Thresholds of SPEC 9."""

    window_days: int = 7
    min_sends: int = 20
    bounce_warn: float = 0.03
    bounce_pause: float = 0.05
    complaints_pause: int = 1
    domain_complaint_alert: float = 0.001
    cooldown_days: int = 14


@dataclass(frozen=True, slots=True)
class SendingPolicy:
    """Pacing of SPEC 6.5 and the retry budget of SPEC 8."""

    min_gap_seconds: int = 300
    jitter_seconds: int = 240
    max_attempts: int = 3

    @property
    def one_per_tick(self) -> bool:
        """Whether a mailbox sends at most one mail a tick (with no gap at all, several)."""
        return self.min_gap_seconds + self.jitter_seconds > 0


@dataclass(frozen=True, slots=True)
class Window:
    """A campaign's sending hours: start included, end excluded, minutes since midnight."""

    start_minute: int
    end_minute: int

    @classmethod
    def parse(cls, text: str) -> Window:
        """Read `HH:MM-HH:MM`; `24:00` is allowed as an end; end must be after start."""
        try:
            left, right = (part.strip() for part in text.split("-"))
            start, end = _minutes(left), _minutes(right)
        except ValueError:
            raise ValueError(f"expected 'HH:MM-HH:MM', got {text!r}") from None
        if start >= 24 * 60:
            raise ValueError(f"start {left} is not a time of day")
        if end <= start:
            raise ValueError(
                f"end {right} is not after start {left}; windows do not cross midnight "
                "(use 00:00-24:00 for all day)"
            )
        return cls(start, end)

    def contains(self, moment: time) -> bool:
        """Whether a local wall-clock time lies inside the window."""
        minute = moment.hour * 60 + moment.minute
        return self.start_minute <= minute < self.end_minute


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    if len(hours) != 2 or len(minutes) != 2:
        raise ValueError(hhmm)
    value = int(hours) * 60 + int(minutes)
    if not (0 <= int(minutes) < 60) or value > 24 * 60:
        raise ValueError(hhmm)
    return value


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class MailboxView:
    """A mailbox as the planner sees it at one moment."""

    id: int
    address: str
    domain: str
    state: MailboxState
    daily_limit: int
    warmup_start: date | None = None
    sent_today: int = 0
    next_send_at: datetime | None = None  # gap + jitter after the last send
    last_sent_at: datetime | None = None
    bounce_rate: float = 0.0  # over the health window; the snapshot fills it when ready
    resting_until: datetime | None = None  # provider cap or 421 back-off
    # The warm-up loop's part of today's cap (SPEC 7) and how much of it is reserved so far:
    # campaign mail gets the rest of the cap (limits.campaign_room).
    warmup_volume: int = 0
    warmup_sent: int = 0
    placement_hold: bool = False  # inbox placement under 50 %: no campaign mail (SPEC 7)


@dataclass(frozen=True, slots=True)
class DomainView:
    """A domain's cap and today's use."""

    name: str
    state: DomainState = DomainState.ACTIVE
    daily_limit: int | None = None
    sent_today: int = 0
    # Warm-up mails its mailboxes' shares still keep today (capped domains only): campaigns
    # leave that much of the domain's cap to the loop (limits.domain_room).
    warmup_pending: int = 0


@dataclass(frozen=True, slots=True)
class CampaignView:
    """A campaign's window, cap and today's use."""

    id: int
    name: str
    timezone: str
    days: frozenset[str]
    window: Window
    state: CampaignState = CampaignState.ACTIVE
    daily_limit: int | None = None
    sent_today: int = 0
    during_warmup: bool = False


@dataclass(frozen=True, slots=True)
class DueStep:
    """A lead step that may be sent now: a first mail (no mailbox yet) or a follow-up."""

    lead_id: int
    campaign_id: int
    step_no: int  # 1-based
    mailbox_id: int | None = None  # set for follow-ups: the thread's mailbox


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the planner needs, loaded in one go by the shell."""

    mailboxes: tuple[MailboxView, ...]
    domains: tuple[DomainView, ...]
    campaigns: tuple[CampaignView, ...]
    followups: tuple[DueStep, ...] = ()  # due now, oldest first
    new_leads: tuple[DueStep, ...] = ()  # oldest first, a bounded number per campaign
    sending_timezone: str = "UTC"
    warmup: WarmupPolicy = field(default_factory=WarmupPolicy)
    sending: SendingPolicy = field(default_factory=SendingPolicy)


@dataclass(frozen=True, slots=True)
class SendPlan:
    """A decision: send this lead step from this mailbox now."""

    lead_id: int
    campaign_id: int
    step_no: int
    mailbox_id: int
    domain: str


@dataclass(frozen=True, slots=True)
class RateCounts:
    """Raw counts over a health window for one mailbox or domain."""

    sends: int = 0
    delivered: int = 0
    bounces: int = 0  # hard bounces
    soft_bounces: int = 0
    complaints: int = 0
    opens: int = 0
    replies: int = 0
    blocks: int = 0

    def rate(self, count: int) -> float:
        """count / sends, 0 with no sends."""
        return count / self.sends if self.sends else 0.0

    @property
    def bounce_rate(self) -> float:
        """Hard bounces per send."""
        return self.rate(self.bounces)

    @property
    def complaint_rate(self) -> float:
        """Complaints per send."""
        return self.rate(self.complaints)


class OutcomeKind(enum.StrEnum):
    """What one SMTP delivery attempt came to (SPEC 8, SMTP replies at send time)."""

    SENT = "sent"  # 250 to the end of DATA
    HARD_BOUNCE = "hard_bounce"  # 5.1.x, 5.2.1, 550/553 user unknown: suppress the address
    SOFT = "soft"  # 4.x.x and friends: retry with back-off up to max_attempts
    BACKOFF = "backoff"  # 421: the mailbox rests a while; the step is retried
    BLOCK = "block"  # 5.7.x or a blocklist text: the domain cools down
    AUTH = "auth"  # 535: bad credentials, pause the mailbox
    PROVIDER_CAP = "provider_cap"  # 5.4.5 / "daily limit exceeded": mailbox stops for the day
    FAILED = "failed"  # any other permanent refusal of this message
    UNKNOWN = "unknown"  # lost after the message data went out: may have been delivered


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's result: the kind plus the server's words, for the record."""

    kind: OutcomeKind
    code: int | None = None  # basic SMTP reply code
    status: str | None = None  # enhanced status code (RFC 3463), e.g. "5.1.1"
    text: str = ""

    @property
    def summary(self) -> str:
        """A short line for logs and alerts: `550 5.1.1 user unknown`."""
        parts = [str(self.code) if self.code else "", self.status or "", self.text]
        return " ".join(p for p in parts if p)[:300]
