"""/pause and /resume (SPEC 10): resolve a name, change states, say what changed and what not.

A pause only ever stops sending; a resume only undoes a pause. Automatic stops (a domain's
cool-down, a campaign the system stopped) end early only when the admin adds `force`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from core import limits, warmup
from core.models import (
    SENDING_STATES,
    CampaignState,
    DomainState,
    MailboxState,
)
from core.names import closest
from core.records import CampaignRow, DomainRow, MailboxRow
from core.specs import Rules
from engine.clock import Clock
from engine.ports import ControlStore

log = logging.getLogger("outreach.control")

TargetKind = Literal["mailbox", "domain", "campaign", "all"]
Action = Literal["pause", "resume"]

ALL = "all"
# Pauses made by `/pause all` carry this prefix, so `/resume all` undoes exactly those and
# leaves a mailbox the health job paused for its bounce rate alone.
ALL_PREFIX = "paused with /pause all"
SUGGESTIONS = 3
# difflib's default ratio: the pool mixes mailboxes, domains and campaigns, so a stricter
# match than the single-kind admin commands' keeps unrelated names out of the suggestions.
SIMILAR = 0.6


@dataclass(frozen=True, slots=True)
class Target:
    """What a name given to /pause, /resume or /status stands for."""

    kind: TargetKind
    name: str  # as stored: the address, domain or campaign name; "all"


@dataclass(frozen=True, slots=True)
class Unknown:
    """A name that matches nothing, with the closest known names."""

    name: str
    suggestions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """One object whose state changed."""

    subject: str  # "mailbox m0@d0.test"
    before: str
    after: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Left:
    """One object left as it was, and why."""

    subject: str
    state: str
    why: str


@dataclass(frozen=True, slots=True)
class ControlResult:
    """What a /pause or /resume did."""

    action: Action
    target: Target
    changed: tuple[Change, ...]
    left: tuple[Left, ...]
    notes: tuple[str, ...] = ()


def resolve_name(
    name: str,
    *,
    mailboxes: Sequence[str],
    domains: Sequence[str],
    campaigns: Sequence[str],
    allow_all: bool = True,
    known: Sequence[str] | None = None,
) -> Target | Unknown:
    """An exact address, domain name, campaign name (or `all`); else the closest names."""
    wanted = name.strip()
    folded = wanted.casefold()
    if allow_all and folded == ALL:
        return Target("all", ALL)
    exact: tuple[tuple[TargetKind, Sequence[str]], ...] = (
        ("mailbox", mailboxes),
        ("domain", domains),
    )
    for kind, names in exact:
        for candidate in names:
            if candidate.casefold() == folded:
                return Target(kind, candidate)
    # Campaign names are the admin's own words: an exact match wins over a case-folded one.
    if wanted in campaigns:
        return Target("campaign", wanted)
    for candidate in campaigns:
        if candidate.casefold() == folded:
            return Target("campaign", candidate)
    pool = list(known) if known is not None else [*mailboxes, *domains, *campaigns]
    # Reversed: of names equal but for case the last listed is suggested, as it always was.
    close = closest(wanted, reversed(pool), n=SUGGESTIONS, cutoff=SIMILAR)
    return Unknown(wanted, tuple(close))


@dataclass(frozen=True, slots=True)
class _World:
    """The stored objects one command looks at."""

    mailboxes: list[MailboxRow]
    domains: dict[str, DomainRow]
    campaigns: list[CampaignRow]


class ControlService:
    """Pause and resume mailboxes, domains, campaigns or everything."""

    def __init__(self, store: ControlStore, clock: Clock, rules: Rules) -> None:
        self._repo = store
        self._clock = clock
        self._rules = rules

    async def _world(self) -> _World:
        domains = await self._repo.domains()
        return _World(
            await self._repo.mailboxes(),
            {d.name: d for d in domains},
            await self._repo.campaigns(),
        )

    async def resolve(self, name: str, *, allow_all: bool = True) -> Target | Unknown:
        """What `name` stands for; removed objects resolve but are not suggested."""
        return _resolve(await self._world(), name, allow_all=allow_all)

    def _today(self) -> date:
        return limits.local_day(self._clock.now(), self._rules.timezone)

    # --- pause -------------------------------------------------------------------------------

    async def pause(self, name: str, reason: str = "", *, actor: str = "an admin") -> (
        ControlResult | Unknown
    ):  # fmt: skip
        """Stop sending from a mailbox, a domain, a campaign or everything, at once."""
        world = await self._world()
        target = _resolve(world, name, allow_all=True)
        if isinstance(target, Unknown):
            return target
        why = f"paused by {actor}" + (f": {reason.strip()}" if reason.strip() else "")
        if target.kind == "all":
            result = await self._pause_all(world, target, reason.strip(), actor)
        elif target.kind == "mailbox":
            row = _mailbox(world, target.name)
            outcome = await self._pause_mailbox(row, world.domains.get(row.domain), why)
            result = _single("pause", target, outcome)
        elif target.kind == "domain":
            result = _single("pause", target, await self._pause_domain(world, target.name, why))
        else:
            row_c = _campaign(world, target.name)
            result = _single("pause", target, await self._pause_campaign(row_c, why))
        log.info("%s: pause %s %s -> %d changed, %d left", actor, target.kind, target.name,
                 len(result.changed), len(result.left))  # fmt: skip
        return result

    async def _pause_mailbox(
        self, row: MailboxRow, domain: DomainRow | None, why: str
    ) -> Change | Left:
        subject = f"mailbox {row.address}"
        if row.state is MailboxState.DISABLED:
            return Left(subject, row.state.value, "removed from the config")
        if row.state is MailboxState.PAUSED:
            return Left(subject, row.state.value, f"already paused ({row.reason})")
        if row.state is MailboxState.COOLDOWN:
            # Paused instead of cooling down, the cool-down's end no longer wakes it; give it
            # the warm-up restart that end would have given, so a later /resume lands in
            # phase 2 rather than at full volume.
            end = domain.cooldown_until if domain and domain.cooldown_until else None
            restart_day = limits.local_day(end, self._rules.timezone) if end else self._today()
            start = warmup.phase2_restart(self._rules.warmup, restart_day)
            await self._repo.set_mailbox_warmup(row.id, start, MailboxState.PAUSED, why)
            until = f" (until {end:%Y-%m-%d})" if end else ""
            return Change(
                subject, row.state.value, MailboxState.PAUSED.value,
                f"it stays paused when the cool-down of {row.domain}{until} ends; /resume then "
                "restarts its warm-up at phase 2",
            )  # fmt: skip
        await self._repo.set_mailbox_state(row.id, MailboxState.PAUSED, why)
        return Change(subject, row.state.value, MailboxState.PAUSED.value)

    async def _pause_domain(self, world: _World, name: str, why: str) -> Change | Left:
        row = world.domains[name]
        subject = f"domain {name}"
        if row.state is DomainState.DISABLED:
            return Left(subject, row.state.value, "removed from the config")
        if row.state is DomainState.PAUSED:
            return Left(subject, row.state.value, f"already paused ({row.reason})")
        if row.state is DomainState.COOLDOWN:
            return Left(
                subject,
                row.state.value,
                f"cooling down until {_day(row.cooldown_until)}, so not sending; when that ends "
                "its mailboxes restart warm-up at phase 2 (pause them one by one to keep them "
                "stopped)",
            )
        await self._repo.set_domain_state(name, DomainState.PAUSED, why)
        boxes = [m for m in world.mailboxes if m.domain == name]
        return Change(
            subject,
            row.state.value,
            DomainState.PAUSED.value,
            f"none of its {len(boxes)} mailbox(es) sends while it is paused; they keep their "
            "own states",
        )

    async def _pause_campaign(self, row: CampaignRow, why: str) -> Change | Left:
        subject = f"campaign {row.name}"
        if row.state is CampaignState.DISABLED:
            return Left(subject, row.state.value, "removed from the config")
        if row.state is CampaignState.PAUSED:
            return Left(subject, row.state.value, f"already paused ({row.reason})")
        if row.state is CampaignState.STOPPED:
            return Left(subject, row.state.value, f"already stopped by the system ({row.reason})")
        await self._repo.set_campaign_state(row.id, CampaignState.PAUSED, why)
        return Change(subject, row.state.value, CampaignState.PAUSED.value)

    async def _pause_all(
        self, world: _World, target: Target, reason: str, actor: str
    ) -> ControlResult:
        why = f"{ALL_PREFIX} by {actor}" + (f": {reason}" if reason else "")
        changed: list[Change] = []
        left: list[Left] = []
        for camp in world.campaigns:
            if camp.state is CampaignState.ACTIVE:
                await self._repo.set_campaign_state(camp.id, CampaignState.PAUSED, why)
                changed.append(Change(f"campaign {camp.name}", camp.state.value, "paused"))
            elif camp.state is not CampaignState.DISABLED:
                left.append(Left(f"campaign {camp.name}", camp.state.value, camp.reason))
        # One transaction for the sending mailboxes: there may be thousands.
        boxes = [m for m in world.mailboxes if m.state in SENDING_STATES]
        await self._repo.set_mailbox_states([(m.id, MailboxState.PAUSED, why) for m in boxes])
        changed += [Change(f"mailbox {m.address}", m.state.value, "paused") for m in boxes]
        for box in world.mailboxes:
            if box.state is MailboxState.COOLDOWN:
                # Paused too, or the cool-down's end would wake it while everything is paused.
                _sort(await self._pause_mailbox(box, world.domains.get(box.domain), why),
                      changed, left)  # fmt: skip
            elif box.state is MailboxState.PAUSED:
                left.append(Left(f"mailbox {box.address}", box.state.value, box.reason))
        notes = (
            "Every campaign and every sending mailbox is paused; domains keep their states. "
            "/resume all undoes exactly these pauses.",
        )
        return ControlResult("pause", target, tuple(changed), tuple(left), notes)

    # --- resume ------------------------------------------------------------------------------

    async def resume(self, name: str, *, force: bool = False, actor: str = "an admin") -> (
        ControlResult | Unknown
    ):  # fmt: skip
        """Undo a pause; with `force` also end a cool-down or a system stop."""
        world = await self._world()
        target = _resolve(world, name, allow_all=True)
        if isinstance(target, Unknown):
            return target
        if target.kind == "all":
            result = await self._resume_all(world, target, force)
        elif target.kind == "mailbox":
            row = _mailbox(world, target.name)
            outcomes = await self._resume_mailbox(row, world.domains.get(row.domain), force)
            result = ControlResult(
                "resume", target,
                tuple(o for o in outcomes if isinstance(o, Change)),
                tuple(o for o in outcomes if isinstance(o, Left)),
            )  # fmt: skip
        elif target.kind == "domain":
            result = await self._resume_domain(world, target, force)
        else:
            outcome = await self._resume_campaign(_campaign(world, target.name), force)
            result = _single("resume", target, outcome)
        log.info("%s: resume %s %s%s -> %d changed, %d left", actor, target.kind, target.name,
                 " force" if force else "", len(result.changed), len(result.left))  # fmt: skip
        return result

    def _woken_state(self, row: MailboxRow) -> MailboxState:
        """Warming while its ramp is unfinished today, else active."""
        if row.warmup_start is None:
            return MailboxState.ACTIVE
        policy = self._rules.warmup
        day = warmup.warmup_day(row.warmup_start, self._today())
        warm = warmup.is_warm(policy, day, row.daily_limit)
        return MailboxState.ACTIVE if warm else MailboxState.WARMING

    async def _end_cooldown(self, domain: DomainRow) -> Change:
        start = warmup.phase2_restart(self._rules.warmup, self._today())
        count = await self._repo.end_cooldown(domain.name, start)
        return Change(
            f"domain {domain.name}",
            domain.state.value,
            DomainState.ACTIVE.value,
            f"cool-down ended early (was until {_day(domain.cooldown_until)}); {count} "
            "mailbox(es) restart warm-up at phase 2",
        )

    async def _resume_mailbox(
        self, row: MailboxRow, domain: DomainRow | None, force: bool
    ) -> list[Change | Left]:
        subject = f"mailbox {row.address}"
        cooling = domain is not None and domain.state is DomainState.COOLDOWN
        if row.state is MailboxState.DISABLED:
            return [Left(subject, row.state.value, "removed from the config")]
        if row.state in SENDING_STATES:
            why = f"not paused ({row.state.value})"
            now = self._clock.now()
            if row.resting_until is not None and row.resting_until > now:
                why += (
                    f"; resting until {row.resting_until:%Y-%m-%d %H:%M} UTC after a provider "
                    "cap or a 421"
                )
            return [Left(subject, row.state.value, why)]
        if row.state is MailboxState.COOLDOWN or (row.state is MailboxState.PAUSED and cooling):
            if not force:
                if row.state is MailboxState.PAUSED and domain is not None:
                    # Back into its domain's cool-down: that cool-down's end restarts it.
                    await self._repo.set_mailbox_state(row.id, MailboxState.COOLDOWN, domain.reason)
                    return [
                        Change(
                            subject,
                            row.state.value,
                            MailboxState.COOLDOWN.value,
                            f"its domain {row.domain} cools down until "
                            f"{_day(domain.cooldown_until)}; /resume {row.address} force ends "
                            "that now",
                        )  # fmt: skip
                    ]
                until = _day(domain.cooldown_until) if domain else "?"
                return [
                    Left(
                        subject,
                        row.state.value,
                        f"cooling down with {row.domain} until {until}; /resume {row.address} "
                        "force ends the cool-down now (its mailboxes restart warm-up at phase 2)",
                    )  # fmt: skip
                ]
            out: list[Change | Left] = []
            if cooling and domain is not None:
                out.append(await self._end_cooldown(domain))
            start = warmup.phase2_restart(self._rules.warmup, self._today())
            await self._repo.set_mailbox_warmup(row.id, start, MailboxState.WARMING, "")
            out.append(
                Change(subject, row.state.value, MailboxState.WARMING.value,
                       f"warm-up restarts at phase 2 (day {self._rules.warmup.phase1_days + 1})")
            )  # fmt: skip
            return out
        # Paused, its domain not cooling down.
        state = self._woken_state(row)
        await self._repo.set_mailbox_state(row.id, state, "")
        note = ""
        if domain is not None and domain.state is DomainState.PAUSED:
            note = f"its domain {row.domain} is paused too: /resume {row.domain}"
        return [Change(subject, row.state.value, state.value, note)]

    async def _resume_domain(self, world: _World, target: Target, force: bool) -> ControlResult:
        row = world.domains[target.name]
        subject = f"domain {row.name}"
        changed: list[Change] = []
        left: list[Left] = []
        if row.state is DomainState.DISABLED:
            left.append(Left(subject, row.state.value, "removed from the config"))
        elif row.state is DomainState.ACTIVE:
            left.append(Left(subject, row.state.value, "not paused"))
        elif row.state is DomainState.COOLDOWN:
            if force:
                changed.append(await self._end_cooldown(row))
            else:
                left.append(
                    Left(
                        subject,
                        row.state.value,
                        f"cooling down until {_day(row.cooldown_until)}; /resume {row.name} "
                        "force ends it now (its mailboxes restart warm-up at phase 2)",
                    )  # fmt: skip
                )
        else:
            await self._repo.set_domain_state(row.name, DomainState.ACTIVE, "")
            changed.append(Change(subject, row.state.value, DomainState.ACTIVE.value))
        if changed:
            # A domain's resume does not wake mailboxes paused on their own: name them.
            left += [
                Left(
                    f"mailbox {m.address}",
                    m.state.value,
                    f"paused on its own ({m.reason}); /resume {m.address}",
                )  # fmt: skip
                for m in world.mailboxes
                if m.domain == row.name and m.state is MailboxState.PAUSED
            ]
        return ControlResult("resume", target, tuple(changed), tuple(left))

    async def _resume_campaign(self, row: CampaignRow, force: bool) -> Change | Left:
        subject = f"campaign {row.name}"
        if row.state is CampaignState.DISABLED:
            return Left(subject, row.state.value, "removed from the config")
        if row.state is CampaignState.ACTIVE:
            return Left(subject, row.state.value, "not paused")
        if row.state is CampaignState.STOPPED and not force:
            return Left(
                subject, row.state.value,
                f"stopped by the system ({row.reason}); fix the cause, then /resume {row.name} "
                "force",
            )  # fmt: skip
        await self._repo.set_campaign_state(row.id, CampaignState.ACTIVE, "")
        note = "it stops again if the cause remains" if row.state is CampaignState.STOPPED else ""
        return Change(subject, row.state.value, CampaignState.ACTIVE.value, note)

    async def _resume_all(self, world: _World, target: Target, force: bool) -> ControlResult:
        changed: list[Change] = []
        left: list[Left] = []
        for camp in world.campaigns:
            if camp.state in (CampaignState.ACTIVE, CampaignState.DISABLED):
                continue
            if force or camp.reason.startswith(ALL_PREFIX):
                _sort(await self._resume_campaign(camp, force), changed, left)
            else:
                left.append(
                    Left(
                        f"campaign {camp.name}",
                        camp.state.value,
                        f"{camp.reason}; /resume {camp.name}",
                    )  # fmt: skip
                )
        if force:
            for row in world.domains.values():
                if row.state is DomainState.PAUSED:
                    await self._repo.set_domain_state(row.name, DomainState.ACTIVE, "")
                    changed.append(Change(f"domain {row.name}", row.state.value, "active"))
                elif row.state is DomainState.COOLDOWN:
                    changed.append(await self._end_cooldown(row))
            # Ending cool-downs changed mailbox states: read them again.
            world = await self._world()
        await self._resume_all_mailboxes(world, force, changed, left)
        notes: tuple[str, ...] = ()
        if left and not force:
            notes = ("/resume all undoes /pause all only; /resume all force also ends the "
                     "other pauses, system stops and cool-downs.",)  # fmt: skip
        return ControlResult("resume", target, tuple(changed), tuple(left), notes)

    async def _resume_all_mailboxes(
        self, world: _World, force: bool, changed: list[Change], left: list[Left]
    ) -> None:
        wake: list[tuple[int, MailboxState, str]] = []
        for box in world.mailboxes:
            if box.state in SENDING_STATES or box.state is MailboxState.DISABLED:
                continue
            domain = world.domains.get(box.domain)
            ours = box.state is MailboxState.PAUSED and box.reason.startswith(ALL_PREFIX)
            cooling = domain is not None and domain.state is DomainState.COOLDOWN
            if ours and not cooling:
                # The common case, possibly thousands: woken in one transaction below.
                state = self._woken_state(box)
                wake.append((box.id, state, ""))
                changed.append(Change(f"mailbox {box.address}", box.state.value, state.value))
            elif (ours or force) and box.state is MailboxState.PAUSED:
                for outcome in await self._resume_mailbox(box, domain, force):
                    _sort(outcome, changed, left)
            elif box.state is MailboxState.PAUSED:
                left.append(
                    Left(
                        f"mailbox {box.address}",
                        box.state.value,
                        f"{box.reason}; /resume {box.address}",
                    )  # fmt: skip
                )
            else:
                until = _day(domain.cooldown_until) if domain else "?"
                left.append(
                    Left(
                        f"mailbox {box.address}",
                        box.state.value,
                        f"cooling down with {box.domain} until {until}",
                    )  # fmt: skip
                )
        await self._repo.set_mailbox_states(wake)


def _resolve(world: _World, name: str, *, allow_all: bool) -> Target | Unknown:
    live = [
        *(m.address for m in world.mailboxes if m.state is not MailboxState.DISABLED),
        *(d.name for d in world.domains.values() if d.state is not DomainState.DISABLED),
        *(c.name for c in world.campaigns if c.state is not CampaignState.DISABLED),
    ]
    return resolve_name(
        name,
        mailboxes=[m.address for m in world.mailboxes],
        domains=list(world.domains),
        campaigns=[c.name for c in world.campaigns],
        allow_all=allow_all,
        known=live,
    )


def _mailbox(world: _World, address: str) -> MailboxRow:
    return next(m for m in world.mailboxes if m.address == address)


def _campaign(world: _World, name: str) -> CampaignRow:
    return next(c for c in world.campaigns if c.name == name)


def _sort(outcome: Change | Left, changed: list[Change], left: list[Left]) -> None:
    if isinstance(outcome, Change):
        changed.append(outcome)
    else:
        left.append(outcome)


def _single(action: Action, target: Target, outcome: Change | Left) -> ControlResult:
    if isinstance(outcome, Change):
        return ControlResult(action, target, (outcome,), ())
    return ControlResult(action, target, (), (outcome,))


def _day(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d}" if moment is not None else "?"
