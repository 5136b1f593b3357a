"""The ports the engine needs, each as narrow as its consumer, in the core's vocabulary.

`storage/` and `mail/` implement them; `bootstrap.py` plugs the implementations in. Nothing
here names SQL, SQLite, SMTP libraries or the TOML model, so another store (PostgreSQL) or
another sender can stand in without the engine changing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime
from pathlib import Path
from typing import Protocol, TypeVar

from core.backup import BackupCopy
from core.connect import LoginResult
from core.esp import EspEvent, EspPage, PageMatch
from core.export import ExportRow
from core.leads import ImportReport
from core.message import OutgoingMessage
from core.models import (
    CampaignState,
    DomainState,
    MailboxState,
    MailboxView,
    Outcome,
    RateCounts,
    Snapshot,
)
from core.placement import PlacementCount, WarmupOrigin
from core.records import (
    AnswerContext,
    Applied,
    CampaignCounts,
    CampaignRef,
    CampaignRow,
    Classified,
    DayBounds,
    Delivered,
    DomainRow,
    Effects,
    FolderBatch,
    FolderCursor,
    Interrupted,
    LeadCard,
    LeadInput,
    MailboxHealth,
    MailboxRow,
    MailFolders,
    NewAlert,
    PendingDelivery,
    Placement,
    PreviewLead,
    Refused,
    Reservation,
    Reserved,
    SendFinish,
    SentRef,
    StepRow,
    StepSource,
    StoredAlert,
    UsageScope,
    Verdicts,
    WarmingRow,
    WarmupBatch,
    WarmupMail,
    WarmupShare,
    WarmupToday,
)
from core.specs import CampaignSpec, ImapAccount, SmtpAccount

# --- sending -------------------------------------------------------------------------------


class MailSender(Protocol):
    """The SMTP port: deliver one message from one mailbox; never raises for SMTP trouble."""

    async def send(
        self, account: SmtpAccount, message: OutgoingMessage, *, gate: Awaitable[bool] | None
    ) -> Outcome:
        """Attempt delivery and say how it went; the message data waits for `gate` to say True."""
        ...


class Ledger(Protocol):
    """Group-commits one tick's send records (see storage/ledger.py)."""

    def write(self, delivered: Delivered | None, starting: int | None) -> asyncio.Future[bool]:
        """Record `delivered`, mark `starting` 'sending'; True once `starting` is marked."""
        ...

    async def close(self) -> None:
        """Wait for the last write."""
        ...


class EffectStore(Protocol):
    """Applies one use case's changes in one transaction."""

    async def apply(self, effects: Effects) -> Applied:
        """Commit the event, lead, suppression, verdicts and alerts together, or nothing."""
        ...


class SendingStore(EffectStore, Protocol):
    """What the sending engine reads and writes."""

    async def load_snapshot(
        self,
        now: datetime,
        day: str,
        window_start: datetime,
        followup_limit: int,
        new_per_campaign: int,
        *,
        senders_only: bool = False,
        new_per_sender: bool = False,
    ) -> Snapshot:
        """The planner's view of mailboxes, domains, campaigns and due steps.

        `senders_only` leaves out the mailboxes that may not send at `now` (state, gap,
        rest): the planner never picks those, and at 5,000 mailboxes a tick finds a dozen due.
        `new_per_sender` (a mailbox sends once a tick) reads no more of a campaign's new
        leads than there are mailboxes that may send now.
        """
        ...

    async def steps(self, campaign_ids: Sequence[int]) -> list[StepRow]:
        """Every step of the given campaigns."""
        ...

    async def lead_inputs(self, lead_ids: Sequence[int]) -> dict[int, LeadInput]:
        """What rendering each lead needs."""
        ...

    async def reserve_many(self, reqs: Sequence[Reservation]) -> list[Reserved | Refused]:
        """Check every limit and take the slots, one transaction, a refusal undoing itself."""
        ...

    def ledger(self, now: Callable[[], datetime]) -> Ledger:
        """A group-commit writer for one tick."""
        ...

    async def settle(self, finish: SendFinish, effects: Effects) -> Applied:
        """An attempt that did not deliver, with its side effects, in one transaction."""
        ...

    async def stop_campaign(self, campaign_id: int, reason: str, alert: NewAlert) -> bool:
        """Stop a campaign and raise its alert in one transaction."""
        ...

    async def recover_sends(self, now: datetime) -> list[Interrupted]:
        """Resolve the sends a crash left open."""
        ...

    async def answer_context(self, lead_id: int) -> AnswerContext | None:
        """What answering a lead's reply needs (SPEC 12)."""
        ...


class TrialStore(Protocol):
    """What /preview and /test read, and the slot a test send takes (SPEC 10)."""

    async def steps(self, campaign_ids: Sequence[int]) -> list[StepRow]:
        """Every step of the given campaigns, in order."""
        ...

    async def preview_lead(self, campaign_id: int, email: str | None) -> PreviewLead | None:
        """The campaign's lead with `email`, or else its first queued lead; None if neither."""
        ...

    async def take_slot(self, req: Reservation) -> Refused | None:
        """A test send's slot of the mailbox's and domain's day, or why not (no sends row)."""
        ...


class MailboxReader(Protocol):
    """The IMAP port: new mail of a mailbox's folders; never deletes, never marks read."""

    async def folders(self, account: ImapAccount) -> MailFolders:
        """The inbox and the spam folder (None when the server has none)."""
        ...

    async def fetch_new(
        self, account: ImapAccount, folder: str, after: FolderCursor | None, *, limit: int = 200
    ) -> FolderBatch:
        """Up to `limit` mails after `after` (from the start when None or UIDVALIDITY changed).

        Raises core.errors.LoginRefused or PeerUnavailable.
        """
        ...

    async def close(self) -> None:
        """Log out of every pooled connection."""
        ...


class WarmupStore(Protocol):
    """The warm-up loop's days and mails (storage/warmup.py)."""

    async def unplanned(self, day: str) -> list[int]:
        """The pool's mailboxes with no share of `day` yet."""
        ...

    async def plan_day(
        self, day: str, shares: Sequence[WarmupShare], mails: Sequence[WarmupMail]
    ) -> int:
        """Store shares of `day` and their mailboxes' new mails (a share stored already is
        kept, its mails dropped), in one transaction; how many mails were stored."""
        ...

    async def plan_answers(self, day: str, mails: Sequence[WarmupMail]) -> int:
        """Store answers due on `day`, each in place of one of its mailbox's unsent new mails
        of that day (when it is planned yet); how many were stored."""
        ...

    async def answers_ahead(self, day: str) -> dict[int, int]:
        """Answers stored for `day` before it was planned, per mailbox: its plan makes room."""
        ...

    async def reply_room(self, day: str, mailbox_id: int | None = None) -> dict[int, int]:
        """Each mailbox's answers still possible on `day`: its new mails not yet sent (only
        `mailbox_id`'s when given)."""
        ...

    async def due_mails(
        self, since: datetime, now: datetime, *, limit: int = 500
    ) -> list[WarmupMail]:
        """Mails due in [since, now] that have no send yet, the earliest first."""
        ...

    async def pool(self, ids: Collection[int] | None = None) -> list[MailboxView]:
        """The mailboxes that may send today (warming or active, on an active domain); only
        those of `ids` when given."""
        ...

    async def member(self, address: str) -> MailboxView | None:
        """The pool mailbox with this address, or None if it may not send today."""
        ...


