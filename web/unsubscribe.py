"""The one-click unsubscribe endpoint of SPEC 6.11 (RFC 8058), served by aiohttp."""

from __future__ import annotations

import html
from string import Template
from typing import Protocol

from aiohttp import web

from core.unsubscribe import check_secret, read_token

MAX_BODY_BYTES = 64 * 1024  # the one-click body is `List-Unsubscribe=One-Click`; nothing big

_DONE = "You are unsubscribed. You will not receive any further e-mail from us.\n"
_UNKNOWN = "This unsubscribe link is not valid.\n"

_PAGE = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Unsubscribe</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem;
       line-height: 1.5; color: #222; }
button { font-size: 1rem; padding: .5rem 1.25rem; cursor: pointer; }
</style>
</head>
<body>
<h1>Unsubscribe</h1>
<p>Stop all further e-mail to <strong>$address</strong>?</p>
<form method="post" action="$action">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>
</body>
</html>
""")

# The page loads nothing from anywhere and may only post back to this origin.
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


class UnsubscribeService(Protocol):
    """What the endpoint needs from the engine."""

    async def unsubscribe(self, lead_id: int) -> bool:
        """Suppress the lead's address; True when the lead exists. Idempotent."""
        ...

    async def describe(self, lead_id: int) -> str | None:
        """The lead's address masked for display (`j***@example.com`); None if unknown."""
        ...

    async def is_unsubscribed(self, lead_id: int) -> bool:
        """True when the lead's address is on the suppression list already."""
        ...


def _not_found() -> web.Response:
    return web.Response(status=404, text=_UNKNOWN, content_type="text/plain", charset="utf-8")


async def _secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    # The token in the URL is a capability: keep it out of caches, referrers and search engines.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = _CSP


def build_app(service: UnsubscribeService, secret: bytes) -> web.Application:
    """The aiohttp application: `GET`/`POST /u/{token}` and `GET /healthz`."""
    check_secret(secret)  # fail at start-up, not on the first request

    async def confirm_page(request: web.Request) -> web.Response:
        # A GET never unsubscribes: link scanners and mail previews fetch every URL they see.
        token = request.match_info["token"]
        lead_id = read_token(secret, token)
        if lead_id is None:
            return _not_found()
        address = await service.describe(lead_id)
        if address is None:
            return _not_found()
        if await service.is_unsubscribed(lead_id):
            # Done already (an earlier click, a reply, an admin): nothing left to confirm.
            return web.Response(text=_DONE, content_type="text/plain", charset="utf-8")
        # A relative action of the token itself resolves to this very URL, also behind a
        # reverse proxy that mounts us under a path prefix.
        page = _PAGE.substitute(address=html.escape(address), action=html.escape(token, quote=True))
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    async def one_click(request: web.Request) -> web.Response:
        # RFC 8058: no login, no cookie, no redirect; the body is not needed to act.
        lead_id = read_token(secret, request.match_info["token"])
        if lead_id is None or not await service.unsubscribe(lead_id):
            return _not_found()
        return web.Response(text=_DONE, content_type="text/plain", charset="utf-8")

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n", content_type="text/plain")

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_get("/u/{token}", confirm_page)
    app.router.add_post("/u/{token}", one_click)
    app.router.add_get("/healthz", healthz)
    app.on_response_prepare.append(_secure_headers)
    return app


def parse_listen(listen: str) -> tuple[str | None, int]:
    """`host:port` or `[v6]:port` -> (host, port); an empty host means every interface."""
    host, colon, port_text = listen.strip().rpartition(":")
    if not (colon and port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
        raise ValueError(f"listen must look like 127.0.0.1:8080, got {listen!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or None, int(port_text)


async def serve(app: web.Application, listen: str) -> web.AppRunner:
    """Start serving `app` on `listen`; the caller cleans the returned runner up."""
    host, port = parse_listen(listen)
    # No access log: every line would hold a token, i.e. the power to unsubscribe that lead.
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
