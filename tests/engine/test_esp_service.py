"""engine/esp_events.py: ESP events into the database, once each, with a scripted feed.

The provider adapters have their own tests against recorded payloads; here the feed is a fake
that serves normalised events, and the sends are real ones through the fake SMTP server (whose
"250 ... queued as fakeNNNNNN" reply gives each send a provider id, as an ESP relay's would).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.errors import LoginRefused, PeerUnavailable
from core.esp import EspEvent, EspPage, PageMatch
from core.models import EventKind
from core.records import Applied, Effects, SentRef, Verdicts
from core.specs import EspSpec, Rules
from engine.esp_events import EspService
from engine.health import HealthService
from engine.ports import EspStore
from tests.engine.world import PASSWORD, USER, World, make_world, run_ticks
from tests.fakes.esp_feed import ScriptedFeed
from tests.fakes.smtp_server import FakeSmtpServer

KEY = "key-mg-secret-0123"


@pytest.fixture
async def server() -> AsyncIterator[FakeSmtpServer]:
    async with FakeSmtpServer(username=USER, password=PASSWORD) as srv:
        yield srv


def esp_rules(world: World, complaints_pause: int | None = None) -> Rules:
    rules = world.config.rules()
    spec = EspSpec("mg", "mailgun", "https://api.mailgun.net", domains=("d0.test",), api_key=KEY)
    policy = rules.health
    if complaints_pause is not None:
        policy = dataclasses.replace(policy, complaints_pause=complaints_pause)
    return dataclasses.replace(rules, esps=(spec,), health=policy)


def service(world: World, feed: ScriptedFeed, complaints_pause: int | None = None) -> EspService:
    rules = esp_rules(world, complaints_pause)
    checker = HealthService(
        world.stores.health, world.stores.events, world.clock, rules, world.alerts
    )
    return EspService(
        feeds=[feed], store=world.stores.esp, clock=world.clock, rules=rules,
        alerts=world.alerts, health=checker,
    )  # fmt: skip


async def sent(world: World) -> list[tuple[str, str]]:
    """(lead address, provider id) of every send, oldest first."""
    rows = await world.rows(
        "SELECT l.email, s.provider_id FROM sends s JOIN leads l ON l.id = s.lead_id "
        "WHERE s.state = 'sent' ORDER BY s.id"
    )
    return [(str(r[0]), str(r[1])) for r in rows]


def event(world: World, n: int, kind: EventKind, email: str, provider_id: str | None) -> EspEvent:
    return EspEvent(
        "mg", f"ev-{n}", kind, email, world.clock.now(), provider_message_id=provider_id,
        detail="550 5.1.1 mailbox does not exist" if kind is EventKind.BOUNCE_HARD else "",
    )  # fmt: skip


async def test_a_complaint_pauses_the_mailbox_names_campaign_and_step_and_suppresses(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        await world.add_leads(["ann@example.com", "bob@example.com"])
        await run_ticks(world, 3)
        (ann, ann_id), _ = await sent(world)
        assert ann_id.startswith("fake")  # the relay's id, stored when the send settled
        feed = ScriptedFeed("mg")
        feed.events.append(event(world, 1, EventKind.COMPLAINT, ann, ann_id))

        report = await service(world, feed).poll()

        assert report.applied == {"complaint": 1} and report.failed == []
        assert await world.scalar("SELECT state FROM mailboxes WHERE address = 'm0@d0.test'") == (
            "paused"
        )
        texts = [str(r[0]) for r in await world.rows("SELECT text FROM alerts ORDER BY id")]
        paused = [t for t in texts if t.startswith("Mailbox m0@d0.test paused")]
        assert len(paused) == 1 and "campaign q4, step 1" in paused[0]
        assert any(t.startswith("Domain d0.test: complaint rate") for t in texts)
        assert await world.scalar("SELECT entry FROM suppression") == ann
        assert await world.scalar("SELECT state FROM leads WHERE email = ?", ann) == "complained"
        assert await world.scalar("SELECT source || ':' || source_id FROM events") == "esp:mg:ev-1"
        assert [page.receipts for page in feed.acknowledged] == [("r0",)]


async def test_a_domain_complaint_rate_alerts_without_pausing_below_the_mailbox_threshold(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        await world.add_leads(["ann@example.com"])
        await run_ticks(world, 2)
        ((ann, ann_id),) = await sent(world)
        feed = ScriptedFeed("mg")
        feed.events.append(event(world, 1, EventKind.COMPLAINT, ann, ann_id))
        await service(world, feed, complaints_pause=2).poll()
        assert await world.scalar("SELECT state FROM mailboxes") == "active"
        texts = [str(r[0]) for r in await world.rows("SELECT text FROM alerts")]
        assert len(texts) == 1 and texts[0].startswith("Domain d0.test: complaint rate 100.00%")


async def test_a_second_permanent_failure_in_twenty_sends_pauses_the_mailbox(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(
        tmp_path, server, domains=1, per_domain=1, mailbox_limit=40, domain_limit=None
    ) as world:
        await world.add_leads([f"lead{i}@example.com" for i in range(20)])
        await run_ticks(world, 25)
        sends = await sent(world)
        assert len(sends) == 20
        feed = ScriptedFeed("mg")
        polls = service(world, feed)
        feed.events.append(event(world, 1, EventKind.BOUNCE_HARD, *sends[0]))
        await polls.poll()  # 1 in 20 = 5 %: not over bounce_pause
        assert await world.scalar("SELECT state FROM mailboxes") == "active"
        assert await world.scalar("SELECT state FROM leads WHERE email = ?", sends[0][0]) == (
            "bounced"
        )
        feed.events.append(event(world, 2, EventKind.BOUNCE_HARD, *sends[1]))
        report = await polls.poll()
        assert report.applied == {"bounce_hard": 1}
        assert await world.scalar("SELECT state FROM mailboxes") == "paused"
        texts = [str(r[0]) for r in await world.rows("SELECT text FROM alerts")]
        assert any("bounce rate 10.0% over 5.0% (2/20 in 7 days)" in t for t in texts)


async def test_an_unreachable_feed_keeps_its_cursor_and_the_next_poll_resumes(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        await world.add_leads(["ann@example.com", "bob@example.com"])
        await run_ticks(world, 3)
        (ann, ann_id), (bob, bob_id) = await sent(world)
        feed = ScriptedFeed("mg", page_size=1)
        feed.events += [
            event(world, 1, EventKind.DELIVERED, ann, ann_id),
            event(world, 2, EventKind.DELIVERED, bob, bob_id),
        ]
        polls = service(world, feed)
        assert (await polls.poll()).applied == {"delivered": 2}  # read on while `more`
        assert feed.reads == [None, "1"]

        feed.events.append(event(world, 3, EventKind.OPEN, bob, bob_id))
        feed.fail = PeerUnavailable("503 from the events API after 3 tries")
        report = await polls.poll()
        assert report.failed == ["mg"] and report.events == 0
        assert await world.scalar("SELECT value FROM cursors WHERE source = 'esp:mg'") == "2"
        feed.fail = None
        assert (await polls.poll()).applied == {"open": 1}
        assert feed.reads[-2:] == ["2", "2"]  # the failed read and its retry, from one cursor
        assert await world.scalar("SELECT count(*) FROM alerts") == 0  # unreachable: logged


async def test_a_crash_before_the_acknowledgement_counts_nothing_twice(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        await world.add_leads(["ann@example.com"])
        await run_ticks(world, 2)
        ((ann, ann_id),) = await sent(world)
        feed = ScriptedFeed("mg")
        feed.events.append(event(world, 1, EventKind.BOUNCE_HARD, ann, ann_id))
        feed.ack_fail = PeerUnavailable("queue unreachable while deleting")
        first = await service(world, feed).poll()
        assert first.applied == {"bounce_hard": 1} and first.failed == ["mg"]
        # The provider serves the page again (a queue message not deleted comes back).
        feed.ack_fail = None
        again = await service(world, feed).poll()
        assert again.repeated == 1 and not again.applied
        assert await world.scalar("SELECT count(*) FROM events") == 1
        assert [page.receipts for page in feed.acknowledged] == [("r0",)]


async def test_a_new_service_on_the_same_database_resumes_from_the_stored_cursor(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        await world.add_leads(["ann@example.com"])
        await run_ticks(world, 2)
        ((ann, ann_id),) = await sent(world)
        feed = ScriptedFeed("mg")
        feed.events.append(event(world, 1, EventKind.DELIVERED, ann, ann_id))
        await service(world, feed).poll()
        feed.events.append(event(world, 2, EventKind.CLICK, ann, ann_id))
        restarted = ScriptedFeed("mg")
        restarted.events = list(feed.events)
        report = await service(world, restarted).poll()
        assert restarted.reads == ["1"] and report.applied == {"click": 1}
        assert await world.scalar("SELECT count(*) FROM events") == 2


async def test_events_about_no_send_of_ours_are_ignored_and_logged(
    tmp_path: Path, server: FakeSmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        feed = ScriptedFeed("mg")
        feed.events.append(event(world, 1, EventKind.BOUNCE_HARD, "who@example.com", "pm-x"))
        feed.events.append(event(world, 2, EventKind.OPEN, "who@example.com", "pm-x"))
        feed.skipped = 2
        with caplog.at_level(logging.INFO, logger="outreach.esp"):
            report = await service(world, feed).poll()
        assert report.ignored == {
            "bounce_hard about no mail this service sent": 1,
            "open about no mail this service sent": 1,
        }
        assert report.skipped == 2 and not report.applied
        assert "ESP mg event ev-1 ignored: bounce_hard about no mail" in caplog.text
        assert "ESP mg: 2 event(s) of these pages ignored" in caplog.text
        assert "ev-2" not in caplog.text and "who@example.com" not in caplog.text
        assert await world.scalar("SELECT count(*) FROM events") == 0
        assert await world.scalar("SELECT count(*) FROM suppression") == 0
        # The page is still read past: its cursor is committed.
        assert await world.scalar("SELECT value FROM cursors WHERE source = 'esp:mg'") == "2"


async def test_delivered_events_count_in_the_delivery_rate(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        await world.add_leads(["ann@example.com", "bob@example.com"])
        await run_ticks(world, 3)
        feed = ScriptedFeed("mg")
        for n, (email, pid) in enumerate(await sent(world)):
            feed.events.append(event(world, n, EventKind.DELIVERED, email, pid))
        await service(world, feed).poll()
        start = world.clock.now() - timedelta(days=1)
        ((row,),) = [await world.stores.health.window_counts(start, world.clock.now())]
        assert (row.counts.sends, row.counts.delivered) == (2, 2)


async def test_a_refused_key_alerts_once_without_the_key(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        feed = ScriptedFeed("mg")
        feed.fail = LoginRefused(f"401 Forbidden for api:{KEY}")
        polls = service(world, feed)
        for _ in range(3):
            assert (await polls.poll()).failed == ["mg"]
        texts = [str(r[0]) for r in await world.rows("SELECT text FROM alerts")]
        assert len(texts) == 1 and texts[0].startswith("ESP mg refused its key")
        assert KEY not in texts[0] and "***" in texts[0]
        assert await world.scalar("SELECT severity FROM alerts") == "critical"


async def test_a_backlog_is_read_a_bounded_number_of_pages_per_poll(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        feed = ScriptedFeed("mg", page_size=1)
        feed.events += [
            event(world, n, EventKind.OPEN, f"x{n}@example.com", None) for n in range(5)
        ]
        rules = esp_rules(world)
        polls = EspService(
            feeds=[feed], store=world.stores.esp, clock=world.clock, rules=rules,
            alerts=world.alerts, health=world.health, max_pages=2,
        )  # fmt: skip
        assert (await polls.poll()).pages == 2
        assert (await polls.poll()).pages == 2
        assert (await polls.poll()).pages == 1
        assert feed.reads == [None, "1", "2", "3", "4"]
        await polls.idle()
        await polls.close()
        assert feed.closed


async def test_a_reported_block_cools_the_sending_domain_down(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        await world.add_leads(["ann@example.com"])
        await run_ticks(world, 2)
        ((ann, ann_id),) = await sent(world)
        feed = ScriptedFeed("mg")
        blocked = dataclasses.replace(
            event(world, 1, EventKind.BLOCK, ann, ann_id), detail="554 5.7.1 listed at Spamhaus"
        )
        feed.events.append(blocked)
        report = await service(world, feed).poll()
        assert report.applied == {"block": 1}
        assert await world.scalar("SELECT state FROM domains WHERE name = 'd0.test'") == "cooldown"
        texts = [str(r[0]) for r in await world.rows("SELECT text FROM alerts")]
        assert len(texts) == 1 and texts[0].startswith("Domain d0.test is cooling down until")
        assert "mg reported a block: 554 5.7.1 listed at Spamhaus" in texts[0]
        assert await world.scalar("SELECT count(*) FROM suppression") == 0


class _Commits:
    """The real ESP store, noting the cursor of each commit."""

    def __init__(self, store: EspStore) -> None:
        self.store = store
        self.cursors: list[str] = []

    async def cursor(self, source: str) -> str | None:
        return await self.store.cursor(source)

    async def sends_for(
        self, events: Sequence[EspEvent], domains: Sequence[str]
    ) -> dict[str, SentRef]:
        return await self.store.sends_for(events, domains)

    async def match(
        self, source: str, events: Sequence[EspEvent], domains: Sequence[str]
    ) -> PageMatch:
        return await self.store.match(source, events, domains)

    async def ingest(
        self,
        batch: Sequence[Effects],
        source: str,
        cursor: str,
        *,
        now: datetime,
        verdicts: Verdicts | None = None,
    ) -> list[Applied]:
        self.cursors.append(cursor)
        return await self.store.ingest(batch, source, cursor, now=now, verdicts=verdicts)


class _FailsAt(ScriptedFeed):
    """A ScriptedFeed whose read from one cursor fails (once)."""

    def __init__(self, name: str, at: str, **kw: int) -> None:
        super().__init__(name, **kw)
        self.at: str | None = at

    async def read(self, cursor: str | None, now: datetime) -> EspPage:
        if cursor == self.at:
            self.at = None
            self.reads.append(cursor)
            raise PeerUnavailable("503 from the events API after 3 tries")
        return await super().read(cursor, now)


def counted(world: World, feed: ScriptedFeed) -> tuple[EspService, _Commits]:
    store = _Commits(world.stores.esp)
    rules = esp_rules(world)
    polls = EspService(
        feeds=[feed], store=store, clock=world.clock, rules=rules, alerts=world.alerts,
        health=world.health,
    )  # fmt: skip
    return polls, store


async def test_pages_are_committed_together_up_to_commit_events_then_acknowledged(
    tmp_path: Path, server: FakeSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        await world.add_leads(["ann@example.com", "bob@example.com"])
        await run_ticks(world, 3)
        (ann, ann_id), (bob, bob_id) = await sent(world)
        feed = ScriptedFeed("mg", page_size=1)
        feed.events += [
            event(world, 1, EventKind.DELIVERED, ann, ann_id),
            event(world, 2, EventKind.DELIVERED, bob, bob_id),
            event(world, 1, EventKind.DELIVERED, ann, ann_id),  # SNS's at-least-once twin
            event(world, 3, EventKind.OPEN, bob, bob_id),
            event(world, 4, EventKind.CLICK, bob, bob_id),
        ]
        monkeypatch.setattr("engine.esp_events.COMMIT_EVENTS", 3)
        polls, store = counted(world, feed)
        report = await polls.poll()
        # Three pages a commit, with the last one's cursor; each page acknowledged after it.
        assert store.cursors == ["3", "5"] and report.pages == 5
        assert report.applied == {"delivered": 2, "open": 1, "click": 1}
        assert report.events == 5 and report.repeated == 1
        assert [page.cursor for page in feed.acknowledged] == ["1", "2", "3", "4", "5"]
        assert await world.scalar("SELECT count(*) FROM events") == 4
        assert await world.scalar("SELECT value FROM cursors WHERE source = 'esp:mg'") == "5"


async def test_a_read_failing_mid_commit_still_commits_the_pages_read_before_it(
    tmp_path: Path, server: FakeSmtpServer
) -> None:
    async with make_world(tmp_path, server, domains=1, per_domain=1) as world:
        await world.add_leads(["ann@example.com", "bob@example.com"])
        await run_ticks(world, 3)
        (ann, ann_id), (bob, bob_id) = await sent(world)
        feed = _FailsAt("mg", "2", page_size=1)
        feed.events += [
            event(world, 1, EventKind.DELIVERED, ann, ann_id),
            event(world, 2, EventKind.DELIVERED, bob, bob_id),
            event(world, 3, EventKind.OPEN, bob, bob_id),
        ]
        polls, store = counted(world, feed)
        first = await polls.poll()
        assert first.failed == ["mg"] and first.applied == {"delivered": 2}
        assert store.cursors == ["2"] and feed.reads == [None, "1", "2"]
        assert [page.cursor for page in feed.acknowledged] == ["1", "2"]

        again = await polls.poll()
        assert again.applied == {"open": 1} and not again.failed
        assert store.cursors == ["2", "3"] and feed.reads[3:] == ["2"]
        assert await world.scalar("SELECT count(*) FROM events") == 3
