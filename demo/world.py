"""The demo's worlds: what a story is made of, its config, and how simulated recipients behave.

A `Story` names the pool, the lead lists, the campaigns and the incidents (complaints, a
Spamhaus listing, a provider's daily cap); demo/job.py (the default, SPEC 1's job) and
demo/small.py are the stories. Everything in a run follows from its story, the seed and the
start day, so one seed gives one run. Recipients here:
  - a share of each list is dead (550 5.1.1 at RCPT), a share replies after step 1 or 2;
  - the recipient domain contoso.example checks Spamhaus, where the story's listed domain gets
    listed for a while: the first mail from it there is refused and the domain cools down;
  - the n-th recipient of some campaign's step complains (as an ESP's feedback loop reports);
  - one mailbox hits its provider's daily sending cap (5.4.5) once;
  - the warm-up loop's mail to the pool's own addresses and the seeds lands in their INBOX or
    Junk (demo/inboxes.py), by a seeded draw on the sending domain's spam share.
"""

from __future__ import annotations

import csv
import enum
import heapq
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from pydantic import SecretStr

from config import (
    AlertsConfig,
    CampaignConfig,
    DomainConfig,
    MailboxConfig,
    OutreachConfig,
    SeedConfig,
    SendingConfig,
    ServerConfig,
    StepConfig,
)
from core import limits
from demo.inboxes import DemoInboxes
from engine.clock import Clock

TIMEZONE = "Europe/Berlin"
DEFAULT_START = date(2026, 5, 4)  # a Monday, no DST change in the next weeks
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
ALL_WEEK = [*WEEKDAYS, "sat", "sun"]
GREETING = '{Hi|Hello} {{ first_name | default("there") }},'

GUARDED_DOMAIN = "contoso.example"  # its MX refuses senders listed at Spamhaus
BLOCK_REPLY = (
    "5.7.1 Service unavailable; Client host [203.0.113.25] blocked using zen.spamhaus.org; "
    "https://www.spamhaus.org/query/ip/203.0.113.25"
)
UNKNOWN_REPLY = "5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"
CAP_REPLY = "5.4.5 Daily user sending limit exceeded. For more information, see your provider"


@dataclass(frozen=True, slots=True)
class SenderDomain:
    """A sending domain of the pool and its mailboxes."""

    name: str
    people: tuple[tuple[str, str], ...]  # (local part, display name)
    warming: bool  # its mailboxes start warm-up on day 1
    daily_limit: int | None  # the domain's cap over its mailboxes


@dataclass(frozen=True, slots=True)
class LeadList:
    """A generated list for one campaign: when it is imported and how bad it is."""

    campaign: str
    file: str
    size: int
    import_day: int  # demo day, imported at 07:00 local (day 1: before anything runs)
    unknown: float  # share of dead addresses (hard bounce at RCPT)
    reply: float  # share of recipients who answer


@dataclass(frozen=True, slots=True)
class Listing:
    """Spamhaus lists `domain` from `start` until `end`, each (demo day, local time)."""

    domain: str
    start: tuple[int, time]
    end: tuple[int, time]


@dataclass(frozen=True, slots=True)
class ProviderCap:
    """From demo day `day`, the first weekday `mailbox`'s provider refuses its mail no. after+1."""

    mailbox: str
    day: int
    after: int


