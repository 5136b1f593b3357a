"""/test (SPEC 10): one campaign step, rendered for a sample lead, sent to the admin's address.

It goes from a mailbox that may send now, through the same SMTP sender, and takes a slot of
that mailbox's and its domain's day (state, rest, gap and caps checked by the database in one
transaction), so it counts against the caps like any mail. It is not campaign volume and no
lead is touched: the sample lead has the first queued lead's variables (or sample values)
under a lead id no stored lead has, so even its one-click link unsubscribes no one.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from core import limits
from core.models import MailboxView, OutcomeKind
from core.records import LeadInput, RefusalReason, Reservation, SendKind
from core.specs import Rules
from engine.admin import AdminError
from engine.clock import Clock
from engine.ports import MailSender, RowQueries, TrialStore
from engine.preview import SAMPLE_LEAD_ID, Previewer
from engine.sending import SendingEngine

log = logging.getLogger("outreach.test_send")

_REFUSED = {
    RefusalReason.MAILBOX_STATE: "not sending now",
    RefusalReason.RESTING: "resting after a provider's limit or a back-off",
    RefusalReason.GAP: "sent moments ago (its gap between mails)",
    RefusalReason.DOMAIN_STATE: "its domain is not sending now",
    RefusalReason.MAILBOX_LIMIT: "at today's cap",
    RefusalReason.DOMAIN_LIMIT: "its domain is at today's cap",
}


@dataclass(frozen=True, slots=True)
class TestSent:
    """What became of a test send: delivered to the server, or why not."""

    __test__ = False  # not a pytest class, whatever its name

    campaign: str
    step_no: int
    address: str
    mailbox: str | None  # the mailbox it went (or was tried) from
    sent: bool
    why: str = ""


class TestSender:
    """Sends one step of a campaign to an address of the admin's choosing."""

    __test__ = False

    def __init__(
        self,
        *,
        previewer: Previewer,
        store: TrialStore,
        rows: RowQueries,
        sender: MailSender,
        engine: SendingEngine,
        clock: Clock,
        rules: Rules,
        rng: random.Random | None = None,
    ) -> None:
        self._previewer = previewer
        self._store = store
        self._rows = rows
        self._sender = sender
        self._engine = engine
        self._clock = clock
        self._rules = rules
        self._rng = rng or random.Random()

    async def send(self, campaign: str, step: int | None, address: str) -> TestSent:
        """Render the step (default 1) for a sample lead and send it to `address`."""
        draft = await self._previewer.draft(campaign, step or 1, None)
        # The first queued lead's values read like a real mail; its address and id stay out,
        # and a value it lacks is a sample's (that lead's problem, not the template's).
        values = dict(self._previewer.sample_lead(draft.steps).variables)
        values.update((k, v) for k, v in draft.lead.variables.items() if v.strip())
        lead = LeadInput(SAMPLE_LEAD_ID, address, values, ())
        draft = type(draft)(draft.campaign, draft.steps, draft.step_no, lead, None, None)
        domains = {d.name: d for d in await self._rows.domains()}
        mailboxes = await self._previewer.sending_mailboxes()
        if not mailboxes:
            raise AdminError("no mailbox may send now (all paused, resting or cooling down)")
        refusals: list[str] = []
        # Between ticks: a tick's workers hold the mailboxes' SMTP connections while they run.
        async with self._engine.exclusive():
            for mailbox in mailboxes:
                message, lacking = self._previewer.render(draft, mailbox, self._rng)
                if lacking:
                    raise AdminError(
                        f"campaign {draft.campaign.name} step {draft.step_no} uses "
                        f"{', '.join(sorted(lacking))}, which no lead column or sender "
                        "variable provides; nothing was sent"
                    )
                now = self._clock.now()
                today = limits.local_day(now, self._rules.timezone)
                view = MailboxView(
                    id=mailbox.id, address=mailbox.address, domain=mailbox.domain,
                    state=mailbox.state, daily_limit=mailbox.daily_limit,
                    warmup_start=mailbox.warmup_start,
                )  # fmt: skip
                refused = await self._store.take_slot(
                    Reservation(
                        kind=SendKind.TEST,
                        mailbox_id=mailbox.id,
                        day=today.isoformat(),
                        now=now,
                        next_send_at=limits.next_send_at(
                            now, self._rules.sending, self._rng.random()
                        ),
                        mailbox_cap=limits.mailbox_cap(view, today, self._rules.warmup),
                        domain_cap=domains[mailbox.domain].daily_limit,
                        campaign_id=draft.campaign.id,
                        message_id=message.message_id,
                    )
                )
                if refused is not None:
                    refusals.append(
                        f"{mailbox.address}: {_REFUSED.get(refused.reason, refused.reason.value)}"
                    )
                    continue
                account = self._previewer.spec(mailbox).account
                outcome = await self._sender.send(account, message, gate=None)
                sent = outcome.kind is OutcomeKind.SENT
                log.info(
                    "test send of %s step %d from %s: %s",
                    draft.campaign.name, draft.step_no, mailbox.address, outcome.summary,
                )  # fmt: skip
                why = "" if sent else f"the server did not take it: {outcome.summary}"
                return TestSent(
                    draft.campaign.name, draft.step_no, address, mailbox.address, sent, why
                )
        return TestSent(
            draft.campaign.name,
            draft.step_no,
            address,
            None,
            False,
            "no mailbox could take it now: " + "; ".join(refusals),
        )
