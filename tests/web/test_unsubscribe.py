"""Unsubscribe tokens and the one-click endpoint (SPEC 6.11, RFC 8058)."""

import re
import string
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from core.unsubscribe import make_token, mask_address, read_token
from web.unsubscribe import build_app, parse_listen, serve

SECRET = b"0123456789abcdef-test-secret"
ALPHABET = string.ascii_letters + string.digits + "-_"

# --- tokens --------------------------------------------------------------------------------------


@pytest.mark.parametrize("lead_id", [0, 1, 42, 1_000_000, 2**63 - 1])
def test_token_round_trip(lead_id: int) -> None:
    token = make_token(SECRET, lead_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token)  # URL-safe, no padding
    assert read_token(SECRET, token) == lead_id


def test_tokens_differ_per_lead_and_secret() -> None:
    assert make_token(SECRET, 1) != make_token(SECRET, 2)
    assert make_token(SECRET, 1) != make_token(SECRET + b"x", 1)
    assert read_token(SECRET + b"x", make_token(SECRET, 1)) is None


def test_every_single_character_change_is_rejected() -> None:
    token = make_token(SECRET, 12345)
    for position, original in enumerate(token):
        for replacement in ALPHABET:
            if replacement != original:
                altered = token[:position] + replacement + token[position + 1 :]
                assert read_token(SECRET, altered) is None, (position, replacement)


def test_truncated_and_extended_tokens_are_rejected() -> None:
    token = make_token(SECRET, 7)
    for length in range(len(token)):
        assert read_token(SECRET, token[:length]) is None
    for suffix in ("A", "=", "==", "\n", " "):
        assert read_token(SECRET, token + suffix) is None


def test_forged_tokens_are_rejected() -> None:
    # Another lead's id with a tag copied from a genuine token.
    genuine = make_token(SECRET, 1)
    other = make_token(SECRET, 2)
    assert read_token(SECRET, other[:11] + genuine[11:]) is None
    for junk in ("", "x", "A" * 32, "../../etc/passwd", "é" * 32, "+" * 32):
        assert read_token(SECRET, junk) is None


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        make_token(b"short", 1)
    with pytest.raises(ValueError, match="out of range"):
        make_token(SECRET, -1)
    with pytest.raises(ValueError, match="out of range"):
        make_token(SECRET, 2**63)


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("john@example.com", "j***@example.com"),
        ("j@example.com", "j***@example.com"),
        ("@example.com", "***@example.com"),
        ("nonsense", "***"),
    ],
)
def test_mask_address(address: str, masked: str) -> None:
    assert mask_address(address) == masked


# --- the endpoint --------------------------------------------------------------------------------


class FakeService:
    """Leads 1 and 2 exist; records every unsubscribe."""

    def __init__(self) -> None:
        self.addresses = {1: "jane@acme.test", 2: "bob@acme.test"}
        self.calls: list[int] = []
        self.unsubscribed: set[int] = set()

    async def unsubscribe(self, lead_id: int) -> bool:
        self.calls.append(lead_id)
        if lead_id not in self.addresses:
            return False
        self.unsubscribed.add(lead_id)
        return True

    async def describe(self, lead_id: int) -> str | None:
        address = self.addresses.get(lead_id)
        return None if address is None else mask_address(address)

    async def is_unsubscribed(self, lead_id: int) -> bool:
        return lead_id in self.unsubscribed


@pytest.fixture
def service() -> FakeService:
    return FakeService()


Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(service: FakeService) -> AsyncIterator[Client]:
    async with TestClient(TestServer(build_app(service, SECRET))) as test_client:
        yield test_client


async def test_one_click_post_unsubscribes_without_redirect(
    client: Client, service: FakeService
) -> None:
    token = make_token(SECRET, 1)
    response = await client.post(
        f"/u/{token}", data={"List-Unsubscribe": "One-Click"}, allow_redirects=False
    )
    assert response.status == 200
    assert "unsubscribed" in (await response.text()).lower()
    assert response.headers["Cache-Control"] == "no-store"
    assert "Location" not in response.headers
    assert "Set-Cookie" not in response.headers
    assert service.unsubscribed == {1}


