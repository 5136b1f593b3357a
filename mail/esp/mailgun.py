"""Mailgun's events API (`GET /v3/{domain}/events`) as an `engine.ports.EspFeed` (SPEC 8).

Mailgun stores events as they reach its index, not in the order they happened, so a page
read now may later gain events (its "Event Polling" section advises re-reading the last half
hour). Each poll therefore walks every domain's log from (the latest event seen - `trailing`),
ascending, page by `paging.next` until a page is empty. Re-read events keep their ids, so the
store counts each once; events already committed (acknowledged) are also dropped here.

The cursor is JSON: per domain the latest event time seen and, mid-poll, the `paging.next`
URL to go on from, plus which domain is being read. It is all a new feed needs to resume.
With no cursor (or a domain new to it) the walk begins `trailing` before `now`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from core.classify import classify_reply
from core.connect import LoginResult, Verdict, one_line
from core.errors import PeerUnavailable
from core.esp import EspEvent, EspPage
from core.models import EventKind, OutcomeKind
from core.specs import EspSpec
from mail.esp.http import JsonApi, Malformed, Reply, Sleep

log = logging.getLogger("outreach.esp.mailgun")

PAGE_SIZE = 300  # the most Mailgun's events API returns per page
TRAILING = timedelta(minutes=30)  # how late Mailgun's own documentation says events can be
_DETAIL = 300
_CURSOR_VERSION = 1

# Event types with one meaning whatever their fields; `failed` is decided by its fields, and
# everything else (accepted, rejected, stored, list_* ...) is not a deliverability signal.
_KINDS = {
    "delivered": EventKind.DELIVERED,
    "complained": EventKind.COMPLAINT,
    "unsubscribed": EventKind.UNSUBSCRIBE,
    "opened": EventKind.OPEN,
    "clicked": EventKind.CLICK,
}
# Permanent failures where Mailgun sent nothing because the address is on its own
# suppression list for an unsubscribe or a complaint (documented `reason` values): the address
# must be suppressed here too, but no fresh bounce or complaint happened, so neither is
# counted against the mailbox's health.
_SUPPRESSED = {"suppress-unsubscribe", "suppress-complaint"}


@dataclass
class _Domain:
    """How far one domain's log has been read."""

    last: float | None = None  # the latest event timestamp seen (epoch seconds)
    next: str | None = None  # mid-poll: the `paging.next` URL to continue from


@dataclass
class _Cursor:
    domains: dict[str, _Domain]
    at: int = 0  # the index (in spec.domains) of the domain being read

    def dump(self) -> str:
        return json.dumps(
            {
                "v": _CURSOR_VERSION,
                "at": self.at,
                "domains": {
                    name: {"last": state.last, "next": state.next}
                    for name, state in self.domains.items()
                },
            },
            sort_keys=True,
        )


class MailgunFeed:
    """Pages of one Mailgun account's events, over each domain of the [[esp]] in turn."""

    def __init__(
        self,
        spec: EspSpec,
        *,
        sleep: Sleep = asyncio.sleep,
        page_size: int = PAGE_SIZE,
        trailing: timedelta = TRAILING,
    ) -> None:
        self.name = spec.name
        self._domains = spec.domains
        self._page_size = page_size
        self._trailing = trailing.total_seconds()
        self._origin = _origin(spec.base_url)
        self._api = JsonApi(
            spec.base_url,
            provider=f"mailgun {spec.name}",
            # aiohttp 3.14 deprecates BasicAuth objects: the header is built here instead.
            headers={"Authorization": aiohttp.encode_basic_auth("api", spec.api_key)},
            secret=spec.api_key,
            sleep=sleep,
        )
        # The next page's answer, asked for as soon as its URL is known (mail/esp/http.py
        # fetch: not decoded), so that Mailgun prepares it while the poller commits this one.
        self._ahead: tuple[str, asyncio.Task[tuple[int, str]]] | None = None
        # Ids already committed, with their event time: a re-read of the trailing window
        # drops them. Only acknowledged pages land here, so a page whose commit failed is
        # returned again in full.
        self._committed: dict[str, float] = {}
        self._oldest = math.inf  # the earliest event time in _committed

    async def read(self, cursor: str | None, now: datetime) -> EspPage:
        """The next page of the domain being read; `more` while that poll has pages left."""
        state = self._load(cursor)
        if not self._domains:
            return EspPage((), state.dump(), more=False)
        domain = self._domains[state.at]
        where = state.domains[domain]
        body = await self._fetch(domain, where, now)
        items = body.get("items")
        if not isinstance(items, list):
            raise PeerUnavailable(f"mailgun {self.name}: {domain}: an answer without `items`")
        events, skipped, newest = self._parse(domain, items)
        if newest is not None:
            where.last = newest if where.last is None else max(where.last, newest)
        following = _next_url(body)
        # A `next` that is the page just read would never reach an empty page: end there.
        if items and following and following != where.next:
            where.next = following
            more = True
            self._read_ahead(following)
        else:
            # An empty page ends this domain's walk; the next poll starts again from its
            # latest event minus the trailing window, so late arrivals are picked up.
            where.next = None
            state.at = (state.at + 1) % len(self._domains)
            more = state.at != 0
        # Events committed before are not among them (_event drops them by id).
        return EspPage(tuple(events), state.dump(), more=more, skipped=skipped)

    async def acknowledge(self, page: EspPage) -> None:
        """Remember the committed ids, so the next re-read of the window drops them."""
        for event in page.events:
            at = event.occurred_at.timestamp()
            self._committed[event.event_id] = at
            self._oldest = min(self._oldest, at)
        self._forget(page.cursor)

    async def probe(self) -> LoginResult:
        """One authenticated call: the first domain's latest event."""
        if not self._domains:
            return LoginResult(Verdict.NOT_CHECKED, "no [[domains]] names this ESP")
        return await self._api.probe(f"/v3/{self._domains[0]}/events", {"limit": "1"})

    async def close(self) -> None:
        """Close the HTTP session."""
        self._drop_ahead()
        await self._api.close()

    def _read_ahead(self, url: str) -> None:
        """Ask for the page at `url` now; the read that wants it takes the answer."""
        self._drop_ahead()
        if _origin(url) != self._origin:
            return  # _fetch refuses it (and says so) when it is read
        task = asyncio.create_task(self._api.fetch(url))
        task.add_done_callback(_retrieved)
        self._ahead = (url, task)

    def _drop_ahead(self) -> None:
        if self._ahead is not None:
            self._ahead[1].cancel()
            self._ahead = None

    async def _get_next(self, url: str) -> Reply:
        """The page at `url`: the answer asked for ahead if it was this one, else asked now."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == url:
            status, text = await ahead[1]
        else:
            if ahead is not None:
                ahead[1].cancel()  # a read from another cursor (a commit failed): not wanted
            status, text = await self._api.fetch(url)
        return self._api.decode(status, text)

    async def _fetch(self, domain: str, where: _Domain, now: datetime) -> dict[str, Any]:
        if where.next is not None:
            if _origin(where.next) == self._origin:
                try:
                    return self._object(domain, await self._get_next(where.next))
                except PeerUnavailable as exc:
                    # A stored `next` may have expired (400/404 every time after): walking
                    # again from the latest event costs only re-reads, which keep their ids.
                    log.warning("mailgun %s: %s: next page failed (%s)", self.name, domain, exc)
            else:
                # The key goes with every request: never to a host other than the API's.
                log.warning(
                    "mailgun %s: %s: a next page outside %s ignored",
                    self.name,
                    domain,
                    self._origin,
                )
            where.next = None
        since = now.timestamp() if where.last is None else where.last
        params = {
            "begin": f"{since - self._trailing:.6f}",
            "ascending": "yes",
            "limit": str(self._page_size),
        }
        self._drop_ahead()
        return self._object(domain, await self._api.get(f"/v3/{domain}/events", params))

    def _object(self, domain: str, reply: Reply) -> dict[str, Any]:
        if not isinstance(reply.body, dict):
            raise PeerUnavailable(f"mailgun {self.name}: {domain}: the answer is not an object")
        return reply.body

    def _parse(self, domain: str, items: list[Any]) -> tuple[list[EspEvent], int, float | None]:
        events: list[EspEvent] = []
        seen: set[str] = set()
        skipped = 0
        newest: float | None = None
        for number, item in enumerate(items):
            try:
                stamp, event = _event(self.name, domain, item, self._committed)
            except Malformed as exc:
                skipped += 1
                log.warning(
                    "mailgun %s: %s: item %d of a page skipped: %s", self.name, domain, number, exc
                )
                continue
            newest = stamp if newest is None else max(newest, stamp)
            if event is not None and event.event_id not in seen:
                seen.add(event.event_id)
                events.append(event)
        return events, skipped, newest

    def _load(self, cursor: str | None) -> _Cursor:
        state = _Cursor({name: _Domain() for name in self._domains})
        if cursor is None:
            return state
        try:
            raw = json.loads(cursor)
            stored = raw["domains"]
            at = raw.get("at", 0)
        except (ValueError, TypeError, KeyError):
            log.warning("mailgun %s: the stored cursor is unreadable; reading afresh", self.name)
            return state
        for name, where in state.domains.items():
            saved = stored.get(name) if isinstance(stored, dict) else None
            if not isinstance(saved, dict):
                continue  # a domain added since: read from now
            last, following = saved.get("last"), saved.get("next")
            if isinstance(last, int | float) and not isinstance(last, bool):
                where.last = float(last)
            if isinstance(following, str):
                where.next = following
        # A domain list that changed since the cursor was written starts at its first one.
        state.at = at if isinstance(at, int) and 0 <= at < len(self._domains) else 0
        return state

    def _forget(self, cursor: str) -> None:
        """Drop committed ids older than every domain's re-read window: never read again."""
        lasts = [where.last for where in self._load(cursor).domains.values()]
        if any(last is None for last in lasts) or not lasts:
            return
        horizon = min(last for last in lasts if last is not None) - self._trailing
        if horizon <= self._oldest:
            # Nothing is old enough to drop: no pass over every id (a backlog of 100,000
            # events made one per page, ~5 s in all).
            return
        self._committed = {key: at for key, at in self._committed.items() if at >= horizon}
        self._oldest = min(self._committed.values(), default=math.inf)


def _event(
    esp: str, domain: str, item: Any, committed: Container[str] = ()
) -> tuple[float, EspEvent | None]:
    """One item's timestamp and its event (None: a type that is no deliverability signal, or
    an event in `committed`, read again in the trailing window)."""
    if not isinstance(item, dict):
        raise Malformed("not an object")
    kind_name = item.get("event")
    if not isinstance(kind_name, str):
        raise Malformed("no `event`")
    stamp = _timestamp(item.get("timestamp"))
    occurred = datetime.fromtimestamp(stamp, UTC)
    item_id = item.get("id")
    stored_id = event_id(item_id, occurred) if isinstance(item_id, str) and item_id else None
    if stored_id is not None and stored_id in committed:
        # Every poll re-reads each domain's trailing window: what was committed from it is
        # dropped by its id before the rest of the item is read.
        return stamp, None
    kind = _kind(kind_name, item)
    if kind is None:
        return stamp, None
    if stored_id is None:
        raise Malformed(f"{kind_name}: no `id`")
    recipient = item.get("recipient")
    if not isinstance(recipient, str) or "@" not in recipient:
        raise Malformed(f"{kind_name} {item_id}: no `recipient`")
    message_id = _message_id(item)
    return stamp, EspEvent(
        esp=esp,
        event_id=stored_id,
        kind=kind,
        email=recipient.strip().lower(),
        occurred_at=occurred,
        provider_message_id=message_id,
        message_id=message_id,
        domain=domain,
        detail=_detail(item) if kind_name == "failed" else "",
    )