@dataclass(frozen=True, slots=True)
class Story:
    """One demo world: the pool, its lists and campaigns, and what goes wrong when."""

    name: str
    senders: tuple[SenderDomain, ...]
    lists: tuple[LeadList, ...]
    campaigns: tuple[CampaignConfig, ...]
    # (campaign, step, n): the n-th recipient of that campaign's step reports it as spam.
    # Counted in delivery order, which the seed fixes (the importer need not keep row order).
    complaints: tuple[tuple[str, int, int], ...]
    listing: Listing
    provider_cap: ProviderCap
    daily_target: int
    tick_seconds: int = 60
    mailbox_limit: int = 40
    # The warm-up loop's own inboxes outside the pool (SPEC 4 [[seeds]]), and where the
    # receivers' filters put warm-up mail: `spam_share` of it in Junk, more for a bad domain.
    seeds: tuple[str, ...] = ()
    spam_share: float = 0.05
    spam_domains: tuple[tuple[str, float], ...] = ()

    @property
    def mailboxes(self) -> int:
        """How many mailboxes the pool has."""
        return sum(len(d.people) for d in self.senders)

    @property
    def leads(self) -> int:
        """Leads over every list."""
        return sum(s.size for s in self.lists)

    def mailbox_addresses(self) -> list[str]:
        """Every pool mailbox's address."""
        return [f"{local}@{d.name}" for d in self.senders for local, _ in d.people]

    def inboxes(self, seed: int) -> DemoInboxes:
        """The pool's and the seeds' inboxes, filing warm-up mail by this world's spam shares."""
        return DemoInboxes(
            [*self.mailbox_addresses(), *self.seeds],
            seed=seed,
            spam_share=self.spam_share,
            domain_spam=dict(self.spam_domains),
        )

    def build_config(self, start: date, port: int, password: str) -> OutreachConfig:
        """The whole OutreachConfig, built in Python: no file, no environment, no secrets."""
        mailboxes = []
        for domain in self.senders:
            for local, name in domain.people:
                address = f"{local}@{domain.name}"
                server = ServerConfig(
                    host="127.0.0.1", port=port, security="none", username=address,
                    password=SecretStr(password),
                )  # fmt: skip
                mailboxes.append(
                    MailboxConfig(
                        address=address,
                        display_name=name,
                        daily_limit=self.mailbox_limit,
                        smtp=server,
                        # Never dialled: demo/inboxes.py stands in for every IMAP server.
                        imap=server,
                        warmup_start=start if domain.warming else None,
                    )
                )
        seeds = [
            SeedConfig(
                address=address,
                imap=ServerConfig(
                    host="127.0.0.1",
                    port=port,
                    security="none",
                    username=address,
                    password=SecretStr(password),
                ),
            )  # fmt: skip
            for address in self.seeds
        ]
        return OutreachConfig(
            sending=SendingConfig(
                timezone=TIMEZONE,
                daily_target=self.daily_target,
                tick_seconds=self.tick_seconds,
                min_gap_seconds=300,
                jitter_seconds=240,
                max_attempts=3,
                postal_address="Brand Ltd, 1 Main St, Springfield",
            ),
            alerts=AlertsConfig(quiet_minutes=60),
            domains=[DomainConfig(name=d.name, daily_limit=d.daily_limit) for d in self.senders],
            mailboxes=mailboxes,
            seeds=seeds,
            campaigns=list(self.campaigns),
        )


def step(subject: str | None, body: str, wait_days: int = 0) -> StepConfig:
    """A campaign step; a follow-up (no subject) answers the thread `wait_days` later."""
    return StepConfig(subject=subject, body=body, wait_days=wait_days)


# --- recipients ---------------------------------------------------------------------------


class Fate(enum.StrEnum):
    """What a simulated recipient does with our mail."""

    READ = "read"  # accepted, nothing more
    UNKNOWN = "unknown"  # the address does not exist: 550 5.1.1 at RCPT
    REPLY = "reply"  # answers after step `after`
    COMPLAIN = "complain"  # reports a mail as spam


@dataclass(frozen=True, slots=True)
class Recipient:
    """One lead's simulated behaviour."""

    fate: Fate
    after: int = 1  # the step that triggers the reply
    delay: timedelta = timedelta(0)  # from delivery to the reply


@dataclass(frozen=True, slots=True)
class Feedback:
    """A reply or complaint that the world will report once `due` has come."""

    due: datetime
    kind: Fate
    email: str
    message_id: str


FIRST = ("anna", "ben", "carla", "david", "elif", "felix", "grace", "hugo", "ines", "jonas",
         "kate", "luca", "maria", "nils", "olga", "paul", "quinn", "rosa", "sven", "tara",
         "umar", "vera", "will", "xenia", "yusuf", "zoe")  # fmt: skip
