"""Plain values the storage ports take and return: reservations, stored rows, reports."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from core.models import (
    CampaignState,
    DomainState,
    EventKind,
    LeadState,
    MailboxState,
    RateCounts,
    ReplyLabel,
    SendState,
)

DayBounds = tuple[str, datetime, datetime]  # day label, start (included), end (excluded)


class SendKind(enum.StrEnum):
    """Why a mail goes out: a campaign step, warm-up traffic, or an admin's answer to a reply."""

    CAMPAIGN = "campaign"
    WARMUP = "warmup"
    REPLY = "reply"  # SPEC 12: in the lead's thread, from its mailbox; no step of its own
    # /test (SPEC 10): a step to the admin's own address. It takes a slot of the mailbox's and
    # the domain's day but writes no `sends` row: the table's CHECK knows no such kind, and
    # with no lead or step there is nothing to trace, recover or retry.
    TEST = "test"


class UsageScope(enum.StrEnum):
    """What a day counter counts for."""

    MAILBOX = "mailbox"
    DOMAIN = "domain"
    CAMPAIGN = "campaign"


class RefusalReason(enum.StrEnum):
    """Why the database refused a reservation; the first failing guard wins."""

    MAILBOX_STATE = "mailbox_state"  # not active/warming
    RESTING = "resting"  # resting_until is in the future (provider cap, 421 back-off)
    GAP = "gap"  # next_send_at is in the future
    DOMAIN_STATE = "domain_state"  # domain not active
    CAMPAIGN_STATE = "campaign_state"  # campaign not active
    LEAD_TAKEN = "lead_taken"  # step already taken, not due, lead closed, or another thread
    MAILBOX_LIMIT = "mailbox_limit"
    DOMAIN_LIMIT = "domain_limit"
    CAMPAIGN_LIMIT = "campaign_limit"


@dataclass(frozen=True, slots=True)
class Reservation:
    """A request to use one send slot: checked and counted in one transaction."""

    kind: SendKind
    mailbox_id: int
    day: str  # 'YYYY-MM-DD' in the sending timezone
    now: datetime
    next_send_at: datetime  # now + min_gap + the jitter the caller drew
    mailbox_cap: int  # today's effective cap (the warm-up cap while warming)
    domain_cap: int | None = None
    campaign_cap: int | None = None
    lead_id: int | None = None
    campaign_id: int | None = None
    step_no: int | None = None
    message_id: str | None = None  # stored up front so a crash mid-send can be traced

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.next_send_at.tzinfo is None:
            raise ValueError("Reservation times must be timezone-aware")
        if self.next_send_at < self.now:
            raise ValueError("next_send_at is before now")
        campaign_fields = (self.lead_id, self.campaign_id, self.step_no)
        if self.kind is SendKind.CAMPAIGN and None in campaign_fields:
            raise ValueError("a campaign reservation needs lead_id, campaign_id and step_no")
        if self.kind is SendKind.WARMUP and campaign_fields != (None, None, None):
            raise ValueError("a warm-up reservation has no lead, campaign or step")
        if self.kind is SendKind.TEST and (self.lead_id, self.step_no) != (None, None):
            raise ValueError("a test send's reservation has no lead or step")
        if self.kind is SendKind.REPLY and (
            self.lead_id is None or self.campaign_id is None or self.step_no is not None
        ):
            raise ValueError("an answer's reservation has a lead and campaign but no step")


@dataclass(frozen=True, slots=True)
class Reserved:
    """The slot is ours: a `sends` row in state 'reserved'."""

    send_id: int
    attempts: int = 0  # SMTP attempts made before (a retried step keeps its count)


@dataclass(frozen=True, slots=True)
class Refused:
    """Nothing was written; `reason` names the guard that failed."""

    reason: RefusalReason


