"""Builds the long-running service (engine, scheduler, web, bot) and tears it down in order."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack, suppress
from functools import partial

from bootstrap import Service, build_service
from config import OutreachConfig, Settings
from engine.alerts import AlertTransport, LogTransport
from engine.clock import SystemClock
from scheduler.jobs import Daily, Every, Job, build_scheduler
from web.unsubscribe import build_app, serve

log = logging.getLogger("outreach")

MAINTENANCE_SECONDS = 60
HEALTH_SECONDS = 300
ALERT_SECONDS = 5
BOT_STOP_SECONDS = 10


async def _finish_bot(task: asyncio.Task[None], stop: asyncio.Event) -> None:
    """Stop the bot's polling and wait for its session to close; a bot failure is only logged."""
    stop.set()
    try:
        await asyncio.wait_for(task, BOT_STOP_SECONDS)
    except TimeoutError:
        log.warning("the bot did not stop within %s s", BOT_STOP_SECONDS)
    except Exception:
        log.exception("the bot ended with an error")


def _jobs(service: Service, config: OutreachConfig, deliver_alerts: Job) -> list[Every]:
    """What the scheduler runs, and how often."""
    health, rules = service.health, service.rules
    jobs = [
        Every("send_tick", config.sending.tick_seconds, service.tick),
        Every("maintenance", MAINTENANCE_SECONDS, health.maintain),
        Every("health", HEALTH_SECONDS, health.evaluate),
        # Alerts mostly come from ticks: look for them at least as often as ticks run.
        Every("alerts", min(ALERT_SECONDS, config.sending.tick_seconds), deliver_alerts),
    ]
    if any(mailbox.inbox is not None for mailbox in rules.mailboxes):
        jobs.append(Every("inbox", rules.inbox.poll_seconds, service.inbox.poll))
    if service.warmup_inbox.receivers:
        # Pool mailboxes with `imap` and the seeds: where warm-up mail lands (SPEC 7).
        jobs.append(Every("warmup_inbox", rules.inbox.poll_seconds, service.warmup_inbox.poll))
    # Each ESP on its own schedule: a slow or failing provider holds up no other.
    for name in service.esp.feeds:
        poll = partial(service.esp.poll_feed, name)
        jobs.append(Every(f"esp:{name}", service.esp.poll_seconds(name), poll))
    return jobs


async def run_service(settings: Settings, config: OutreachConfig) -> None:
    """Run until SIGINT/SIGTERM: sending ticks, upkeep, health, alerts, unsubscribe endpoint."""
    clock = SystemClock()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with AsyncExitStack() as stack:
        chats = settings.alert_chats if settings.bot_token else []
        service = await build_service(
            stack, db_path=settings.database_path, config=config, clock=clock, chats=chats
        )
        alerts, engine = service.alerts, service.engine
        lost = await engine.recover()
        if lost:
            log.warning("%d send(s) were interrupted by the last stop; marked unknown", lost)
        if config.unsubscribe is not None and service.secret is not None:
            runner = await serve(
                build_app(service.unsubscribe, service.secret), config.unsubscribe.listen
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

            transport, bot_task = start_bot(service.context(), settings, bot_stop)
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

        # A start within digest_hour's hour catches up the run it missed (once: the digest's
        # key is its day); a start later than that waits for tomorrow's.
        report = service.daily
        daily = Daily(
            "daily", config.alerts.digest_hour, service.rules.timezone, report.run, report.catch_up
        )
        scheduler = build_scheduler(_jobs(service, config, deliver_alerts), [daily])
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
            # The shutdown cancels the jobs that run: let a tick unwind and record what it sent,
            # and a poll roll its batch back (it is read again at the next start), before
            # connections close.
            await engine.tick_idle()
            with suppress(TimeoutError):
                await asyncio.wait_for(service.inbox.idle(), BOT_STOP_SECONDS)
            with suppress(TimeoutError):
                await asyncio.wait_for(service.esp.idle(), BOT_STOP_SECONDS)
            with suppress(TimeoutError):
                await asyncio.wait_for(service.warmup_inbox.idle(), BOT_STOP_SECONDS)
            if deliveries:
                await asyncio.wait(deliveries, timeout=BOT_STOP_SECONDS)
