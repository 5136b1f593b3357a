"""MailgunFeed against a fake Mailgun events API: mapping, paging, faults, late events, restarts."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.connect import Verdict
from core.errors import LoginRefused, PeerUnavailable
from core.esp import EspEvent, EspPage
from core.models import EventKind
from core.specs import EspSpec
from mail.esp.mailgun import MailgunFeed
from tests.fakes.mailgun import FakeMailgun

KEY = "key-S3cret-0123456789abcdef"
DOMAIN = "mg.brand-news.com"
OTHER = "mg.brand-mail.com"
NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
BASE = NOW.timestamp()
WINDOW = 1800.0  # the default trailing window, seconds
SAMPLES = json.loads(
    (Path(__file__).parents[2] / "fixtures/esp/mailgun/events.json").read_text(encoding="utf-8")
)


@dataclass
class Sleeps:
    """An injected sleep: records each delay and returns at once."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@dataclass
class Store:
    """The events table's UNIQUE(source, source_id): each event id kept once."""

    events: dict[tuple[str, str], EspEvent] = field(default_factory=dict)
    offered: int = 0
    skipped: int = 0

    def take(self, page: EspPage) -> None:
        self.skipped += page.skipped
        for event in page.events:
            self.offered += 1
            self.events.setdefault((event.esp, event.event_id), event)

    def emails(self) -> set[str]:
        return {event.email for event in self.events.values()}


@pytest.fixture
async def fake() -> AsyncIterator[FakeMailgun]:
    async with FakeMailgun(KEY) as server:
        yield server


def spec_for(fake: FakeMailgun, *, domains: tuple[str, ...] = (DOMAIN,), key: str = KEY) -> EspSpec:
    return EspSpec(name="mg", kind="mailgun", base_url=fake.url, domains=domains, api_key=key)


def sample(event: str) -> dict[str, Any]:
    """A copy of the documented sample of `event`."""
    found = next(item for item in SAMPLES["items"] if item["event"] == event)
    return copy.deepcopy(found)


def delivered(number: int, at: float, *, domain: str = DOMAIN) -> dict[str, Any]:
    """The documented `delivered` sample as event `number` to lead{number}@example.com."""
    item = sample("delivered")
    item["id"] = f"ev-{number:04d}"
    item["timestamp"] = at
    item["recipient"] = f"lead{number}@example.com"
    item["message"]["headers"]["message-id"] = f"<{number}.send@{domain}>"
    return item


async def poll(feed: MailgunFeed, cursor: str | None, store: Store, *, ack: bool = True) -> str:
    """One poll as the poller does it: pages until `more` is False, each committed."""
    while True:
        page = await feed.read(cursor, NOW)
        store.take(page)
        if ack:
            await feed.acknowledge(page)
        cursor = page.cursor
        if not page.more:
            return cursor


def first_reads(fake: FakeMailgun) -> list[dict[str, str]]:
    """The queries of the requests that started a walk (not `paging.next` ones)."""
    return [r.query for r in fake.requests if r.path.endswith("/events") and r.status == 200]


async def test_documented_samples_map_to_our_kinds(fake: FakeMailgun) -> None:
    items = SAMPLES["items"] + SAMPLES["derived"]
    for item in items:
        fake.add(DOMAIN, item)
    earliest = min(item["timestamp"] for item in items)
    feed = MailgunFeed(spec_for(fake))
    try:
        page = await feed.read(None, datetime.fromtimestamp(earliest, UTC))
    finally:
        await feed.close()
    by_id = {event.event_id.split("/")[0]: event for event in page.events}
    assert {key: event.kind for key, event in by_id.items()} == {
        "hK7mQVt1QtqRiOfQXta4sw": EventKind.DELIVERED,
        "pl271FzxTTmGRW8Uj3dUWw": EventKind.BOUNCE_HARD,  # suppress-bounce
        "ZDMqRgjLTDi6rQcy7K60aA": EventKind.BOUNCE_HARD,  # 5.1.1 account does not exist
        "xYrATi63Rke8EC_s7EoJeA": EventKind.BOUNCE_SOFT,  # severity temporary
        "-laxIqj9QWubsjY_3pTq_g": EventKind.OPEN,
        "G5zMz2ysS6OxZ2C8xb2Tqg": EventKind.CLICK,
        "W3X4JOhFT-OZidZGKKr9iA": EventKind.UNSUBSCRIBE,
        "ncV2XwymRUKbPek_MIM-Gw": EventKind.COMPLAINT,
        "Bk7spamBlockExampleId01": EventKind.BLOCK,  # 5.7.1 rejected as spam
    }  # accepted and stored are no deliverability signal: left out, not counted as skipped
    assert page.skipped == 0
    assert page.more
    hard = by_id["hK7mQVt1QtqRiOfQXta4sw"]
    assert hard.event_id == "hK7mQVt1QtqRiOfQXta4sw/20180622"
    assert hard.email == "john@example.com"
    assert hard.occurred_at == datetime.fromtimestamp(1529692199.626182, UTC)
    assert hard.message_id == "20180622182958.1.48906CB188F1A454@exmple.org"
    assert hard.domain == DOMAIN
    assert hard.esp == "mg"
    block = by_id["Bk7spamBlockExampleId01"]
    assert block.email == "buyer@example.net"
    assert block.message_id == "20221019211600.5c2d7a1e@brand-news.com"
    assert "5.7.1" in block.detail
    assert "5.1.1" in by_id["ZDMqRgjLTDi6rQcy7K60aA"].detail


