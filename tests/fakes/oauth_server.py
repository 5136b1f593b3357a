"""A fake OAuth 2.0 token endpoint (aiohttp) on 127.0.0.1, and the bearer check mail servers ask.

`POST /token` takes the refresh-token grant as Google and Microsoft do and answers with their
documented shapes (tests/fixtures/oauth/<provider>_refresh.json): a new access token, or a 400
`invalid_grant` / 401 `invalid_client`. The fake SMTP server checks a token with `valid()`;
Dovecot's oauth2 passdb asks `POST /introspect` (introspection_mode = post, RFC 7662 style
`{"active": true, "username": ...}`). `expire()` makes every token issued so far lapse on the
provider's side, as the passing of its expires_in would.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from aiohttp import web

from tests.fakes.http_app import serve

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "oauth"
HOST = "127.0.0.1"


def documented(provider: str) -> dict[str, Any]:
    """The provider's documented replies: {"ok": ..., "invalid_grant": ...}."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{provider}_refresh.json").read_text("utf-8"))
    return data


@dataclass
class FakeTokenEndpoint:
    """Issues access tokens for known refresh tokens; counts every grant it answers."""

    client_id: str
    client_secret: str
    refresh_tokens: Mapping[str, str]  # refresh token -> the user it stands for
    provider: Literal["google", "microsoft"] = "microsoft"
    lifetime: int = 3599  # expires_in of every token issued
    rotate: bool = False  # answer each grant with a new refresh token, the old one then refused

    grants: int = field(default=0, init=False)  # tokens issued
    refusals: int = field(default=0, init=False)
    forms: list[dict[str, str]] = field(default_factory=list, init=False)  # as posted
    introspections: int = field(default=0, init=False)
    port: int = field(default=0, init=False)
    _live: dict[str, str] = field(default_factory=dict, init=False)  # access token -> user
    _accounts: dict[str, str] = field(default_factory=dict, init=False)
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1), init=False)
    _runner: web.AppRunner | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        """The token endpoint (a config's `token_url`)."""
        return f"http://{HOST}:{self.port}/token"

    @property
    def introspection_url(self) -> str:
        """Where Dovecot checks a bearer token."""
        return f"http://{HOST}:{self.port}/introspect"

    def valid(self, user: str, token: str) -> bool:
        """Whether `token` is a live access token of `user`."""
        return self._live.get(token) == user

    def expire(self) -> None:
        """Every access token issued so far lapses (a client must refresh)."""
        self._live.clear()

    def revoke(self, refresh_token: str) -> None:
        """The user withdrew consent: the refresh token is refused from now on."""
        self._accounts.pop(refresh_token, None)

    async def start(self) -> None:
        """Listen on a free port."""
        self._accounts = dict(self.refresh_tokens)
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post("/introspect", self._introspect)
        self._runner, self.port = await serve(app, HOST)

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTokenEndpoint:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _token(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        self.forms.append(form)
        replies = documented(self.provider)
        if form.get("client_id") != self.client_id or (
            self.client_secret and form.get("client_secret") != self.client_secret
        ):
            self.refusals += 1
            return web.json_response({"error": "invalid_client"}, status=401)
        user = self._accounts.get(form.get("refresh_token", ""))
        if form.get("grant_type") != "refresh_token" or user is None:
            self.refusals += 1
            return web.json_response(replies["invalid_grant"], status=400)
        serial = next(self._serial)
        token = f"at-{user}-{serial}-Zq9x"
        self._live[token] = user
        self.grants += 1
        reply = {**replies["ok"], "access_token": token, "expires_in": self.lifetime}
        if self.rotate:
            del self._accounts[form["refresh_token"]]
            fresh = f"rt-{user}-{serial}-Kp4w"
            self._accounts[fresh] = user
            reply["refresh_token"] = fresh
        elif "refresh_token" in reply:
            reply["refresh_token"] = form["refresh_token"]
        return web.json_response(reply)

    async def _introspect(self, request: web.Request) -> web.Response:
        self.introspections += 1
        token = str((await request.post()).get("token", ""))
        if not token:
            token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        user = self._live.get(token)
        if user is None:
            return web.json_response({"active": False})
        return web.json_response({"active": True, "username": user})
