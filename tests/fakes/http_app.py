"""Serving a fake's aiohttp app on loopback for the length of a test."""

from __future__ import annotations

from aiohttp import web

HOST = "127.0.0.1"


async def serve(app: web.Application, host: str = HOST, port: int = 0) -> tuple[web.AppRunner, int]:
    """Serve `app` on `host` (port 0: a free one); its runner (`cleanup()` stops it), its port."""
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner, int(runner.addresses[0][1])
