"""A fake of Cloudflare's API v4 on 127.0.0.1 (aiohttp): zones by name, TXT records read, added.

It serves what mail/cloudflare.py calls, as developers.cloudflare.com documents it (samples in
tests/fixtures/cloudflare/): `GET /zones?name=`, `GET /zones/{id}/dns_records?type=&name=&page=
&per_page=` and `POST /zones/{id}/dns_records` with `{type, name, content, ttl}`, every answer
in the `{success, errors, messages, result, result_info}` envelope, the token checked as
`Authorization: Bearer` (403 with code 9109 otherwise; `can_edit=False` answers 10000 to a
POST, a token without DNS edit permission).

    async with FakeDnsServer(records) as dns, FakeCloudflare(dns=dns) as cf:
        cf.add_zone("d0.test")
        cf.add_record("d0.test", "d0.test", "TXT", "v=spf1 -all")

With `dns`, a created TXT record is served by that local DNS server at once, so `/dns` checks
again against what Cloudflare now holds.
"""

from __future__ import annotations

import copy
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.http_app import serve

TOKEN = "cf-fake-token-0123456789abcdefghij"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cloudflare"


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    data.pop("_source", None)
    return data


ZONE = _fixture("zones_list.json")["result"][0]
RECORD = _fixture("dns_record_create.json")["result"]
INVALID_TOKEN = _fixture("error_invalid_token.json")
NO_PERMISSION = _fixture("error_authentication.json")


@dataclass(frozen=True, slots=True)
class Seen:
    """One request: method, path, query parameters and the JSON body of a POST."""

    method: str
    path: str
    params: dict[str, str]
    body: Any = None


@dataclass
class FakeCloudflare:
    """One account's zones and records in memory."""

    token: str = TOKEN
    dns: FakeDnsServer | None = None
    can_edit: bool = True
    zones: dict[str, str] = field(default_factory=dict)  # zone id -> name
    records: list[dict[str, Any]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    created: list[tuple[str, str, str]] = field(default_factory=list)  # (name, type, content)
    url: str = ""
    _runner: web.AppRunner | None = None

    def add_zone(self, name: str) -> str:
        """A zone; its id."""
        zone_id = secrets.token_hex(16)
        self.zones[zone_id] = name
        return zone_id

    def add_record(self, zone: str, name: str, kind: str, content: str) -> dict[str, Any]:
        """A record already in a zone (by zone name), as Cloudflare stores it."""
        zone_id = next(i for i, n in self.zones.items() if n == zone)
        return self._store(zone_id, name, kind, content, ttl=1)

    def posts(self) -> list[Seen]:
        """Every POST, accepted or not."""
        return [s for s in self.seen if s.method == "POST"]

    def _store(self, zone_id: str, name: str, kind: str, content: str, ttl: int) -> dict[str, Any]:
        record: dict[str, Any] = copy.deepcopy(RECORD)
        record.update(
            id=secrets.token_hex(16),
            zone_id=zone_id,
            zone_name=self.zones[zone_id],
            name=name.lower(),
            type=kind,
            content=content,
            ttl=ttl,
        )
        self.records.append(record)
        if self.dns is not None and kind == "TXT":
            key = (name.lower(), "TXT")
            self.dns.records[key] = [*self.dns.records.get(key, []), _unquoted(content)]
        return record

    async def __aenter__(self) -> FakeCloudflare:
        app = web.Application()
        app.router.add_get("/client/v4/zones", self._zones)
        app.router.add_get("/client/v4/zones/{zone}/dns_records", self._list)
        app.router.add_post("/client/v4/zones/{zone}/dns_records", self._create)
        self._runner, port = await serve(app)
        self.url = f"http://127.0.0.1:{port}/client/v4"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    @staticmethod
    def _envelope(result: Any, info: dict[str, int] | None = None) -> web.Response:
        body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
        if info is not None:
            body["result_info"] = info
        return web.json_response(body)

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        body = {"success": False, "errors": [{"code": code, "message": message}]}
        return web.json_response({**body, "messages": [], "result": None}, status=status)

    async def _zones(self, request: web.Request) -> web.Response:
        self.seen.append(Seen("GET", request.path, dict(request.query)))
        if not self._authorised(request):
            return web.json_response(INVALID_TOKEN, status=403)
        name = request.query.get("name", "").lower()
        zones = [
            {**copy.deepcopy(ZONE), "id": zone_id, "name": zone}
            for zone_id, zone in self.zones.items()
            if not name or zone == name
        ]
        info = {"count": len(zones), "page": 1, "per_page": 20}
        return self._envelope(zones, {**info, "total_count": len(zones), "total_pages": 1})

    async def _list(self, request: web.Request) -> web.Response:
        self.seen.append(Seen("GET", request.path, dict(request.query)))
        if not self._authorised(request):
            return web.json_response(INVALID_TOKEN, status=403)
        zone_id = request.match_info["zone"]
        if zone_id not in self.zones:
            return self._error(404, 7003, f"Could not route to /zones/{zone_id}/dns_records")
        kind = request.query.get("type")
        name = request.query.get("name", "").lower()
        matching = [
            r
            for r in self.records
            if r["zone_id"] == zone_id and (not kind or r["type"] == kind)
            if not name or r["name"] == name
        ]
        page = int(request.query.get("page", "1"))
        per_page = int(request.query.get("per_page", "100"))
        chunk = matching[(page - 1) * per_page : page * per_page]
        pages = max(1, -(-len(matching) // per_page))
        info = {"count": len(chunk), "page": page, "per_page": per_page}
        return self._envelope(chunk, {**info, "total_count": len(matching), "total_pages": pages})

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.seen.append(Seen("POST", request.path, dict(request.query), body))
        if not self._authorised(request):
            return web.json_response(INVALID_TOKEN, status=403)
        if not self.can_edit:
            return web.json_response(NO_PERMISSION, status=403)
        zone_id = request.match_info["zone"]
        if zone_id not in self.zones:
            return self._error(404, 7003, f"Could not route to /zones/{zone_id}/dns_records")
        if not isinstance(body, dict) or not all(
            isinstance(body.get(k), str) and body[k] for k in ("type", "name", "content")
        ):
            return self._error(400, 9000, "DNS name, type and content are required")
        if any(
            r["zone_id"] == zone_id
            and r["name"] == body["name"].lower()
            and r["type"] == body["type"]
            and _unquoted(r["content"]) == _unquoted(body["content"])
            for r in self.records
        ):
            return self._error(400, 81058, "An identical record already exists.")
        ttl = body.get("ttl", 1)
        record = self._store(zone_id, body["name"], body["type"], body["content"], ttl)
        self.created.append((body["name"], body["type"], body["content"]))
        return self._envelope(record)


def _unquoted(content: str) -> str:
    """A TXT content as text: Cloudflare shows long ones as quoted chunks."""
    text = content.strip()
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return "".join(part for i, part in enumerate(text.split('"')) if i % 2 == 1)
    return text
