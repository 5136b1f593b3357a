"""mail/cloudflare.py against a fake of Cloudflare's documented API (tests/fakes/cloudflare.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from core.errors import ConflictError, LoginRefused, PeerUnavailable
from mail.cloudflare import AUTO_TTL, CloudflareDns, open_cloudflare, txt_content
from tests.fakes.cloudflare import FIXTURES, TOKEN, FakeCloudflare


@pytest.fixture
async def cf() -> AsyncIterator[FakeCloudflare]:
    async with FakeCloudflare() as fake:
        yield fake


def test_txt_content_joins_quoted_chunks() -> None:
    sample = json.loads((FIXTURES / "dns_records_list.json").read_text())
    assert txt_content(sample["result"][0]["content"]) == "v=spf1 include:_spf.google.com ~all"
    assert txt_content('"v=DKIM1; p=AB" "CD\\"E"') == 'v=DKIM1; p=ABCD"E'
    assert txt_content("v=spf1 -all") == "v=spf1 -all"


async def test_zone_records_and_create_as_documented(cf: FakeCloudflare) -> None:
    zone = cf.add_zone("brand.com")
    cf.add_zone("other.com")
    cf.add_record("brand.com", "brand.com", "TXT", '"v=spf1 include:mailgun.org ~all"')
    cf.add_record("brand.com", "brand.com", "MX", "mxa.mailgun.org")
    async with open_cloudflare(cf.url, TOKEN) as api:
        assert await api.zone_id("brand.com") == zone
        assert await api.zone_id("nowhere.com") is None
        assert await api.txt_records(zone, "brand.com") == ["v=spf1 include:mailgun.org ~all"]
        await api.create_txt(zone, "_dmarc.brand.com", "v=DMARC1; p=none")
        assert await api.txt_records(zone, "_dmarc.brand.com") == ["v=DMARC1; p=none"]
    assert cf.posts()[0].body == {
        "type": "TXT",
        "name": "_dmarc.brand.com",
        "content": "v=DMARC1; p=none",
        "ttl": AUTO_TTL,
    }
    assert cf.seen[0].params == {"name": "brand.com"}
    assert cf.seen[2].params == {"type": "TXT", "name": "brand.com", "page": "1", "per_page": "100"}


async def test_every_page_is_read(cf: FakeCloudflare) -> None:
    zone = cf.add_zone("brand.com")
    for i in range(5):
        cf.add_record("brand.com", "brand.com", "TXT", f"verification={i}")
    async with aiohttp.ClientSession() as session:
        api = CloudflareDns(cf.url, TOKEN, session, per_page=2)
        records = await api.txt_records(zone, "brand.com")
    assert records == [f"verification={i}" for i in range(5)]
    assert [s.params["page"] for s in cf.seen] == ["1", "2", "3"]


async def test_an_identical_record_is_a_conflict(cf: FakeCloudflare) -> None:
    zone = cf.add_zone("brand.com")
    cf.add_record("brand.com", "brand.com", "TXT", "v=spf1 -all")
    async with open_cloudflare(cf.url, TOKEN) as api:
        with pytest.raises(ConflictError, match="81058: An identical record already exists"):
            await api.create_txt(zone, "brand.com", "v=spf1 -all")


async def test_a_refused_token_is_login_refused_and_never_quoted(
    cf: FakeCloudflare, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    zone = cf.add_zone("brand.com")
    wrong = "wrong-token-Zq9-UNIQUE"
    async with open_cloudflare(cf.url, wrong) as api:
        with pytest.raises(LoginRefused) as caught:
            await api.zone_id("brand.com")
        assert wrong not in repr(api)
    assert str(caught.value) == "Cloudflare refused the token (9109: Invalid access token)"
    cf.can_edit = False
    async with open_cloudflare(cf.url, TOKEN) as api:
        with pytest.raises(LoginRefused, match=r"10000: Authentication error"):
            await api.create_txt(zone, "brand.com", "v=spf1 -all")
    assert wrong not in caplog.text and TOKEN not in caplog.text
    assert cf.records == []


async def test_an_unreachable_or_failing_api_is_peer_unavailable() -> None:
    async def boom(request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>bad gateway</html>")

    app = web.Application()
    app.router.add_get("/v4/zones", boom)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with open_cloudflare(f"http://127.0.0.1:{port}/v4", TOKEN) as api:
            with pytest.raises(PeerUnavailable, match="HTTP 502"):
                await api.zone_id("brand.com")
    finally:
        await runner.cleanup()
    async with open_cloudflare(f"http://127.0.0.1:{port}/v4", TOKEN) as api:
        with pytest.raises(PeerUnavailable, match="unreachable"):
            await api.zone_id("brand.com")
