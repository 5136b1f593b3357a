"""The faulty server: each fault, forced, as the real SmtpSender sees it, and the tallies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core import message
from core.models import OutcomeKind
from core.specs import MailServer, SmtpAccount
from mail.smtp import SmtpSender
from tests.fakes.faulty_smtp import Fault, FaultySmtpServer
from tests.fakes.smtp_server import make_test_ca

SENDER = "m0@d0.test"
WHEN = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)

# What the client must make of each fault: SPEC 8's outcome, and whether the server has it.
EXPECTED = {
    Fault.TEMP_MAIL: (OutcomeKind.BACKOFF, False),
    Fault.TEMP_RCPT: (OutcomeKind.SOFT, False),
    Fault.TEMP_DATA: (OutcomeKind.SOFT, False),
    Fault.USER_UNKNOWN: (OutcomeKind.HARD_BOUNCE, False),
    Fault.SPAM_BLOCK: (OutcomeKind.BLOCK, False),
    Fault.TOO_BIG: (OutcomeKind.FAILED, False),
    Fault.DROP_BEFORE_DATA: (OutcomeKind.SOFT, False),
    Fault.DROP_AFTER_DATA: (OutcomeKind.UNKNOWN, True),
    Fault.SLOW_UNDER: (OutcomeKind.SENT, True),
    Fault.SLOW_OVER: (OutcomeKind.UNKNOWN, True),
    Fault.TLS_FAIL: (OutcomeKind.SOFT, False),
}


def mail(to: str, *, parent: str | None = None) -> message.OutgoingMessage:
    """A campaign-shaped message; with `parent`, a follow-up in its thread."""
    return message.build_message(
        sender=SENDER, display_name="", to=to, subject="Hello [q4]", text="Hi",
        message_id=message.make_message_id("d0.test", f"{abs(hash((to, parent))):x}"),
        date=WHEN, postal_address="Brand Ltd", in_reply_to=parent,
        references=[parent] if parent else None,
    )  # fmt: skip


@pytest.mark.parametrize("fault", list(Fault), ids=lambda f: f.name)
async def test_each_fault_forced_is_what_the_sender_expects(fault: Fault) -> None:
    ca = make_test_ca()
    async with FaultySmtpServer(
        username="u", password="p", security="starttls", ssl_context=ca.server_context,
        shares={fault: 1.0}, slow_under=0.01,
    ) as server:  # fmt: skip
        account = SmtpAccount(SENDER, MailServer("127.0.0.1", server.port, "starttls", "u", "p"))
        sender = SmtpSender(timeout=0.5, tls_context=ca.client_context)
        try:
            outcome = await sender.send(account, mail("lead@example.com"))
        finally:
            await sender.close()
    kind, kept = EXPECTED[fault]
    assert outcome.kind is kind, outcome
    assert server.faults[fault] >= 1
    assert set(server.faults) == {fault}
    assert bool(server.accepted) is kept
    if kept:
        (got,) = server.accepted
        assert got.reply_lost is (fault is not Fault.SLOW_UNDER)
        assert (got.sender, got.recipient, got.step_no, got.date) == (
            SENDER, "lead@example.com", 1, WHEN
        )  # fmt: skip


async def test_shares_draw_faults_and_ids_follow_the_thread() -> None:
    ca = make_test_ca()
    shares = {Fault.TEMP_RCPT: 0.3, Fault.DROP_AFTER_DATA: 0.2}
    async with FaultySmtpServer(
        security="starttls", ssl_context=ca.server_context, shares=shares, seed=3
    ) as server:
        account = SmtpAccount(SENDER, MailServer("127.0.0.1", server.port, "starttls", "u", "p"))
        sender = SmtpSender(timeout=2.0, tls_context=ca.client_context)
        try:
            outcomes = [await sender.send(account, mail(f"l{i}@example.com")) for i in range(60)]
            sent = [o for o in outcomes if o.kind is OutcomeKind.SENT]
            follow = await sender.send(account, mail("l0@example.com", parent="<p@d0.test>"))
        finally:
            await sender.close()
    kinds = {o.kind for o in outcomes}
    assert kinds == {OutcomeKind.SENT, OutcomeKind.SOFT, OutcomeKind.UNKNOWN}
    assert server.transactions == 61
    lost = [a for a in server.accepted if a.reply_lost]
    assert len(lost) == server.faults[Fault.DROP_AFTER_DATA]
    assert sum(o.kind is OutcomeKind.UNKNOWN for o in outcomes) <= len(lost)
    assert len(server.accepted) - len(lost) == len(sent) + (follow.kind is OutcomeKind.SENT)
    if follow.kind is not OutcomeKind.SOFT:
        assert server.accepted[-1].step_no == 2
