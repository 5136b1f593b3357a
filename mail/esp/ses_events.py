"""SES notifications read off SQS, in the core's terms: one SQS body -> its normalised events.

A body is an SNS envelope (`Type: Notification`, the SES notification as the JSON string
`Message`) or, with raw message delivery, the SES notification itself. Both notification
flavours are read: feedback notifications (`notificationType`) and event publishing
(`eventType`); their payloads are the same. Shapes: the SES developer guide's "Amazon SNS
notification examples" and "Examples of event data that Amazon SES publishes to Amazon SNS".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

from core.addresses import normalise_address
from core.esp import EspEvent
from core.models import EventKind
from mail.esp.http import Malformed, decode_json

_DETAIL = 300  # characters of the provider's reason kept on an event


@dataclass(frozen=True, slots=True)
class Parsed:
    """What one SQS body held: its events and the malformed items left out of them."""

    events: tuple[EspEvent, ...]
    skipped: int = 0  # recipients left out (no address, wrong type); the others are kept


def parse_body(esp: str, body: str) -> Parsed:
    """The events of one SQS message body; raises Malformed when the body can't be used."""
    doc = _json_object(body, "the SQS body")
    if "Type" in doc:  # an SNS envelope
        if doc.get("Type") != "Notification":
            return Parsed(())  # SubscriptionConfirmation and the like: nothing to count
        message = doc.get("Message")
        if not isinstance(message, str):
            raise Malformed("the SNS envelope has no Message string")
        doc = _json_object(message, "the SNS Message")
    return parse_notification(esp, doc)


def parse_notification(esp: str, doc: Mapping[str, Any]) -> Parsed:
    """The events of one SES notification (a decoded JSON object)."""
    kind_name = doc.get("notificationType", doc.get("eventType"))
    reader = _READERS.get(kind_name) if isinstance(kind_name, str) else None
    if reader is None:
        return Parsed(())  # Send, Reject, DeliveryDelay, AmazonSnsSubscriptionSucceeded...
    mail = _object(doc, "mail")
    common = _mail_fields(mail)
    return reader(esp, doc, common)


@dataclass(frozen=True, slots=True)
class _Mail:
    """What every event of one notification shares."""

    provider_message_id: str
    message_id: str | None
    domain: str | None
    sent_at: datetime | None


def _mail_fields(mail: Mapping[str, Any]) -> _Mail:
    provider_id = mail.get("messageId")
    if not isinstance(provider_id, str) or not provider_id:
        raise Malformed("mail.messageId is missing")
    headers = mail.get("commonHeaders")
    ours = headers.get("messageId") if isinstance(headers, Mapping) else None
    message_id = (ours.strip().strip("<>").strip() or None) if isinstance(ours, str) else None
    source = mail.get("source")
    domain = None
    if isinstance(source, str):
        # "Sender Name <sender@example.com>" in event publishing, a bare address otherwise.
        address = normalise_address(_addr_spec(source))
        domain = address.rpartition("@")[2] if address else None
    sent = mail.get("timestamp")
    return _Mail(provider_id, message_id, domain, _timestamp(sent) if sent is not None else None)


def _bounce(esp: str, doc: Mapping[str, Any], mail: _Mail) -> Parsed:
    bounce = _object(doc, "bounce")
    bounce_type = bounce.get("bounceType")
    if not isinstance(bounce_type, str):
        raise Malformed("bounce.bounceType is missing")
    # Permanent: never deliverable; Transient and Undetermined may deliver later.
    kind = EventKind.BOUNCE_HARD if bounce_type == "Permanent" else EventKind.BOUNCE_SOFT
    feedback = _feedback_id(bounce, "bounce")
    at = _event_time(bounce, mail, "bounce")
    sub_type = bounce.get("bounceSubType")
    reason = f"{bounce_type}/{sub_type}" if isinstance(sub_type, str) else bounce_type
    events: list[EspEvent] = []
    skipped = 0
    for item in _list(bounce, "bouncedRecipients"):
        email = _recipient(item.get("emailAddress") if isinstance(item, Mapping) else None)
        if email is None:
            skipped += 1
            continue
        diagnostic = item.get("diagnosticCode")
        detail = f"{reason}: {diagnostic}" if isinstance(diagnostic, str) else reason
        events.append(
            _event(esp, f"{feedback}:{email}", kind, email, at=at, mail=mail, detail=detail)
        )
    return Parsed(tuple(events), skipped)


def _complaint(esp: str, doc: Mapping[str, Any], mail: _Mail) -> Parsed:
    complaint = _object(doc, "complaint")
    feedback = _feedback_id(complaint, "complaint")
    at = _event_time(complaint, mail, "complaint")
    feedback_type = complaint.get("complaintFeedbackType")
    detail = feedback_type if isinstance(feedback_type, str) else "complaint"
    events: list[EspEvent] = []
    skipped = 0
    for item in _list(complaint, "complainedRecipients"):
        email = _recipient(item.get("emailAddress") if isinstance(item, Mapping) else None)
        if email is None:
            skipped += 1
            continue
        kind = EventKind.COMPLAINT
        events.append(
            _event(esp, f"{feedback}:{email}", kind, email, at=at, mail=mail, detail=detail)
        )
    return Parsed(tuple(events), skipped)


