"""SendGrid's suppression lists as an `EspFeed` (SPEC 8): who bounced, was blocked, complained,
was invalid or unsubscribed.

The API (Twilio SendGrid v3 reference, "Retrieve all bounces" and its siblings): `GET
/v3/suppression/{bounces,blocks,spam_reports,invalid_emails,unsubscribes}` with `Authorization:
Bearer <api key>`; `start_time` and `end_time` are unix seconds, both inclusive; `limit` (at most
500) and `offset` page through the list. Each answer is a JSON array of `{created, email, ...}`:
bounces and blocks add `reason` and `status`, invalid_emails `reason`, spam_reports `ip`.

The lists carry no message ids (the lead matches by recipient), so an event's id is its list,
`created` and address: re-reading an entry gives the same id and the events table counts it once.

The cursor (JSON) keeps, per list, the latest `created` seen; each poll sweeps the lists one
after the other, one page per `read`, from that time less `overlap` (entries show up late, with a
`created` inside what was read already) up to the poll's `now`. A sweep freezes its
`start_time`/`end_time` and pages by `offset` until a page comes back short, so entries arriving
meanwhile can shift the pages only towards duplicates (deduped by id), not gaps.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.connect import LoginResult, one_line
from core.errors import PeerUnavailable
from core.esp import EspEvent, EspPage
from core.models import EventKind
from core.specs import EspSpec
from mail.esp.http import JsonApi, Malformed, Sleep

log = logging.getLogger("outreach.esp.sendgrid")

MAX_PAGE = 500  # the documented largest `limit`
OVERLAP = timedelta(hours=1)  # how far back each poll re-reads for entries that came late
_DETAIL = 300

# Each suppression list and the event kind its entries are (a bounce's 4.x.x status: soft).
LISTS: dict[str, EventKind] = {
    "bounces": EventKind.BOUNCE_HARD,
    "blocks": EventKind.BLOCK,
    "spam_reports": EventKind.COMPLAINT,
    "invalid_emails": EventKind.BOUNCE_HARD,
    "unsubscribes": EventKind.UNSUBSCRIBE,
}
_ORDER = tuple(LISTS)


@dataclass(slots=True)
class _Cursor:
    """Where the feed stands: the list being swept, its frozen window, and what was seen."""

    index: int = 0  # the list of _ORDER being swept
    offset: int = 0
    start: int | None = None  # the sweep's start_time (None: the whole list)
    end: int | None = None  # the sweep's end_time; None: no sweep of this list under way
    since: dict[str, int] = field(default_factory=dict)  # per list: the latest `created` seen

    def dump(self) -> str:
        """The cursor as the opaque text the poller stores."""
        return json.dumps(
            {
                "v": 1,
                "list": _ORDER[self.index],
                "offset": self.offset,
                "start": self.start,
                "end": self.end,
                "since": self.since,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def load(cls, text: str | None) -> _Cursor:
        """A stored cursor; one that can't be read starts over (re-reads dedupe by id)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            cursor = cls(
                index=_ORDER.index(data["list"]),
                offset=_count(data["offset"]),
                start=None if data["start"] is None else _count(data["start"]),
                end=None if data["end"] is None else _count(data["end"]),
                since={
                    name: _count(data["since"][name]) for name in _ORDER if name in data["since"]
                },
            )
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("sendgrid: unreadable cursor (%s); reading the lists again", exc)
            return cls()
        return cursor


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a count: {value!r}")
    return value


