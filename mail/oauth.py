"""OAuth 2.0 access tokens for XOAUTH2 logins: the refresh-token grant, cached until near expiry.

One `OAuthTokens` serves the SMTP sender and the IMAP reader alike, so a mailbox's two logins
and any number of concurrent sends share one token and one refresh. The grant is RFC 6749
section 6 as Google (https://oauth2.googleapis.com/token) and Microsoft
(https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token) document it: a form POST of
grant_type=refresh_token, client_id, client_secret (when set), refresh_token and, for Microsoft,
the scope; the JSON reply holds access_token and expires_in (seconds), Microsoft's also a new
refresh_token. A refusal is a JSON `error` code (400 invalid_grant, 401 invalid_client).
No token or secret is ever logged or put in an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from core.connect import one_line, scrub
from core.errors import LoginRefused, PeerUnavailable
from core.specs import OAuthLogin

log = logging.getLogger(__name__)

# A token is renewed this long before the provider says it expires: a login that starts just
# before the end must not present a token that lapses mid-handshake, and clocks drift.
MARGIN = 300.0
_DEFAULT_LIFETIME = 3600  # seconds, when a reply leaves out expires_in (both send it)
_REFUSED = frozenset({400, 401, 403})  # the grant itself is refused: a person must act


@dataclass(slots=True)
class _Grant:
    token: str = field(repr=False)
    renew_at: float  # on the clock of OAuthTokens
    refresh_token: str = field(repr=False)  # the newest one: Microsoft hands out a new one


_Key = tuple[str, str, str]


def _key(login: OAuthLogin) -> _Key:
    # One cache entry per refresh token at its endpoint: a mailbox's SMTP and IMAP logins, or
    # aliases sending as one account, share it.
    return (login.endpoint, login.client_id, login.refresh_token)


class OAuthTokens:
    """Access tokens by refresh token, cached until `margin` before expiry; one refresh at once."""

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        margin: float = MARGIN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout = timeout
        self._margin = margin
        self._clock = clock  # seconds; a test's manual clock makes a token expire at will
        self._grants: dict[_Key, _Grant] = {}
        self._locks: dict[_Key, asyncio.Lock] = {}
        self._session: aiohttp.ClientSession | None = None

    async def access_token(self, login: OAuthLogin, *, refused: str | None = None) -> str:
        """A usable access token for `login`; `refused`: one the server just turned down.

        Raises LoginRefused when the token endpoint refuses the refresh token or client,
        PeerUnavailable when it can't be reached or answers with no usable token.
        """
        key = _key(login)
        grant = self._usable(key, refused)
        if grant is not None:
            return grant.token
        # Concurrent logins of one account wait here for the one refresh under way, then take
        # its token instead of posting the grant again.
        async with self._locks.setdefault(key, asyncio.Lock()):
            grant = self._usable(key, refused)
            if grant is None:
                grant = await self._refresh(login, self._grants.get(key))
                self._grants[key] = grant
            return grant.token

    async def close(self) -> None:
        """Close the HTTP session."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _usable(self, key: _Key, refused: str | None) -> _Grant | None:
        grant = self._grants.get(key)
        if grant is None or self._clock() >= grant.renew_at:
            return None
        if refused is not None and grant.token == refused:
            return None  # revoked early, or the server's clock is ahead: fetch a new one
        return grant

    async def _refresh(self, login: OAuthLogin, previous: _Grant | None) -> _Grant:
        refresh_token = previous.refresh_token if previous is not None else login.refresh_token
        form = {
            "grant_type": "refresh_token",
            "client_id": login.client_id,
            "refresh_token": refresh_token,
        }
        if login.client_secret:
            form["client_secret"] = login.client_secret
        if login.scope is not None:
            form["scope"] = login.scope
        secrets = (refresh_token, login.refresh_token, login.client_secret)
        where = f"the {login.provider} token endpoint"
        try:
            status, reply = await self._post(login.endpoint, form)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PeerUnavailable(
                f"OAuth: {where} could not be reached ({_mask(type(exc).__name__, secrets)})"
            ) from None
        if status in _REFUSED:
            code = _field(reply, "error") or f"HTTP {status}"
            detail = _field(reply, "error_description")
            text = f"{code}: {detail}" if detail else code
            # "bad credentials" as the alerts of a refused password say it (SPEC 4).
            raise LoginRefused(
                f"bad credentials: {where} refused the OAuth refresh token "
                f"({_mask(text, secrets)[:200]})"
            )
        token = _field(reply, "access_token")
        if status != 200 or not token:
            raise PeerUnavailable(f"OAuth: {where} answered HTTP {status} with no access token")
        lifetime = reply.get("expires_in", _DEFAULT_LIFETIME)
        if isinstance(lifetime, str) and lifetime.isdigit():
            lifetime = int(lifetime)
        if not isinstance(lifetime, int) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = _DEFAULT_LIFETIME
        # A short-lived token is renewed halfway through rather than never being fresh.
        renew_at = self._clock() + lifetime - min(self._margin, lifetime / 2)
        log.info("OAuth: new access token from %s, valid %d s", where, lifetime)
        rotated = _field(reply, "refresh_token") or refresh_token
        return _Grant(token, renew_at, rotated)

    async def _post(self, url: str, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        async with self._session.post(url, data=form) as response:
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = None
            return response.status, body if isinstance(body, dict) else {}


def _field(reply: dict[str, object], name: str) -> str:
    value = reply.get(name)
    return value if isinstance(value, str) else ""


def _mask(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = scrub(text, secret)
    return one_line(text)
