"""A fake Mailgun events API on 127.0.0.1 (aiohttp) for the Mailgun adapter's tests.

It serves `GET /v3/{domain}/events` the way Mailgun documents it: Basic auth `api:{key}`
(401 "Forbidden" otherwise), `begin` (epoch seconds), `ascending=yes|no`, `limit` (at most
300), and an answer `{"items": [...], "paging": {"next": ..., "previous": ...}}` whose
`next` URL points back here (`/v3/{domain}/events/{token}`) and gives an empty page once
the range is exhausted. Like Mailgun, a `next` page continues after the last event the page
before returned, so an event stored later with an earlier timestamp is not on it: only a
re-read of the range finds it.

    async with FakeMailgun(KEY) as fake:
        fake.add("mg.example.com", item)         # a documented item shape
        fake.fail(500)                           # the next request answers 500
        fake.fail(429, retry_after=1)

Faults: `fail` (status answers), `overlap` (each next page repeats the last n items of the
page before, as duplicates across pages), `reverse` (items of a page out of timestamp order),
`add(..., at=...)` for items whose own timestamp is unusable (malformed).
"""

from __future__ import annotations

import base64
import bisect
import itertools
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import encode_basic_auth, web

from tests.fakes.http_app import serve

HOST = "127.0.0.1"
MAX_LIMIT = 300
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class Request:
    """One request to the events API: its path, query, whether it was authorised, the answer."""

    path: str
    query: dict[str, str]
    authorised: bool
    status: int


@dataclass
class _Stored:
    at: float  # where it sorts (its timestamp, or `at` for a malformed item)
    seq: int  # the order it was stored in
    item: Any


@dataclass
class _Fault:
    status: int
    retry_after: int | None


@dataclass
class FakeMailgun:
    """The events API of one Mailgun account, with scripted faults."""

    api_key: str
    host: str = HOST
    port: int = 0
    overlap: int = 0  # items of the page before repeated at the start of each next page
    reverse: bool = False  # a page's items in descending timestamp order
    requests: list[Request] = field(default_factory=list)
    _events: dict[str, list[_Stored]] = field(default_factory=dict)
    _faults: list[_Fault] = field(default_factory=list)
    # Each domain's items in (at, seq) order with their keys, kept until the next `add`: a
    # page is then found by bisection, so a log of 100,000 items serves pages quickly (bench).
    _sorted: dict[str, tuple[list[_Stored], list[tuple[float, int]]]] = field(default_factory=dict)
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The base URL to configure (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def add(self, domain: str, item: Any, *, at: float | None = None) -> None:
        """Store one event item of `domain`'s log (`at`: where a malformed item sorts)."""
        where = at if at is not None else float(item["timestamp"])
        self._events.setdefault(domain, []).append(_Stored(where, next(self._seq), item))
        self._sorted.pop(domain, None)

    def fail(self, status: int, *, times: int = 1, retry_after: int | None = None) -> None:
        """Answer the next `times` requests with `status` (and Retry-After, if given)."""
        self._faults.extend(_Fault(status, retry_after) for _ in range(times))

    async def __aenter__(self) -> FakeMailgun:
        app = web.Application()
        app.router.add_get("/v3/{domain}/events", self._first)
        app.router.add_get("/v3/{domain}/events/{token}", self._next)
        self._runner, self.port = await serve(app, self.host, self.port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _first(self, request: web.Request) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        query = request.query
        try:
            begin = float(query.get("begin", "0"))
            limit = int(query.get("limit", str(DEFAULT_LIMIT)))
        except ValueError:
            return self._answer(request, 400, {"message": "Invalid begin or limit"})
        if not 0 < limit <= MAX_LIMIT:
            return self._answer(request, 400, {"message": f"limit must be <= {MAX_LIMIT}"})
        position = {"begin": begin, "after": None, "limit": limit}
        position["ascending"] = query.get("ascending", "no") == "yes"
        return self._page(request, position)

    async def _next(self, request: web.Request) -> web.Response:
        refused = self._refuse(request)
        if refused is not None:
            return refused
        try:
            position = json.loads(base64.urlsafe_b64decode(request.match_info["token"]))
        except ValueError:
            return self._answer(request, 400, {"message": "Invalid page token"})
        return self._page(request, position)

    def _refuse(self, request: web.Request) -> web.Response | None:
        """401 without the right key; else a scripted fault, if one is due."""
        if request.headers.get("Authorization") != encode_basic_auth("api", self.api_key):
            return self._answer(request, 401, "Forbidden", authorised=False)
        if self._faults:
            fault = self._faults.pop(0)
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            return self._answer(request, fault.status, {"message": "scripted"}, headers=headers)
        return None

    def _page(self, request: web.Request, position: dict[str, Any]) -> web.Response:
        domain = request.match_info["domain"]
        ascending = bool(position["ascending"])
        stored, keys = self._ordered(domain)
        begin = float(position["begin"])
        after = position["after"]
        mark = None if after is None else (float(after[0]), int(after[1]))
        limit = int(position["limit"])
        if ascending:
            lo = bisect.bisect_left(keys, (begin, -1))  # items at or after `begin`
            # Continue after the last item the page before returned (less `overlap`).
            start = lo if mark is None else max(lo, bisect.bisect_right(keys, mark))
            if mark is not None and start < len(keys):
                start = max(lo, start - self.overlap)
            elif mark is not None:
                start = len(keys)  # repeats only lead a page that has something new
            page = stored[start : start + limit]
        else:
            hi = bisect.bisect_right(keys, (begin, float("inf")))  # items at or before `begin`
            end = hi if mark is None else min(hi, bisect.bisect_left(keys, mark))
            if mark is not None and end > 0:
                end = min(hi, end + self.overlap)
            elif mark is not None:
                end = 0
            page = stored[max(0, end - limit) : end][::-1]
        tail = page[-1] if page else None
        following = dict(position)
        if tail is not None:
            following["after"] = [tail.at, tail.seq]
        items = [s.item for s in page]
        if self.reverse:
            items.reverse()
        body = {
            "items": items,
            "paging": {
                "next": f"{self.url}/v3/{domain}/events/{_token(following)}",
                "previous": f"{self.url}/v3/{domain}/events/{_token(position)}",
            },
        }
        return self._answer(request, 200, body)

    def _ordered(self, domain: str) -> tuple[list[_Stored], list[tuple[float, int]]]:
        """`domain`'s items in ascending (at, seq) order, and those keys."""
        found = self._sorted.get(domain)
        if found is None:
            stored = sorted(self._events.get(domain, []), key=lambda s: (s.at, s.seq))
            found = (stored, [(s.at, s.seq) for s in stored])
            self._sorted[domain] = found
        return found

    def _answer(
        self,
        request: web.Request,
        status: int,
        body: Any,
        *,
        authorised: bool = True,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        self.requests.append(Request(request.path, dict(request.query), authorised, status))
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return web.json_response(body, status=status, headers=headers)


def _token(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()
