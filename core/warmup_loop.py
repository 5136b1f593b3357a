"""The warm-up loop's day (SPEC 7, issue 12): how much warm-up mail, to whom, when; and replies.

Pure: the engine gives it the mailboxes, the day and a seeded `random.Random`, and sends what it
plans through the normal reservation path (kind `warmup`), so SPEC 6's limits hold for the sum of
campaign and warm-up mail whatever is planned here.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction

from core import limits, warmup
from core.models import MailboxState, MailboxView, WarmupPolicy, Window
from core.warmup_mail import Received

# Business hours, sending timezone: when people write to each other.
DEFAULT_WINDOW = Window(8 * 60, 18 * 60)
# The part of a week-1 cap a `during_warmup` campaign may take; the loop keeps the larger half,
# so a new mailbox's first mails are still mostly mail that gets opened and answered.
WEEK1_CAMPAIGN_SHARE = Fraction(1, 2)
# How long a person takes to answer: from a quick reply to one after a meeting or two.
REPLY_DELAY_MIN = timedelta(minutes=20)
REPLY_DELAY_MAX = timedelta(hours=4)
# A reply whose time falls outside the window goes out within this long after it opens.
REPLY_OPENING_SPREAD = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class PlannedWarmup:
    """One warm-up mail of the day: from this mailbox to this address, not before this time."""

    mailbox_id: int
    sender: str
    recipient: str
    not_before: datetime  # UTC


@dataclass(frozen=True, slots=True)
class PlannedReply:
    """An answer to a received warm-up mail, due at `at` (UTC)."""

    original: Received
    at: datetime


def _half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def maintenance_volume(cap: int, policy: WarmupPolicy) -> int:
    """A warm mailbox's daily warm-up mails: `maintenance_share` of its cap, at least one."""
    if cap <= 0:
        return 0
    # Fraction of the repr, as warmup_cap does: 0.1 x 45 is 4.5 and must round up to 5.
    share = Fraction(repr(policy.maintenance_share))
    return min(cap, max(1, _half_up(share * cap)))


def warmup_volume(
    mailbox: MailboxView, today: date, policy: WarmupPolicy, *, week1_campaigns: bool = False
) -> int:
    """Warm-up mails a mailbox sends today (replies included), never above its cap.

    Phase 1 (week 1): the whole cap, or with a `during_warmup` campaign in the pool
    (`week1_campaigns`) all but WEEK1_CAMPAIGN_SHARE of it. Phase 2, still warming: the volume
    of the last phase-1 day (`phase1_end`), kept while the cap grows. The reputation that week 1
    built on mail that is opened, rescued from spam and answered stays the steady base; each
    day's growth goes to campaigns (day 8: 10 warm-up + 2 campaign of 12; day 14: 10 + 25 of 35),
    so campaign volume rises only as fast as the ramp and is a minority in the first days.
    Warm (`active`): `maintenance_share` of the cap, at least one. Otherwise 0.
    """
    cap = limits.mailbox_cap(mailbox, today, policy)
    if cap <= 0:
        return 0
    if mailbox.state is MailboxState.WARMING and mailbox.warmup_start is not None:
        day = warmup.warmup_day(mailbox.warmup_start, today)
        if warmup.phase(policy, day) == 1:
            if week1_campaigns:
                return cap - math.floor(cap * WEEK1_CAMPAIGN_SHARE)
            return cap
        return min(cap, max(policy.phase1_end, maintenance_volume(cap, policy)))
    return maintenance_volume(cap, policy)


