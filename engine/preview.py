"""/preview (SPEC 10): a campaign step rendered for a lead by the compose the engine sends with.

Nothing is reserved or stored. The admin sees the message a lead would get: From, Subject,
body with its footer, and the threading and List-Unsubscribe headers. A variable no lead
column or sender variable provides is shown as `[name?]` in the text and listed, instead of
failing the preview the way it fails the lead.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from core import templates
from core.compose import BrokenTemplate, Composed, LacksVariables, Sender, Unsubscribe, compose
from core.message import OutgoingMessage
from core.models import SENDING_STATES, DomainState, LeadState, SendPlan
from core.records import CampaignRow, LeadInput, MailboxRow, StepRow
from core.specs import MailboxSpec, Rules
from engine.admin import AdminError
from engine.clock import Clock
from engine.ports import RowQueries, TrialStore

# SQLite's row ids start at 1: a sample lead's one-click link unsubscribes no one.
SAMPLE_LEAD_ID = 0
# Each round finds the missing names of one part at most (subject, body, html).
_MAX_FILLS = 4


def hole(name: str) -> str:
    """What a variable nobody provides shows in a preview."""
    return f"[{name}?]"


@dataclass(frozen=True, slots=True)
class Preview:
    """A step rendered for one lead, and what it lacks."""

    campaign: str
    step_no: int
    steps: int  # how many steps the campaign has
    lead: str | None  # the lead's address; None for a made-up one (no queued lead)
    lead_state: LeadState | None
    mailbox: str
    message: OutgoingMessage
    lacking: frozenset[str]  # shown as [name?]: the lead would fail, not be sent


@dataclass(frozen=True, slots=True)
class Draft:
    """What one render needs: the campaign, its steps, the lead and the step to render."""

    campaign: CampaignRow
    steps: Mapping[tuple[int, int], StepRow]
    step_no: int
    lead: LeadInput
    lead_state: LeadState | None
    thread_mailbox: int | None


class Previewer:
    """Renders campaign steps without sending them."""

    def __init__(
        self,
        *,
        store: TrialStore,
        rows: RowQueries,
        clock: Clock,
        rules: Rules,
        unsubscribe_secret: bytes | None = None,
    ) -> None:
        self._store = store
        self._rows = rows
        self._clock = clock
        self._rules = rules
        self._specs = {m.address: m for m in rules.mailboxes}
        self._unsubscribe = (
            Unsubscribe(rules.unsubscribe_url, unsubscribe_secret)
            if rules.unsubscribe_url is not None and unsubscribe_secret is not None
            else None
        )

    async def preview(self, campaign: str, step: int | None, email: str | None) -> Preview:
        """The step (default: the lead's next) for `email`, or the first queued lead."""
        draft = await self.draft(campaign, step, email)
        configured = [m for m in await self._rows.mailboxes() if m.address in self._specs]
        # A thread stays on its mailbox, sending now or not; a new one starts on any that may
        # send, and with none the preview still shows the message, from any mailbox.
        chosen = [m for m in configured if m.id == draft.thread_mailbox]
        chosen = chosen or await self.sending_mailboxes() or configured
        if not chosen:
            raise AdminError("no mailbox of the config is stored yet; nothing to send from")
        mailbox = chosen[0]
        message, lacking = self.render(draft, mailbox, random.Random())
        return Preview(
            campaign=draft.campaign.name,
            step_no=draft.step_no,
            steps=sum(1 for key in draft.steps if key[0] == draft.campaign.id),
            lead=None if draft.lead.lead_id == SAMPLE_LEAD_ID else draft.lead.email,
            lead_state=draft.lead_state,
            mailbox=mailbox.address,
            message=message,
            lacking=lacking,
        )

    async def draft(self, campaign: str, step: int | None, email: str | None) -> Draft:
        """The campaign, its steps and the lead to render for; AdminError if one is missing."""
        row = await self.campaign(campaign)
        steps = {(s.campaign_id, s.step_no): s for s in await self._store.steps([row.id])}
        found = await self._store.preview_lead(row.id, email)
        if found is None and email is not None:
            raise AdminError(f"{email} is not a lead of campaign {row.name}")
        if found is None:
            lead, state, next_step, thread = self.sample_lead(steps), None, 1, None
        else:
            lead, state = found.lead, found.state
            next_step, thread = found.next_step, found.mailbox_id
        step_no = step if step is not None else min(next_step, len(steps))
        if (row.id, step_no) not in steps:
            raise AdminError(f"campaign {row.name} has steps 1 to {len(steps)}; no step {step_no}")
        return Draft(row, steps, step_no, lead, state, thread)

    async def campaign(self, name: str) -> CampaignRow:
        """The stored campaign of that name (any case); AdminError listing the known ones."""
        rows = await self._rows.campaigns()
        for row in rows:
            if row.name.casefold() == name.casefold():
                return row
        known = ", ".join(r.name for r in rows) or "none yet"
        raise AdminError(f"no campaign named {name!r}; known campaigns: {known}")

    @staticmethod
    def sample_lead(steps: Mapping[tuple[int, int], StepRow]) -> LeadInput:
        """A made-up lead with a sample value for every variable the steps need."""
        needed: set[str] = set()
        for row in steps.values():
            try:
                needed |= templates.required_variables(
                    templates.compile_step(row.subject, row.body, row.html)
                )
            except templates.TemplateError:
                continue  # rendering that step says what is broken
        values = dict.fromkeys(sorted(needed), templates.SAMPLE_VALUE)
        return LeadInput(SAMPLE_LEAD_ID, templates.SAMPLE_EMAIL, values, ())

    async def sending_mailboxes(self) -> list[MailboxRow]:
        """Configured mailboxes that may send now (their domain too), by address."""
        active = {d.name for d in await self._rows.domains() if d.state is DomainState.ACTIVE}
        return sorted(
            (
                m
                for m in await self._rows.mailboxes()
                if m.state in SENDING_STATES and m.domain in active and m.address in self._specs
            ),
            key=lambda m: m.address,
        )

    def spec(self, mailbox: MailboxRow) -> MailboxSpec:
        """The configured mailbox behind a stored one."""
        return self._specs[mailbox.address]

    def render(
        self, draft: Draft, mailbox: MailboxRow, rng: random.Random
    ) -> tuple[OutgoingMessage, frozenset[str]]:
        """The message `draft` makes from `mailbox`, holes marked; AdminError if broken."""
        sender = Sender(mailbox.address, mailbox.domain, self.spec(mailbox).display_name)
        plan = SendPlan(
            lead_id=draft.lead.lead_id,
            campaign_id=draft.campaign.id,
            step_no=draft.step_no,
            mailbox_id=mailbox.id,
            domain=mailbox.domain,
        )
        lead = draft.lead
        lacking: set[str] = set()
        for _ in range(_MAX_FILLS):
            result = compose(
                plan,
                lead,
                draft.steps,
                sender,
                compile_step=lambda row: templates.compile_step(row.subject, row.body, row.html),
                rng=rng,
                now=self._clock.now(),
                postal_address=self._rules.postal_address,
                unsubscribe_link=self._unsubscribe,
            )
            if isinstance(result, Composed):
                return result.message, frozenset(lacking)
            if isinstance(result, BrokenTemplate):
                raise AdminError(
                    f"campaign {draft.campaign.name} step {draft.step_no} is broken: {result.why}"
                )
            if not isinstance(result, LacksVariables):
                break  # no such step: draft() checked it, so this does not happen
            lacking |= result.names
            filled = {**lead.variables, **{name: hole(name) for name in result.names}}
            lead = LeadInput(lead.lead_id, lead.email, filled, lead.thread)
        raise AdminError(f"campaign {draft.campaign.name} step {draft.step_no} cannot be rendered")
