"""Reading ESP events (SPEC 8, ESP part): each [[esp]]'s feed, a page at a time, once each.

Every `poll_seconds` a feed is read from its stored cursor, a few pages to a commit (up to
COMMIT_EVENTS events). Events stored before (a re-read) are only counted; the rest are matched
to our sends (the provider's message id, else our Message-ID, else the latest mail to the
recipient from one of the ESP's domains), turned into effects (core/esp_ingest.py) and
committed with the last page's cursor and the health verdicts they call for; only then are the
pages acknowledged (SES deletes its queue messages). A crash in between reads them again, and
the events' stable ids keep anything from counting twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from core.connect import scrub
from core.errors import LoginRefused, PeerUnavailable
from core.esp import EspEvent, EspPage
from core.esp_ingest import effects_of_event, source_of
from core.ingest import Ignored
from core.models import EventKind
from core.records import Effects
from core.specs import Rules
from engine.alerts import AlertOutbox, Severity
from engine.clock import Clock
from engine.health import HealthService
from engine.ports import EspFeed, EspStore

log = logging.getLogger("outreach.esp")

DEFAULT_POLL_SECONDS = 60  # a feed without an [[esp]] of its name (tests)
MAX_PAGES = 50  # per feed per poll: a backlog is read over a few polls, not in one
COMMIT_EVENTS = 1000  # a feed's pages are committed together until they hold this many events
LOGIN_ALERT_QUIET = timedelta(days=1)  # "refused its key" once a day, not every poll
_HEALTH_KINDS = {EventKind.BOUNCE_HARD, EventKind.COMPLAINT}
_CLOSING_KINDS = {*_HEALTH_KINDS, EventKind.UNSUBSCRIBE, EventKind.BLOCK}


@dataclass(slots=True)
class PollReport:
    """What one poll read and did, for logs and tests."""

    pages: int = 0
    events: int = 0
    applied: Counter[str] = field(default_factory=Counter)  # event kind -> new events
    repeated: int = 0  # events stored before (a re-read)
    ignored: Counter[str] = field(default_factory=Counter)  # why -> events
    skipped: int = 0  # malformed items the adapters left out
    failed: list[str] = field(default_factory=list)  # feeds that could not be read

    def add(self, other: PollReport) -> None:
        """Fold another feed's report into this one."""
        self.pages += other.pages
        self.events += other.events
        self.applied.update(other.applied)
        self.repeated += other.repeated
        self.ignored.update(other.ignored)
        self.skipped += other.skipped
        self.failed += other.failed


