"""Provider events in the core's terms (SPEC 8, ESP part): one normalised event, one page read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.models import EventKind
from core.records import SentRef


@dataclass(frozen=True, slots=True)
class EspEvent:
    """One event an ESP reported, normalised; (esp, event_id) is stable across re-reads."""

    esp: str  # the [[esp]] name it came from
    event_id: str  # the provider's id for the event (or one derived from its stable fields)
    kind: EventKind  # delivered, bounce_hard, bounce_soft, complaint, unsubscribe, block, ...
    email: str  # the recipient it is about, normalised (trimmed, lower-case)
    occurred_at: datetime  # timezone-aware UTC
    provider_message_id: str | None = None  # the provider's own id of the message, if given
    message_id: str | None = None  # our Message-ID header without <>, if the provider echoes it
    domain: str | None = None  # the sending domain, if the provider says
    detail: str = ""  # the provider's reason, at most ~300 characters


@dataclass(frozen=True, slots=True)
class EspPage:
    """What one read of a provider's API gave, and where the next read starts."""

    events: tuple[EspEvent, ...]
    cursor: str  # opaque to all but the adapter; committed together with the events
    more: bool  # another page is there now: the poller reads on in the same poll
    skipped: int = 0  # malformed items the adapter logged and left out (the page is kept)
    # What to acknowledge once the events are committed (SES: SQS receipt handles to delete).
    receipts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PageMatch:
    """What the store knows of a page's events: those stored before, and the sends of the rest."""

    known: frozenset[str] = frozenset()  # event ids stored before (a re-read): nothing to do
    refs: dict[str, SentRef] = field(default_factory=dict)  # event id -> the send it is about