class WarmupMailbox(Protocol):
    """The warm-up loop's IMAP port (issue 12): find its mail, rescue it from spam, mark it.

    Only mail carrying the warm-up header is ever touched; nothing is ever deleted. Flags go
    with a mail when it moves: mark it in the spam folder, then rescue it, and it arrives in
    the inbox read (and starred). A rescued mail shows up again in the inbox under a new UID:
    count placement by Message-ID, not by UID.
    """

    async def folders(self, account: ImapAccount) -> MailFolders:
        """The inbox and the spam folder (None when the server has none)."""
        ...

    async def warmup_candidates(
        self, account: ImapAccount, folder: str, since: FolderCursor | None, *, limit: int = 200
    ) -> WarmupBatch:
        """Up to `limit` mails with the warm-up header after `since`: headers and flags only,
        read with BODY.PEEK (left unread). Raises LoginRefused or PeerUnavailable."""
        ...

    async def rescue(
        self, account: ImapAccount, junk: str, uids: Sequence[int], *, inbox: str = "INBOX"
    ) -> int:
        """Move those of `uids` that are warm-up mail from `junk` to `inbox`; how many moved
        (0 when the server can neither MOVE nor expunge by UID: they stay, and a log says so).
        Raises LoginRefused or PeerUnavailable."""
        ...

    async def mark_read(
        self, account: ImapAccount, folder: str, uids: Sequence[int], *, star: bool
    ) -> int:
        """Mark the warm-up mail among `uids` \\Seen (\\Flagged too when `star`): how many.

        Raises LoginRefused or PeerUnavailable."""
        ...


_Account_contra = TypeVar("_Account_contra", contravariant=True)


class LoginProbe(Protocol[_Account_contra]):
    """Logs in to one account and out again, sending and reading nothing (`check --connect`)."""

    async def probe(self, account: _Account_contra) -> LoginResult:
        """Ok, refused with the server's reply, or unreachable with the reason; never raises."""
        ...


class EspFeed(Protocol):
    """One ESP's event API (mail/esp/): pages of normalised events after a cursor."""

    name: str  # the [[esp]] name

    async def read(self, cursor: str | None, now: datetime) -> EspPage:
        """The next page after `cursor` (None: the first read); raises PeerUnavailable or
        LoginRefused when the provider can't be read now (after its own short retries)."""
        ...

    async def acknowledge(self, page: EspPage) -> None:
        """Called once the page's events are committed (SES deletes its SQS messages)."""
        ...

    async def probe(self) -> LoginResult:
        """One authenticated call (`check --connect`); never raises."""
        ...

    async def close(self) -> None:
        """Release the HTTP session."""
        ...


class PlacementStore(Protocol):
    """Where the loop's warm-up mail landed (storage/placements.py): first sightings, counts
    per sending mailbox over a window, and the campaign hold they call for (SPEC 7)."""

    async def folder_cursor(self, source: str) -> FolderCursor | None:
        """How far a receiver's folder was searched for warm-up mail."""
        ...

    async def origins(self, message_ids: Sequence[str]) -> dict[str, WarmupOrigin]:
        """The loop's own mails among these Message-IDs, keyed as asked: who sent each."""
        ...

    async def record(
        self,
        placements: Sequence[Placement],
        source: str,
        cursor: FolderCursor | None,
        now: datetime,
    ) -> int:
        """Store first sightings (a later one changes nothing) and move `source` to `cursor`
        (None: leave it) in one transaction; how many were new."""
        ...

    async def counts(self, since: datetime, until: datetime) -> list[PlacementCount]:
        """Inbox and spam placements per sending mailbox in the window, and every held one."""
        ...

    async def set_hold(self, mailbox_id: int, held: bool, alert: NewAlert) -> bool:
        """Hold or release the mailbox's campaign mail with its alert, one transaction; False
        when it already was so."""
        ...


class InboxStore(Protocol):
    """What reading mailboxes needs: folder cursors, our sends, and one commit per batch."""

    async def folder_cursor(self, source: str) -> FolderCursor | None:
        """How far a mailbox's folder has been read."""
        ...

    async def sends_by_message_ids(self, message_ids: Sequence[str]) -> dict[str, SentRef]:
        """The mails we sent with these Message-IDs."""
        ...

    async def ingest(
        self,
        batch: Sequence[Effects],
        source: str,
        cursor: FolderCursor,
        *,
        now: datetime,
        verdicts: Verdicts | None = None,
    ) -> list[Applied]:
        """Apply a folder's new mails, the verdicts they call for and the cursor, one commit."""
        ...