@dataclass(frozen=True, slots=True)
class KindCounts:
    """What a config sync does to one kind of object."""

    added: int = 0
    updated: int = 0  # config values changed
    restored: int = 0  # back in the config after having been removed
    disabled: int = 0  # removed from the config


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What a config sync did, per kind."""

    domains: KindCounts = field(default_factory=KindCounts)
    mailboxes: KindCounts = field(default_factory=KindCounts)
    campaigns: KindCounts = field(default_factory=KindCounts)


@dataclass(frozen=True, slots=True)
class DomainRow:
    """A stored domain."""

    id: int
    name: str
    daily_limit: int | None
    esp: str | None
    state: DomainState
    reason: str
    cooldown_until: datetime | None
    in_config: bool


@dataclass(frozen=True, slots=True)
class MailboxRow:
    """A stored mailbox with its domain's name."""

    id: int
    address: str
    domain_id: int
    domain: str
    display_name: str
    daily_limit: int
    warmup_start: date | None
    state: MailboxState
    reason: str
    resting_until: datetime | None
    next_send_at: datetime | None
    last_sent_at: datetime | None
    in_config: bool
    placement_hold: bool = False  # inbox placement under 50 %: campaign mail held (SPEC 7)


@dataclass(frozen=True, slots=True)
class CampaignRow:
    """A stored campaign (its steps are read separately)."""

    id: int
    name: str
    state: CampaignState
    reason: str
    timezone: str
    days: tuple[str, ...]
    hours: str
    daily_limit: int | None
    during_warmup: bool
    in_config: bool
    origin: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LeadInput:
    """What rendering one lead step needs: the address, its variables and the thread so far."""

    lead_id: int
    email: str
    variables: dict[str, str]
    thread: tuple[str, ...]  # Message-IDs of the steps already sent, in order


@dataclass(frozen=True, slots=True)
class StepRow:
    """A stored campaign step."""

    campaign_id: int
    step_no: int
    subject: str | None
    body: str
    html: str | None
    wait_days: int


@dataclass(frozen=True, slots=True)
class Interrupted:
    """A send that was in flight when the process died: marked unknown, never resent."""

    send_id: int
    email: str | None
    mailbox: str
    campaign: str | None
    step_no: int | None
    message_id: str | None


@dataclass(frozen=True, slots=True)
class Delivered:
    """A step the server accepted, to be recorded as sent."""

    send_id: int
    at: datetime  # when the server's reply came
    code: int | None
    reply: str
    lead_id: int | None
    next_due_at: datetime | None  # when the lead's next step is due; None after the last one
    provider_id: str | None = None  # the relay's id of the message, from its 250 reply


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """An alert still owed to one chat."""

    alert_id: int
    chat_id: int
    severity: str
    text: str
    attempts: int
    created_at: datetime
    lead_id: int | None = None  # a reply notification (SPEC 12)
    key: str = ""  # kind:subject, as raised (what the chat's buttons act on)


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert as stored."""

    id: int
    key: str
    severity: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MailboxHealth:
    """One mailbox's counts over the window, with the latest complaint's campaign and step."""

    mailbox_id: int
    address: str
    domain: str
    state: str
    counts: RateCounts
    complaint_campaign: str | None
    complaint_step: int | None


@dataclass(frozen=True, slots=True)
class WarmingRow:
    """A mailbox in the warm-up loop (warming, or warm with maintenance traffic) today."""

    id: int
    address: str
    daily_limit: int
    warmup_start: str | None
    sent_today: int  # every slot used today, campaign and warm-up mail
    state: str = "warming"  # or "active": warm, keeping `maintenance_share` as warm-up mail
    placement_hold: bool = False  # campaign mail held for low inbox placement (SPEC 7)


@dataclass(frozen=True, slots=True)
class WarmupToday:
    """One mailbox's warm-up traffic of today: sent by it, received by it, its answers."""

    sent: int = 0  # its warm-up mails that went out today, answers included
    received: int = 0  # the loop's mails seen at its address today (inbox or spam)
    replied: int = 0  # of `sent`, the answers to warm-up mail it received


@dataclass(frozen=True, slots=True)
class CampaignCounts:
    """One campaign's leads by state, and its sends today."""

    id: int
    name: str
    state: str
    reason: str
    daily_limit: int | None
    sent_today: int
    leads: dict[str, int]


@dataclass(frozen=True, slots=True)
class CampaignRef:
    """The campaign an import goes into."""

    id: int
    name: str
    state: str


@dataclass(frozen=True, slots=True)
class StepSource:
    """A stored step's template texts."""

    step_no: int
    subject: str | None
    body: str
    html: str | None


