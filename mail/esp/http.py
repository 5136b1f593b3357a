"""GET a provider's JSON API with the retries every ESP needs: 429 with Retry-After, and 5xx.

A provider that throttles or fails is asked again after Retry-After (capped) or an
exponential back-off, a few times; then `PeerUnavailable`, and the poller tries again at
its next poll from the same cursor. 401/403 are `LoginRefused`. The key never reaches an
error text: only the status and the start of the provider's answer do.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from core.connect import LoginResult, Verdict, one_line, scrub
from core.errors import LoginRefused, PeerUnavailable

log = logging.getLogger("outreach.esp")

TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10)
TRIES = 4  # one call and three retries
BACKOFF = 1.0  # seconds before the first retry of a 5xx; doubled each time
MAX_WAIT = 60.0  # the longest Retry-After honoured within one poll; longer: next poll
_DETAIL = 200  # characters of a provider's answer quoted in errors

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Reply:
    """A provider's JSON answer."""

    status: int
    body: Any  # parsed JSON: usually a dict


class JsonApi:
    """One provider's base URL, its auth and an HTTP session, with the shared retry rules."""

    def __init__(
        self,
        base_url: str,
        *,
        provider: str,
        headers: Mapping[str, str] | None = None,
        secret: str = "",
        sleep: Sleep = asyncio.sleep,
        tries: int = TRIES,
        backoff: float = BACKOFF,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._provider = provider
        self._headers = dict(headers or {})
        self._secret = secret  # masked in every error text: a provider may echo it back
        self._sleep = sleep
        self._tries = tries
        self._backoff = backoff
        self._session: aiohttp.ClientSession | None = None

    def url(self, path: str) -> str:
        """The full URL of `path` (absolute URLs, e.g. a `paging.next`, are kept as they are)."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self._base}/{path.lstrip('/')}"

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Reply:
        """GET `path` and parse its JSON, retrying 429 and 5xx; raise when it can't be had."""
        status, text = await self.fetch(path, params)
        return self.decode(status, text)

    async def fetch(self, path: str, params: Mapping[str, str] | None = None) -> tuple[int, str]:
        """GET `path` as `get` does, but the 2xx answer's status and text, not yet decoded."""
        try:
            return await self._get(path, params)
        except LoginRefused as exc:
            raise LoginRefused(scrub(str(exc), self._secret)) from None
        except PeerUnavailable as exc:
            raise PeerUnavailable(scrub(str(exc), self._secret)) from None

    def decode(self, status: int, text: str) -> Reply:
        """A fetched answer's JSON; PeerUnavailable when it is not JSON."""
        try:
            return Reply(status, decode_json(text))
        except ValueError as exc:
            raise PeerUnavailable(
                scrub(f"{self._provider}: the answer is not JSON ({exc})", self._secret)
            ) from None

    async def probe(self, path: str, params: Mapping[str, str] | None = None) -> LoginResult:
        """One authenticated GET for `check --connect`: ok, refused or unreachable; never raises."""
        try:
            await self.get(path, params)
        except LoginRefused as exc:
            return LoginResult(Verdict.REFUSED, one_line(str(exc)))
        except PeerUnavailable as exc:
            return LoginResult(Verdict.UNREACHABLE, one_line(str(exc)))
        return LoginResult(Verdict.OK)

    async def _get(self, path: str, params: Mapping[str, str] | None) -> tuple[int, str]:
        wait = self._backoff
        last = ""
        for attempt in range(1, self._tries + 1):
            try:
                session = self._open()
                async with session.get(self.url(path), params=params) as response:
                    text = await response.text()
                    status = response.status
                    retry_after = _wait_header(response.headers)
            except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError) as exc:
                last = f"{type(exc).__name__}: {exc}"[:_DETAIL]
                status, text, retry_after = 0, "", None
            if 200 <= status < 300:
                return status, text
            if status in (401, 403):
                raise LoginRefused(f"{self._provider}: {status} {text[:_DETAIL].strip()}")
            if status and status != 429 and status < 500:
                # 400, 404...: asking again gets the same answer.
                raise PeerUnavailable(f"{self._provider}: {status} {text[:_DETAIL].strip()}")
            if status:
                last = f"{status} {text[:_DETAIL].strip()}"
            if attempt == self._tries:
                break
            delay = _retry_after(retry_after) if status == 429 else None
            if delay is not None and delay > MAX_WAIT:
                break  # throttled for long: the next poll asks again
            pause = wait if delay is None else delay
            log.info("%s: %s; asking again in %.1f s", self._provider, last, pause)
            await self._sleep(pause)
            wait *= 2
        raise PeerUnavailable(f"{self._provider}: {last or 'no answer'}")

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=TIMEOUT)
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class Malformed(ValueError):
    """A provider's item the adapter can't read; the reason names the field, never a secret."""


def decode_json(text: str) -> Any:
    """A JSON answer as Python values whose strings all encode as UTF-8; ValueError if not JSON.

    JSON may escape a lone surrogate ("\\ud800"): decoded as is, it would reach an event and
    make its commit fail on every re-read (SQLite takes UTF-8 only). Such strings keep a "?"
    in its place. A document nested deeper than the decoder recurses is not JSON to us either.
    """
    try:
        value = json.loads(text)
        # Only an escape can make a surrogate: most answers skip the walk.
        return _storable(value) if _SURROGATE_ESCAPE.search(text) else value
    except RecursionError:
        raise ValueError("nested too deeply") from None


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value


def _wait_header(headers: Mapping[str, str]) -> str | None:
    """How long a 429 asks to wait: Retry-After, or SendGrid's X-RateLimit-Reset (unix time)."""
    if "Retry-After" in headers:
        return headers["Retry-After"]
    reset = headers.get("X-RateLimit-Reset")
    if reset is None:
        return None
    try:
        return str(max(0.0, float(reset) - time.time()))
    except ValueError:
        return None


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the delta form; an HTTP date counts as one second)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return 1.0