class EspStore(Protocol):
    """What polling ESPs needs: each feed's cursor, our sends, and one commit per few pages."""

    async def cursor(self, source: str) -> str | None:
        """Where a feed reads on; None before its first page."""
        ...

    async def sends_for(
        self, events: Sequence[EspEvent], domains: Sequence[str]
    ) -> dict[str, SentRef]:
        """event id -> our send it is about (provider id, else Message-ID, else recipient on
        one of `domains`, any when empty)."""
        ...

    async def match(
        self, source: str, events: Sequence[EspEvent], domains: Sequence[str]
    ) -> PageMatch:
        """A page's events stored before (by source and id), and sends_for of the rest, in
        one trip to the database."""
        ...

    async def ingest(
        self,
        batch: Sequence[Effects],
        source: str,
        cursor: str,
        *,
        now: datetime,
        verdicts: Verdicts | None = None,
    ) -> list[Applied]:
        """Apply a page's events, the verdicts they call for and the cursor, one commit."""
        ...


# --- events, alerts, health ------------------------------------------------------------------


class EventStore(EffectStore, Protocol):
    """Events and the suppression list (unsubscribe, /suppress, and the readers to come)."""

    async def lead_email(self, lead_id: int) -> str | None:
        """The address of one lead."""
        ...

    async def unsuppress(self, entry: str) -> bool:
        """Take an address or '@domain' off the list; False when absent."""
        ...

    async def is_suppressed(self, email: str) -> bool:
        """Whether the address or its domain is listed."""
        ...


class AlertStore(Protocol):
    """The durable alert outbox."""

    async def add_alert(self, alert: NewAlert) -> int | None:
        """Store an alert; None when its key is still quiet."""
        ...

    async def due_alerts(self, now: datetime, limit: int = 100) -> list[PendingDelivery]:
        """Deliveries to attempt now, in order per chat."""
        ...

    async def alert_sent(
        self, alert_id: int, chat_id: int, now: datetime, message_id: int | None = None
    ) -> None:
        """Mark one delivery done (as chat message `message_id`, when known)."""
        ...

    async def alert_postpone(
        self, alert_id: int, chat_id: int, until: datetime, *, count: bool
    ) -> None:
        """Try one delivery again later."""
        ...


class HealthStore(Protocol):
    """What the health job reads and changes."""

    async def window_counts(self, start: datetime, end: datetime) -> list[MailboxHealth]:
        """Per-mailbox counts over the window."""
        ...

    async def cooldowns_over(self, now: datetime) -> list[tuple[str, datetime]]:
        """Domains whose cool-down has ended."""
        ...

    async def end_cooldown(
        self, domain: str, warmup_start: date, alert: Callable[[int], NewAlert]
    ) -> int:
        """Reactivate a domain (its mailboxes re-enter warm-up) and say so, in one commit."""
        ...

    async def warming_mailboxes(self) -> list[tuple[int, str, int, str | None]]:
        """Every warming mailbox: id, address, daily_limit, warmup_start."""
        ...

    async def set_mailbox_state(self, mailbox_id: int, state: MailboxState, reason: str) -> bool:
        """Set a mailbox's state."""
        ...


# --- admin commands ------------------------------------------------------------------------


class RowQueries(Protocol):
    """The stored mailboxes, domains and campaigns."""

    async def mailboxes(self) -> list[MailboxRow]:
        """Every mailbox, removed ones included."""
        ...

    async def mailbox_by_address(self, address: str) -> MailboxRow | None:
        """One mailbox by address."""
        ...

    async def domains(self) -> list[DomainRow]:
        """Every domain, removed ones included."""
        ...

    async def campaigns(self) -> list[CampaignRow]:
        """Every campaign, removed ones included."""
        ...