def event_id(item_id: str, occurred: datetime) -> str:
    """The stored id of Mailgun's event `item_id` that occurred at `occurred` (UTC): Mailgun
    guarantees an event id unique within a day only; with the event's UTC date it is unique
    for good and still the same on every re-read."""
    return f"{item_id}/{_utc_day(occurred.toordinal())}"


@functools.lru_cache(maxsize=64)
def _utc_day(ordinal: int) -> str:
    """YYYYMMDD of a day (a page's events share a few: formatting each event's date cost as
    much as the rest of its id)."""
    return f"{date.fromordinal(ordinal):%Y%m%d}"


def _kind(name: str, item: dict[str, Any]) -> EventKind | None:
    if name != "failed":
        return _KINDS.get(name)
    severity = item.get("severity")
    if severity == "temporary":
        # Mailgun retries these itself; if it gives up, a `permanent` failure follows.
        return EventKind.BOUNCE_SOFT
    if severity != "permanent":
        raise Malformed(f"failed: severity {severity!r}")
    reason = item.get("reason")
    if isinstance(reason, str) and reason in _SUPPRESSED:  # a list or object is no reason
        return EventKind.UNSUBSCRIBE
    status = item.get("delivery-status")
    if status is not None and not isinstance(status, dict):
        raise Malformed("failed: `delivery-status` is not an object")
    if _is_block(status or {}):
        return EventKind.BLOCK
    return EventKind.BOUNCE_HARD


def _is_block(status: dict[str, Any]) -> bool:
    """Whether a permanent failure is a spam block rather than a bad address.

    Mailgun's documented `delivery-status` carries the receiving server's answer: `code`
    (the SMTP code, or Mailgun's own 6xx for its suppressions), `enhanced-code` /
    `bounce-code` (RFC 3463, e.g. 5.1.1, 5.7.1) and `message` (the reply text). A 5.7.x
    status is a policy refusal of the sender (spam, reputation, blocklist) and so is a
    reply naming a blocklist, the very rule SMTP replies at send time follow (SPEC 8): the
    SMTP classifier decides both, so a block means the same whichever way it arrived.
    """
    code = status.get("code")
    smtp_code = code if isinstance(code, int) and 400 <= code < 600 else None
    parts = [str(status.get(field) or "") for field in ("enhanced-code", "bounce-code", "message")]
    text = " ".join(part for part in parts if part)
    if smtp_code is None and not text:
        return False
    return classify_reply(smtp_code, text).kind is OutcomeKind.BLOCK


def _timestamp(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Malformed(f"timestamp {str(value)[:40]!r}")
    stamp = float(value)
    if not math.isfinite(stamp) or not 0 < stamp < 32503680000:  # before the year 3000
        raise Malformed(f"timestamp {stamp!r}")
    return stamp


def _message_id(item: dict[str, Any]) -> str | None:
    message = item.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    value = headers.get("message-id") if isinstance(headers, dict) else None
    if not isinstance(value, str):
        return None
    return value.strip().strip("<>").strip() or None


def _detail(item: dict[str, Any]) -> str:
    status = item.get("delivery-status")
    status = status if isinstance(status, dict) else {}
    parts = [
        str(item.get("reason") or ""),
        str(status.get("code") or ""),
        str(status.get("enhanced-code") or ""),
        str(status.get("message") or ""),
        str(status.get("description") or ""),
    ]
    return one_line(" ".join(part for part in parts if part), _DETAIL)


def _next_url(body: dict[str, Any]) -> str | None:
    paging = body.get("paging")
    following = paging.get("next") if isinstance(paging, dict) else None
    return following if isinstance(following, str) and following else None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _retrieved(task: asyncio.Task[tuple[int, str]]) -> None:
    """Take the outcome of a read ahead nobody awaits, so asyncio doesn't log it as lost."""
    if not task.cancelled():
        task.exception()
