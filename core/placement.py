"""Inbox placement of a mailbox's warm-up mail (SPEC 7): its rate, and what the rate calls for.

Placement is counted over 7 days, by where each warm-up mail was first seen at its receiver
(inbox or spam). With at least MIN_PLACEMENTS of them: under 70 % raises a warning; under 50 %
holds campaign mail from the mailbox (warm-up goes on); a held mailbox is released only when
it is back OVER 70 %, exactly 70 % not being over it.

Fewer than MIN_PLACEMENTS while held (the 7 days' mails aged out, its receivers went quiet)
keeps the hold: the hold ends on measured recovery only, never because the evidence thinned.
Warm-up traffic goes on while a mailbox is held, so new placements keep coming and decide.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction

WINDOW = timedelta(days=7)
MIN_PLACEMENTS = 20
# Fractions, not floats: 7 of 10 is exactly 70 %, neither under it nor over it.
WARN_BELOW = Fraction(70, 100)
HOLD_BELOW = Fraction(50, 100)
RELEASE_ABOVE = Fraction(70, 100)


@dataclass(frozen=True, slots=True)
class WarmupOrigin:
    """A warm-up mail of ours as its receiver found it: who sent it, and whether it's answered."""

    message_id: str  # '<...>' as stored in warmup_mails
    mailbox_id: int  # the pool mailbox that sent it
    sender: str  # that mailbox's address
    answered: bool  # an answer to it is planned already


@dataclass(frozen=True, slots=True)
class PlacementCount:
    """One mailbox's warm-up mail over the window: inbox and spam sightings, and its hold."""

    mailbox_id: int
    address: str
    inbox: int
    spam: int
    held: bool = False

    @property
    def total(self) -> int:
        """Placements counted."""
        return self.inbox + self.spam


class Action(enum.StrEnum):
    """What a mailbox's placement calls for."""

    NONE = "none"  # fine, too few placements to judge, or held and not recovered yet
    WARN = "warn"  # under 70 %: a warning alert
    HOLD = "hold"  # under 50 %: campaign mail held
    RELEASE = "release"  # held, back over 70 %: campaign mail again


def rate(inbox: int, spam: int) -> Fraction | None:
    """The inbox share of the placements; None when there are none."""
    total = inbox + spam
    return Fraction(inbox, total) if total else None


def percent(inbox: int, spam: int) -> str:
    """The rate for people: "75 %", "70.9 %" (tenths cut, not rounded, so 69.96 % never reads
    as the 70 % it missed); "n/a" without placements."""
    share = rate(inbox, spam)
    if share is None:
        return "n/a"
    tenths = int(share * 1000)  # floor: the rate is never negative
    whole, tenth = divmod(tenths, 10)
    return f"{whole} %" if tenth == 0 else f"{whole}.{tenth} %"


def verdict(count: PlacementCount) -> Action:
    """What SPEC 7 says about this mailbox's 7 days of placements."""
    share = rate(count.inbox, count.spam)
    if share is None or count.total < MIN_PLACEMENTS:
        return Action.NONE  # too little evidence either way; a hold stays (see above)
    if count.held:
        return Action.RELEASE if share > RELEASE_ABOVE else Action.NONE
    if share < HOLD_BELOW:
        return Action.HOLD
    if share < WARN_BELOW:
        return Action.WARN
    return Action.NONE


def describe(count: PlacementCount) -> str:
    """ "75 % over 7 days (15 inbox of 20)": the rate and the counts behind it."""
    return f"{percent(count.inbox, count.spam)} over 7 days ({count.inbox} inbox of {count.total})"
