"""The OAuth token source against a fake token endpoint: the grant, the cache, refusals."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from core.errors import LoginRefused, PeerUnavailable
from core.specs import MICROSOFT_MAIL_SCOPE, OAuthLogin
from mail.oauth import MARGIN, OAuthTokens
from tests.fakes.oauth_server import FakeTokenEndpoint

USER = "alex@brand-news.com"
CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
CLIENT_SECRET = "client-S3cret-Vq7"
REFRESH = "refresh-T0ken-Mw2"
LIFETIME = 3599


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def endpoint() -> AsyncIterator[FakeTokenEndpoint]:
    fake = FakeTokenEndpoint(CLIENT_ID, CLIENT_SECRET, {REFRESH: USER}, lifetime=LIFETIME)
    async with fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def tokens(clock: Clock) -> AsyncIterator[OAuthTokens]:
    source = OAuthTokens(timeout=5.0, clock=clock)
    yield source
    await source.close()


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    text = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (CLIENT_SECRET, REFRESH, "Zq9x"):  # every issued access token ends so
        assert secret not in text


def login(endpoint: FakeTokenEndpoint, **changes: str) -> OAuthLogin:
    fields = {
        "provider": "microsoft",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH,
        "token_url": endpoint.url,
        **changes,
    }
    return OAuthLogin(**fields)  # type: ignore[arg-type]


def test_provider_endpoints_and_a_repr_without_secrets() -> None:
    google = OAuthLogin("google", "cid", refresh_token=REFRESH, client_secret=CLIENT_SECRET)
    assert google.endpoint == "https://oauth2.googleapis.com/token"
    assert google.scope is None
    microsoft = OAuthLogin("microsoft", "cid", refresh_token=REFRESH, tenant="contoso.com")
    assert microsoft.endpoint == "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"
    assert microsoft.scope == MICROSOFT_MAIL_SCOPE
    for value in (google, microsoft):
        assert REFRESH not in repr(value)
        assert CLIENT_SECRET not in repr(value)


async def test_the_refresh_grant_as_microsoft_documents_it_then_the_cache(
    endpoint: FakeTokenEndpoint, tokens: OAuthTokens
) -> None:
    first = await tokens.access_token(login(endpoint))
    again = await tokens.access_token(login(endpoint))
    assert first == again
    assert endpoint.valid(USER, first)
    assert endpoint.grants == 1
    assert endpoint.forms == [
        {
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH,
            "scope": MICROSOFT_MAIL_SCOPE,
        }
    ]


async def test_google_posts_no_scope(tokens: OAuthTokens) -> None:
    async with FakeTokenEndpoint(
        CLIENT_ID, CLIENT_SECRET, {REFRESH: USER}, provider="google"
    ) as google:
        token = await tokens.access_token(login(google, provider="google"))
        assert google.valid(USER, token)
        assert "scope" not in google.forms[0]


async def test_renewed_a_margin_before_it_expires(
    endpoint: FakeTokenEndpoint, tokens: OAuthTokens, clock: Clock
) -> None:
    first = await tokens.access_token(login(endpoint))
    clock.now += LIFETIME - MARGIN - 1
    assert await tokens.access_token(login(endpoint)) == first
    clock.now += 1
    second = await tokens.access_token(login(endpoint))
    assert second != first
    assert endpoint.grants == 2


async def test_concurrent_callers_share_one_refresh(
    endpoint: FakeTokenEndpoint, tokens: OAuthTokens, clock: Clock
) -> None:
    found = await asyncio.gather(*(tokens.access_token(login(endpoint)) for _ in range(5)))
    assert len(set(found)) == 1
    assert endpoint.grants == 1
    clock.now += LIFETIME  # all expired: again one refresh for the lot
    renewed = await asyncio.gather(*(tokens.access_token(login(endpoint)) for _ in range(5)))
    assert len(set(renewed)) == 1
    assert renewed[0] != found[0]
    assert endpoint.grants == 2


async def test_a_token_the_server_turned_down_is_replaced(
    endpoint: FakeTokenEndpoint, tokens: OAuthTokens
) -> None:
    first = await tokens.access_token(login(endpoint))
    endpoint.expire()  # revoked early on the provider's side
    second = await tokens.access_token(login(endpoint), refused=first)
    assert second != first
    assert endpoint.valid(USER, second)
    # A refusal of an older token than the cached one costs no new grant.
    assert await tokens.access_token(login(endpoint), refused=first) == second
    assert endpoint.grants == 2


async def test_a_rotated_refresh_token_is_used_for_the_next_refresh(
    tokens: OAuthTokens, clock: Clock
) -> None:
    async with FakeTokenEndpoint(CLIENT_ID, CLIENT_SECRET, {REFRESH: USER}, rotate=True) as fake:
        await tokens.access_token(login(fake))
        clock.now += LIFETIME
        token = await tokens.access_token(login(fake))
        assert fake.valid(USER, token)
        assert fake.forms[1]["refresh_token"] != REFRESH
        assert fake.refusals == 0


async def test_a_refused_refresh_token_is_login_refused_with_the_providers_code(
    endpoint: FakeTokenEndpoint, tokens: OAuthTokens
) -> None:
    endpoint.revoke(REFRESH)
    with pytest.raises(LoginRefused) as refused:
        await tokens.access_token(login(endpoint))
    text = str(refused.value)
    assert "invalid_grant" in text
    assert "AADSTS70000" in text
    assert REFRESH not in text
    assert CLIENT_SECRET not in text
    assert "\n" not in text


async def test_a_wrong_client_secret_is_login_refused(
    endpoint: FakeTokenEndpoint, tokens: OAuthTokens
) -> None:
    with pytest.raises(LoginRefused, match="invalid_client"):
        await tokens.access_token(login(endpoint, client_secret="not-it"))


async def test_an_unreachable_endpoint_is_peer_unavailable(tokens: OAuthTokens) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gone = OAuthLogin(
        "google", CLIENT_ID, refresh_token=REFRESH, token_url=f"http://127.0.0.1:{port}/t"
    )
    with pytest.raises(PeerUnavailable) as unavailable:
        await tokens.access_token(gone)
    assert REFRESH not in str(unavailable.value)
