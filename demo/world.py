"""The demo's world: its config, generated lead lists, and how simulated recipients behave.

Everything here follows from the seed and the start day, so one seed gives one story:
  - 4 sending domains x 3 mailboxes; three domains are warm, one starts warm-up on day 1;
  - 5 campaigns: three good lists, a hand-picked one allowed during warm-up week 1, and two
    bad lists (scraped, and an old trade-show export) imported later, full of dead addresses;
  - the recipient domain contoso.example checks Spamhaus, where brandmail.example gets
    listed on day 4: the first mail from it there is refused and the domain cools down;
  - a few recipients complain (reported as if by an ESP's feedback loop), some reply;
  - one mailbox hits its provider's daily sending cap (5.4.5) once.
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
    SendingConfig,
    ServerConfig,
    StepConfig,
)
from core import limits
from engine.clock import Clock

TIMEZONE = "Europe/Berlin"
DEFAULT_START = date(2026, 5, 4)  # a Monday, no DST change in the next weeks

GUARDED_DOMAIN = "contoso.example"  # its MX refuses senders listed at Spamhaus
LISTED_DOMAIN = "brandmail.example"
LISTED_FROM = (4, time(11, 0))  # (demo day, local time): Spamhaus lists it
LISTED_UNTIL = (11, time(0, 0))  # delisted (long before its cool-down ends)
CAPPED_MAILBOX = "kim@brand-news.example"
CAP_DAY = 9  # the first weekday from this demo day on ...
CAP_AFTER = 4  # ... its provider (a new, low-limit account) refuses its 5th mail that day

BLOCK_REPLY = (
    "5.7.1 Service unavailable; Client host [203.0.113.25] blocked using zen.spamhaus.org; "
    "https://www.spamhaus.org/query/ip/203.0.113.25"
)
UNKNOWN_REPLY = "5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"
CAP_REPLY = "5.4.5 Daily user sending limit exceeded. For more information, see your provider"


@dataclass(frozen=True, slots=True)
class SenderDomain:
    """A sending domain of the pool and its three mailboxes."""

    name: str
    people: tuple[tuple[str, str], ...]  # (local part, display name)
    warming: bool  # starts warm-up on day 1
    daily_limit: int  # the domain's cap over its mailboxes


# The domain caps keep the whole run near 2,000 mails: every mail is real work for the
# engine (render, reserve, SMTP, record), and the demo should finish in about a minute.
SENDERS = (
    SenderDomain("brand-news.example", (("alex", "Alex Stone"), ("sam", "Sam Reed"),
                                        ("kim", "Kim Park")), warming=False, daily_limit=15),
    SenderDomain("brandmail.example", (("lena", "Lena Vogt"), ("omar", "Omar Haddad"),
                                       ("rita", "Rita Costa")), warming=False, daily_limit=15),
    SenderDomain("brand-hq.example", (("max", "Max Weber"), ("ivy", "Ivy Chen"),
                                      ("noah", "Noah Brooks")), warming=True, daily_limit=30),
    SenderDomain("trybrand.example", (("eva", "Eva Lind"), ("leo", "Leo Marx"),
                                      ("mia", "Mia Rossi")), warming=False, daily_limit=15),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LeadList:
    """A generated list for one campaign: when it is imported and how bad it is."""

    campaign: str
    file: str
    size: int
    import_day: int  # demo day, imported at 07:00 local (day 1: before anything runs)
    unknown: float  # share of dead addresses (hard bounce at RCPT)
    reply: float  # share of recipients who answer


LISTS = (
    LeadList("vip-intros", "vip-intros.csv", 800, 1, unknown=0.003, reply=0.08),
    LeadList("eu-agencies", "eu-agencies.csv", 700, 1, unknown=0.005, reply=0.04),
    LeadList("us-founders", "us-founders.csv", 700, 1, unknown=0.005, reply=0.03),
    LeadList("scraped-saas", "scraped-saas.csv", 400, 5, unknown=0.08, reply=0.01),
    LeadList("expo-2019", "expo-2019.csv", 300, 12, unknown=0.06, reply=0.01),
)

# (campaign, step, n): the n-th recipient of that campaign's step reports it as spam. Counted
# in delivery order, which the seed fixes (the importer need not keep a file's row order).
COMPLAINTS = (("us-founders", 1, 6), ("eu-agencies", 1, 60), ("us-founders", 2, 40))


def mailbox_addresses() -> list[str]:
    """Every pool mailbox's address."""
    return [f"{local}@{d.name}" for d in SENDERS for local, _ in d.people]


def _step(subject: str | None, body: str, wait_days: int = 0) -> StepConfig:
    return StepConfig(subject=subject, body=body, wait_days=wait_days)


