"""Postmark's bounce records as an `EspFeed` (SPEC 8): hard and soft bounces, blocks, spam
complaints and unsubscribe requests, which Postmark all reports as bounces of some `Type`.

The API (postmarkapp.com/developer/api/bounce-api): `GET /bounces?count=&offset=` with
`X-Postmark-Server-Token` and `Accept: application/json`; `count` at most 500 and `count +
offset` at most 10,000 ("for more, use todate and fromdate"). `fromdate`/`todate` are
inclusive date-times like 2021-01-01T12:00:00 in the API's time zone, US Eastern. The answer is
`{"TotalCount": n, "Bounces": [...]}`, newest `BouncedAt` first; each bounce has an `ID` (the
event id), `Type`, `MessageID` (Postmark's id of the message), `Email`, `From`, `BouncedAt`,
`Description` and `Details`.

Each poll sweeps `fromdate`..`todate`, frozen when it starts: from the last sweep's upper end
less `overlap` (bounces are filed late, with a time inside what was read) up to the poll's
`now`, paging by `offset` until a page comes back short; re-read bounces dedupe by ID. When the
next page would pass the 10,000 limit, the sweep's `todate` moves down to the oldest bounce read
so far and the offset starts again at 0 (that relies on the documented newest-first order).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.connect import LoginResult, one_line
from core.errors import PeerUnavailable
from core.esp import EspEvent, EspPage
from core.models import EventKind
from core.specs import EspSpec
from mail.esp.http import JsonApi, Malformed, Sleep

log = logging.getLogger("outreach.esp.postmark")

MAX_PAGE = 500  # the documented largest `count`
WINDOW = 10_000  # the documented largest `count + offset`
# Re-read behind each poll for bounces filed late. Two hours also outlasts the hour a local
# Eastern time is ambiguous when clocks go back (Postmark may read 01:30 as either one).
OVERLAP = timedelta(hours=2)
EASTERN = ZoneInfo("America/New_York")
_DETAIL = 300

# Bounce Type -> event kind (the types and their meanings: Postmark's bounce types table).
KINDS: dict[str, EventKind] = {
    # Permanent: "unable to deliver (unknown user, mailbox not found)", "not a valid address".
    "HardBounce": EventKind.BOUNCE_HARD,
    "BadEmailAddress": EventKind.BOUNCE_HARD,
    # Temporary: "message delayed", "a temporary DNS error", "mailbox full, exceeds quota".
    "Transient": EventKind.BOUNCE_SOFT,
    "DnsError": EventKind.BOUNCE_SOFT,
    "SoftBounce": EventKind.BOUNCE_SOFT,
    # "The subscriber explicitly marked this message as spam."
    "SpamComplaint": EventKind.COMPLAINT,
    # Refused for who sent it, not for whom: an ISP's block, a spam filter rejecting the
    # message ("blocked by the user, or classified as spam"), the receiver's DMARC policy.
    "Blocked": EventKind.BLOCK,
    "SpamNotification": EventKind.BLOCK,
    "DMARCPolicy": EventKind.BLOCK,
    # "Unsubscribe or Remove request."
    "Unsubscribe": EventKind.UNSUBSCRIBE,
}
# Left out on purpose: ManuallyDeactivated ("the email was manually deactivated") is someone's
# action in Postmark's UI, not the recipient's server speaking: as a hard bounce it would inflate
# the bounce rate the health checks judge domains by (the operator suppresses here, with /suppress).
# AutoResponder, AddressChange, Subscribe, ChallengeVerification, VirusNotification,
# OpenRelayTest, Unconfirmed, Unknown, SMTPApiError, InboundError and TemplateRenderingFailed say
# nothing about whether the address takes our mail.


@dataclass(slots=True)
class _Cursor:
    """Where the feed stands: the next sweep's start, or the window and offset of the current."""

    since: int | None = None  # fromdate (unix seconds); None: everything Postmark keeps
    top: int | None = None  # the sweep's original todate; None: no sweep under way
    until: int | None = None  # the todate now asked for (moved down past the 10,000 limit)
    offset: int = 0

    def dump(self) -> str:
        """The cursor as the opaque text the poller stores."""
        data = {
            "v": 1,
            "from": self.since,
            "top": self.top,
            "to": self.until,
            "offset": self.offset,
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def load(cls, text: str | None) -> _Cursor:
        """A stored cursor; one that can't be read starts over (re-reads dedupe by ID)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            cursor = cls(
                since=_optional(data["from"]),
                top=_optional(data["top"]),
                until=_optional(data["to"]),
                offset=_count(data["offset"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("postmark: unreadable cursor (%s); reading the bounces again", exc)
            return cls()
        if (cursor.top is None) != (cursor.until is None):
            log.warning("postmark: inconsistent cursor; reading the bounces again")
            return cls()
        return cursor


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return value


def _optional(value: Any) -> int | None:
    return None if value is None else _count(value)


def eastern(seconds: int) -> str:
    """Unix seconds as the API's date-time parameter: US Eastern wall time, to the second."""
    return datetime.fromtimestamp(seconds, EASTERN).strftime("%Y-%m-%dT%H:%M:%S")


class PostmarkFeed:
    """One Postmark server's bounces, one page per `read`, as normalised events."""

    def __init__(
        self,
        spec: EspSpec,
        *,
        sleep: Sleep = asyncio.sleep,
        page_size: int = MAX_PAGE,
        overlap: timedelta = OVERLAP,
        window: int = WINDOW,
    ) -> None:
        if not 1 <= page_size <= min(MAX_PAGE, window):
            raise ValueError(f"page_size must be 1..{min(MAX_PAGE, window)}, not {page_size}")
        self.name = spec.name
        self._page = page_size
        self._overlap = int(overlap.total_seconds())
        self._window = window
        self._api = JsonApi(
            spec.base_url,
            provider=f"postmark {spec.name}",
            headers={"X-Postmark-Server-Token": spec.server_token, "Accept": "application/json"},
            secret=spec.server_token,
            sleep=sleep,
        )

    def __repr__(self) -> str:
        return f"PostmarkFeed({self.name!r})"

    async def read(self, cursor: str | None, now: datetime) -> EspPage:
        """The next page of the sweep; `more` while pages remain."""
        state = _Cursor.load(cursor)
        if state.top is None or state.until is None:  # a new sweep: freeze its window
            state.top = state.until = int(now.timestamp())
            state.offset = 0
        params = {
            "count": str(self._page),
            "offset": str(state.offset),
            "todate": eastern(state.until),
        }
        if state.since is not None:
            params["fromdate"] = eastern(state.since)
        body = await self._get("/bounces", params)
        items = body.get("Bounces") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise PeerUnavailable(f"postmark {self.name}: the answer has no Bounces list")
        events, skipped, oldest = self._events(items, state.offset)
        more = len(items) >= self._page
        if not more:  # swept: the next poll starts a little before this one's upper end
            state.since = max(0, state.top - self._overlap)
            state.top = state.until = None
            state.offset = 0
        elif state.offset + len(items) + self._page <= self._window:
            state.offset += len(items)
        elif oldest is not None and oldest + 1 < state.until:
            # Past the limit: ask again up to the oldest bounce read (its second included, as
            # todate is whole seconds), from offset 0; what is read twice dedupes by ID.
            state.until = oldest + 1
            state.offset = 0
        else:
            log.warning(
                "postmark %s: over %d bounces within one second; the rest of it is left out",
                self.name,
                self._window,
            )
            state.since = max(0, state.top - self._overlap)
            state.top = state.until = None
            state.offset = 0
            more = False
        return EspPage(tuple(events), state.dump(), more, skipped)

    async def acknowledge(self, page: EspPage) -> None:
        """Nothing to do: bounces are read, never consumed."""

    async def probe(self) -> LoginResult:
        """Read the delivery stats: proves the server token."""
        return await self._api.probe("/deliverystats")

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._api.close()

    async def _get(self, path: str, params: dict[str, str] | None) -> Any:
        return (await self._api.get(path, params)).body

    def _events(self, items: list[Any], offset: int) -> tuple[list[EspEvent], int, int | None]:
        """The page's bounces as events (each ID once), the malformed count, the oldest time."""
        events: dict[str, EspEvent] = {}
        skipped = 0
        oldest: int | None = None
        for position, item in enumerate(items, start=offset):
            when = _time_of(item)
            if when is not None:
                oldest = when if oldest is None else min(oldest, when)
            try:
                event = self._event(item)
            except Malformed as exc:
                skipped += 1
                log.warning("postmark %s: bounce %d skipped: %s", self.name, position, exc)
                continue
            if event is not None:
                events.setdefault(event.event_id, event)
        return list(events.values()), skipped, oldest

    def _event(self, item: Any) -> EspEvent | None:
        """The bounce as an event; None for a type that is no signal about the address."""
        if not isinstance(item, dict):
            raise Malformed(f"not an object but {type(item).__name__}")
        kind_name = item.get("Type")
        if not isinstance(kind_name, str):
            raise Malformed("no Type")
        kind = KINDS.get(kind_name)
        if kind is None:
            return None
        bounce_id = item.get("ID")
        if isinstance(bounce_id, bool) or not isinstance(bounce_id, int | str) or bounce_id == "":
            raise Malformed("no ID")
        email = item.get("Email")
        if not isinstance(email, str) or "@" not in email:
            raise Malformed("no recipient address")
        occurred = _bounced_at(item.get("BouncedAt"))
        message = _text(item, "MessageID")
        sender = _text(item, "From")
        detail = _text(item, "Details") or _text(item, "Description") or ""
        return EspEvent(
            esp=self.name,
            event_id=str(bounce_id),
            kind=kind,
            email=email.strip().lower(),
            occurred_at=occurred,
            provider_message_id=message or None,
            domain=_domain(sender),
            detail=one_line(detail, _DETAIL),
        )


def _text(item: dict[str, Any], key: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Malformed(f"{key} is {type(value).__name__}")
    return value


def _domain(sender: str | None) -> str | None:
    """The domain of the From address the bounced mail was sent from."""
    if not sender or "@" not in sender:
        return None
    return sender.rpartition("@")[2].strip(" >").lower() or None


def _bounced_at(value: Any) -> datetime:
    """BouncedAt in UTC; one without an offset is the API's US Eastern time."""
    if not isinstance(value, str):
        raise Malformed("no BouncedAt")
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Malformed(f"BouncedAt is not a date-time: {value[:40]!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=EASTERN)
    try:
        return when.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00 Eastern is past what datetime holds in UTC
        raise Malformed(f"BouncedAt is out of range: {value[:40]!r}") from None


def _time_of(item: Any) -> int | None:
    """A bounce's time in whole unix seconds (rounded down), whatever else is wrong with it."""
    if not isinstance(item, dict):
        return None
    try:
        return int(_bounced_at(item.get("BouncedAt")).timestamp() // 1)
    except (Malformed, OverflowError, ValueError):
        return None
