"""plan(snapshot, now): which lead steps go out on this tick, and from which mailbox.

Composes the rules of SPEC 6: follow-ups first from their thread's mailbox (6.7, 6.8), then
new threads, campaigns taking turns (6.8), each from the mailbox rotation picks (6.6) among
those that limits allow (6.1-6.5). The plan is a proposal: the shell reserves each step in
one transaction, which re-checks every limit, so a stale snapshot can never overshoot.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from datetime import datetime

from core import limits, rotation
from core.models import (
    CampaignView,
    DomainView,
    DueStep,
    MailboxView,
    SendPlan,
    Snapshot,
)


class _Budget:
    """Working copy of today's remaining capacity, spent as the plan grows."""

    def __init__(self, snap: Snapshot, now: datetime) -> None:
        self.now = now
        self.today = limits.local_day(now, snap.sending_timezone)
        self.snap = snap
        self.mailboxes: dict[int, MailboxView] = {m.id: m for m in snap.mailboxes}
        self.domains: dict[str, DomainView] = {d.name: d for d in snap.domains}
        self.campaigns: dict[int, CampaignView] = {c.id: c for c in snap.campaigns}
        # Campaign mail only: the room the warm-up loop leaves in each mailbox's cap.
        self.mailbox_left = {
            m.id: limits.campaign_room(m, self.today, snap.warmup) for m in snap.mailboxes
        }
        self.domain_left = {d.name: limits.domain_room(d) for d in snap.domains}
        self.campaign_left = {c.id: limits.campaign_left(c) for c in snap.campaigns}
        self.open_now = {c.id for c in snap.campaigns if limits.in_window(c, now)}
        self.one_per_tick = snap.sending.one_per_tick
        self.used: set[int] = set()

    def campaign_open(self, campaign_id: int) -> bool:
        """The campaign exists, is in its window and under its cap."""
        left = self.campaign_left.get(campaign_id, 0)
        return campaign_id in self.open_now and (left is None or left > 0)

    def may_send(self, mailbox: MailboxView) -> bool:
        """Rules 1-5 but the campaign's: whether `mailbox` may send one more mail on this tick."""
        # Spending only ever turns this from True to False (budgets shrink, `used` grows).
        if mailbox.id in self.used and self.one_per_tick:
            return False
        if self.mailbox_left[mailbox.id] <= 0 or not limits.mailbox_ready(mailbox, self.now):
            return False
        if mailbox.domain not in self.domains:
            return False
        domain_left = self.domain_left[mailbox.domain]
        return domain_left is None or domain_left > 0

    def takes(self, mailbox: MailboxView, campaign: CampaignView) -> bool:
        """Whether `mailbox` may carry `campaign`'s mail at all today (warm-up week 1)."""
        return limits.takes_campaign_mail(
            mailbox, self.today, self.snap.warmup, during_warmup=campaign.during_warmup
        )

    def mailbox_allowed(self, mailbox: MailboxView, campaign: CampaignView) -> bool:
        """Rules 1-5 for one more send of `campaign` from `mailbox` on this tick."""
        return self.may_send(mailbox) and self.takes(mailbox, campaign)

    def spend(self, mailbox: MailboxView, campaign_id: int) -> None:
        """Count one planned send against mailbox, domain and campaign."""
        self.used.add(mailbox.id)
        self.mailbox_left[mailbox.id] -= 1
        self.mailboxes[mailbox.id] = dataclasses.replace(
            mailbox, sent_today=mailbox.sent_today + 1, last_sent_at=self.now
        )
        domain_left = self.domain_left[mailbox.domain]
        if domain_left is not None:
            self.domain_left[mailbox.domain] = domain_left - 1
        campaign_left = self.campaign_left[campaign_id]
        if campaign_left is not None:
            self.campaign_left[campaign_id] = campaign_left - 1


def plan(snap: Snapshot, now: datetime) -> list[SendPlan]:
    """The sends to make at `now`, follow-ups first, then new threads shared across campaigns."""
    budget = _Budget(snap, now)
    plans: list[SendPlan] = []

    def take(step: DueStep, mailbox: MailboxView) -> None:
        budget.spend(mailbox, step.campaign_id)
        plans.append(
            SendPlan(step.lead_id, step.campaign_id, step.step_no, mailbox.id, mailbox.domain)
        )

    for step in snap.followups:
        mailbox = budget.mailboxes.get(step.mailbox_id) if step.mailbox_id is not None else None
        campaign = budget.campaigns.get(step.campaign_id)
        # A follow-up only ever leaves from its thread's mailbox; otherwise it waits.
        if mailbox is None or campaign is None or not budget.campaign_open(campaign.id):
            continue
        if budget.mailbox_allowed(mailbox, campaign):
            take(step, mailbox)

    # The mailboxes that may still send on this tick, in snapshot order. Each new thread
    # looks among these, not among every mailbox: at 5,000 mailboxes with a few dozen due,
    # looking at all of them for every new lead made planning quadratic (seconds a tick).
    # One that may not send now never may again on this tick, so it is dropped for good.
    able = [m.id for m in budget.mailboxes.values() if budget.may_send(m)]
    if budget.one_per_tick:
        # A mailbox sends once a tick here, so those not yet picked keep their rotation keys:
        # sorted once, the first that may send and takes the campaign is the rotation's pick.
        able.sort(key=lambda i: rotation.rotation_key(budget.mailboxes[i]))
    queues: dict[int, deque[DueStep]] = {}
    for step in snap.new_leads:
        if budget.campaign_open(step.campaign_id):
            queues.setdefault(step.campaign_id, deque()).append(step)
    # Fair share: the campaign with the fewest sends today goes first, then they take turns.
    order = deque(sorted(queues, key=lambda cid: (budget.campaigns[cid].sent_today, cid)))
    while order:
        campaign_id = order.popleft()
        queue = queues[campaign_id]
        campaign = budget.campaigns[campaign_id]
        if not queue or not budget.campaign_open(campaign_id):
            continue
        mailbox = _pick(budget, able, campaign)
        if mailbox is None:
            continue  # no mailbox can take this campaign's mail on this tick
        take(queue.popleft(), mailbox)
        order.append(campaign_id)
    return plans


def _pick(budget: _Budget, able: list[int], campaign: CampaignView) -> MailboxView | None:
    """The rotation's choice for `campaign` among `able`, dropping those that can't send now."""
    if not budget.one_per_tick:
        # Without a gap a mailbox sends again and its key changes: the least, each time.
        able[:] = [i for i in able if budget.may_send(budget.mailboxes[i])]
        return rotation.choose(
            budget.mailboxes[i] for i in able if budget.takes(budget.mailboxes[i], campaign)
        )
    index = 0
    while index < len(able):
        mailbox = budget.mailboxes[able[index]]
        if not budget.may_send(mailbox):
            del able[index]  # never again on this tick (budgets only shrink)
        elif budget.takes(mailbox, campaign):
            return mailbox
        else:
            index += 1
    return None