async def test_suppressed_unsubscribe_is_no_fresh_bounce(fake: FakeMailgun) -> None:
    item = sample("failed")  # the documented permanent failure, for a suppressed address
    item["reason"] = "suppress-unsubscribe"
    item["delivery-status"]["description"] = "Not delivering to unsubscribed address"
    fake.add(DOMAIN, item)
    feed = MailgunFeed(spec_for(fake))
    try:
        page = await feed.read(None, datetime.fromtimestamp(item["timestamp"], UTC))
    finally:
        await feed.close()
    assert [event.kind for event in page.events] == [EventKind.UNSUBSCRIBE]


async def test_pages_follow_next_until_an_empty_page(fake: FakeMailgun) -> None:
    for number in range(5):
        fake.add(DOMAIN, delivered(number, BASE - 600 + number))
    feed = MailgunFeed(spec_for(fake), page_size=2)
    pages = []
    cursor = None
    try:
        while True:
            page = await feed.read(cursor, NOW)
            pages.append(page)
            cursor = page.cursor
            if not page.more:
                break
    finally:
        await feed.close()
    assert [len(page.events) for page in pages] == [2, 2, 1, 0]
    assert [page.more for page in pages] == [True, True, True, False]
    assert first_reads(fake) == [
        {"begin": f"{BASE - WINDOW:.6f}", "ascending": "yes", "limit": "2"}
    ]
    assert len(fake.requests) == 4
    assert all(r.path.startswith(f"/v3/{DOMAIN}/events/") for r in fake.requests[1:])
    assert [e.email for page in pages for e in page.events] == [
        f"lead{n}@example.com" for n in range(5)
    ]
    assert [e.message_id for page in pages for e in page.events] == [
        f"{n}.send@{DOMAIN}" for n in range(5)
    ]


async def test_duplicates_and_disorder_count_each_event_once(fake: FakeMailgun) -> None:
    fake.overlap = 1  # each next page repeats the last item of the page before
    fake.reverse = True  # a page's items newest first
    for number in range(7):
        fake.add(DOMAIN, delivered(number, BASE - 900 + 10 * number))
    store = Store()
    feed = MailgunFeed(spec_for(fake), page_size=3)
    try:
        cursor = await poll(feed, None, store, ack=False)
    finally:
        await feed.close()
    assert store.emails() == {f"lead{n}@example.com" for n in range(7)}
    assert store.offered > 7  # the repeats were returned; the store's UNIQUE kept one each
    assert json.loads(cursor)["domains"][DOMAIN]["last"] == BASE - 900 + 60

    # Committed pages are remembered: the same walk again offers nothing twice.
    again = Store()
    feed = MailgunFeed(spec_for(fake), page_size=3)
    try:
        await poll(feed, None, again)
    finally:
        await feed.close()
    assert again.offered == 7
    assert again.emails() == store.emails()


async def test_throttling_and_server_errors_are_retried(fake: FakeMailgun) -> None:
    for number in range(4):
        fake.add(DOMAIN, delivered(number, BASE - 300 + number))
    fake.fail(500)
    fake.fail(429, retry_after=1)
    sleeps = Sleeps()
    store = Store()
    feed = MailgunFeed(spec_for(fake), sleep=sleeps, page_size=2)
    try:
        await poll(feed, None, store)
    finally:
        await feed.close()
    assert sleeps.delays == [1.0, 1.0]  # the 500's back-off, then the 429's Retry-After
    assert [r.status for r in fake.requests[:3]] == [500, 429, 200]
    assert store.emails() == {f"lead{n}@example.com" for n in range(4)}