class ControlStore(RowQueries, Protocol):
    """What /pause, /resume, /warmup start|stop and /upload change."""

    async def set_mailbox_state(self, mailbox_id: int, state: MailboxState, reason: str) -> bool:
        """Set a mailbox's state and why."""
        ...

    async def set_mailbox_states(self, changes: Sequence[tuple[int, MailboxState, str]]) -> None:
        """Set many mailboxes' states in one transaction."""
        ...

    async def set_domain_state(
        self, name: str, state: DomainState, reason: str, cooldown_until: datetime | None = None
    ) -> bool:
        """Set a domain's state."""
        ...

    async def set_campaign_state(self, campaign_id: int, state: CampaignState, reason: str) -> bool:
        """Set a campaign's state."""
        ...

    async def end_cooldown(self, domain: str, warmup_start: date) -> int:
        """Reactivate a cooling domain; its mailboxes re-enter warm-up."""
        ...

    async def set_mailbox_warmup(
        self, mailbox_id: int, warmup_start: date | None, state: MailboxState, reason: str = ""
    ) -> bool:
        """Restart or end a mailbox's ramp."""
        ...

    async def upsert_campaign(self, campaign: CampaignSpec, *, now: datetime) -> int:
        """Store an uploaded campaign; its id."""
        ...


class ReportQueries(RowQueries, Protocol):
    """Read-only queries behind /status, /campaigns, /stats, /cost and /warmup."""

    async def load_snapshot(
        self,
        now: datetime,
        day: str,
        window_start: datetime,
        followup_limit: int,
        new_per_campaign: int,
    ) -> Snapshot:
        """The planner's view."""
        ...

    async def mailbox(self, mailbox_id: int) -> MailboxRow | None:
        """One mailbox by id."""
        ...

    async def usage_today(self, scope: UsageScope, ref: int, day: str) -> int:
        """Sends counted for one mailbox, domain or campaign on `day`."""
        ...

    async def campaign_counts(self, day: str) -> list[CampaignCounts]:
        """Campaigns with their leads by state and today's sends."""
        ...

    async def mailbox_rates(self, start: datetime, end: datetime) -> dict[int, RateCounts]:
        """Per mailbox id: sends and events over the window."""
        ...

    async def label_counts(self) -> dict[int, dict[str, int]]:
        """Per campaign id: its leads by reply label."""
        ...

    async def lead_of_message(self, chat_id: int, message_id: int) -> int | None:
        """The lead a reply notification was about, by the chat message it became."""
        ...

    async def alert_key(self, alert_id: int) -> str | None:
        """The key (kind:subject) an alert was raised with; None when there is no such alert."""
        ...

    async def alert_raised(self, key: str) -> bool:
        """Whether an alert was ever raised with this key (kind:subject)."""
        ...

    async def sent_on(self, day: str) -> int:
        """Slots used on one day over all mailboxes."""
        ...

    async def campaign_rates(self, start: datetime, end: datetime) -> dict[int, RateCounts]:
        """Per campaign: sends and their bounces, complaints, replies."""
        ...

    async def recent_alerts(self, limit: int = 5) -> list[StoredAlert]:
        """The latest alerts, newest first."""
        ...

    async def sent_per_day(self, bounds: Sequence[DayBounds]) -> dict[str, int]:
        """Sends per day label."""
        ...

    async def events_per_day(
        self, bounds: Sequence[DayBounds], kinds: Sequence[str] = ...
    ) -> dict[tuple[str, str], int]:
        """(day label, kind) -> events."""
        ...

    async def sent_between(self, start: datetime, end: datetime) -> int:
        """Mails sent in [start, end)."""
        ...

    async def warming_rows(self, day: str) -> list[WarmingRow]:
        """Every mailbox in the warm-up loop (warming, then warm) with its slots used on `day`."""
        ...

    async def warmup_today(
        self, mailboxes: Mapping[int, str], day: str, start: datetime, end: datetime
    ) -> dict[int, WarmupToday]:
        """mailbox id (-> address) -> its warm-up mails sent, received and answered on `day`."""
        ...

    async def placement_counts(
        self, mailbox_ids: Sequence[int], since: datetime
    ) -> dict[int, tuple[int, int]]:
        """mailbox id -> (inbox, spam): where its warm-up mails landed, first seen since `since`."""
        ...

    async def lead_cards(self, address: str) -> list[LeadCard]:
        """Every lead of an address (any letter case), one per campaign, with its history."""
        ...

    async def replies_by_label(self, start: datetime, end: datetime) -> dict[str | None, int]:
        """Replies in [start, end) by their lead's label (None: not labelled yet)."""
        ...

    async def unknown_sends(self, day: str) -> int:
        """Sends of local day `day` whose outcome is unknown."""
        ...

    async def export_page(self, campaign_id: int, after_id: int, limit: int) -> list[ExportRow]:
        """Up to `limit` leads of a campaign with ids above `after_id`, in id order (/export)."""
        ...


