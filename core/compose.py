"""Compose one planned step into a message, or say why it can't be sent (SPEC 6.7, 6.11, 6.12)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from core import message, templates, unsubscribe
from core.message import OutgoingMessage
from core.models import SendPlan
from core.records import AnswerContext, LeadInput, StepRow

Compile = Callable[[StepRow], templates.CompiledStep]  # a cache of compiled steps


@dataclass(frozen=True, slots=True)
class Sender:
    """The mailbox a step goes out from, as the message shows it."""

    address: str
    domain: str
    display_name: str

    def variables(self) -> dict[str, str]:
        """`sender_name`, `sender_first_name`, `sender_email`, `sender_domain` for templates."""
        return templates.sender_variables(self.display_name, self.address)


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """The one-click endpoint: its public base URL and the key that signs lead tokens."""

    base_url: str
    secret: bytes

    def url(self, lead_id: int) -> str:
        """The lead's one-click URL."""
        return f"{self.base_url.rstrip('/')}/u/{unsubscribe.make_token(self.secret, lead_id)}"


@dataclass(frozen=True, slots=True)
class Composed:
    """The message, and the days until the next step (None after the last one)."""

    message: OutgoingMessage
    next_wait_days: int | None


@dataclass(frozen=True, slots=True)
class LacksVariables:
    """The lead lacks a variable the templates use without a default: the lead fails."""

    names: frozenset[str]


@dataclass(frozen=True, slots=True)
class BrokenTemplate:
    """The campaign's template is broken: the campaign stops, nothing is sent with it."""

    why: str


def lead_variables(lead: LeadInput, sender: Sender) -> dict[str, str]:
    """What a template sees: the lead's columns, its address and the mailbox's own values."""
    # The sender's values win over a lead column of the same name: `sender_` is theirs.
    return {**lead.variables, "email": lead.email, **sender.variables()}


def compose(
    plan: SendPlan,
    lead: LeadInput,
    steps: Mapping[tuple[int, int], StepRow],
    sender: Sender,
    *,
    compile_step: Compile,
    rng: random.Random,
    now: datetime,
    postal_address: str,
    unsubscribe_link: Unsubscribe | None = None,
) -> Composed | LacksVariables | BrokenTemplate | None:
    """The message for one planned step; None when the campaign has no such step."""
    row = steps.get((plan.campaign_id, plan.step_no))
    first = steps.get((plan.campaign_id, 1))
    if row is None or first is None:
        return None
    variables = lead_variables(lead, sender)
    try:
        text, html = templates.render_content(compile_step(row), variables, rng)
        # The thread's subject is step 1's, spun with a per-lead seed: every follow-up's
        # `Re:` then repeats exactly the words the first mail used.
        thread_subject = templates.render_subject(
            compile_step(first), variables, random.Random(plan.lead_id)
        )
    except templates.MissingVariableError as exc:
        return LacksVariables(exc.names)
    except templates.TemplateError as exc:
        return BrokenTemplate(str(exc))
    in_reply_to = lead.thread[-1] if plan.step_no > 1 and lead.thread else None
    msg = message.build_message(
        sender=sender.address,
        display_name=sender.display_name,
        to=lead.email,
        subject=thread_subject or "",
        text=text,
        html=html,
        message_id=message.make_message_id(sender.domain, f"{rng.getrandbits(128):032x}"),
        date=now,
        postal_address=postal_address,
        in_reply_to=in_reply_to,
        references=list(lead.thread[:-1]) if in_reply_to else None,
        unsubscribe_url=unsubscribe_link.url(plan.lead_id) if unsubscribe_link else None,
    )
    after = steps.get((plan.campaign_id, plan.step_no + 1))
    return Composed(msg, after.wait_days if after else None)


def compose_answer(
    context: AnswerContext,
    text: str,
    sender: Sender,
    *,
    compile_step: Compile,
    rng: random.Random,
    now: datetime,
    postal_address: str,
    unsubscribe_link: Unsubscribe | None = None,
) -> OutgoingMessage | BrokenTemplate:
    """An admin's answer to a lead's reply: in its thread, `Re:` its subject (SPEC 12)."""
    lead = context.lead
    subject = ""
    if context.first_step is not None:
        variables = lead_variables(lead, sender)
        try:
            # The same per-lead seed as the thread's mails: the same words in the subject.
            subject = (
                templates.render_subject(
                    compile_step(context.first_step), variables, random.Random(lead.lead_id)
                )
                or ""
            )
        except templates.TemplateError as exc:
            return BrokenTemplate(str(exc))
    thread = list(lead.thread)
    if context.reply_message_id is not None:
        thread.append(context.reply_message_id)
    return message.build_message(
        sender=sender.address,
        display_name=sender.display_name,
        to=lead.email,
        subject=subject,
        text=text,
        message_id=message.make_message_id(sender.domain, f"{rng.getrandbits(128):032x}"),
        date=now,
        postal_address=postal_address,
        in_reply_to=thread[-1] if thread else None,
        references=thread[:-1] or None,
        unsubscribe_url=unsubscribe_link.url(lead.lead_id) if unsubscribe_link else None,
    )