async def test_a_failed_read_resumes_from_the_committed_cursor(fake: FakeMailgun) -> None:
    for number in range(6):
        fake.add(DOMAIN, delivered(number, BASE - 300 + number))
    sleeps = Sleeps()
    store = Store()
    feed = MailgunFeed(spec_for(fake), sleep=sleeps, page_size=2)
    try:
        page = await feed.read(None, NOW)
        store.take(page)
        await feed.acknowledge(page)
        # Every try of the next page fails, and of a walk begun again: the poll gives up.
        fake.fail(500, times=8)
        with pytest.raises(PeerUnavailable, match="500"):
            await feed.read(page.cursor, NOW)
        assert sleeps.delays == [1.0, 2.0, 4.0] * 2
        await poll(feed, page.cursor, store)  # the next poll, from the last commit
    finally:
        await feed.close()
    assert store.emails() == {f"lead{n}@example.com" for n in range(6)}
    assert store.offered == 6
    continued = [r for r in fake.requests if r.status == 200][1]
    assert continued.path.startswith(f"/v3/{DOMAIN}/events/")  # not a new walk


async def test_a_late_event_inside_the_window_is_found(fake: FakeMailgun) -> None:
    for number in range(3):
        fake.add(DOMAIN, delivered(number, BASE - 1000 + 100 * number))
    store = Store()
    feed = MailgunFeed(spec_for(fake))
    try:
        cursor = await poll(feed, None, store)
        assert store.offered == 3
        # Stored only now, timed before the newest event already read: a `next` page would
        # never show it, the re-read of the trailing window does.
        fake.add(DOMAIN, delivered(10, BASE - 950))
        await poll(feed, cursor, store)
    finally:
        await feed.close()
    assert store.emails() == {f"lead{n}@example.com" for n in (0, 1, 2, 10)}
    assert store.offered == 4  # the re-read ones were dropped as already committed
    assert first_reads(fake)[-1]["begin"] == f"{BASE - 800 - WINDOW:.6f}"