@dataclass(frozen=True, slots=True)
class Classified:
    """How many staged rows each check took out; a row counts once, for the first check."""

    already_in_campaign: int
    suppressed: int
    held_by_other_campaign: int
    missing_variables: int


# --- one use case, one commit ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to store; (source, source_id) is its stable id, so it is stored once."""

    source: str
    source_id: str
    kind: EventKind
    occurred_at: datetime
    received_at: datetime
    email: str | None = None
    mailbox_id: int | None = None
    send_id: int | None = None
    campaign_id: int | None = None
    step_no: int | None = None
    detail: str | None = None
    message_id: str | None = None  # the inbound mail's own Message-ID


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert for the outbox; dropped when its key was raised after `quiet_since`."""

    key: str
    severity: str
    text: str
    chats: tuple[int, ...]
    now: datetime
    quiet_since: datetime
    lead_id: int | None = None  # a reply notification: the chat gets label buttons for it


@dataclass(frozen=True, slots=True)
class Suppression:
    """An address or '@domain' for the suppression list; its open leads close as `lead_state`."""

    entry: str
    reason: str
    source: str
    now: datetime
    lead_state: LeadState = LeadState.SUPPRESSED


@dataclass(frozen=True, slots=True)
class CoolDown:
    """A domain and its sending mailboxes rest until `until`; `alert` only if it is new."""

    domain: str
    reason: str
    until: datetime
    alert: NewAlert | None = None


@dataclass(frozen=True, slots=True)
class Effects:
    """What one use case changes: storage commits all of it in one transaction, or none."""

    event: NewEvent | None = None
    # False: an event stored before (same source and id) means the rest was applied then too.
    repeatable: bool = False
    suppress: Suppression | None = None
    close_lead: tuple[int, LeadState] | None = None  # one lead, if still open
    close_address: tuple[str, LeadState] | None = None  # every open lead of an address
    label: tuple[int, ReplyLabel] | None = None  # an admin's label on a lead's reply
    pause_mailbox: tuple[int, str] | None = None  # id, reason
    rest_mailbox: tuple[int, datetime] | None = None  # id, until
    cool_down: CoolDown | None = None
    alerts: tuple[NewAlert, ...] = ()


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying Effects changed."""

    applied: bool  # False: a repeat of a stored event, nothing changed
    suppressed: bool = False  # the entry is new on the list
    closed_leads: int = 0
    cooled: bool = False  # the domain went into cool-down now


# Where the health window starts, and what a window's counts call for (the engine's policy,
# HealthService.verdicts): storage applies them in the same commit as the events.
Verdicts = tuple[datetime, Callable[[Sequence[MailboxHealth]], Sequence[Effects]]]


@dataclass(frozen=True, slots=True)
class SendFinish:
    """How an attempt that did not deliver ends: retried at `retry_at`, or closed as `state`."""

    send_id: int
    state: SendState
    now: datetime
    code: int | None
    reply: str
    retry_at: datetime | None = None
    refund_attempt: bool = False
    lead_id: int | None = None
    lead_state: LeadState | None = None
    release_slots: bool = False  # never attempted: the day's slots it held are free again


# --- reading mailboxes ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FolderCursor:
    """How far one IMAP folder has been read: its UIDVALIDITY and the last UID seen."""

    uidvalidity: int
    last_uid: int


@dataclass(frozen=True, slots=True)
class MailFolders:
    """Where a mailbox keeps new mail and spam (the latter found by LIST \\Junk or its name)."""

    inbox: str = "INBOX"
    junk: str | None = None


@dataclass(frozen=True, slots=True)
class FetchedMail:
    """One message as the server holds it (read with BODY.PEEK: left unread, never deleted)."""

    uid: int
    raw: bytes


@dataclass(frozen=True, slots=True)
class FolderBatch:
    """New mail of one folder, oldest first, and where the next read starts."""

    folder: str
    cursor: FolderCursor  # after the last mail of this batch
    mails: tuple[FetchedMail, ...]
    reset: bool = False  # UIDVALIDITY changed: the folder was read again from its start