LAST = ("adler", "baker", "cruz", "dietz", "evans", "fox", "garcia", "hahn", "ito", "jung",
        "keller", "lopez", "meyer", "novak", "ortiz", "petrov", "quist", "roth", "silva",
        "tanaka", "ueda", "vogel", "wagner", "yilmaz", "zimmer")  # fmt: skip
# Fictional company names, as used in documentation examples.
COMPANY = ("northwind", "fabrikam", "tailspin", "adventure-works", "wingtip", "litware",
           "proseware", "alpine-ski", "coho-winery", "fourth-coffee", "lucerne", "margies",
           "trey-research", "wide-world", "woodgrove", "blue-yonder", "city-power", "humongous",
           "southridge", "tailwind", "vanarsdel", "relecloud", "munson", "lamna",
           "wwi")  # fmt: skip


@dataclass
class DemoWorld:
    """Lead lists and recipient behaviour for one seed; asked by the SMTP sink what to answer."""

    story: Story
    seed: int
    start: date
    clock: Clock
    recipients: dict[str, Recipient] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    campaign_of: dict[str, str] = field(default_factory=dict)
    _received: Counter[str] = field(default_factory=Counter)
    _per_step: Counter[tuple[str, int]] = field(default_factory=Counter)
    _complaint_delays: list[timedelta] = field(default_factory=list)
    _per_login_day: Counter[tuple[str, date]] = field(default_factory=Counter)
    _feedback: list[tuple[datetime, int, Feedback]] = field(default_factory=list)
    _batch: list[tuple[str, str]] = field(default_factory=list)  # (recipient, Message-ID)
    _batch_at: datetime | None = None
    _pushed: int = 0  # heap tie-breaker: equal due times keep their order
    _cap_used: bool = False

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        taken: set[str] = set()
        # Enough distinct addresses for pools of thousands (100 keeps the small worlds' draws).
        spread = max(100, self.story.leads // 1000)
        for spec in self.story.lists:
            emails: list[str] = []
            while len(emails) < spec.size:
                company = rng.choice(COMPANY)
                # contoso holds about one lead in twelve: the listed domain meets it soon.
                domain = GUARDED_DOMAIN if rng.random() < 0.08 else f"{company}.example"
                email = f"{rng.choice(FIRST)}.{rng.choice(LAST)}{rng.randrange(spread)}@{domain}"
                if email in taken:
                    continue
                taken.add(email)
                emails.append(email)
                self.recipients[email] = self._fate(rng, spec)
                self.campaign_of[email] = spec.campaign
            self.lists[spec.campaign] = emails
        self._complaint_delays = [timedelta(hours=rng.uniform(1, 6)) for _ in self.story.complaints]

    @staticmethod
    def _fate(rng: random.Random, spec: LeadList) -> Recipient:
        draw = rng.random()
        if draw < spec.unknown:
            return Recipient(Fate.UNKNOWN)
        if draw < spec.unknown + spec.reply:
            delay = timedelta(hours=rng.uniform(2, 30))
            return Recipient(Fate.REPLY, 1 if rng.random() < 0.6 else 2, delay)
        return Recipient(Fate.READ)

    def write_lists(self, folder: Path) -> dict[str, Path]:
        """Each campaign's list as a CSV file (the importer's input); campaign -> path."""
        folder.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for spec in self.story.lists:
            path = folder / spec.file
            with path.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["Email", "First Name", "Company"])
                for email in self.lists[spec.campaign]:
                    first = email.split(".", 1)[0].title()
                    company = email.rpartition("@")[2].removesuffix(".example")
                    writer.writerow([email, first, company.replace("-", " ").title()])
            paths[spec.campaign] = path
        return paths

    # --- the timeline ---------------------------------------------------------------------

    def at(self, day: int, moment: time) -> datetime:
        """Demo day `day` (1-based) at local `moment`, as UTC."""
        day_date = self.start + timedelta(days=day - 1)
        return datetime.combine(day_date, moment, limits.zone(TIMEZONE)).astimezone(UTC)

    def imports(self) -> list[tuple[datetime, LeadList]]:
        """When each list is imported: day 1 at midnight, later ones at 07:00 of their day."""
        return [
            (self.at(s.import_day, time(0) if s.import_day == 1 else time(7)), s)
            for s in self.story.lists
        ]

    def listed(self, sender_domain: str, now: datetime) -> bool:
        """Whether Spamhaus lists the sending domain at `now`."""
        listing = self.story.listing
        return sender_domain == listing.domain and (
            self.at(*listing.start) <= now < self.at(*listing.end)
        )

    def wake_times(self) -> list[datetime]:
        """Moments when the world changes by itself (listing starts and ends)."""
        return [self.at(*self.story.listing.start), self.at(*self.story.listing.end)]

    # --- what the SMTP sink asks ----------------------------------------------------------

    def at_rcpt(self, sender: str, recipient: str) -> tuple[int, str] | None:
        """The refusal (code, text) for this recipient now, or None to accept it."""
        now = self.clock.now()
        sender_domain = sender.rpartition("@")[2].lower()
        rcpt = recipient.lower()
        today = limits.local_day(now, TIMEZONE)
        cap = self.story.provider_cap
        if sender.lower() == cap.mailbox and not self._cap_used:
            cap_from = self.start + timedelta(days=cap.day - 1)
            used = self._per_login_day[(sender.lower(), today)]
            if today >= cap_from and today.weekday() < 5 and used >= cap.after:
                self._cap_used = True
                return 550, CAP_REPLY
        if rcpt.endswith("@" + GUARDED_DOMAIN) and self.listed(sender_domain, now):
            return 554, BLOCK_REPLY
        who = self.recipients.get(rcpt)
        if who is not None and who.fate is Fate.UNKNOWN:
            return 550, UNKNOWN_REPLY.format(rcpt=rcpt)
        return None

    def delivered(self, sender: str, recipient: str, message_id: str | None) -> None:
        """A message was accepted: count it; reactions are planned once the instant is over."""
        now = self.clock.now()
        rcpt = recipient.lower()
        self._per_login_day[(sender.lower(), limits.local_day(now, TIMEZONE))] += 1
        if now != self._batch_at:
            self._settle()
            self._batch_at = now
        if message_id is not None:
            self._batch.append((rcpt, message_id))

    def _settle(self) -> None:
        # The mailboxes of one tick send in parallel, so their mails may arrive in any order;
        # taking one instant's mails in address order keeps "the n-th recipient" fixed.
        at = self._batch_at
        if at is None:
            return
        for rcpt, message_id in sorted(self._batch):
            self._received[rcpt] += 1
            step = self._received[rcpt]
            campaign = self.campaign_of.get(rcpt)
            if campaign is None:
                continue
            self._per_step[(campaign, step)] += 1
            nth = (campaign, step, self._per_step[(campaign, step)])
            if nth in self.story.complaints:
                delay = self._complaint_delays[self.story.complaints.index(nth)]
                self._plan(Feedback(at + delay, Fate.COMPLAIN, rcpt, message_id))
                continue
            who = self.recipients[rcpt]
            if who.fate is Fate.REPLY and step == who.after:
                self._plan(Feedback(at + who.delay, Fate.REPLY, rcpt, message_id))
        self._batch.clear()

    def _plan(self, item: Feedback) -> None:
        self._pushed += 1
        heapq.heappush(self._feedback, (item.due, self._pushed, item))

    def due_feedback(self, now: datetime) -> list[Feedback]:
        """Replies and complaints whose time has come, oldest first."""
        self._settle()
        out: list[Feedback] = []
        while self._feedback and self._feedback[0][0] <= now:
            out.append(heapq.heappop(self._feedback)[2])
        return out

    def next_feedback(self) -> datetime | None:
        """When the next reply or complaint is due."""
        self._settle()
        return self._feedback[0][0] if self._feedback else None
