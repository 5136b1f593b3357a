"""Sender variables (issue 14): the mailbox's values in every render, and typos flagged."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message

import pytest

from config import ConfigError, load_campaign
from core import templates
from core.compose import BrokenTemplate, Composed, LacksVariables, Sender, compose, compose_answer
from core.models import MailboxState, SendPlan
from core.records import AnswerContext, LeadInput, MailboxRow, StepRow

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
SENDER = Sender("anna.smith@d0.test", "d0.test", "Anna  Smith")


def _compile(row: StepRow) -> templates.CompiledStep:
    return templates.compile_step(row.subject, row.body, row.html)


def _body(msg: Message) -> str:
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode().replace("\r\n", "\n")


def _compose(subject: str, body: str, variables: dict[str, str]) -> Composed | LacksVariables:
    steps = {(1, 1): StepRow(1, 1, subject, body, None, 0)}
    lead = LeadInput(7, "jane@ex.test", variables, ())
    result = compose(
        SendPlan(lead_id=7, campaign_id=1, step_no=1, mailbox_id=1, domain="d0.test"),
        lead, steps, SENDER, compile_step=_compile, rng=random.Random(1), now=NOW,
        postal_address="1 Main St",
    )  # fmt: skip
    assert isinstance(result, Composed | LacksVariables)
    return result


def test_sender_variables_come_from_the_mailbox() -> None:
    assert SENDER.variables() == {
        "sender_name": "Anna Smith",
        "sender_first_name": "Anna",
        "sender_email": "anna.smith@d0.test",
        "sender_domain": "d0.test",
    }


def test_a_mailbox_without_display_name_signs_with_its_local_part() -> None:
    values = templates.sender_variables("  ", "bob@d1.test")
    assert (values["sender_name"], values["sender_first_name"]) == ("bob", "bob")


def test_a_campaign_step_renders_sender_variables() -> None:
    result = _compose(
        "{{ first_name }}, a note from {{ sender_first_name }}",
        "Best,\n{{ sender_name }} ({{ sender_email }}, {{ sender_domain }})",
        {"first_name": "Jane"},
    )
    assert isinstance(result, Composed)
    msg = message_from_bytes(result.message.data)
    assert msg["Subject"] == "Jane, a note from Anna"
    assert _body(msg).startswith("Best,\nAnna Smith (anna.smith@d0.test, d0.test)\n")


def test_the_mailbox_wins_over_a_lead_column_named_like_a_sender_variable() -> None:
    result = _compose("Hi", "{{ sender_name }}", {"sender_name": "Mallory"})
    assert isinstance(result, Composed)
    assert _body(message_from_bytes(result.message.data)).startswith("Anna Smith\n")


def test_sender_variables_are_never_required_of_a_lead() -> None:
    step = templates.compile_step("{{ sender_first_name }}", "{{ sender_name }} {{ x }}", None)
    assert templates.required_variables(step) == {"x"}
    assert templates.missing_variables(step, {"x": "1"}) == frozenset()


def test_a_misspelt_sender_variable_is_unknown() -> None:
    step = templates.compile_step("{{ sender_nmae }}", "{{ sender_name }} {{ company }}", None)
    assert templates.unknown_sender_variables(step) == {"sender_nmae"}
    # No lead provides it either: the lead is reported as lacking it, never sent with a hole.
    result = _compose("{{ sender_nmae }}", "Hi", {})
    assert result == LacksVariables(frozenset({"sender_nmae"}))


def test_an_answer_renders_the_thread_subject_with_sender_variables() -> None:
    lead = LeadInput(7, "jane@ex.test", {}, ("<a@d0.test>",))
    mailbox = MailboxRow(
        id=1, address=SENDER.address, domain_id=1, domain="d0.test", display_name="Anna Smith",
        daily_limit=40, warmup_start=None, state=MailboxState.ACTIVE,
        reason="", resting_until=None, next_send_at=None, last_sent_at=None, in_config=True,
    )  # fmt: skip
    context = AnswerContext(
        lead=lead,
        mailbox=mailbox,
        campaign_id=1,
        first_step=StepRow(1, 1, "From {{ sender_first_name }}", "b", None, 0),
        reply_message_id="<r@ex.test>",
        domain_cap=None,
    )
    msg = compose_answer(
        context, "Thanks!", SENDER, compile_step=_compile, rng=random.Random(1), now=NOW,
        postal_address="1 Main St",
    )  # fmt: skip
    assert not isinstance(msg, BrokenTemplate)
    assert message_from_bytes(msg.data)["Subject"] == "Re: From Anna"


def test_check_flags_a_sender_variable_no_mailbox_provides() -> None:
    text = """
[[campaigns]]
name = "up"
[[campaigns.steps]]
subject = "Hi {{ first_name }}"
body = "Best, {{ sender_frist_name }} of {{ sender_domain }}"
"""
    with pytest.raises(ConfigError) as caught:
        load_campaign(text, "up.toml")
    (error,) = caught.value.errors
    assert error.startswith(
        "campaigns[0] (up).steps[0].body: no lead column or sender variable provides "
        "sender_frist_name"
    ), error


def test_check_takes_the_four_sender_variables() -> None:
    text = """
[[campaigns]]
name = "up"
[[campaigns.steps]]
subject = "{{ sender_first_name }} here"
body = "{{ sender_name }} {{ sender_email }} {{ sender_domain }}"
"""
    assert load_campaign(text, "up.toml").name == "up"
