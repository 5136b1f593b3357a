"""Reconcile the configured domains, mailboxes and campaigns with the stored ones: a pure plan.

Storage reads the rows, `reconcile` decides what to insert, update, restore and disable, and
storage applies the plan in one transaction. Runtime state (a paused mailbox, a warm-up start
set from the chat, an uploaded campaign) survives: only a change in the config itself moves it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from core.models import SENDING_STATES, MailboxState, WarmupPolicy
from core.records import KindCounts, StepRow
from core.specs import CampaignSpec, DomainSpec, MailboxSpec, StepSpec
from core.warmup import is_warm, warmup_day

REMOVED = "removed from config"  # the reason written on what the config no longer holds


def initial_state(
    warmup_start: date | None, daily_limit: int, today: date, policy: WarmupPolicy
) -> MailboxState:
    """`warming` while the ramp of `warmup_start` is below the mailbox's ceiling, else `active`."""
    if warmup_start is None:
        return MailboxState.ACTIVE
    day = warmup_day(warmup_start, today)
    return MailboxState.ACTIVE if is_warm(policy, day, daily_limit) else MailboxState.WARMING


# --- what storage reads ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredDomain:
    """A domain row as reconciling needs it."""

    id: int
    name: str
    daily_limit: int | None
    esp: str | None
    in_config: bool


@dataclass(frozen=True, slots=True)
class StoredMailbox:
    """A mailbox row as reconciling needs it."""

    id: int
    address: str
    display_name: str
    daily_limit: int
    warmup_start: date | None  # in force, possibly set at runtime
    cfg_warmup_start: date | None  # what the config said when last synced
    state: MailboxState
    reason: str
    in_config: bool


@dataclass(frozen=True, slots=True)
class StoredCampaign:
    """A campaign row as reconciling needs it."""

    id: int
    name: str
    timezone: str
    days: tuple[str, ...]
    hours: str
    daily_limit: int | None
    during_warmup: bool
    in_config: bool
    origin: str  # 'config' or 'upload'


# --- what storage writes -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DomainUpdate:
    """New values for a stored domain; storage re-activates it if it was disabled."""

    id: int
    daily_limit: int | None
    esp: str | None


@dataclass(frozen=True, slots=True)
class MailboxInsert:
    """A new mailbox; `domain` is a name, as a new domain has no id until it is inserted."""

    address: str
    domain: str
    display_name: str
    daily_limit: int
    warmup_start: date | None
    state: MailboxState


@dataclass(frozen=True, slots=True)
class MailboxUpdate:
    """Every value to write on a stored mailbox (it is back in the config)."""

    id: int
    display_name: str
    daily_limit: int
    warmup_start: date | None
    cfg_warmup_start: date | None
    state: MailboxState
    reason: str


@dataclass(frozen=True, slots=True)
class CampaignUpdate:
    """A stored campaign to take the config's values; `restore` re-activates a disabled one."""

    id: int
    campaign: CampaignSpec
    restore: bool


@dataclass(frozen=True, slots=True)
class StepsPlan:
    """Steps to upsert by number, and the count to keep (higher numbers are dropped)."""

    upserts: tuple[tuple[int, StepSpec], ...]
    keep: int
    dropped: int

    @property
    def changed(self) -> bool:
        """True when anything is written."""
        return bool(self.upserts) or bool(self.dropped)


@dataclass(frozen=True, slots=True)
class DomainsPlan:
    """Domains to insert (in order), update and disable."""

    inserts: tuple[DomainSpec, ...]
    updates: tuple[DomainUpdate, ...]
    disables: tuple[int, ...]
    tally: KindCounts


@dataclass(frozen=True, slots=True)
class MailboxesPlan:
    """Mailboxes to insert (in order), update and disable."""

    inserts: tuple[MailboxInsert, ...]
    updates: tuple[MailboxUpdate, ...]
    disables: tuple[int, ...]
    tally: KindCounts


