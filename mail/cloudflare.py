"""Cloudflare's API v4, the part `/dns fix` uses: zone by name, TXT records listed and added.

Every answer is the documented envelope {success, errors, messages, result, result_info}
(samples in tests/fixtures/cloudflare/). The token goes in the Authorization header only:
errors quote Cloudflare's error codes and messages, never a header or the token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp

from core.errors import ConflictError, LoginRefused, PeerUnavailable

log = logging.getLogger("outreach.dns")

TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=10)
PER_PAGE = 100  # the largest page of DNS records Cloudflare documents
MAX_PAGES = 50  # a zone with more TXT records at one name than this is not a mail domain
AUTO_TTL = 1  # Cloudflare's "automatic" TTL
# Codes Cloudflare answers a bad, expired or under-privileged token with (Authentication
# error, Invalid access token, invalid request headers / Authorization format...).
AUTH_CODES = frozenset({10000, 9109, 9106, 9103, 6003, 6111, 10001})


def _errors(body: Any) -> list[tuple[int | None, str]]:
    """(code, message) of each entry of an envelope's `errors`."""
    out: list[tuple[int | None, str]] = []
    errors = body.get("errors") if isinstance(body, dict) else None
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            code = error.get("code")
            out.append((code if isinstance(code, int) else None, str(error.get("message", ""))))
    return out


def _describe(errors: list[tuple[int | None, str]]) -> str:
    return "; ".join(f"{code}: {text}" if code is not None else text for code, text in errors)


def txt_content(content: str) -> str:
    """A TXT record's text: Cloudflare may return it as quoted chunks ("a" "b"); joined here."""
    text = content.strip()
    if not (text.startswith('"') and text.endswith('"') and len(text) >= 2):
        return text
    chunks: list[str] = []
    current: list[str] = []
    inside = escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif inside and char == "\\":
            escaped = True
        elif char == '"':
            if inside:
                chunks.append("".join(current))
                current = []
            inside = not inside
        elif inside:
            current.append(char)
    return "".join(chunks)


class CloudflareDns:
    """The DNS records API of one account, over one aiohttp session."""

    def __init__(
        self, base_url: str, token: str, session: aiohttp.ClientSession, *, per_page: int = PER_PAGE
    ) -> None:
        self._base = base_url.rstrip("/")
        self._per_page = per_page
        self._session = session
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def __repr__(self) -> str:
        return f"CloudflareDns({self._base!r})"

    async def zone_id(self, name: str) -> str | None:
        """The id of the zone named `name`, or None."""
        body = await self._call("GET", "/zones", params={"name": name})
        for zone in _results(body):
            if str(zone.get("name", "")).lower() == name.lower() and zone.get("id"):
                return str(zone["id"])
        return None

    async def txt_records(self, zone_id: str, name: str) -> list[str]:
        """The TXT records at `name`, every page read."""
        contents: list[str] = []
        for page in range(1, MAX_PAGES + 1):
            params = {
                "type": "TXT",
                "name": name,
                "page": str(page),
                "per_page": str(self._per_page),
            }
            body = await self._call("GET", f"/zones/{quote(zone_id, safe='')}/dns_records", params)
            contents += [txt_content(str(record.get("content", ""))) for record in _results(body)]
            info = body.get("result_info")
            pages = info.get("total_pages") if isinstance(info, dict) else None
            if not isinstance(pages, int) or page >= pages:
                break
        return contents

    async def create_txt(self, zone_id: str, name: str, content: str) -> None:
        """POST one TXT record, not proxied, automatic TTL."""
        record = {"type": "TXT", "name": name, "content": content, "ttl": AUTO_TTL}
        await self._call("POST", f"/zones/{quote(zone_id, safe='')}/dns_records", json_body=record)

    async def _call(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One request; the envelope when `success`, else the error that says why."""
        url = self._base + path
        try:
            async with self._session.request(
                method, url, params=params, json=json_body, headers=self._headers, timeout=TIMEOUT
            ) as response:
                status = response.status
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise PeerUnavailable(
                f"Cloudflare API at {self._base} unreachable ({type(exc).__name__})"
            ) from None
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        errors = _errors(body)
        codes = {code for code, _ in errors}
        if status in (401, 403) or codes & AUTH_CODES:
            detail = _describe(errors) or f"HTTP {status}"
            raise LoginRefused(f"Cloudflare refused the token ({detail})")
        if status == 429 or status >= 500 or not isinstance(body, dict):
            raise PeerUnavailable(f"Cloudflare API answered HTTP {status}; try again later")
        if not body.get("success", False) or status >= 400:
            raise ConflictError(f"Cloudflare refused it ({_describe(errors) or f'HTTP {status}'})")
        return body


def _results(body: dict[str, Any]) -> list[dict[str, Any]]:
    result = body.get("result")
    return [item for item in result if isinstance(item, dict)] if isinstance(result, list) else []


@asynccontextmanager
async def open_cloudflare(base_url: str, token: str) -> AsyncIterator[CloudflareDns]:
    """A client on a session of its own, closed when the block ends."""
    async with aiohttp.ClientSession() as session:
        yield CloudflareDns(base_url, token, session)