class EspService:
    """Polls every configured ESP's feed and ingests what it reports."""

    def __init__(
        self,
        *,
        feeds: Sequence[EspFeed],
        store: EspStore,
        clock: Clock,
        rules: Rules,
        alerts: AlertOutbox,
        health: HealthService,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self._feeds = {feed.name: feed for feed in feeds}
        self._specs = {spec.name: spec for spec in rules.esps}
        self._store = store
        self._clock = clock
        self._alerts = alerts
        self._health = health
        self._max_pages = max_pages
        # One poll of a feed at a time: two would read the same page from the same cursor.
        self._locks = {name: asyncio.Lock() for name in self._feeds}

    @property
    def feeds(self) -> list[str]:
        """The names of the feeds polled, in config order."""
        return list(self._feeds)

    def poll_seconds(self, name: str) -> int:
        """How often a feed is read (its [[esp]] `poll_seconds`)."""
        spec = self._specs.get(name)
        return spec.poll_seconds if spec is not None else DEFAULT_POLL_SECONDS

    async def poll(self) -> PollReport:
        """Read every feed once, all at once."""
        report = PollReport()
        for one in await asyncio.gather(*(self.poll_feed(name) for name in self._feeds)):
            report.add(one)
        return report

    async def poll_feed(self, name: str) -> PollReport:
        """Read one feed from its stored cursor while it has more (up to `max_pages` pages)."""
        report = PollReport()
        feed = self._feeds[name]
        async with self._locks[name]:
            try:
                await self._read(feed, report)
            except LoginRefused as exc:
                report.failed.append(name)
                await self._alerts.raise_alert(
                    "esp_login",
                    name,
                    Severity.CRITICAL,
                    f"ESP {name} refused its key ({self._scrubbed(name, str(exc))[:200]}). Its "
                    "bounces and complaints are not read until the key in the config is fixed; "
                    "sending goes on.",
                    quiet=LOGIN_ALERT_QUIET,
                )
            except PeerUnavailable as exc:
                report.failed.append(name)
                log.warning(
                    "could not read ESP %s: %s; trying again next poll",
                    name,
                    self._scrubbed(name, str(exc)),
                )
        return report

    async def idle(self) -> None:
        """Wait until no poll is running (for a clean shutdown)."""
        for lock in self._locks.values():
            async with lock:
                pass

    async def close(self) -> None:
        """Close every feed's HTTP session."""
        for feed in self._feeds.values():
            await feed.close()

    async def _read(self, feed: EspFeed, report: PollReport) -> None:
        source = source_of(feed.name)
        cursor = await self._store.cursor(source)
        while True:
            pages, failure = await self._read_pages(feed, cursor, report)
            last = pages[-1]
            if any(page.events for page in pages) or last.cursor != cursor:
                await self._ingest(feed.name, pages, source, report)
            # Only after the commit: a crash before this reads the pages again (counted once).
            # All at once: SES deletes ten messages a call, and the calls overlap their waits.
            acknowledged = await asyncio.gather(
                *(feed.acknowledge(page) for page in pages), return_exceptions=True
            )
            for outcome in acknowledged:
                if isinstance(outcome, BaseException):
                    raise outcome
            if failure is not None:
                raise failure
            cursor = last.cursor
            if not last.more or report.pages >= self._max_pages:
                return

    async def _read_pages(
        self, feed: EspFeed, cursor: str | None, report: PollReport
    ) -> tuple[list[EspPage], LoginRefused | PeerUnavailable | None]:
        """The pages one commit takes: read on while there are more, up to COMMIT_EVENTS
        events (and the poll's `max_pages`). A read that fails after the first page ends
        them: those read are still committed, and the failure is raised after that."""
        pages: list[EspPage] = []
        events = 0
        while True:
            try:
                page = await feed.read(pages[-1].cursor if pages else cursor, self._clock.now())
            except (LoginRefused, PeerUnavailable) as exc:
                if not pages:
                    raise
                return pages, exc
            report.pages += 1
            pages.append(page)
            events += len(page.events)
            # A commit, and its fsync, per few hundred events rather than per page: SES
            # gives ten a page, and 10,000 commits were most of 100,000 events' time.
            if not page.more or report.pages >= self._max_pages or events >= COMMIT_EVENTS:
                return pages, None

    async def _ingest(
        self, name: str, pages: list[EspPage], source: str, report: PollReport
    ) -> None:
        spec = self._specs.get(name)
        # One event once: SNS delivers at least once, so a twin may come in another page.
        events: dict[str, EspEvent] = {}
        for page in pages:
            report.skipped += page.skipped
            report.events += len(page.events)
            for event in page.events:
                if events.setdefault(event.event_id, event) is not event:
                    report.repeated += 1
        matched = await self._store.match(source, list(events.values()),
                                          spec.domains if spec else ())  # fmt: skip
        refs, known = matched.refs, matched.known
        now = self._clock.now()
        planned: list[Effects] = []
        ignored: Counter[str] = Counter()
        for event in events.values():
            if event.event_id in known:
                # Stored before with all it changed: a commit would refuse it (its id) anyway.
                report.repeated += 1
                continue
            outcome = effects_of_event(
                event, refs.get(event.event_id), now=now, cool_down=self._health.cool_down_of
            )
            if isinstance(outcome, Ignored):
                ignored[outcome.why] += 1
                if event.kind in _CLOSING_KINDS:
                    # SPEC 8: a bounce or complaint about no mail of ours is logged, by the
                    # provider's event id (to look it up there), not by address.
                    log.info("ESP %s event %s ignored: %s", name, event.event_id, outcome.why)
                continue
            planned.append(outcome)
        if ignored:
            # Opens and deliveries of the account's other mail: one line a commit, not one each.
            log.info("ESP %s: %d event(s) of these pages ignored: %s", name, ignored.total(),
                     dict(ignored))  # fmt: skip
            report.ignored.update(ignored)
        # Bounces and complaints feed the SPEC 9 verdicts in the same commit, as the inbox's do.
        relevant = any(fx.event is not None and fx.event.kind in _HEALTH_KINDS for fx in planned)
        verdicts = (self._health.window_start(), self._health.verdicts) if relevant else None
        cursor = pages[-1].cursor
        applied = await self._store.ingest(planned, source, cursor, now=now, verdicts=verdicts)
        for effects, result in zip(planned, applied, strict=True):
            if not result.applied:
                report.repeated += 1
            elif effects.event is not None:
                report.applied[effects.event.kind.value] += 1

    def _scrubbed(self, name: str, text: str) -> str:
        """`text` with none of the ESP's secrets in it (a reply may echo what it was sent)."""
        spec = self._specs.get(name)
        if spec is not None:
            for secret in spec.secrets:
                text = scrub(text, secret)
        return text
