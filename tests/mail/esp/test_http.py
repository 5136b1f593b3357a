"""JsonApi's shared retry rules against a tiny scripted aiohttp server on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from core.connect import Verdict
from core.errors import LoginRefused, PeerUnavailable
from mail.esp.http import JsonApi

SECRET = "Bearer tok-S3cret-abcdef"


@dataclass(frozen=True)
class Answer:
    """One scripted answer: status, body text, extra headers."""

    status: int
    text: str = '{"ok": true}'
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass
class Scripted:
    """Answers requests in order from `script` (the last one repeats); records each one."""

    script: list[Answer] = field(default_factory=list)
    seen: list[web.Request] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(request)
        answer = self.script[min(len(self.seen), len(self.script)) - 1]
        return web.Response(
            status=answer.status,
            text=answer.text,
            headers=answer.headers,
            content_type=answer.content_type,
        )


@dataclass
class Sleeps:
    """An injected sleep: records each delay and returns at once."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
async def server() -> AsyncIterator[Scripted]:
    scripted = Scripted()
    app = web.Application()
    app.router.add_get("/{tail:.*}", scripted.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sockets = site._server.sockets  # type: ignore[union-attr]  # noqa: SLF001
    scripted.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    yield scripted
    await runner.cleanup()


async def get(server: Scripted, sleeps: Sleeps, path: str = "/v1/things") -> object:
    api = JsonApi(server.url, provider="acme", headers={"Authorization": SECRET}, sleep=sleeps)
    try:
        return (await api.get(path, {"limit": "2"})).body
    finally:
        await api.close()


async def test_json_with_the_headers_and_params(server: Scripted) -> None:
    server.script = [Answer(200, '{"items": [1, 2]}')]
    assert await get(server, Sleeps()) == {"items": [1, 2]}
    (request,) = server.seen
    assert request.headers["Authorization"] == SECRET
    assert request.path == "/v1/things"
    assert dict(request.query) == {"limit": "2"}


async def test_429_waits_for_retry_after(server: Scripted) -> None:
    server.script = [Answer(429, "slow down", {"Retry-After": "1"}), Answer(200)]
    sleeps = Sleeps()
    assert await get(server, sleeps) == {"ok": True}
    assert sleeps.delays == [1.0]
    assert len(server.seen) == 2


async def test_429_without_retry_after_waits_for_the_rate_limit_reset(server: Scripted) -> None:
    reset = str(int(time.time()) + 30)  # SendGrid's way: the unix time the limit resets
    server.script = [Answer(429, "too many requests", {"X-RateLimit-Reset": reset}), Answer(200)]
    sleeps = Sleeps()
    assert await get(server, sleeps) == {"ok": True}
    [delay] = sleeps.delays
    assert 28.0 <= delay <= 30.0


async def test_a_long_retry_after_is_left_to_the_next_poll(server: Scripted) -> None:
    server.script = [Answer(429, "slow down", {"Retry-After": "3600"})]
    sleeps = Sleeps()
    with pytest.raises(PeerUnavailable, match="429"):
        await get(server, sleeps)
    assert sleeps.delays == []
    assert len(server.seen) == 1


async def test_5xx_is_retried_with_back_off_then_unavailable(server: Scripted) -> None:
    server.script = [Answer(503, "down for maintenance")]
    sleeps = Sleeps()
    with pytest.raises(PeerUnavailable, match="503 down for maintenance") as raised:
        await get(server, sleeps)
    assert sleeps.delays == [1.0, 2.0, 4.0]
    assert len(server.seen) == 4
    assert SECRET not in str(raised.value)


async def test_a_5xx_then_success_returns_the_answer(server: Scripted) -> None:
    server.script = [Answer(500, "oops"), Answer(502, "bad gateway"), Answer(200, "[1]")]
    sleeps = Sleeps()
    assert await get(server, sleeps) == [1]
    assert sleeps.delays == [1.0, 2.0]


@pytest.mark.parametrize("status", [401, 403])
async def test_401_and_403_are_login_refused_at_once(server: Scripted, status: int) -> None:
    server.script = [Answer(status, '{"message": "Forbidden"}')]
    sleeps = Sleeps()
    with pytest.raises(LoginRefused, match=f"acme: {status}") as raised:
        await get(server, sleeps)
    assert len(server.seen) == 1
    assert sleeps.delays == []
    assert SECRET not in str(raised.value)


async def test_an_answer_that_is_not_json_is_unavailable(server: Scripted) -> None:
    server.script = [Answer(200, "<html>maintenance</html>", content_type="text/html")]
    with pytest.raises(PeerUnavailable, match="not JSON"):
        await get(server, Sleeps())
    assert len(server.seen) == 1


async def test_lone_surrogate_escapes_come_back_storable(server: Scripted) -> None:
    # A lone \ud800 would reach an event and fail its commit on every re-read of the page.
    text = '{"email": "x\\ud800@a.com", "list": ["\\udfff"], "pair": "\\ud83d\\ude00"}'
    server.script = [Answer(200, text)]
    body = await get(server, Sleeps())
    assert body == {"email": "x?@a.com", "list": ["?"], "pair": "\U0001f600"}


async def test_an_answer_nested_too_deeply_is_unavailable(server: Scripted) -> None:
    server.script = [Answer(200, "[" * 100_000 + "]" * 100_000)]
    with pytest.raises(PeerUnavailable, match="not JSON"):
        await get(server, Sleeps())


async def test_404_is_unavailable_without_retries(server: Scripted) -> None:
    server.script = [Answer(404, '{"message": "Domain not found"}')]
    sleeps = Sleeps()
    with pytest.raises(PeerUnavailable, match="404"):
        await get(server, sleeps)
    assert len(server.seen) == 1
    assert sleeps.delays == []


async def test_an_absolute_url_is_kept(server: Scripted) -> None:
    server.script = [Answer(200, "{}")]
    assert await get(server, Sleeps(), f"{server.url}/v3/next/page") == {}
    assert server.seen[0].path == "/v3/next/page"


async def test_nothing_listening_is_unavailable_after_retries() -> None:
    sleeps = Sleeps()
    with socket.socket() as sock:  # a port bound, then released: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api = JsonApi(f"http://127.0.0.1:{port}", provider="acme", sleep=sleeps)
    try:
        with pytest.raises(PeerUnavailable, match="acme"):
            await api.get("/v1/things")
    finally:
        await api.close()
    assert sleeps.delays == [1.0, 2.0, 4.0]


@pytest.mark.parametrize(
    ("status", "verdict"), [(401, Verdict.REFUSED), (503, Verdict.UNREACHABLE), (200, Verdict.OK)]
)
async def test_probe_gives_a_verdict_and_masks_a_key_the_provider_echoes(
    server: Scripted, status: int, verdict: Verdict
) -> None:
    key = "key-Zq9-echoed"
    server.script = [Answer(status, f'{{"message": "bad key {key}"}}')]
    api = JsonApi(server.url, provider="acme", secret=key, sleep=Sleeps(), tries=1)
    try:
        result = await api.probe("/v1/things")
    finally:
        await api.close()
    assert result.verdict is verdict
    assert key not in result.detail
    if verdict is not Verdict.OK:
        assert "***" in result.detail