@dataclass(frozen=True, slots=True)
class WarmupSeen:
    """A mail carrying the warm-up token header, found in one folder: headers and flags only."""

    uid: int
    message_id: str | None  # '<...>' form, as the sends table keeps ours
    in_reply_to: str | None  # '<...>': set on the loop's in-thread answers
    references: tuple[str, ...]  # '<...>' each, oldest first: what an answer threads on
    subject: str
    sender: str | None  # the From address, lower-cased
    token: str  # the X-Entity-Ref-ID value as it came (the loop checks the HMAC)
    flags: frozenset[str]  # as the server spells them: "\\Seen", "\\Flagged", ...

    @property
    def seen(self) -> bool:
        """Whether it is marked read."""
        return any(flag.casefold() == "\\seen" for flag in self.flags)


@dataclass(frozen=True, slots=True)
class WarmupBatch:
    """Warm-up mail of one folder after a cursor, oldest first, and where the next look starts."""

    folder: str
    cursor: FolderCursor  # past every mail searched, warm-up or not
    seen: tuple[WarmupSeen, ...]
    reset: bool = False  # UIDVALIDITY changed: the folder was searched again from its start


@dataclass(frozen=True, slots=True)
class SentRef:
    """A mail we sent, found by its Message-ID: what an inbound mail about it refers to."""

    send_id: int
    message_id: str
    mailbox_id: int
    mailbox: str
    email: str | None  # the recipient; None for warm-up mail
    lead_id: int | None
    campaign_id: int | None
    campaign: str | None
    step_no: int | None


@dataclass(frozen=True, slots=True)
class AnswerContext:
    """What an admin's answer to a lead's reply needs (SPEC 12)."""

    lead: LeadInput  # its thread: every mail we sent the lead, oldest first
    campaign_id: int
    mailbox: MailboxRow  # the thread's mailbox: the answer goes from it
    domain_cap: int | None
    first_step: StepRow | None  # the thread's subject is step 1's
    reply_message_id: str | None  # the lead's latest reply, which the answer answers


@dataclass(frozen=True, slots=True)
class PreviewLead:
    """A campaign's lead as /preview renders it: its inputs and its thread's mailbox, if any."""

    lead: LeadInput
    state: LeadState
    next_step: int
    mailbox_id: int | None  # set once step 1 went out: the thread stays on it


# --- /lead <email> (SPEC 10) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeadStep:
    """One send of a lead: a campaign step, or an admin's answer (no step number)."""

    step_no: int | None
    state: SendState
    at: datetime  # sent_at once sent, else when the send last changed
    sent: bool  # whether `at` is the moment it went out
    mailbox: str
    smtp_reply: str | None


@dataclass(frozen=True, slots=True)
class LeadEvent:
    """One event about a lead: by its send, or by the address alone."""

    kind: EventKind
    at: datetime
    source: str


@dataclass(frozen=True, slots=True)
class LeadCard:
    """A lead in one campaign: its state, reply label, sends and events, oldest first."""

    lead_id: int
    email: str
    campaign: str
    state: LeadState
    label: ReplyLabel | None
    steps: tuple[LeadStep, ...]
    events: tuple[LeadEvent, ...]


@dataclass(frozen=True, slots=True)
class WarmupShare:
    """One mailbox's day in the warm-up loop: its part of the cap; campaigns get the rest."""

    mailbox_id: int
    volume: int  # warm-up mails of the day, answers included (each replaces a new mail)


@dataclass(frozen=True, slots=True)
class WarmupMail:
    """A warm-up mail to send, new or an answer; its Message-ID is chosen when it is planned."""

    mailbox_id: int
    recipient: str
    due_at: datetime  # UTC; not before
    message_id: str  # '<...>'; the sends row with it is the proof the mail went out
    answers: str | None = None  # '<...>' of the warm-up mail this one answers; None: new thread
    subject: str = ""  # an answer's: the subject of the mail it answers
    thread: tuple[str, ...] = ()  # an answer's References, oldest first


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one warm-up mail landed at its receiver, first sighting (SPEC 7)."""

    message_id: str  # '<...>'
    receiver: str
    mailbox_id: int  # the pool mailbox that sent it
    spam: bool
    seen_at: datetime