async def test_malformed_items_are_skipped_and_counted(
    fake: FakeMailgun, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add(DOMAIN, delivered(1, BASE - 100))
    no_recipient = delivered(2, BASE - 99)
    del no_recipient["recipient"]
    fake.add(DOMAIN, no_recipient)
    bad_time = delivered(3, BASE - 98)
    bad_time["timestamp"] = "yesterday"
    fake.add(DOMAIN, bad_time, at=BASE - 98)
    fake.add(DOMAIN, ["not", "an", "object"], at=BASE - 97)
    bad_severity = sample("failed")
    bad_severity.update(id="ev-sev", timestamp=BASE - 96, severity=3)
    fake.add(DOMAIN, bad_severity)
    other_type = {"event": "list_uploaded", "id": "Kr9ZsE8ATfqhNHYmRKlrHg", "timestamp": BASE - 95}
    fake.add(DOMAIN, other_type)
    fake.add(DOMAIN, delivered(4, BASE - 94))
    caplog.set_level(logging.DEBUG)
    feed = MailgunFeed(spec_for(fake))
    try:
        page = await feed.read(None, NOW)
    finally:
        await feed.close()
    assert [event.email for event in page.events] == ["lead1@example.com", "lead4@example.com"]
    assert page.skipped == 4  # the unknown event type is not malformed: left out quietly
    assert json.loads(page.cursor)["domains"][DOMAIN]["last"] == BASE - 94
    assert "no `recipient`" in caplog.text
    assert "timestamp" in caplog.text
    assert KEY not in caplog.text


async def test_the_cursor_survives_a_restart(fake: FakeMailgun) -> None:
    for number in range(5):
        fake.add(DOMAIN, delivered(number, BASE - 600 + number))
    store = Store()
    first = MailgunFeed(spec_for(fake), page_size=2)
    try:
        page = await first.read(None, NOW)
        store.take(page)
        await first.acknowledge(page)
    finally:
        await first.close()
    assert json.loads(page.cursor)["domains"][DOMAIN]["next"]  # stopped mid-walk

    second = MailgunFeed(spec_for(fake), page_size=2)  # a new process, the stored cursor
    try:
        cursor = await poll(second, page.cursor, store)
    finally:
        await second.close()
    assert store.emails() == {f"lead{n}@example.com" for n in range(5)}
    assert store.offered == 5
    assert len(first_reads(fake)) == 1  # it went on from `paging.next`, no walk from scratch

    # Later, new events: a third process re-reads only the trailing window.
    for number in range(5, 8):
        fake.add(DOMAIN, delivered(number, BASE + 60 * number))
    fake.add(DOMAIN, delivered(99, BASE - 600 - WINDOW - 1))  # older than the window
    third = MailgunFeed(spec_for(fake), page_size=2)
    seen = Store()
    try:
        await poll(third, cursor, seen)
    finally:
        await third.close()
    begin = float(first_reads(fake)[-1]["begin"])
    assert begin == BASE - 596 - WINDOW  # the latest event seen, less the window
    assert {f"lead{n}@example.com" for n in range(5, 8)} <= seen.emails()
    assert "lead99@example.com" not in seen.emails()
    assert all(event.occurred_at.timestamp() >= begin for event in seen.events.values())
    store.events.update(seen.events)
    assert len(store.events) == 8  # the re-read five counted once


async def test_each_domain_is_read_in_turn(fake: FakeMailgun) -> None:
    fake.add(DOMAIN, delivered(1, BASE - 100))
    fake.add(OTHER, delivered(2, BASE - 50, domain=OTHER))
    store = Store()
    feed = MailgunFeed(spec_for(fake, domains=(DOMAIN, OTHER)))
    try:
        cursor = await poll(feed, None, store)
    finally:
        await feed.close()
    assert {(e.email, e.domain) for e in store.events.values()} == {
        ("lead1@example.com", DOMAIN),
        ("lead2@example.com", OTHER),
    }
    state = json.loads(cursor)
    assert state["at"] == 0
    assert state["domains"][DOMAIN]["last"] == BASE - 100
    assert state["domains"][OTHER]["last"] == BASE - 50
    assert {r.path for r in fake.requests if r.path.endswith("/events")} == {
        f"/v3/{DOMAIN}/events",
        f"/v3/{OTHER}/events",
    }


async def test_a_wrong_key_is_refused_and_never_shown(
    fake: FakeMailgun, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "key-Wr0ng-S3cret-fedcba9876"
    caplog.set_level(logging.DEBUG)
    feed = MailgunFeed(spec_for(fake, key=wrong), sleep=Sleeps())
    try:
        with pytest.raises(LoginRefused) as refused:
            await feed.read(None, NOW)
        probe = await feed.probe()
    finally:
        await feed.close()
    assert "401" in str(refused.value)
    assert probe.verdict is Verdict.REFUSED
    assert "401" in probe.detail
    for text in (str(refused.value), probe.detail, caplog.text, repr(spec_for(fake, key=wrong))):
        assert wrong not in text
    assert all(not r.authorised for r in fake.requests)


async def test_probe_ok_and_unreachable(fake: FakeMailgun) -> None:
    spec = spec_for(fake)
    feed = MailgunFeed(
        EspSpec(
            name="mg", kind="mailgun", base_url=fake.url + "/", domains=spec.domains, api_key=KEY
        )
    )
    try:
        assert (await feed.probe()).verdict is Verdict.OK
    finally:
        await feed.close()
    assert fake.requests[-1].query == {"limit": "1"}
    await fake.__aexit__(None, None, None)  # nothing listens there any more
    sleeps = Sleeps()
    gone = MailgunFeed(spec, sleep=sleeps)
    try:
        result = await gone.probe()
    finally:
        await gone.close()
    assert result.verdict is Verdict.UNREACHABLE
    assert KEY not in result.detail
    assert len(sleeps.delays) == 3  # retried with back-off before giving up


async def test_a_next_page_on_another_host_is_not_followed(fake: FakeMailgun) -> None:
    fake.add(DOMAIN, delivered(1, BASE - 10))
    elsewhere = "http://127.0.0.2:9/v3/mg.brand-news.com/events/abc"
    cursor = json.dumps({"v": 1, "at": 0, "domains": {DOMAIN: {"last": BASE, "next": elsewhere}}})
    feed = MailgunFeed(spec_for(fake))
    try:
        page = await feed.read(cursor, NOW)
    finally:
        await feed.close()
    # The key went nowhere else: the walk began again here, from the latest event seen.
    assert [r.path for r in fake.requests] == [f"/v3/{DOMAIN}/events"]
    assert first_reads(fake) == [
        {"begin": f"{BASE - WINDOW:.6f}", "ascending": "yes", "limit": "300"}
    ]
    assert [event.email for event in page.events] == ["lead1@example.com"]


async def test_an_expired_next_page_starts_the_walk_again(fake: FakeMailgun) -> None:
    for number in range(3):
        fake.add(DOMAIN, delivered(number, BASE - 60 + number))
    expired = f"{fake.url}/v3/{DOMAIN}/events/bm90LWEtdG9rZW4"  # the fake answers 400
    cursor = json.dumps(
        {"v": 1, "at": 0, "domains": {DOMAIN: {"last": BASE - 60, "next": expired}}}
    )
    store = Store()
    feed = MailgunFeed(spec_for(fake), sleep=Sleeps())
    try:
        await poll(feed, cursor, store)
    finally:
        await feed.close()
    assert fake.requests[0].status == 400
    assert first_reads(fake)[0]["begin"] == f"{BASE - 60 - WINDOW:.6f}"
    assert store.emails() == {f"lead{n}@example.com" for n in range(3)}


async def test_an_unreadable_cursor_starts_a_fresh_walk(fake: FakeMailgun) -> None:
    fake.add(DOMAIN, delivered(1, BASE - 10))
    store = Store()
    feed = MailgunFeed(spec_for(fake), trailing=timedelta(minutes=5))
    try:
        await poll(feed, "not json", store)
    finally:
        await feed.close()
    assert store.emails() == {"lead1@example.com"}
    assert first_reads(fake)[0]["begin"] == f"{BASE - 300:.6f}"


async def test_committed_ids_are_dropped_only_once_out_of_the_window(fake: FakeMailgun) -> None:
    """Acknowledging a page goes over every remembered id only when some left the re-read
    window (one pass a page made a 100,000-event backlog cost seconds)."""
    for number in range(6):
        fake.add(DOMAIN, delivered(number, BASE - 1000 + number))
    store = Store()
    feed = MailgunFeed(spec_for(fake), page_size=2, trailing=timedelta(seconds=100))
    try:
        page = await feed.read(None, datetime.fromtimestamp(BASE - 1000, UTC))
        await feed.acknowledge(page)
        remembered = feed._committed  # noqa: SLF001 - what the re-read drops
        cursor = page.cursor
        while page.more:
            page = await feed.read(cursor, NOW)
            await feed.acknowledge(page)
            cursor = page.cursor
        assert feed._committed is remembered  # noqa: SLF001 - none left the window: no pass
        assert len(remembered) == 6
        # Much later events move the window past the first ones: those are forgotten.
        for number in range(6, 8):
            fake.add(DOMAIN, delivered(number, BASE))
        cursor = await poll(feed, cursor, store)
        assert sorted(feed._committed) == ["ev-0006/20261207", "ev-0007/20261207"]  # noqa: SLF001
    finally:
        await feed.close()


async def requests_reach(fake: FakeMailgun, count: int) -> None:
    """Wait until the fake has answered `count` requests (its own record, not a clock)."""
    for _ in range(1000):
        if len(fake.requests) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(fake.requests)} requests, not {count}")


async def test_the_next_page_is_asked_for_ahead_and_dropped_for_another_cursor(
    fake: FakeMailgun,
) -> None:
    for number in range(3):
        fake.add(DOMAIN, delivered(number, BASE - 600 + number))
    feed = MailgunFeed(spec_for(fake), page_size=2)
    try:
        first = await feed.read(None, NOW)
        # Page 2 is asked for before anyone reads it (the poller commits page 1 meanwhile).
        await requests_reach(fake, 2)
        assert fake.requests[1].path.startswith(f"/v3/{DOMAIN}/events/")
        # A read from another cursor (page 1's commit failed): the answer ahead is not used.
        again = await feed.read(None, NOW)
        assert [e.event_id for e in again.events] == [e.event_id for e in first.events]
        assert len(fake.requests) == 3 and fake.requests[2].path == f"/v3/{DOMAIN}/events"
        store = Store()
        store.take(again)
        cursor = await poll(feed, again.cursor, store)
    finally:
        await feed.close()
    assert store.emails() == {f"lead{n}@example.com" for n in range(3)}
    # Page 2 (asked ahead again), then the empty page 3: each asked for once.
    assert len(fake.requests) == 5 and json.loads(cursor)["domains"][DOMAIN]["next"] is None