# --- lead imports ------------------------------------------------------------------


class LeadStage(Protocol):
    """One import's scratch table: fill, index, commit into the leads, drop."""

    async def create(self, expected_bytes: int = 0) -> None:
        """Make the scratch table and its writer."""
        ...

    def filling(self) -> AbstractAsyncContextManager[None]:
        """While rows are added; ends the writer."""
        ...

    async def add(self, first_row: int, emails: list[str], vars_json: list[str]) -> None:
        """Stage one chunk of rows."""
        ...

    async def add_rare(self, rows: Sequence[tuple[int, str | None, str | None]]) -> None:
        """Stage the rows that need a second look."""
        ...

    async def index(self) -> int:
        """Sort by address; the number of repeats in the file."""
        ...

    async def missing_rows(self, limit: int) -> list[tuple[int, str]]:
        """The first rows that lacked a variable, with the names."""
        ...

    async def commit(
        self, campaign_id: int, *, any_missing: bool, any_unicode: bool, created_at: datetime
    ) -> tuple[Classified, int]:
        """Take out what may not go in and insert the rest as leads, in one transaction."""
        ...

    async def drop(self) -> None:
        """Throw the scratch table away."""
        ...


class LeadStore(Protocol):
    """What a lead import reads and writes, on a connection of its own."""

    async def find_campaign(self, name: str) -> CampaignRef | None:
        """A campaign that takes leads, by exact name."""
        ...

    async def campaign_names(self) -> list[str]:
        """The names of campaigns that take leads."""
        ...

    async def campaign_steps(self, campaign_id: int) -> list[StepSource]:
        """A campaign's step templates."""
        ...

    def stage(self) -> LeadStage:
        """A new scratch stage."""
        ...


OpenLeadStore = Callable[[], AbstractAsyncContextManager[LeadStore]]


class ImportFile(Protocol):
    """Imports a leads file into a campaign outside the service's process (its heap with it)."""

    async def __call__(
        self,
        path: Path,
        campaign: str,
        *,
        now: datetime,
        progress: Callable[[int], Awaitable[None]] | None = None,
    ) -> ImportReport:
        """The import's report; engine.lead_files.LeadImportError with a reason for the user."""
        ...


# --- backups ---------------------------------------------------------------------------------


class DatabaseBackups(Protocol):
    """Consistent copies of the live database, taken while the service runs."""

    async def write(
        self, target: Path, *, overwrite: bool, now: Callable[[], datetime]
    ) -> BackupCopy:
        """Copy the database to `target` (mode 0600); refuse an existing file unless `overwrite`."""
        ...

    def gzipped(self, now: Callable[[], datetime]) -> AbstractAsyncContextManager[BackupCopy]:
        """A gzipped copy in a private scratch place, removed when the block ends."""
        ...


# --- DNS hosting (/dns fix) ----------------------------------------------------------


class DnsHost(Protocol):
    """A DNS host's API (Cloudflare): find a zone, read and add TXT records.

    Raises core.errors.LoginRefused when the token is refused, PeerUnavailable when the API
    can't be reached, ConflictError when it refuses one request (the text says why).
    """

    async def zone_id(self, name: str) -> str | None:
        """The id of the zone named exactly `name`; None when the account has no such zone."""
        ...

    async def txt_records(self, zone_id: str, name: str) -> list[str]:
        """The contents of the TXT records at `name` (a full name) in the zone."""
        ...

    async def create_txt(self, zone_id: str, name: str, content: str) -> None:
        """Add one TXT record."""
        ...


# Opens a DnsHost for one use (its HTTP session closes with the block).
OpenDnsHost = Callable[[], AbstractAsyncContextManager[DnsHost]]