def window_bounds(day: date, window: Window, tz: str) -> tuple[datetime, datetime]:
    """UTC start (included) and end (excluded) of `window` on the local `day` in `tz`."""
    zone = limits.zone(tz)

    def at(minute: int) -> datetime:
        # Wall-clock times, so 09:00 stays 09:00 on a DST day; 24:00 is the next midnight.
        when = time((minute % 1440) // 60, minute % 60)
        return datetime.combine(day + timedelta(days=minute // 1440), when, zone).astimezone(UTC)

    return at(window.start_minute), at(window.end_minute)


def _recipients(
    sender: MailboxView,
    pool: Sequence[MailboxView],
    seeds: Sequence[str],
    receivers: Collection[str] | None,
) -> list[str]:
    """Other domains' mailboxes and the seeds; its own domain only if nobody else; never itself.

    Pool mailboxes only among `receivers` when given (those the loop can read).
    """
    others = [
        m
        for m in pool
        if m.address != sender.address
        and m.state is not MailboxState.DISABLED
        and (receivers is None or m.address in receivers)
    ]
    away = [m.address for m in others if m.domain != sender.domain]
    candidates = away + [s for s in seeds if s != sender.address]
    if not candidates:
        candidates = [m.address for m in others]
    return sorted(set(candidates))


# From this many addresses on, a sender's recipients are drawn one by one, not by shuffling
# the whole list for every sender.
LARGE_AUDIENCE = 256


class _Audience:
    """Who the day's warm-up mails may go to, gathered once for the whole pool."""

    def __init__(
        self,
        pool: Sequence[MailboxView],
        seeds: Sequence[str],
        receivers: Collection[str] | None,
    ) -> None:
        self._pool, self._seeds, self._receivers = pool, seeds, receivers
        readers = {
            m.address: m.domain
            for m in pool
            if m.state is not MailboxState.DISABLED
            and (receivers is None or m.address in receivers)
        }
        self._seed_set = frozenset(seeds)
        self._domain = readers
        self._everyone = sorted(readers.keys() | self._seed_set)
        # Per domain, its readers that only a mailbox of another domain may write to.
        self._own: dict[str, int] = {}
        for address, domain in readers.items():
            if address not in self._seed_set:
                self._own[domain] = self._own.get(domain, 0) + 1

    def draw(self, sender: MailboxView, count: int, rng: random.Random) -> list[str]:
        """`count` recipients for `sender` in a shuffled round: none gets two before all got
        one (fewer than `count` are returned; the caller goes round them). Empty: nobody."""
        others = len(self._everyone) - self._own.get(sender.domain, 0)
        others -= 1 if sender.address in self._seed_set else 0
        if len(self._everyone) < LARGE_AUDIENCE or count * 2 > others:
            # A small pool: the whole list, shuffled (cheap below a few hundred addresses, and
            # the seeded plans of small pools, the demo's and the tests', stay as they were).
            recipients = _recipients(sender, self._pool, self._seeds, self._receivers)
            rng.shuffle(recipients)
            return recipients
        # A large pool (thousands of mailboxes): `count` distinct picks, each uniform among
        # the others, without listing and shuffling the whole pool for every sender (that made
        # a 5,000-mailbox day's plan quadratic: tens of seconds on the event loop).
        picked: list[str] = []
        seen: set[str] = set()
        while len(picked) < count:
            address = self._everyone[rng.randrange(len(self._everyone))]
            if address in seen or not self._writes_to(sender, address):
                continue
            seen.add(address)
            picked.append(address)
        return picked

    def _writes_to(self, sender: MailboxView, address: str) -> bool:
        if address == sender.address:
            return False
        return address in self._seed_set or self._domain[address] != sender.domain


def _spread(
    count: int, start: datetime, end: datetime, min_gap: timedelta, rng: random.Random
) -> list[datetime]:
    """`count` times in [start, end): one per equal slot, jittered, never closer than min_gap.

    Fewer when the window cannot hold `count` mails `min_gap` apart.
    """
    span = int((end - start).total_seconds())
    gap = max(1, math.ceil(min_gap.total_seconds()))
    count = min(count, span // gap)
    if count <= 0:
        return []
    slot = span // count  # >= gap, since count <= span // gap
    # A draw in 0..slot-gap keeps two neighbours at least `gap` apart and the last one before
    # `end`: (i+1)*slot + 0 - (i*slot + slot-gap) = gap.
    return [start + timedelta(seconds=i * slot + rng.randint(0, slot - gap)) for i in range(count)]


def day_plan(
    mailboxes: Sequence[MailboxView],
    seeds: Sequence[str],
    day: date,
    window: Window,
    rng: random.Random,
    *,
    policy: WarmupPolicy,
    min_gap: timedelta,
    tz: str = "UTC",
    week1_campaigns: bool = False,
    not_before: datetime | None = None,
    receivers: Collection[str] | None = None,
    tail: timedelta = timedelta(0),
) -> list[PlannedWarmup]:
    """The day's new warm-up mails of every mailbox, spread evenly over the window, with jitter.

    Each mailbox plans its whole `warmup_volume` as new mails; an answer it sends later takes
    the place of one of its new mails not yet sent (storage/warmup.py), so new mails and answers
    together stay at the volume. The mails go to its recipients in a shuffled round, so none
    gets two before all got one; fewer when the window can't hold them `min_gap` apart, none
    when it has nobody to write to. With `not_before` (a loop started mid-day) the mails spread
    over what is left of the window, never a burst of those the morning would have had. With
    `receivers`, only those pool mailboxes receive (the engine passes the ones with IMAP).
    Nothing is planned in the window's last `tail` (the engine passes a tick: a mail due later
    would find the window shut at the next tick). The same rng seed gives the same plan.
    """
    start, end = window_bounds(day, window, tz)
    end -= tail
    if not_before is not None:
        start = max(start, not_before)
    mails: list[PlannedWarmup] = []
    audience = _Audience(mailboxes, seeds, receivers)
    for mailbox in sorted(mailboxes, key=lambda m: (m.id, m.address)):
        volume = warmup_volume(mailbox, day, policy, week1_campaigns=week1_campaigns)
        if volume <= 0:
            continue
        recipients = audience.draw(mailbox, volume, rng)
        if not recipients:
            continue
        times = _spread(volume, start, end, min_gap, rng)
        mails.extend(
            PlannedWarmup(mailbox.id, mailbox.address, recipients[i % len(recipients)], when)
            for i, when in enumerate(times)
        )
    mails.sort(key=lambda p: (p.not_before, p.sender, p.recipient))
    return mails


def answers(message_id: str, reply_rate: float) -> bool:
    """Whether the loop answers this warm-up mail: a stable draw from its Message-ID.

    Stable, so reading the same mail again (a restart, a second IMAP pass) decides the same.
    """
    bare = message_id.strip().removeprefix("<").removesuffix(">")
    draw = int.from_bytes(hashlib.sha256(bare.encode("utf-8")).digest()[:8], "big") / 2**64
    return draw < reply_rate


def _into_window(at: datetime, window: Window, tz: str, rng: random.Random) -> datetime:
    """`at` if it lies inside the window, else a moment soon after the window next opens."""
    day = limits.local_day(at, tz)
    for offset in range(-1, 3):
        start, end = window_bounds(day + timedelta(days=offset), window, tz)
        if start <= at < end:
            return at
        if at < start:
            spread = min(REPLY_OPENING_SPREAD, end - start)
            seconds = rng.randint(0, max(0, int(spread.total_seconds()) - 1))
            return start + timedelta(seconds=seconds)
    raise AssertionError("a window opens every day")


def reply_plan(
    received: Sequence[Received],
    reply_rate: float,
    rng: random.Random,
    now: datetime,
    *,
    window: Window = DEFAULT_WINDOW,
    tz: str = "UTC",
    left: Mapping[str, int] | None = None,
) -> list[PlannedReply]:
    """Which received warm-up mails to answer, and when: after a human-like delay, in the window.

    About `reply_rate` of them are answered (a stable draw per Message-ID, see `answers`); the
    delay is log-uniform from REPLY_DELAY_MIN to REPLY_DELAY_MAX (short answers are the common
    ones), moved into the receiver's window if it falls outside. `left` (each receiver's sends
    still allowed today) caps how many a receiver answers; the rest go unanswered.
    """
    budget = dict(left) if left is not None else None
    low = math.log(REPLY_DELAY_MIN.total_seconds())
    high = math.log(REPLY_DELAY_MAX.total_seconds())
    plan: list[PlannedReply] = []
    for item in received:
        if not answers(item.message_id, reply_rate):
            continue
        receiver = item.receiver.address
        if budget is not None:
            if budget.get(receiver, 0) <= 0:
                continue
            budget[receiver] -= 1
        delay = timedelta(seconds=round(math.exp(rng.uniform(low, high))))
        plan.append(PlannedReply(item, _into_window(now + delay, window, tz, rng)))
    plan.sort(key=lambda p: p.at)
    return plan