@dataclass(frozen=True, slots=True)
class CampaignsPlan:
    """Campaigns to insert (in order, with all their steps), update, re-step and disable."""

    inserts: tuple[CampaignSpec, ...]
    updates: tuple[CampaignUpdate, ...]
    steps: tuple[tuple[int, StepsPlan], ...]  # (campaign id, its steps) of stored campaigns
    disables: tuple[int, ...]
    tally: KindCounts


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """Everything one config sync writes, and what it counts."""

    domains: DomainsPlan
    mailboxes: MailboxesPlan
    campaigns: CampaignsPlan


def reconcile(
    *,
    domains: Sequence[DomainSpec],
    mailboxes: Sequence[MailboxSpec],
    campaigns: Sequence[CampaignSpec],
    stored_domains: Iterable[StoredDomain],
    stored_mailboxes: Iterable[StoredMailbox],
    stored_campaigns: Iterable[StoredCampaign],
    stored_steps: Mapping[int, Sequence[StepRow]],
    today: date,
    warmup: WarmupPolicy,
) -> SyncPlan:
    """The writes that make the stored rows mirror the config, keeping runtime state."""
    return SyncPlan(
        domains=plan_domains(domains, mailboxes, stored_domains),
        mailboxes=plan_mailboxes(mailboxes, stored_mailboxes, today, warmup),
        campaigns=plan_campaigns(campaigns, stored_campaigns, stored_steps),
    )


def _tally(tally: KindCounts, *, restored: bool, changed: bool) -> KindCounts:
    if restored:
        return KindCounts(tally.added, tally.updated, tally.restored + 1, tally.disabled)
    if changed:
        return KindCounts(tally.added, tally.updated + 1, tally.restored, tally.disabled)
    return tally


def plan_domains(
    domains: Sequence[DomainSpec],
    mailboxes: Sequence[MailboxSpec],
    stored: Iterable[StoredDomain],
) -> DomainsPlan:
    """Configured domains, plus each mailbox's domain (uncapped when it has no table)."""
    wanted: dict[str, DomainSpec] = {d.name: d for d in domains}
    for mailbox in mailboxes:
        # A mailbox's domain needs no [[domains]] table of its own: it is then simply uncapped.
        wanted.setdefault(mailbox.domain, DomainSpec(mailbox.domain))
    existing = {row.name: row for row in stored}
    inserts: list[DomainSpec] = []
    updates: list[DomainUpdate] = []
    tally = KindCounts()
    for name, spec in wanted.items():
        row = existing.get(name)
        if row is None:
            inserts.append(spec)
            continue
        restored = not row.in_config
        changed = (row.daily_limit, row.esp) != (spec.daily_limit, spec.esp)
        if restored or changed:
            updates.append(DomainUpdate(row.id, spec.daily_limit, spec.esp))
        tally = _tally(tally, restored=restored, changed=changed)
    gone = tuple(row.id for name, row in existing.items() if name not in wanted and row.in_config)
    tally = KindCounts(len(inserts), tally.updated, tally.restored, len(gone))
    return DomainsPlan(tuple(inserts), tuple(updates), gone, tally)


