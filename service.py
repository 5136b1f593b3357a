"""Builds the long-running service (engine, scheduler, web, bot) and tears it down in order."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack
from datetime import timedelta

from config import OutreachConfig, Settings
from core import limits
from engine.alerts import AlertOutbox, LogTransport
from engine.clock import Clock, SystemClock
from engine.health import HealthService
from engine.sending import SendingEngine
from engine.unsubscribe import UnsubscribeService
from mail.smtp import SmtpSender
from scheduler.jobs import Every, build_scheduler
from storage.db import open_db
from storage.repository import Repository
from web.unsubscribe import build_app, serve

log = logging.getLogger("outreach")

MAINTENANCE_SECONDS = 60
HEALTH_SECONDS = 300
ALERT_SECONDS = 5


async def open_repository(
    stack: AsyncExitStack, settings: Settings, config: OutreachConfig, clock: Clock
) -> Repository:
    """Open the DB and mirror the config into it (runtime state kept)."""
    conn = await open_db(settings.database_path)
    stack.push_async_callback(conn.close)
    repo = Repository(conn)
    now = clock.now()
    today = limits.local_day(now, config.sending.timezone)
    report = await repo.sync_config(config, today, config.warmup.policy(), now=now)
    log.info("config synced: %s", report)
    return repo


async def run_service(settings: Settings, config: OutreachConfig) -> None:
    """Run until SIGINT/SIGTERM: sending ticks, upkeep, health, alerts, unsubscribe endpoint."""
    clock = SystemClock()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        repo = await open_repository(stack, settings, config, clock)
        chats = settings.alert_chats if settings.bot_token else []
        alerts = AlertOutbox(repo, clock, chats, timedelta(minutes=config.alerts.quiet_minutes))
        health = HealthService(repo, clock, config, alerts)
        sender = SmtpSender()
        stack.push_async_callback(sender.close)
        secret = await repo.secret("unsubscribe") if config.unsubscribe else None
        engine = SendingEngine(
            repo=repo,
            sender=sender,
            clock=clock,
            config=config,
            alerts=alerts,
            domains=health,
            unsubscribe_secret=secret,
        )
        lost = await engine.recover()
        if lost:
            log.warning("%d send(s) were interrupted by the last stop; marked unknown", lost)
        if config.unsubscribe is not None and secret is not None:
            runner = await serve(
                build_app(UnsubscribeService(repo, clock), secret), config.unsubscribe.listen
            )
            stack.push_async_callback(runner.cleanup)
            log.info("unsubscribe endpoint on %s", config.unsubscribe.listen)
        transport = LogTransport()  # the Telegram transport replaces this when a bot runs

        async def deliver_alerts() -> None:
            await alerts.deliver_due(transport)

        scheduler = build_scheduler(
            [
                Every("send_tick", config.sending.tick_seconds, engine.tick),
                Every("maintenance", MAINTENANCE_SECONDS, health.maintain),
                Every("health", HEALTH_SECONDS, health.evaluate),
                Every("alerts", ALERT_SECONDS, deliver_alerts),
            ]
        )
        scheduler.start()
        log.info(
            "running headless%s: %d mailboxes, tick every %ss",
            "" if settings.bot_token is None else " (bot pending)",
            len(config.mailboxes),
            config.sending.tick_seconds,
        )
        try:
            await stop.wait()
            log.info("stopping")
        finally:
            scheduler.shutdown(wait=False)
            # Let a tick that is mid-send finish recording before connections close.
            await engine.tick_idle()
