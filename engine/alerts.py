"""Durable alert outbox: every alert is stored first, then delivered in order per chat."""

from __future__ import annotations

import enum
import logging
from datetime import timedelta
from typing import Protocol

from core.records import NewAlert
from engine.alert_subjects import AlertSubject, alert_subject
from engine.clock import Clock
from engine.ports import AlertStore

log = logging.getLogger("outreach.alerts")

LOG_CHAT = 0  # the pseudo chat of a headless run: alerts go to the log
# Short enough that alerts follow within two minutes of Telegram coming back after a long
# outage; one failed request per chat every two minutes costs nothing.
MAX_BACKOFF = timedelta(minutes=2)


class Severity(enum.StrEnum):
    """How loud an alert is (SPEC 11)."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class RetryAfter(Exception):
    """The transport was rate limited: try again after `seconds` (Telegram 429)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class AlertTransport(Protocol):
    """Where alerts are delivered: Telegram chats, or the log."""

    async def deliver(
        self,
        chat_id: int,
        severity: Severity,
        text: str,
        *,
        lead_id: int | None = None,
        subject: AlertSubject | None = None,
    ) -> int | None:
        """Deliver one alert; its chat message id, if any; RetryAfter when rate limited.

        With `lead_id` the alert is a reply notification: the chat offers label buttons for
        that lead (SPEC 12). With `subject` it is about a mailbox, domain or campaign: the chat
        offers its /status and, where one applies, a /resume (SPEC 10). Anything else raised
        means: try again later.
        """
        ...


class LogTransport:
    """Headless delivery: alerts become log lines."""

    async def deliver(
        self,
        chat_id: int,
        severity: Severity,
        text: str,
        *,
        lead_id: int | None = None,
        subject: AlertSubject | None = None,
    ) -> int | None:
        """Log the alert at a level matching its severity."""
        level = {Severity.CRITICAL: logging.ERROR, Severity.WARNING: logging.WARNING}.get(
            severity, logging.INFO
        )
        log.log(level, "ALERT [%s] %s", severity.value, text)
        return None


class AlertOutbox:
    """Raise alerts (stored at once) and deliver the due ones through a transport."""

    def __init__(self, store: AlertStore, clock: Clock, chats: list[int], quiet: timedelta) -> None:
        self._store = store
        self._clock = clock
        self._chats = chats or [LOG_CHAT]
        self._quiet = quiet

    def draft(
        self,
        kind: str,
        subject: str,
        severity: Severity,
        text: str,
        *,
        quiet: timedelta | None = None,
        lead_id: int | None = None,
    ) -> NewAlert:
        """An alert to store with the change that raises it (see engine.ports.EffectStore).

        `quiet` overrides the configured quiet period, e.g. a day for once-a-day warnings.
        """
        now = self._clock.now()
        return NewAlert(
            key=f"{kind}:{subject}",
            severity=severity.value,
            text=text,
            chats=tuple(self._chats),
            now=now,
            quiet_since=now - max(self._quiet, quiet or self._quiet),
            lead_id=lead_id,
        )

    async def raise_alert(
        self,
        kind: str,
        subject: str,
        severity: Severity,
        text: str,
        *,
        quiet: timedelta | None = None,
    ) -> bool:
        """Store an alert; False when the same kind and subject was raised within quiet time."""
        alert = self.draft(kind, subject, severity, text, quiet=quiet)
        return await self._store.add_alert(alert) is not None

    async def deliver_due(self, transport: AlertTransport) -> int:
        """Try every due delivery once; return how many went out."""
        delivered = 0
        stalled: set[int] = set()
        for item in await self._store.due_alerts(self._clock.now()):
            if item.chat_id in stalled:
                continue  # keep order: nothing overtakes an alert that failed this round
            try:
                message_id = await transport.deliver(
                    item.chat_id, Severity(item.severity), item.text, lead_id=item.lead_id,
                    subject=alert_subject(item.alert_id, item.key),
                )  # fmt: skip
            except RetryAfter as wait:
                stalled.add(item.chat_id)
                until = self._clock.now() + timedelta(seconds=wait.seconds)
                await self._store.alert_postpone(item.alert_id, item.chat_id, until, count=False)
            except Exception as exc:  # any transport failure: back off and keep the alert
                stalled.add(item.chat_id)
                delay = min(MAX_BACKOFF, timedelta(seconds=5 * 2**item.attempts))
                log.warning("alert delivery to chat %s failed (%s); retry in %s",
                            item.chat_id, type(exc).__name__, delay)  # fmt: skip
                until = self._clock.now() + delay
                await self._store.alert_postpone(item.alert_id, item.chat_id, until, count=True)
            else:
                delivered += 1
                now = self._clock.now()
                await self._store.alert_sent(item.alert_id, item.chat_id, now, message_id)
        return delivered
