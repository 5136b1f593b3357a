"""PostmarkFeed against a fake of Postmark's bounce API: mapping, paging, faults, cursor."""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.connect import Verdict
from core.errors import LoginRefused, PeerUnavailable
from core.esp import EspEvent
from core.models import EventKind
from engine.ports import EspFeed
from mail.esp.postmark import EASTERN, PostmarkFeed, eastern
from tests.fakes.postmark import FakePostmark

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "esp" / "postmark"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # 07:00 in New York (EST)
T = int(NOW.timestamp())
WRONG_TOKEN = "0badc0de-wrong-S3cret-token-do-not-leak"


@pytest.fixture
async def fake() -> AsyncIterator[FakePostmark]:
    async with FakePostmark() as server:
        yield server


class Sleeps:
    """An injected sleep: records the pauses, waits for none."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.pauses.append(seconds)


async def poll(
    feed: EspFeed, cursor: str | None, now: datetime = NOW
) -> tuple[list[EspEvent], str, int]:
    """Read pages until the feed says the poll is over: every event, the cursor, the skips."""
    events: list[EspEvent] = []
    skipped = 0
    for _ in range(200):
        page = await feed.read(cursor, now)
        events += page.events
        skipped += page.skipped
        cursor = page.cursor
        if not page.more:
            return events, cursor, skipped
    pytest.fail("the feed never ended its poll")


def ids(events: list[EspEvent]) -> set[str]:
    return {event.event_id for event in events}


def before(seconds: int) -> str:
    """BouncedAt `seconds` before NOW, as Postmark writes it (Eastern offset, 7 digits)."""
    when = (NOW - timedelta(seconds=seconds)).astimezone(EASTERN)
    offset = when.strftime("%z")  # -0500
    return f"{when:%Y-%m-%dT%H:%M:%S}.0000000{offset[:3]}:{offset[3:]}"


def bounce_requests(fake: FakePostmark) -> list[dict[str, str]]:
    return [s.params for s in fake.seen if s.path == "/bounces" and s.status == 200]


async def test_the_documented_sample_becomes_events(fake: FakePostmark) -> None:
    sample = json.loads((FIXTURES / "bounces.json").read_text())["response"]
    for bounce in sample["Bounces"]:
        fake.add_raw(bounce)
    feed = PostmarkFeed(fake.spec())
    try:
        events, _, skipped = await poll(feed, None)
    finally:
        await feed.close()

    assert skipped == 0
    assert sorted(events, key=lambda e: e.event_id) == [
        EspEvent(
            esp="pm",
            event_id="676862817",
            kind=EventKind.BOUNCE_HARD,
            email="vicelcown@yahoo.com",
            occurred_at=datetime(2013, 10, 18, 13, 49, 59, 825357, tzinfo=UTC),
            provider_message_id="623b2e90-82d0-4050-ae9e-2c3a734ba091",
            domain="postmarkapp.com",
            detail="smtp;554 delivery error: dd This user doesn't have a yahoo.com account "
            "(vicelcown@yahoo.com) [0] - mta1543.mail.ne1.yahoo.com",
        ),
        EspEvent(
            esp="pm",
            event_id="692560173",
            kind=EventKind.BOUNCE_HARD,
            email="anything@blackhole.postmarkapp.com",
            occurred_at=datetime(2014, 1, 15, 21, 9, 19, 642111, tzinfo=UTC),
            provider_message_id="2c1b63fe-43f2-4db5-91b0-8bdfa44a9316",
            domain="postmarkapp.com",
            detail="action: failed",
        ),
    ]
    # The first poll reads everything Postmark keeps, up to `now` in Eastern time.
    assert bounce_requests(fake) == [
        {"count": "500", "offset": "0", "todate": "2026-12-01T07:00:00"}
    ]


async def test_every_documented_type_maps_as_decided(fake: FakePostmark) -> None:
    types = json.loads((FIXTURES / "bounce_types.json").read_text())["types"]
    for n, row in enumerate(types):
        fake.add(1000 + n, row["Type"], f"t{n}@example.com", before(60 + n))
    feed = PostmarkFeed(fake.spec())
    try:
        events, _, skipped = await poll(feed, None)
    finally:
        await feed.close()

    by_id = {row["Type"]: str(1000 + n) for n, row in enumerate(types)}
    kinds = {e.event_id: e.kind for e in events}
    assert {kind: kinds[by_id[kind]] for kind in by_id if by_id[kind] in kinds} == {
        "HardBounce": EventKind.BOUNCE_HARD,
        "BadEmailAddress": EventKind.BOUNCE_HARD,
        "Transient": EventKind.BOUNCE_SOFT,
        "DnsError": EventKind.BOUNCE_SOFT,
        "SoftBounce": EventKind.BOUNCE_SOFT,
        "SpamComplaint": EventKind.COMPLAINT,
        "Blocked": EventKind.BLOCK,
        "SpamNotification": EventKind.BLOCK,
        "DMARCPolicy": EventKind.BLOCK,
        "Unsubscribe": EventKind.UNSUBSCRIBE,
    }
    assert skipped == 0  # the other types are no signal, not malformed


async def test_pages_with_duplicates_out_of_order_give_every_bounce_once(
    fake: FakePostmark,
) -> None:
    fake.unsorted = True  # served as added: times out of order
    fake.overlap_pages = True  # each later page starts one bounce early: duplicates
    ages = list(range(60, 60 * 24, 60))
    random.Random(11).shuffle(ages)
    for n, age in enumerate(ages):
        when = NOW - timedelta(seconds=age)
        # Three spellings of a time: with Postmark's Eastern offset, in UTC, and without one.
        spelling = [before(age), when.isoformat().replace("+00:00", "Z")]
        spelling.append(when.astimezone(EASTERN).replace(tzinfo=None).isoformat())
        fake.add(500 + n, "SoftBounce", f"s{n}@example.com", spelling[n % 3])
    feed = PostmarkFeed(fake.spec(), page_size=5)
    try:
        events, _, skipped = await poll(feed, None)
    finally:
        await feed.close()

    assert ids(events) == {str(500 + n) for n in range(len(ages))}
    assert len(events) > len(ages)  # the shifted pages did repeat bounces
    assert skipped == 0
    assert {e.occurred_at for e in events} == {NOW - timedelta(seconds=age) for age in ages}
    requests = bounce_requests(fake)
    assert [int(p["offset"]) for p in requests] == [0, 5, 10, 15, 20]
    assert {p["todate"] for p in requests} == {"2026-12-01T07:00:00"}  # the window stays put


async def test_the_10000_limit_moves_the_window_down_instead_of_the_offset(
    fake: FakePostmark,
) -> None:
    fake.max_window = 12  # Postmark's 10,000, scaled down
    for n in range(30):
        fake.add(2000 + n, "HardBounce", f"h{n}@example.com", before(100 * (n + 1)))
    feed = PostmarkFeed(fake.spec(), page_size=4, window=12)
    try:
        events, _, _ = await poll(feed, None)
    finally:
        await feed.close()

    assert ids(events) == {str(2000 + n) for n in range(30)}
    assert all(seen.status == 200 for seen in fake.seen)  # never asked past the limit
    requests = bounce_requests(fake)
    assert max(int(p["count"]) + int(p["offset"]) for p in requests) <= 12
    assert len({p["todate"] for p in requests}) > 1


async def test_a_bounce_filed_late_is_read_at_the_next_poll(fake: FakePostmark) -> None:
    for n in range(4):
        fake.add(3000 + n, "HardBounce", f"e{n}@example.com", before(3000 - n * 600))
    feed = PostmarkFeed(fake.spec())
    try:
        first, cursor, _ = await poll(feed, None)
        fake.add(3100, "SpamComplaint", "late@example.com", before(900))  # inside what was read
        fake.add(3101, "HardBounce", "new@example.com", before(-30))  # after the first poll
        second, _, _ = await poll(feed, cursor, NOW + timedelta(minutes=1))
    finally:
        await feed.close()

    assert ids(first) == {"3000", "3001", "3002", "3003"}
    assert {"3100", "3101"} <= ids(second)
    assert ids(first) <= ids(second)  # re-read within the overlap, under the same IDs
    # From the first poll's upper end less two hours, up to the second poll's `now`.
    assert bounce_requests(fake)[-1] == {
        "count": "500",
        "offset": "0",
        "fromdate": "2026-12-01T05:00:00",
        "todate": "2026-12-01T07:01:00",
    }


def test_dates_are_sent_in_eastern_time_summer_and_winter() -> None:
    assert eastern(T) == "2026-12-01T07:00:00"  # EST, UTC-5
    assert eastern(int(datetime(2026, 7, 1, 12, 0, 30, tzinfo=UTC).timestamp())) == (
        "2026-07-01T08:00:30"  # EDT, UTC-4
    )


async def test_a_500_and_a_429_are_asked_again(fake: FakePostmark) -> None:
    fake.add(1, "HardBounce", "a@example.com", before(10))
    fake.fail_next(500)
    fake.fail_next(429, retry_after="1")
    sleeps = Sleeps()
    feed = PostmarkFeed(fake.spec(), sleep=sleeps)
    try:
        events, _, _ = await poll(feed, None)
    finally:
        await feed.close()
    assert ids(events) == {"1"}
    assert sleeps.pauses == [1.0, 1.0]  # the back-off after the 500, then Retry-After: 1
    assert [seen.status for seen in fake.seen] == [500, 429, 200]


async def test_a_provider_down_for_longer_raises_and_the_next_poll_goes_on(
    fake: FakePostmark,
) -> None:
    for n in range(3):
        fake.add(10 + n, "HardBounce", f"a{n}@example.com", before(10 + n))
    feed = PostmarkFeed(fake.spec(), sleep=Sleeps(), page_size=2)
    try:
        page = await feed.read(None, NOW)
        fake.fail_next(502, times=4)
        with pytest.raises(PeerUnavailable, match="502"):
            await feed.read(page.cursor, NOW)
        rest, _, _ = await poll(feed, page.cursor)  # the same cursor, once it answers again
    finally:
        await feed.close()
    assert ids(list(page.events)) | ids(rest) == {"10", "11", "12"}


async def test_a_malformed_bounce_is_skipped_and_counted_and_its_page_kept(
    fake: FakePostmark, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add(1, "HardBounce", "first@example.com", before(50))
    good = fake.add(2, "HardBounce", "x@example.com", before(40))
    bad: list[Any] = [
        {**good, "ID": None},
        {**good, "ID": True},
        {**good, "Email": None},
        {**good, "BouncedAt": "yesterday"},
        {**good, "BouncedAt": 1700000000},
        {**good, "MessageID": 42},
        {key: value for key, value in good.items() if key != "Type"},
        ["not", "an", "object"],
    ]
    fake.bounces.remove(good)
    for bounce in bad:
        fake.add_raw(bounce)
    fake.add(3, "AutoResponder", "ooo@example.com", before(30))  # no signal: left out, not counted
    fake.add(4, "SoftBounce", "last@example.com", before(20))
    caplog.set_level(logging.WARNING, logger="outreach")
    feed = PostmarkFeed(fake.spec())
    try:
        page = await feed.read(None, NOW)
    finally:
        await feed.close()

    assert page.skipped == len(bad)
    assert ids(list(page.events)) == {"1", "4"}
    assert caplog.text.count("skipped") == len(bad)


async def test_the_cursor_survives_a_restart(fake: FakePostmark) -> None:
    for n in range(12):
        fake.add(100 + n, "HardBounce", f"r{n}@example.com", before(100 - n))
    first = PostmarkFeed(fake.spec(), page_size=5)
    try:
        one = await first.read(None, NOW)
        two = await first.read(one.cursor, NOW)
    finally:
        await first.close()
    assert one.more and two.more
    stored = two.cursor  # what the poller committed with the events

    again = PostmarkFeed(fake.spec(), page_size=5)  # a new process, the stored cursor
    try:
        rest, _, _ = await poll(again, stored, NOW + timedelta(minutes=5))
    finally:
        await again.close()

    assert bounce_requests(fake)[2] == {
        "count": "5",
        "offset": "10",
        "todate": "2026-12-01T07:00:00",  # mid-sweep, as it was left
    }
    assert ids([*one.events, *two.events, *rest]) == {str(100 + n) for n in range(12)}


async def test_an_unreadable_cursor_starts_over(fake: FakePostmark) -> None:
    fake.add(7, "Unsubscribe", "u@example.com", before(5))
    feed = PostmarkFeed(fake.spec())
    try:
        events, cursor, _ = await poll(feed, "{not json")
    finally:
        await feed.close()
    assert [(e.event_id, e.kind) for e in events] == [("7", EventKind.UNSUBSCRIBE)]
    assert json.loads(cursor) == {"v": 1, "from": T - 7200, "top": None, "to": None, "offset": 0}


async def test_a_wrong_token_is_refused_and_never_shown(
    fake: FakePostmark, caplog: pytest.LogCaptureFixture
) -> None:
    fake.echo_auth = True  # even a server that quotes the token back must not make it show
    caplog.set_level(logging.DEBUG, logger="outreach")
    feed = PostmarkFeed(fake.spec(server_token=WRONG_TOKEN), sleep=Sleeps())
    try:
        with pytest.raises(LoginRefused) as refused:
            await feed.read(None, NOW)
        verdict = await feed.probe()
    finally:
        await feed.close()

    assert "401" in str(refused.value)
    assert verdict.verdict is Verdict.REFUSED
    for text in (str(refused.value), verdict.detail, caplog.text, repr(feed)):
        assert WRONG_TOKEN not in text
        assert "wrong-S3cret" not in text


async def test_probe_says_ok_with_the_right_token_and_unreachable_without_a_server() -> None:
    async with FakePostmark() as server:
        feed = PostmarkFeed(server.spec())
        try:
            ok = await feed.probe()
        finally:
            await feed.close()
        assert ok.verdict is Verdict.OK
        assert [seen.path for seen in server.seen] == ["/deliverystats"]
    gone = PostmarkFeed(server.spec(), sleep=Sleeps())  # stopped: nothing listens there now
    try:
        down = await gone.probe()
    finally:
        await gone.close()
    assert down.verdict is Verdict.UNREACHABLE


@pytest.mark.parametrize("body", [[], {"TotalCount": 0}, {"Bounces": {"ID": 1}}])
async def test_an_answer_of_another_shape_is_a_provider_failure(
    fake: FakePostmark, body: object
) -> None:
    fake.fail_next(200, body=body)
    feed = PostmarkFeed(fake.spec())
    try:
        with pytest.raises(PeerUnavailable, match="no Bounces list"):
            await feed.read(None, NOW)
    finally:
        await feed.close()