def plan_mailboxes(
    mailboxes: Sequence[MailboxSpec],
    stored: Iterable[StoredMailbox],
    today: date,
    warmup: WarmupPolicy,
) -> MailboxesPlan:
    """New mailboxes start warming or active; changed ones are re-judged unless held."""
    existing = {row.address: row for row in stored}
    inserts: list[MailboxInsert] = []
    updates: list[MailboxUpdate] = []
    wanted: set[str] = set()
    tally = KindCounts()
    for box in mailboxes:
        wanted.add(box.address)
        row = existing.get(box.address)
        if row is None:
            state = initial_state(box.warmup_start, box.daily_limit, today, warmup)
            inserts.append(
                MailboxInsert(
                    box.address,
                    box.domain,
                    box.display_name,
                    box.daily_limit,
                    box.warmup_start,
                    state,
                )
            )
            continue
        # warmup_start may have been set at runtime (/warmup start, re-entry after a
        # cool-down); only a change in the TOML itself overrides it.
        start_changed = box.warmup_start != row.cfg_warmup_start
        start = box.warmup_start if start_changed else row.warmup_start
        restored = not row.in_config
        changed = start_changed or (row.display_name, row.daily_limit) != (
            box.display_name,
            box.daily_limit,
        )
        state, reason = row.state, row.reason
        if (restored and state is MailboxState.DISABLED) or (changed and state in SENDING_STATES):
            # Paused / cool-down mailboxes keep their state: only an admin or the engine ends it.
            state = initial_state(start, box.daily_limit, today, warmup)
            reason = "" if restored else reason
        if restored or changed:
            updates.append(
                MailboxUpdate(
                    row.id,
                    box.display_name,
                    box.daily_limit,
                    start,
                    box.warmup_start,
                    state,
                    reason,
                )
            )
        tally = _tally(tally, restored=restored, changed=changed)
    gone = tuple(row.id for addr, row in existing.items() if addr not in wanted and row.in_config)
    tally = KindCounts(len(inserts), tally.updated, tally.restored, len(gone))
    return MailboxesPlan(tuple(inserts), tuple(updates), gone, tally)


def _campaign_values(
    campaign: CampaignSpec,
) -> tuple[str, tuple[str, ...], str, int | None, bool]:
    return (
        campaign.timezone,
        tuple(campaign.days),
        campaign.hours,
        campaign.daily_limit,
        campaign.during_warmup,
    )


def plan_campaigns(
    campaigns: Sequence[CampaignSpec],
    stored: Iterable[StoredCampaign],
    stored_steps: Mapping[int, Sequence[StepRow]],
) -> CampaignsPlan:
    """Config campaigns take over uploads of the same name; uploads the config lacks stay."""
    existing = {row.name: row for row in stored}
    inserts: list[CampaignSpec] = []
    updates: list[CampaignUpdate] = []
    steps: list[tuple[int, StepsPlan]] = []
    wanted: set[str] = set()
    tally = KindCounts()
    for campaign in campaigns:
        wanted.add(campaign.name)
        row = existing.get(campaign.name)
        if row is None:
            inserts.append(campaign)
            continue
        restored = row.origin == "config" and not row.in_config
        old = (row.timezone, row.days, row.hours, row.daily_limit, row.during_warmup)
        changed = old != _campaign_values(campaign) or row.origin != "config"
        if restored or changed:
            updates.append(CampaignUpdate(row.id, campaign, restore=restored))
        step_plan = plan_steps(stored_steps.get(row.id, ()), campaign.steps)
        steps.append((row.id, step_plan))
        tally = _tally(tally, restored=restored, changed=changed or step_plan.changed)
    gone = tuple(
        row.id
        for name, row in existing.items()
        if name not in wanted and row.in_config and row.origin == "config"
    )
    tally = KindCounts(len(inserts), tally.updated, tally.restored, len(gone))
    return CampaignsPlan(tuple(inserts), tuple(updates), tuple(steps), gone, tally)


def _step_values(step: StepRow | StepSpec) -> tuple[str | None, str, str | None, int]:
    return (step.subject, step.body, step.html, step.wait_days)


def plan_steps(old: Iterable[StepRow], new: Sequence[StepSpec]) -> StepsPlan:
    """Upsert steps by number where they differ; drop the ones beyond the new count."""
    stored = {step.step_no: _step_values(step) for step in old}
    upserts = tuple(
        (number, step)
        for number, step in enumerate(new, start=1)
        if stored.get(number) != _step_values(step)
    )
    dropped = len(stored.keys() - set(range(1, len(new) + 1)))
    return StepsPlan(upserts, keep=len(new), dropped=dropped)