def _delivery(esp: str, doc: Mapping[str, Any], mail: _Mail) -> Parsed:
    delivery = _object(doc, "delivery")
    at = _event_time(delivery, mail, "delivery")
    smtp = delivery.get("smtpResponse")
    detail = smtp if isinstance(smtp, str) else ""
    events: list[EspEvent] = []
    skipped = 0
    for item in _list(delivery, "recipients"):
        email = _recipient(item)
        if email is None:
            skipped += 1
            continue
        event_id = f"{mail.provider_message_id}:{email}"
        events.append(
            _event(esp, event_id, EventKind.DELIVERED, email, at=at, mail=mail, detail=detail)
        )
    return Parsed(tuple(events), skipped)


def _engagement(kind: EventKind, key: str) -> _Reader:
    """Open and Click (event publishing only): about the mail's one destination."""

    def read(esp: str, doc: Mapping[str, Any], mail: _Mail) -> Parsed:
        data = _object(doc, key)
        raw_at = data.get("timestamp")
        if not isinstance(raw_at, str):
            raise Malformed(f"{key}.timestamp is missing")
        at = _timestamp(raw_at)
        destination = _list(_object(doc, "mail"), "destination")
        if len(destination) != 1:
            return Parsed((), 1)  # which recipient opened is not said: not counted
        email = _recipient(destination[0])
        if email is None:
            return Parsed((), 1)
        link = data.get("link")
        detail = link if isinstance(link, str) else ""
        # SES gives no id for an open or a click; its time and the mail make one.
        event_id = f"{mail.provider_message_id}:{key}:{email}:{raw_at}"
        return Parsed((_event(esp, event_id, kind, email, at=at, mail=mail, detail=detail),))

    return read


_Reader = Callable[[str, Mapping[str, Any], _Mail], Parsed]

_READERS: dict[str, _Reader] = {
    "Bounce": _bounce,
    "Complaint": _complaint,
    "Delivery": _delivery,
    "Open": _engagement(EventKind.OPEN, "open"),
    "Click": _engagement(EventKind.CLICK, "click"),
}


def _event(
    esp: str,
    event_id: str,
    kind: EventKind,
    email: str,
    *,
    at: datetime,
    mail: _Mail,
    detail: str,
) -> EspEvent:
    return EspEvent(
        esp=esp,
        event_id=event_id,
        kind=kind,
        email=email,
        occurred_at=at,
        provider_message_id=mail.provider_message_id,
        message_id=mail.message_id,
        domain=mail.domain,
        detail=" ".join(detail.split())[:_DETAIL],
    )


def _json_object(text: str, what: str) -> Mapping[str, Any]:
    try:
        doc = decode_json(text)
    except ValueError:
        raise Malformed(f"{what} is not JSON") from None
    if not isinstance(doc, dict):
        raise Malformed(f"{what} is not a JSON object")
    return doc


def _object(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    if not isinstance(value, Mapping):
        raise Malformed(f"{key} is missing or not an object")
    return value


def _list(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise Malformed(f"{key} is missing or not a list")
    return value


def _feedback_id(doc: Mapping[str, Any], key: str) -> str:
    value = doc.get("feedbackId")
    if not isinstance(value, str) or not value:
        raise Malformed(f"{key}.feedbackId is missing")
    return value


def _event_time(doc: Mapping[str, Any], mail: _Mail, key: str) -> datetime:
    raw = doc.get("timestamp")
    if raw is None and mail.sent_at is not None:
        return mail.sent_at
    return _timestamp(raw, f"{key}.timestamp")


def _timestamp(raw: object, what: str = "mail.timestamp") -> datetime:
    """An ISO 8601 time as aware UTC ("2016-01-27T14:59:38.237Z")."""
    if not isinstance(raw, str):
        raise Malformed(f"{what} is missing or not a string")
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise Malformed(f"{what} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise Malformed(f"{what} has no time zone")
    try:
        return at.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+05:00 is before what datetime holds in UTC
        raise Malformed(f"{what} is out of range") from None


def _recipient(raw: object) -> str | None:
    """The address, trimmed and lower-cased; None when it is not one."""
    if not isinstance(raw, str):
        return None
    address = normalise_address(_addr_spec(raw) or raw)
    return address.lower() if address else None


def _addr_spec(raw: str) -> str:
    """The address of "Name <addr>", a bare address, or "" (email.utils.parseaddr's answer)."""
    # SES gives bare addresses almost always, and parseaddr's tokenizer cost more than the
    # rest of a notification's reading: a plain dot-atom@domain is its own answer.
    return raw if _PLAIN_ADDRESS.fullmatch(raw) else parseaddr(raw)[1]


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