class SendGridFeed:
    """SendGrid's five suppression lists, one page per `read`, as normalised events."""

    def __init__(
        self,
        spec: EspSpec,
        *,
        sleep: Sleep = asyncio.sleep,
        page_size: int = MAX_PAGE,
        overlap: timedelta = OVERLAP,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE}, not {page_size}")
        self.name = spec.name
        self._page = page_size
        self._overlap = int(overlap.total_seconds())
        self._api = JsonApi(
            spec.base_url,
            provider=f"sendgrid {spec.name}",
            headers={"Authorization": f"Bearer {spec.api_key}", "Accept": "application/json"},
            secret=spec.api_key,
            sleep=sleep,
        )

    def __repr__(self) -> str:
        return f"SendGridFeed({self.name!r})"

    async def read(self, cursor: str | None, now: datetime) -> EspPage:
        """The next page of the list being swept; `more` while pages or lists remain."""
        state = _Cursor.load(cursor)
        name = _ORDER[state.index]
        if state.end is None:  # a new sweep of this list: freeze its window
            since = state.since.get(name)
            state.start = None if since is None else max(0, since - self._overlap)
            state.end = int(now.timestamp())
            state.offset = 0
        params = {"limit": str(self._page), "offset": str(state.offset), "end_time": str(state.end)}
        if state.start is not None:
            params["start_time"] = str(state.start)
        reply = await self._get(f"/v3/suppression/{name}", params)
        if not isinstance(reply, list):
            raise PeerUnavailable(f"sendgrid {self.name}: {name} is not a JSON array")
        events, skipped, latest = self._events(name, reply, state.offset)
        if latest is not None:
            # Never past the window asked for: one entry dated in the future must not make
            # every later poll start after it (and miss what comes before).
            latest = min(latest, state.end)
            state.since[name] = max(latest, state.since.get(name, latest))
        if len(reply) >= self._page:
            state.offset += len(reply)
            more = True
        else:  # this list is read up to `end`: on to the next; the last one ends the poll
            state.offset, state.start, state.end = 0, None, None
            state.index = (state.index + 1) % len(_ORDER)
            more = state.index != 0
        return EspPage(tuple(events), state.dump(), more, skipped)

    async def acknowledge(self, page: EspPage) -> None:
        """Nothing to do: the lists are read, never consumed."""

    async def probe(self) -> LoginResult:
        """Read one bounce: proves the key and its suppression read scope."""
        return await self._api.probe("/v3/suppression/bounces", {"limit": "1"})

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._api.close()

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        return (await self._api.get(path, params)).body

    def _events(
        self, name: str, items: list[Any], offset: int
    ) -> tuple[list[EspEvent], int, int | None]:
        """The page's entries as events (each id once), the malformed count, the latest time."""
        events: dict[str, EspEvent] = {}
        skipped = 0
        latest: int | None = None
        for position, item in enumerate(items, start=offset):
            try:
                event, created = self._event(name, item)
            except Malformed as exc:
                skipped += 1
                log.warning("sendgrid %s: %s entry %d skipped: %s", self.name, name, position, exc)
                continue
            events.setdefault(event.event_id, event)
            latest = created if latest is None else max(latest, created)
        return list(events.values()), skipped, latest

    def _event(self, name: str, item: Any) -> tuple[EspEvent, int]:
        if not isinstance(item, dict):
            raise Malformed(f"not an object but {type(item).__name__}")
        email = item.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise Malformed("no recipient address")
        email = email.strip().lower()
        created = _unix(item.get("created"))
        reason, status = item.get("reason"), item.get("status")
        if reason is not None and not isinstance(reason, str):
            raise Malformed(f"reason is {type(reason).__name__}")
        if status is not None and not isinstance(status, str):
            raise Malformed(f"status is {type(status).__name__}")
        kind = LISTS[name]
        if name == "bounces" and (status or "").strip().startswith("4"):
            kind = EventKind.BOUNCE_SOFT  # a temporary failure (4.x.x) SendGrid gave up on
        detail = " ".join(part for part in (status, reason) if part)
        event = EspEvent(
            esp=self.name,
            event_id=f"{name}:{created}:{email}",
            kind=kind,
            email=email,
            occurred_at=datetime.fromtimestamp(created, UTC),
            detail=one_line(detail, _DETAIL),
        )
        return event, created


def _unix(value: Any) -> int:
    """`created`: unix seconds (a whole number; JSON may spell it 1443651125.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed(f"created is {type(value).__name__}, not unix seconds")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise Malformed(f"created is not whole seconds: {value!r}")
    seconds = int(value)
    if not 0 < seconds < 253402300800:  # before year 10000: what datetime can hold
        raise Malformed(f"created is out of range: {seconds}")
    return seconds
