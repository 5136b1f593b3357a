"""core/esp_ingest.py: what each normalised ESP event changes, decided without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.esp import EspEvent
from core.esp_ingest import effects_of_event, source_of
from core.ingest import Ignored
from core.models import EventKind, LeadState
from core.records import CoolDown, Effects, SentRef

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REF = SentRef(
    send_id=7, message_id="abc@d0.test", mailbox_id=3, mailbox="m0@d0.test",
    email="Ann@Example.com", lead_id=11, campaign_id=2, campaign="q4", step_no=2,
)  # fmt: skip


def event(kind: EventKind, **kw: object) -> EspEvent:
    fields: dict[str, object] = {
        "esp": "mg", "event_id": "ev-1", "kind": kind, "email": "ann@example.com",
        "occurred_at": NOW - timedelta(minutes=5), "detail": "550 5.1.1 no such user",
    }  # fmt: skip
    fields.update(kw)
    return EspEvent(**fields)  # type: ignore[arg-type]


def effects(kind: EventKind, **kw: object) -> Effects:
    out = effects_of_event(event(kind, **kw), REF, now=NOW)
    assert isinstance(out, Effects)
    return out


def test_the_event_carries_the_send_it_is_about_and_its_stable_id() -> None:
    stored = effects(EventKind.DELIVERED).event
    assert stored is not None
    assert (stored.source, stored.source_id) == ("esp:mg", "ev-1") == (source_of("mg"), "ev-1")
    assert (stored.mailbox_id, stored.send_id, stored.campaign_id, stored.step_no) == (3, 7, 2, 2)
    assert stored.occurred_at == NOW - timedelta(minutes=5) and stored.received_at == NOW
    assert stored.email == "ann@example.com"


@pytest.mark.parametrize(
    ("kind", "lead_state", "listed_as", "reason"),
    [
        (EventKind.BOUNCE_HARD, LeadState.BOUNCED, LeadState.SUPPRESSED, "hard bounce"),
        (EventKind.COMPLAINT, LeadState.COMPLAINED, LeadState.SUPPRESSED, "complaint"),
        (EventKind.UNSUBSCRIBE, LeadState.UNSUBSCRIBED, LeadState.UNSUBSCRIBED, "unsubscribed"),
    ],
)
def test_a_closing_event_closes_the_lead_and_suppresses_the_address(
    kind: EventKind, lead_state: LeadState, listed_as: LeadState, reason: str
) -> None:
    out = effects(kind)
    assert out.close_lead == (11, lead_state)
    assert out.suppress is not None
    assert (out.suppress.entry, out.suppress.reason, out.suppress.source) == (
        "ann@example.com", reason, "esp:mg",
    )  # fmt: skip
    assert out.suppress.lead_state is listed_as and out.suppress.now == NOW
    assert out.cool_down is None and not out.repeatable


@pytest.mark.parametrize(
    "kind", [EventKind.DELIVERED, EventKind.BOUNCE_SOFT, EventKind.OPEN, EventKind.CLICK]
)
def test_other_events_are_recorded_only(kind: EventKind) -> None:
    out = effects(kind)
    assert out.event is not None and out.event.kind is kind
    assert (out.close_lead, out.suppress, out.cool_down, out.alerts) == (None, None, None, ())


def test_a_block_cools_the_sending_domain_down_as_the_send_time_path_does() -> None:
    calls: list[tuple[str, str, str]] = []

    def cool(domain: str, mailbox: str, why: str) -> CoolDown:
        calls.append((domain, mailbox, why))
        return CoolDown(domain, why, NOW + timedelta(days=7))

    out = effects_of_event(
        event(EventKind.BLOCK, detail="554 listed on spamhaus"), REF, now=NOW, cool_down=cool
    )
    assert isinstance(out, Effects)
    assert calls == [("d0.test", "m0@d0.test", "mg reported a block: 554 listed on spamhaus")]
    assert out.cool_down == CoolDown("d0.test", calls[0][2], NOW + timedelta(days=7))
    assert out.suppress is None and out.close_lead is None


def test_warm_up_mail_has_no_lead_to_close_but_the_address_is_still_listed() -> None:
    warmup = SentRef(7, "w@d0.test", 3, "m0@d0.test", None, None, None, None, None)
    out = effects_of_event(event(EventKind.BOUNCE_HARD), warmup, now=NOW)
    assert isinstance(out, Effects)
    assert out.close_lead is None and out.suppress is not None


def test_an_event_about_no_send_of_ours_or_of_no_esp_kind_is_ignored() -> None:
    assert effects_of_event(event(EventKind.COMPLAINT), None, now=NOW) == Ignored(
        "complaint about no mail this service sent"
    )
    assert isinstance(effects_of_event(event(EventKind.REPLY), REF, now=NOW), Ignored)
