"""Command arguments: parsed into what a service takes, or an AdminError saying what was expected.

The usage texts live beside their parsers: they describe the chat command, not the use case.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from core.addresses import normalise_address
from engine.admin import AdminError
from engine.suppression import Entry

# --- /stats [days] -------------------------------------------------------------------------

DEFAULT_DAYS = 14
MAX_DAYS = 365


def parse_days(text: str | None) -> int:
    """The `[days]` argument: a whole number 1..365, 14 when absent; AdminError otherwise."""
    if text is None or not text.strip():
        return DEFAULT_DAYS
    value = text.strip()
    # isascii: str.isdigit() is True for '²' and '٣' too, which int() refuses or misreads.
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_DAYS:
        raise AdminError(
            f"expected a number of days from 1 to {MAX_DAYS}, like /stats 30 "
            f"(default {DEFAULT_DAYS}); got {value[:40]!r}"
        )
    return int(value)


# --- /suppress and /unsuppress <email or @domain> ------------------------------------------

EXPECTED = "an e-mail address like jane@example.com, or @example.com for a whole domain"


def parse_entry(text: str | None, command: str) -> Entry:
    """`jane@example.com` or `@example.com`; AdminError saying what was expected otherwise."""
    raw = (text or "").strip()
    if not raw or len(raw.split()) != 1:
        raise AdminError(f"expected {EXPECTED}: /{command} jane@example.com")
    if raw.startswith("@"):
        checked = normalise_address("postmaster" + raw)
        if checked is None:
            raise AdminError(f"{raw[:80]!r} is not a domain; expected {EXPECTED}")
        return Entry(checked.rpartition("@")[2], is_domain=True)
    address = normalise_address(raw)
    if address is None:
        raise AdminError(f"{raw[:80]!r} is not an e-mail address; expected {EXPECTED}")
    return Entry(address.lower(), is_domain=False)


# --- /warmup [start|stop <mailbox>] --------------------------------------------------------


class Action(enum.StrEnum):
    """What /warmup was asked to do."""

    SHOW = "show"
    START = "start"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class WarmupCommand:
    """The parsed arguments of /warmup."""

    action: Action
    mailbox: str = ""


WARMUP_USAGE = "expected /warmup, /warmup start <mailbox> or /warmup stop <mailbox>"


def parse_warmup(args: str | None) -> WarmupCommand:
    """`[start|stop <mailbox>]`; AdminError saying what was expected otherwise."""
    words = (args or "").split()
    if not words:
        return WarmupCommand(Action.SHOW)
    verb = words[0].lower()
    if verb not in (Action.START, Action.STOP):
        raise AdminError(f"{WARMUP_USAGE}; got {words[0][:40]!r}")
    if len(words) != 2:
        raise AdminError(
            f"{WARMUP_USAGE}: name exactly one mailbox, like /warmup {verb} alex@brand.com"
        )
    return WarmupCommand(Action(verb), words[1])


# --- /plan [mailboxes target] --------------------------------------------------------------

MAX_PLAN_MAILBOXES = 10_000
MAX_PLAN_TARGET = 1_000_000
PLAN_USAGE = (
    "expected /plan for the configured pool, or /plan <mailboxes> [target] for a new pool, "
    f"like /plan 30 1200 (mailboxes 1 to {MAX_PLAN_MAILBOXES:,}, target 1 to {MAX_PLAN_TARGET:,})"
)


@dataclass(frozen=True, slots=True)
class PlanCommand:
    """The parsed arguments of /plan: a new pool's size and the target, each None when absent."""

    mailboxes: int | None = None
    target: int | None = None


def parse_plan(args: str | None) -> PlanCommand:
    """`[mailboxes [target]]`, whole numbers in range; AdminError with the usage otherwise."""
    words = (args or "").split()
    if len(words) > 2:
        raise AdminError(f"{PLAN_USAGE}; got {len(words)} arguments")
    values: list[int] = []
    for word, most in zip(words, (MAX_PLAN_MAILBOXES, MAX_PLAN_TARGET), strict=False):
        if not (word.isascii() and word.isdigit()) or not 1 <= int(word) <= most:
            raise AdminError(f"{PLAN_USAGE}; got {word[:40]!r}")
        values.append(int(word))
    return PlanCommand(*values)


# --- /lead <email> -------------------------------------------------------------------------

LEAD_USAGE = "expected one e-mail address, like /lead jane@example.com"


def parse_lead(args: str | None) -> str:
    """`<email>`, normalised; AdminError saying what was expected otherwise."""
    words = (args or "").split()
    if len(words) != 1:
        raise AdminError(f"{LEAD_USAGE}; got {len(words)} arguments")
    address = normalise_address(words[0])
    if address is None:
        raise AdminError(f"{words[0][:80]!r} is not an e-mail address; {LEAD_USAGE}")
    return address


# --- /preview <campaign> [step] [email] and /test <campaign> [step] <address> ---------------

PREVIEW_USAGE = "expected /preview <campaign> [step] [email], like /preview q4 2 jane@example.com"
TEST_USAGE = "expected /test <campaign> [step] <address>, like /test q4 2 me@example.com"


@dataclass(frozen=True, slots=True)
class StepTarget:
    """A campaign, maybe a step number, maybe an address (normalised)."""

    campaign: str
    step: int | None
    address: str | None


def _step_target(args: str | None, usage: str) -> StepTarget:
    words = (args or "").split()
    if not 1 <= len(words) <= 3:
        raise AdminError(f"{usage}; got {len(words)} arguments")
    campaign, rest = words[0], words[1:]
    step: int | None = None
    if rest and rest[0].isdecimal():
        step = int(rest.pop(0))
        if step < 1:
            raise AdminError(f"steps are numbered from 1; {usage}")
    address: str | None = None
    if rest:
        address = normalise_address(rest.pop(0))
        if address is None:
            raise AdminError(f"{words[-1][:80]!r} is not an e-mail address; {usage}")
    if rest:
        raise AdminError(f"{usage}; got {words[-1][:40]!r} after the address")
    return StepTarget(campaign, step, address)


def parse_preview(args: str | None) -> StepTarget:
    """`<campaign> [step] [email]`; AdminError saying what was expected otherwise."""
    return _step_target(args, PREVIEW_USAGE)


def parse_test(args: str | None) -> StepTarget:
    """`<campaign> [step] <address>`: the address is required."""
    target = _step_target(args, TEST_USAGE)
    if target.address is None:
        raise AdminError(f"name the address to send the test to; {TEST_USAGE}")
    return target
