"""Builds the long-running service (engine, scheduler, web, bot) and tears it down in order."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack, suppress
from datetime import timedelta

from config import OutreachConfig, Settings
from core import limits
from engine.alerts import AlertOutbox, AlertTransport, LogTransport
from engine.clock import Clock, SystemClock
from engine.context import AppContext
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
BOT_STOP_SECONDS = 10


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


async def _finish_bot(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Stop the bot's polling and wait for its session to close; a bot failure is only logged."""
    stop.set()
    try:
        await asyncio.wait_for(task, BOT_STOP_SECONDS)
    except TimeoutError:
        log.warning("the bot did not stop within %s s", BOT_STOP_SECONDS)
    except Exception:
        log.exception("the bot ended with an error")


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
        transport: AlertTransport = LogTransport()
        bot_stop = asyncio.Event()
        bot_task: asyncio.Task[None] | None = None
        if settings.bot_token is not None:
            # aiogram takes seconds to import: only a service that runs the bot pays for it,
            # not the headless one nor the CLI commands.
            from bot.app import start_bot  # noqa: PLC0415

            ctx = AppContext(
                repo=repo,
                clock=clock,
                config=config,
                settings=settings,
                alerts=alerts,
                db_path=settings.database_path,
            )
            transport, bot_task = start_bot(ctx, bot_stop)
            # Unwound after the scheduler stops (finally below) and before the DB closes.
            stack.push_async_callback(_finish_bot, bot_task, bot_stop)

        deliveries: set[asyncio.Task[int]] = set()

        async def deliver_alerts() -> None:
            # A shutdown cancels running jobs, and a delivery cut between Telegram's OK and its
            # record would go out again after the restart: it runs in its own task, which the
            # shutdown below waits for.
            task = asyncio.create_task(alerts.deliver_due(transport))
            deliveries.add(task)
            task.add_done_callback(deliveries.discard)
            with suppress(asyncio.CancelledError):
                await asyncio.shield(task)

        scheduler = build_scheduler(
            [
                Every("send_tick", config.sending.tick_seconds, engine.tick),
                Every("maintenance", MAINTENANCE_SECONDS, health.maintain),
                Every("health", HEALTH_SECONDS, health.evaluate),
                # Alerts mostly come from ticks: look for them at least as often as ticks run.
                Every("alerts", min(ALERT_SECONDS, config.sending.tick_seconds), deliver_alerts),
            ]
        )
        scheduler.start()
        log.info(
            "running %s: %d mailboxes, tick every %ss",
            "headless" if bot_task is None else "with the Telegram bot",
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
            if deliveries:
                await asyncio.wait(deliveries, timeout=BOT_STOP_SECONDS)
