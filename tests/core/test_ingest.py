"""core/ingest.py: what each kind of mail changes (SPEC 6.9, 8, 12), without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

from core.inbox import InboxMail, MailKind
from core.ingest import Ignored, Source, effects_of
from core.models import EventKind, LeadState
from core.records import Effects, NewAlert, SentRef

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
REF = SentRef(
    send_id=5, message_id="<s1@d0.test>", mailbox_id=2, mailbox="m0@d0.test",
    email="ann@x.test", lead_id=9, campaign_id=3, campaign="q4", step_no=1,
)  # fmt: skip
WHERE = Source("m0@d0.test", "INBOX", 77, 12)


def mail(kind: MailKind, **kw: object) -> InboxMail:
    values: dict[str, object] = {
        "kind": kind, "message_id": "<in1@x.test>", "refs": ("<s1@d0.test>",),
        "sender": "ann@x.test", "recipient": None, "status": None, "detail": "d",
        "subject": "Re: hi", "text": "Sounds good", "stop_word": None,
    }  # fmt: skip
    values.update(kw)
    return InboxMail(**values)  # type: ignore[arg-type]


def notes(event_id: str, lead_id: int, text: str) -> NewAlert:
    return NewAlert(f"reply:{event_id}", "info", text, (1,), NOW, NOW, lead_id=lead_id)


def test_a_reply_closes_the_lead_and_notifies_with_the_new_text() -> None:
    fx = effects_of(mail(MailKind.REPLY), REF, WHERE, now=NOW, notify=notes)
    assert isinstance(fx, Effects)
    assert fx.event is not None and fx.event.kind is EventKind.REPLY
    assert (fx.event.send_id, fx.event.email, fx.event.message_id) == (
        5,
        "ann@x.test",
        "<in1@x.test>",
    )
    assert fx.event.source_id == "m0@d0.test:<in1@x.test>"  # the Message-ID, not the UID
    assert fx.close_lead == (9, LeadState.REPLIED)
    assert fx.suppress is None
    (alert,) = fx.alerts
    assert alert.lead_id == 9
    assert "ann@x.test" in alert.text and "q4" in alert.text and "step 1" in alert.text
    assert "m0@d0.test" in alert.text and "Sounds good" in alert.text


def test_a_stop_word_suppresses_the_address() -> None:
    fx = effects_of(mail(MailKind.REPLY, stop_word="remove me"), REF, WHERE, now=NOW)
    assert isinstance(fx, Effects)
    assert fx.close_lead == (9, LeadState.UNSUBSCRIBED)
    assert fx.suppress is not None and fx.suppress.entry == "ann@x.test"
    assert fx.suppress.lead_state is LeadState.UNSUBSCRIBED
    assert fx.alerts == ()  # no notifier given: notify_replies = false


def test_an_auto_reply_and_a_soft_bounce_change_nothing_but_their_event() -> None:
    for kind, event in ((MailKind.AUTO_REPLY, EventKind.AUTO_REPLY),
                        (MailKind.BOUNCE_SOFT, EventKind.BOUNCE_SOFT)):  # fmt: skip
        fx = effects_of(mail(kind), REF, WHERE, now=NOW, notify=notes)
        assert isinstance(fx, Effects)
        assert fx.event is not None and fx.event.kind is event
        assert (fx.close_lead, fx.suppress, fx.alerts) == (None, None, ())


def test_a_hard_bounce_bounces_the_lead_and_suppresses_the_failed_recipient() -> None:
    dsn = mail(MailKind.BOUNCE_HARD, recipient="Ann@X.test", status="5.1.1", message_id=None)
    fx = effects_of(dsn, REF, WHERE, now=NOW)
    assert isinstance(fx, Effects)
    assert fx.event is not None and fx.event.kind is EventKind.BOUNCE_HARD
    assert fx.event.email == "Ann@X.test"
    # Without a Message-ID the mail is known by mailbox, folder, UIDVALIDITY and UID.
    assert fx.event.source_id == "m0@d0.test:INBOX:77:12"
    assert fx.close_lead == (9, LeadState.BOUNCED)
    assert fx.suppress is not None and fx.suppress.entry == "Ann@X.test"


def test_mail_about_nothing_we_sent_is_ignored() -> None:
    assert isinstance(effects_of(mail(MailKind.BOUNCE_HARD), None, WHERE, now=NOW), Ignored)
    assert isinstance(effects_of(mail(MailKind.REPLY), None, WHERE, now=NOW), Ignored)
    assert isinstance(effects_of(mail(MailKind.OTHER), REF, WHERE, now=NOW), Ignored)


def test_warm_up_mail_is_never_a_reply_or_a_notification() -> None:
    warmup_send = SentRef(
        send_id=6, message_id="<w1@d0.test>", mailbox_id=2, mailbox="m0@d0.test",
        email=None, lead_id=None, campaign_id=None, campaign=None, step_no=None,
    )  # fmt: skip
    answer = mail(MailKind.REPLY, warmup=True, stop_word="remove me")
    for ref in (warmup_send, None):
        assert effects_of(answer, ref, WHERE, now=NOW, notify=notes) == Ignored("warm-up mail")
    first = mail(MailKind.OTHER, refs=(), warmup=True)
    assert effects_of(first, None, WHERE, now=NOW, notify=notes) == Ignored("warm-up mail")


def test_the_warm_up_header_on_a_leads_reply_does_not_hide_it() -> None:
    # A helpdesk answering for the lead may set X-Entity-Ref-ID to a hex id of its own: the
    # loop never answers campaign mail, so a reply to a lead's step is the lead's.
    fx = effects_of(mail(MailKind.REPLY, warmup=True), REF, WHERE, now=NOW, notify=notes)
    assert isinstance(fx, Effects)
    assert fx.close_lead == (9, LeadState.REPLIED) and len(fx.alerts) == 1