def campaigns() -> list[CampaignConfig]:
    """The demo's campaigns: windows in their own timezones, follow-ups, daily caps."""
    weekdays = ["mon", "tue", "wed", "thu", "fri"]
    greet = '{Hi|Hello} {{ first_name | default("there") }},'
    # The pool is smaller than the campaigns' caps together. The hand-picked list opens
    # last, at 16:00, when the warm domains are at their caps: on weekdays it feeds the
    # mailboxes in warm-up week 1, which take no other campaign's mail.
    return [
        CampaignConfig(
            name="eu-agencies", timezone=TIMEZONE, days=weekdays, hours="08:30-16:30",
            daily_limit=20,
            steps=[
                _step("{Quick question|An idea} for {{ company }}",
                      f"{greet}\n\nWe help agencies like {{{{ company }}}} ship reports faster."),
                _step(None, f"{greet}\n\nJust bumping this up.", 3),
            ],
        ),
        CampaignConfig(
            name="us-founders", timezone="America/New_York", days=weekdays,
            hours="07:00-15:00", daily_limit=20,
            steps=[
                _step("{{ company }} + Brand?", f"{greet}\n\nFounder to founder: a short idea."),
                _step(None, f"{greet}\n\nAny thoughts on my note?", 3),
                _step(None, f"{greet}\n\nLast one from me, promise.", 4),
            ],
        ),
        CampaignConfig(
            name="vip-intros", timezone=TIMEZONE, days=[*weekdays, "sat", "sun"],
            hours="16:00-20:00", daily_limit=30, during_warmup=True,
            steps=[
                _step("{{ first_name }}, {a quick intro|an introduction}",
                      f"{greet}\n\nAnna suggested I write to you about {{{{ company }}}}."),
                _step(None, f"{greet}\n\nHappy to send details whenever suits.", 4),
            ],
        ),
        CampaignConfig(
            name="scraped-saas", timezone="Europe/London", days=weekdays, hours="09:00-15:00",
            daily_limit=10,
            steps=[
                _step("Saw {{ company }} online", f"{greet}\n\nWe should talk."),
                _step(None, f"{greet}\n\nFollowing up.", 3),
            ],
        ),
        CampaignConfig(
            name="expo-2019", timezone=TIMEZONE, days=weekdays, hours="09:00-17:00",
            daily_limit=8,
            steps=[
                _step("We met at Expo 2019",
                      f"{greet}\n\nWe met at the {{{{ company }}}} booth."),
                _step(None, f"{greet}\n\nBumping this.", 3),
            ],
        ),
    ]  # fmt: skip


def build_config(start: date, port: int, password: str) -> OutreachConfig:
    """The whole OutreachConfig, built in Python: no file, no environment, no secrets."""
    mailboxes = []
    for domain in SENDERS:
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
                    daily_limit=40,
                    smtp=server,
                    warmup_start=start if domain.warming else None,
                )  # fmt: skip
            )
    return OutreachConfig(
        sending=SendingConfig(
            timezone=TIMEZONE,
            daily_target=80,
            tick_seconds=60,
            min_gap_seconds=300,
            jitter_seconds=240,
            max_attempts=3,
            postal_address="Brand Ltd, 1 Main St, Springfield",
        ),  # fmt: skip
        alerts=AlertsConfig(quiet_minutes=60),
        domains=[DomainConfig(name=d.name, daily_limit=d.daily_limit) for d in SENDERS],
        mailboxes=mailboxes,
        campaigns=campaigns(),
    )


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
        for spec in LISTS:
            emails: list[str] = []
            while len(emails) < spec.size:
                company = rng.choice(COMPANY)
                # contoso holds about one lead in twelve: the listed domain meets it soon.
                domain = GUARDED_DOMAIN if rng.random() < 0.08 else f"{company}.example"
                email = f"{rng.choice(FIRST)}.{rng.choice(LAST)}{rng.randrange(100)}@{domain}"
                if email in taken:
                    continue
                taken.add(email)
                emails.append(email)
                self.recipients[email] = self._fate(rng, spec)
                self.campaign_of[email] = spec.campaign
            self.lists[spec.campaign] = emails
        self._complaint_delays = [timedelta(hours=rng.uniform(1, 6)) for _ in COMPLAINTS]

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
        for spec in LISTS:
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
            (self.at(s.import_day, time(0) if s.import_day == 1 else time(7)), s) for s in LISTS
        ]

    def listed(self, sender_domain: str, now: datetime) -> bool:
        """Whether Spamhaus lists the sending domain at `now`."""
        return sender_domain == LISTED_DOMAIN and self.at(*LISTED_FROM) <= now < self.at(
            *LISTED_UNTIL
        )

    def wake_times(self) -> list[datetime]:
        """Moments when the world changes by itself (listing starts and ends)."""
        return [self.at(*LISTED_FROM), self.at(*LISTED_UNTIL)]

    # --- what the SMTP sink asks ----------------------------------------------------------

    def at_rcpt(self, sender: str, recipient: str) -> tuple[int, str] | None:
        """The refusal (code, text) for this recipient now, or None to accept it."""
        now = self.clock.now()
        sender_domain = sender.rpartition("@")[2].lower()
        rcpt = recipient.lower()
        today = limits.local_day(now, TIMEZONE)
        if sender.lower() == CAPPED_MAILBOX and not self._cap_used:
            cap_from = self.start + timedelta(days=CAP_DAY - 1)
            used = self._per_login_day[(sender.lower(), today)]
            if today >= cap_from and today.weekday() < 5 and used >= CAP_AFTER:
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
            if nth in COMPLAINTS:
                delay = self._complaint_delays[COMPLAINTS.index(nth)]
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