async def test_post_without_a_body_works_too(client: Client, service: FakeService) -> None:
    response = await client.post(f"/u/{make_token(SECRET, 2)}", allow_redirects=False)
    assert response.status == 200
    assert service.unsubscribed == {2}


async def test_repeated_post_is_fine(client: Client, service: FakeService) -> None:
    url = f"/u/{make_token(SECRET, 1)}"
    for _ in range(3):
        response = await client.post(url, data={"List-Unsubscribe": "One-Click"})
        assert response.status == 200
    assert service.unsubscribed == {1}


async def test_get_shows_a_confirm_form_and_changes_nothing(
    client: Client, service: FakeService
) -> None:
    token = make_token(SECRET, 1)
    response = await client.get(f"/u/{token}")
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert "j***@acme.test" in page
    assert "jane@" not in page
    form = re.search(r'<form method="post" action="([^"]*)">', page)
    assert form is not None
    # A relative action equal to the token resolves to this very URL.
    assert form.group(1) == token
    assert str(response.url.join(URL(form.group(1)))) == str(response.url)
    assert '<button type="submit">' in page
    # Nothing loaded from elsewhere: no scripts, images, links or external styles.
    assert not re.search(r"<(script|img|link|iframe)|https?://|src=", page, re.IGNORECASE)
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert service.calls == []
    assert service.unsubscribed == set()


async def test_get_after_unsubscribing_says_so_without_a_form(
    client: Client, service: FakeService
) -> None:
    url = f"/u/{make_token(SECRET, 1)}"
    assert (await client.post(url)).status == 200
    response = await client.get(url)
    assert response.status == 200
    page = await response.text()
    assert page.startswith("You are unsubscribed.")
    assert "<form" not in page


async def test_confirm_form_posts_back(client: Client, service: FakeService) -> None:
    url = f"/u/{make_token(SECRET, 2)}"
    page = await (await client.get(url)).text()
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    response = await client.post(url, data=fields, allow_redirects=False)
    assert response.status == 200
    assert service.unsubscribed == {2}


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_forged_token_is_404_and_records_nothing(
    client: Client, service: FakeService, method: str
) -> None:
    genuine = make_token(SECRET, 1)
    forged = genuine[:-1] + ("A" if genuine[-1] != "A" else "B")
    for token in (forged, make_token(b"another-secret-of-16b", 1), "x", "A" * 32):
        response = await client.request(method, f"/u/{token}", allow_redirects=False)
        assert response.status == 404
        assert "Location" not in response.headers
    assert service.calls == []
    assert service.unsubscribed == set()


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_valid_token_for_an_unknown_lead_is_404(
    client: Client, service: FakeService, method: str
) -> None:
    response = await client.request(method, f"/u/{make_token(SECRET, 99)}")
    assert response.status == 404
    assert service.unsubscribed == set()


async def test_healthz(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.text() == "ok\n"


async def test_build_app_refuses_a_short_secret(service: FakeService) -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        build_app(service, b"short")


# --- serving -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::1]:9000", ("::1", 9000)),
        ("localhost:0", ("localhost", 0)),
        (":8080", (None, 8080)),
    ],
)
def test_parse_listen(listen: str, expected: tuple[str | None, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize(
    "listen", ["8080", "127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000", "127.0.0.1:\u00b2"]
)
def test_parse_listen_rejects(listen: str) -> None:
    with pytest.raises(ValueError, match="listen"):
        parse_listen(listen)


async def test_serve_listens_and_cleans_up(service: FakeService) -> None:
    runner = await serve(build_app(service, SECRET), "127.0.0.1:0")  # any free port
    try:
        port = runner.addresses[0][1]
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/u/{make_token(SECRET, 1)}"
            async with session.post(url, allow_redirects=False) as response:
                assert response.status == 200
    finally:
        await runner.cleanup()
    assert service.unsubscribed == {1}
