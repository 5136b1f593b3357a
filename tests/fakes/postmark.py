"""A fake Postmark bounce API on 127.0.0.1 (aiohttp) for the Postmark feed's tests.

It serves `GET /bounces` and `GET /deliverystats` as postmarkapp.com/developer/api/bounce-api
documents them: `X-Postmark-Server-Token` checked (401 otherwise), `count` (1..500) and
`offset` required, `count + offset` at most 10,000 (`max_window`, smaller in tests), inclusive
`fromdate`/`todate` in US Eastern time (`2021-01-01T12:00:00`, or a bare date), and
`{"TotalCount": n, "Bounces": [...]}` newest `BouncedAt` first. Errors are Postmark's
`{"ErrorCode": n, "Message": "..."}`; the codes used here are only placeholders (10: token).

    async with FakePostmark() as fake:
        fake.add(1, "HardBounce", "a@example.com", "2026-12-01T07:00:00-05:00")
        feed = PostmarkFeed(fake.spec())

Fault scripts: `fail_next(500)` / `fail_next(429, retry_after="1")` answer the next requests
with an error; `overlap_pages` starts every later page one bounce early (bounces filed between
two reads shift the pages: one shows on both); `unsorted` serves them in the order added;
`add_raw` stores a bounce as given (malformed ones too).
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from core.specs import EspSpec
from tests.fakes.http_app import serve

SERVER_TOKEN = "f0a1b2c3-fake-token-4d5e-6f708192a3b4"
EASTERN = ZoneInfo("America/New_York")
MAX_COUNT = 500
DESCRIPTIONS = {  # Postmark's bounce types table, for the bounces the tests add
    "HardBounce": "The server was unable to deliver your message (ex: unknown user, mailbox "
    "not found).",
    "SoftBounce": "Unable to temporarily deliver message (i.e. mailbox full, account disabled, "
    "exceeds quota, out of disk space).",
    "SpamComplaint": "The subscriber explicitly marked this message as spam.",
}
# GET /deliverystats answers the documented example.
STATS = Path(__file__).resolve().parents[1] / "fixtures" / "esp" / "postmark" / "deliverystats.json"


@dataclass(frozen=True, slots=True)
class Seen:
    """One request the fake answered: its path, query parameters and status."""

    path: str
    params: dict[str, str]
    status: int


@dataclass(slots=True)
class _Fault:
    status: int
    retry_after: str | None = None
    body: Any = None  # served as JSON instead of the error (a 200 of an unexpected shape)


@dataclass
class FakePostmark:
    """One Postmark server's bounces in memory, served with Postmark's paging, filters and auth."""

    server_token: str = SERVER_TOKEN
    max_window: int = 10_000
    unsorted: bool = False
    overlap_pages: bool = False
    echo_auth: bool = False  # a careless server quoting the token in its 401
    bounces: list[Any] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    _faults: deque[_Fault] = field(default_factory=deque)
    _runner: web.AppRunner | None = None
    url: str = ""

    def spec(self, *, name: str = "pm", server_token: str | None = None) -> EspSpec:
        """An [[esp]] pointing at this fake."""
        token = self.server_token if server_token is None else server_token
        return EspSpec(name=name, kind="postmark", base_url=self.url, server_token=token)

    def add(
        self, bounce_id: int, kind: str, email: str, bounced_at: str, **fields: Any
    ) -> dict[str, Any]:
        """Add one bounce of the documented shape."""
        bounce: dict[str, Any] = {
            "ID": bounce_id,
            "Type": kind,
            "TypeCode": 0,
            "Name": kind,
            "Tag": "outreach",
            "MessageID": f"00000000-0000-4000-8000-{bounce_id:012d}",
            "ServerID": 23,
            "MessageStream": "outbound",
            "Description": DESCRIPTIONS.get(kind, ""),
            "Details": "smtp;550 5.1.1 user unknown",
            "Email": email,
            "From": "alex@brand-news.com",
            "BouncedAt": bounced_at,
            "DumpAvailable": False,
            "Inactive": kind in ("HardBounce", "SpamComplaint"),
            "CanActivate": True,
            "Subject": "Quick question",
            **fields,
        }
        self.bounces.append(bounce)
        return bounce

    def add_raw(self, bounce: Any) -> None:
        """Add a bounce exactly as given (a malformed one, say)."""
        self.bounces.append(bounce)

    def fail_next(
        self, status: int, *, times: int = 1, retry_after: str | None = None, body: Any = None
    ) -> None:
        """Answer the next `times` requests with `status` (Retry-After and a body, if given)."""
        self._faults.extend(_Fault(status, retry_after, body) for _ in range(times))

    async def __aenter__(self) -> FakePostmark:
        app = web.Application()
        app.router.add_get("/bounces", self._bounces)
        app.router.add_get("/deliverystats", self._stats)
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

    async def _stats(self, request: web.Request) -> web.Response:
        stats = json.loads(STATS.read_text())["response"]
        answer = self._refusal(request) or web.json_response(stats)
        self.seen.append(Seen(request.path, dict(request.query), answer.status))
        return answer

    async def _bounces(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        answer = self._refusal(request) or self._page(params)
        self.seen.append(Seen(request.path, params, answer.status))
        return answer

    def _refusal(self, request: web.Request) -> web.Response | None:
        token = request.headers.get("X-Postmark-Server-Token", "")
        if token != self.server_token:
            told = f": {token}" if self.echo_auth else ""
            return _error(401, 10, f"Bad or missing Server API token{told}")
        if request.headers.get("Accept") != "application/json":
            return _error(415, 0, "Accept: application/json is required")
        if self._faults:
            fault = self._faults.popleft()
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            if fault.body is not None:
                return web.json_response(fault.body, status=fault.status, headers=headers)
            return _error(fault.status, 0, "fault injected", headers)
        return None

    def _page(self, params: dict[str, str]) -> web.Response:
        try:
            count, offset = int(params["count"]), int(params["offset"])
            since = _eastern(params["fromdate"], end=False) if "fromdate" in params else None
            until = _eastern(params["todate"], end=True) if "todate" in params else None
        except (KeyError, ValueError):
            return _error(422, 0, "count and offset are required; dates like 2014-02-01")
        if not 1 <= count <= MAX_COUNT or offset < 0 or count + offset > self.max_window:
            return _error(422, 0, "Count + Offset cannot exceed 10,000 bounces")
        chosen = [b for b in self.bounces if _within(b, since, until)]
        if not self.unsorted:
            chosen.sort(key=_when, reverse=True)
        if self.overlap_pages and offset > 0:
            offset -= 1
        return web.json_response(
            {"TotalCount": len(chosen), "Bounces": chosen[offset : offset + count]}
        )


def _eastern(text: str, *, end: bool) -> datetime:
    """A date filter in UTC: Eastern wall time; an end takes in its whole second (or day)."""
    if len(text) == 10:
        day = datetime.fromisoformat(text).replace(tzinfo=EASTERN)
        return (day + timedelta(days=1) if end else day).astimezone(UTC)
    moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=EASTERN)
    return (moment + timedelta(seconds=1) if end else moment).astimezone(UTC)


def _when(bounce: Any) -> datetime:
    try:
        when = datetime.fromisoformat(bounce["BouncedAt"])
    except (TypeError, KeyError, ValueError):
        return datetime.min.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=EASTERN)


def _within(bounce: Any, since: datetime | None, until: datetime | None) -> bool:
    when = _when(bounce)
    if when == datetime.min.replace(tzinfo=UTC):
        return True  # a malformed bounce has no time to filter by: it is served as it is
    return (since is None or when >= since) and (until is None or when < until)


def _error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"ErrorCode": code, "Message": message}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )
