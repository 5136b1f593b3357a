"""A fake SendGrid v3 suppression API on 127.0.0.1 (aiohttp) for the SendGrid feed's tests.

It serves `GET /v3/suppression/{bounces,blocks,spam_reports,invalid_emails,unsubscribes}` as
the Twilio SendGrid reference documents them: `Authorization: Bearer <key>` (401 with
`{"errors": [...]}` otherwise), `start_time`/`end_time` unix seconds (inclusive), `limit` (at
most 500) and `offset`, and a JSON array of entries. The reference names no order, so it serves
newest first unless `unsorted` is set (then in the order entries were added).

    async with FakeSendGrid() as fake:
        fake.add("bounces", "a@example.com", 1700000000, reason="550 ...", status="5.1.1")
        feed = SendGridFeed(fake.spec())

Fault scripts: `fail_next(500)` / `fail_next(429, retry_after="1")` answer the next requests
with an error (a 429 as documented: `X-RateLimit-Limit/Remaining/Reset` and "too many
requests"; Retry-After only when asked for); `overlap_pages` starts every later page one entry
early (entries shifting between two reads, so one shows on both pages); `add_raw` stores an
entry as given (malformed ones too).
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from core.specs import EspSpec
from tests.fakes.http_app import serve

API_KEY = "SG.fake-key_0123456789.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
LISTS = ("bounces", "blocks", "spam_reports", "invalid_emails", "unsubscribes")
MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Seen:
    """One request the fake answered: the list asked for and its query parameters."""

    list: str
    params: dict[str, str]
    status: int


@dataclass(slots=True)
class _Fault:
    status: int
    retry_after: str | None = None
    body: Any = None  # served as JSON instead of the error (a 200 of an unexpected shape)


@dataclass
class FakeSendGrid:
    """The suppression lists in memory, served over HTTP with SendGrid's paging and auth."""

    api_key: str = API_KEY
    unsorted: bool = False
    overlap_pages: bool = False
    echo_auth: bool = False  # a careless server quoting the key in its 401: the feed must mask it
    entries: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in LISTS})
    seen: list[Seen] = field(default_factory=list)
    _faults: deque[_Fault] = field(default_factory=deque)
    _runner: web.AppRunner | None = None
    url: str = ""

    def spec(self, *, name: str = "sg", api_key: str | None = None) -> EspSpec:
        """An [[esp]] pointing at this fake."""
        key = self.api_key if api_key is None else api_key
        return EspSpec(name=name, kind="sendgrid", base_url=self.url, api_key=key)

    def add(self, list_name: str, email: str, created: int, **fields: str) -> dict[str, Any]:
        """Add one entry of the documented shape ({created, email, reason?, status?, ip?})."""
        entry: dict[str, Any] = {"created": created, "email": email, **fields}
        self.entries[list_name].append(entry)
        return entry

    def add_raw(self, list_name: str, entry: Any) -> None:
        """Add an entry exactly as given (a malformed one, say)."""
        self.entries[list_name].append(entry)

    def fail_next(
        self, status: int, *, times: int = 1, retry_after: str | None = None, body: Any = None
    ) -> None:
        """Answer the next `times` requests with `status` (Retry-After and a body, if given)."""
        self._faults.extend(_Fault(status, retry_after, body) for _ in range(times))

    async def __aenter__(self) -> FakeSendGrid:
        app = web.Application()
        app.router.add_get("/v3/suppression/{list}", self._list)
        self._runner, port = await serve(app)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _list(self, request: web.Request) -> web.Response:
        name = request.match_info["list"]
        params = dict(request.query)
        answer = self._refusal(request) or self._page(name, params)
        self.seen.append(Seen(name, params, answer.status))
        return answer

    def _refusal(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.api_key}":
            return _errors(
                401,
                f"authorization required: {auth}" if self.echo_auth else "authorization required",
            )
        if self._faults:
            fault = self._faults.popleft()
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            if fault.body is not None:
                return web.json_response(fault.body, status=fault.status, headers=headers)
            if fault.status == 429:  # the documented answer: rate-limit headers, no Retry-After
                reset = str(int(time.time()) + 1)
                limits = {"X-RateLimit-Limit": "150", "X-RateLimit-Remaining": "0"}
                headers |= limits | {"X-RateLimit-Reset": reset}
                return _errors(429, "too many requests", headers)
            return _errors(fault.status, "fault injected", headers)
        return None

    def _page(self, name: str, params: dict[str, str]) -> web.Response:
        if name not in self.entries:
            return _errors(404, "resource not found")
        try:
            limit = int(params.get("limit", str(MAX_LIMIT)))
            offset = int(params.get("offset", "0"))
            start = int(params["start_time"]) if "start_time" in params else None
            end = int(params["end_time"]) if "end_time" in params else None
        except ValueError:
            return _errors(400, "invalid query parameter")
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            return _errors(400, "limit must be 1..500 and offset not negative")
        chosen = [e for e in self.entries[name] if _within(e, start, end)]
        if not self.unsorted:
            chosen.sort(key=_created, reverse=True)
        if self.overlap_pages and offset > 0:
            offset -= 1
        return web.json_response(chosen[offset : offset + limit])


def _created(entry: Any) -> int:
    value = entry.get("created") if isinstance(entry, dict) else None
    return value if isinstance(value, int) else 0


def _within(entry: Any, start: int | None, end: int | None) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("created"), int):
        return True  # a malformed entry has no time to filter by: it is served as it is
    created = _created(entry)
    return (start is None or created >= start) and (end is None or created <= end)


def _errors(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"errors": [{"field": None, "message": message}]}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )
