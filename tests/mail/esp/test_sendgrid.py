"""SendGridFeed against a fake of SendGrid's suppression API: mapping, paging, faults, cursor."""

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
from mail.esp.sendgrid import SendGridFeed
from tests.fakes.sendgrid import LISTS, FakeSendGrid

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "esp" / "sendgrid"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
WRONG_KEY = "SG.wrong-S3cret-key.do-not-leak-0123456789"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSendGrid]:
    async with FakeSendGrid() as server:
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


def requests_for(fake: FakeSendGrid, name: str) -> list[dict[str, str]]:
    return [seen.params for seen in fake.seen if seen.list == name and seen.status == 200]


async def test_the_documented_samples_become_events(fake: FakeSendGrid) -> None:
    for name in LISTS:
        sample = json.loads((FIXTURES / f"{name}.json").read_text())
        for entry in sample["response"]:
            fake.add_raw(name, entry)
    feed = SendGridFeed(fake.spec())
    try:
        events, _, skipped = await poll(feed, None)
    finally:
        await feed.close()

    assert skipped == 0
    hard, block, complaint, unsubscribe = (
        EventKind.BOUNCE_HARD,
        EventKind.BLOCK,
        EventKind.COMPLAINT,
        EventKind.UNSUBSCRIBE,
    )
    table = [
        ("bounces", 1443651125, "testemail1@test.com", hard),
        ("bounces", 1433800303, "testemail2@testing.com", hard),
        ("blocks", 1443651141, "user1@example.com", block),  # status 4.0.0: still a block
        ("blocks", 1443651154, "user2@example.com", block),
        ("spam_reports", 1443651141, "user1@example.com", complaint),
        ("spam_reports", 1443651154, "user2@example.com", complaint),
        ("invalid_emails", 1449953655, "user1@example.com", hard),
        ("invalid_emails", 1449939373, "user1@example.com", hard),
        ("unsubscribes", 1443651141, "user1@example.com", unsubscribe),
        ("unsubscribes", 1443651154, "user2@example.com", unsubscribe),
    ]
    assert {(e.event_id, e.kind, e.email, e.occurred_at) for e in events} == {
        (f"{name}:{created}:{email}", kind, email, datetime.fromtimestamp(created, UTC))
        for name, created, email, kind in table
    }
    bounce = next(e for e in events if e.email == "testemail2@testing.com")
    assert bounce.detail == (
        "5.1.1 550 5.1.1 <testemail2@testing.com>: Recipient address rejected: "
        "User unknown in virtual alias table"
    )
    assert bounce.esp == "sg" and bounce.provider_message_id is None and bounce.message_id is None
    # The first poll reads each list whole, up to `now`, one page each, with the key as Bearer.
    assert [seen.list for seen in fake.seen] == list(LISTS)
    assert all(
        seen.params == {"limit": "500", "offset": "0", "end_time": str(T)} for seen in fake.seen
    )


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("4.2.2", EventKind.BOUNCE_SOFT),
        ("4.0.0", EventKind.BOUNCE_SOFT),
        ("5.1.1", EventKind.BOUNCE_HARD),
        ("550", EventKind.BOUNCE_HARD),
        (None, EventKind.BOUNCE_HARD),
    ],
)
async def test_a_temporary_status_is_a_soft_bounce(
    fake: FakeSendGrid, status: str | None, kind: EventKind
) -> None:
    fields = {"reason": "mailbox full"} | ({} if status is None else {"status": status})
    fake.add("bounces", " Ann@Example.COM ", T - 60, **fields)
    feed = SendGridFeed(fake.spec())
    try:
        events, _, _ = await poll(feed, None)
    finally:
        await feed.close()
    assert [(e.kind, e.email) for e in events] == [(kind, "ann@example.com")]


async def test_pages_with_duplicates_out_of_order_give_every_event_once(
    fake: FakeSendGrid,
) -> None:
    fake.unsorted = True  # served as added: times out of order
    fake.overlap_pages = True  # each later page starts one entry early: duplicates
    times = list(range(T - 23 * 60, T, 60))
    random.Random(7).shuffle(times)
    for n, created in enumerate(times):
        fake.add("bounces", f"b{n}@example.com", created, status="5.1.1", reason="no such user")
    for n in range(7):
        fake.add("unsubscribes", f"u{n}@example.com", T - 1000 - n)
    feed = SendGridFeed(fake.spec(), page_size=5)
    try:
        events, _, skipped = await poll(feed, None)
    finally:
        await feed.close()

    expected = {f"bounces:{created}:b{n}@example.com" for n, created in enumerate(times)} | {
        f"unsubscribes:{T - 1000 - n}:u{n}@example.com" for n in range(7)
    }
    assert ids(events) == expected
    assert len(events) > len(expected)  # the shifted pages did repeat entries
    assert skipped == 0
    bounces = requests_for(fake, "bounces")
    assert [int(p["offset"]) for p in bounces] == [0, 5, 10, 15, 20]
    assert {p["end_time"] for p in bounces} == {str(T)}  # the sweep's window stays frozen


async def test_an_entry_that_shows_up_late_is_read_at_the_next_poll(fake: FakeSendGrid) -> None:
    for n in range(5):
        fake.add("bounces", f"early{n}@example.com", T - 600 + n * 100, status="5.1.1")
    feed = SendGridFeed(fake.spec(), overlap=timedelta(minutes=30))
    try:
        first, cursor, _ = await poll(feed, None)
        # Added after the first poll, with a time inside what that poll read already.
        late = fake.add("bounces", "late@example.com", T - 450, status="5.1.1")
        newer = fake.add("spam_reports", "new@example.com", T + 30)
        second, _, _ = await poll(feed, cursor, NOW + timedelta(minutes=1))
    finally:
        await feed.close()

    assert len(ids(first)) == 5
    assert ids(first) <= ids(second)  # re-read within the overlap, under the same ids
    assert f"bounces:{late['created']}:late@example.com" in ids(second)
    assert f"spam_reports:{newer['created']}:new@example.com" in ids(second)
    # The second poll read from the latest time seen less the overlap, up to its own `now`.
    assert requests_for(fake, "bounces")[-1] == {
        "limit": "500",
        "offset": "0",
        "start_time": str(T - 200 - 1800),
        "end_time": str(T + 60),
    }
    assert ids(first) | ids(second) == {
        *(f"bounces:{T - 600 + n * 100}:early{n}@example.com" for n in range(5)),
        f"bounces:{T - 450}:late@example.com",
        f"spam_reports:{T + 30}:new@example.com",
    }


async def test_a_500_and_a_429_are_asked_again(fake: FakeSendGrid) -> None:
    fake.add("bounces", "a@example.com", T - 10, status="5.1.1")
    fake.fail_next(500)
    fake.fail_next(429, retry_after="1")
    sleeps = Sleeps()
    feed = SendGridFeed(fake.spec(), sleep=sleeps)
    try:
        events, _, _ = await poll(feed, None)
    finally:
        await feed.close()
    assert ids(events) == {f"bounces:{T - 10}:a@example.com"}
    assert sleeps.pauses == [1.0, 1.0]  # the back-off after the 500, then Retry-After: 1
    assert [seen.status for seen in fake.seen[:3]] == [500, 429, 200]


async def test_a_429_with_only_rate_limit_headers_waits_for_the_reset(fake: FakeSendGrid) -> None:
    fake.add("blocks", "b@example.com", T - 10, status="4.0.0", reason="Connection timed out")
    fake.fail_next(429)  # X-RateLimit-Reset (now + 1 s), no Retry-After: waits until then
    sleeps = Sleeps()
    feed = SendGridFeed(fake.spec(), sleep=sleeps)
    try:
        events, _, _ = await poll(feed, None)
    finally:
        await feed.close()
    assert ids(events) == {f"blocks:{T - 10}:b@example.com"}
    [pause] = sleeps.pauses
    assert 0.0 <= pause <= 1.0


async def test_a_provider_down_for_longer_raises_and_the_next_poll_goes_on(
    fake: FakeSendGrid,
) -> None:
    for n in range(3):
        fake.add("bounces", f"a{n}@example.com", T - 10 - n, status="5.1.1")
    feed = SendGridFeed(fake.spec(), sleep=Sleeps(), page_size=2)
    try:
        page = await feed.read(None, NOW)
        fake.fail_next(503, times=4)
        with pytest.raises(PeerUnavailable, match="503"):
            await feed.read(page.cursor, NOW)
        rest, _, _ = await poll(feed, page.cursor)  # the same cursor, once it answers again
    finally:
        await feed.close()
    assert ids(list(page.events)) | ids(rest) == {
        f"bounces:{T - 10 - n}:a{n}@example.com" for n in range(3)
    }


async def test_a_malformed_entry_is_skipped_and_counted_and_its_page_kept(
    fake: FakeSendGrid, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add("bounces", "first@example.com", T - 50, status="5.1.1")
    bad: list[Any] = [
        {"email": "no-time@example.com", "status": "5.1.1"},
        {"created": T - 40, "status": "5.1.1"},
        "not an object",
        {"created": "2009-06-01 19:41:39", "email": "v2-date@example.com"},
        {"created": T - 30, "email": "odd-reason@example.com", "reason": 550},
        {"created": True, "email": "bool@example.com"},
        {"created": T - 20.5, "email": "fraction@example.com"},
    ]
    for entry in bad:
        fake.add_raw("bounces", entry)
    fake.add("bounces", "last@example.com", T - 10, status="5.1.1")
    caplog.set_level(logging.WARNING, logger="outreach")
    feed = SendGridFeed(fake.spec())
    try:
        page = await feed.read(None, NOW)
    finally:
        await feed.close()

    assert page.skipped == len(bad)
    assert ids(list(page.events)) == {
        f"bounces:{T - 50}:first@example.com",
        f"bounces:{T - 10}:last@example.com",
    }
    assert caplog.text.count("skipped") == len(bad)


async def test_the_cursor_survives_a_restart(fake: FakeSendGrid) -> None:
    for n in range(12):
        fake.add("bounces", f"r{n}@example.com", T - 100 + n, status="5.1.1")
    first = SendGridFeed(fake.spec(), page_size=5)
    try:
        one = await first.read(None, NOW)
        two = await first.read(one.cursor, NOW)
    finally:
        await first.close()
    assert one.more and two.more
    stored = two.cursor  # what the poller committed with the events

    again = SendGridFeed(fake.spec(), page_size=5)  # a new process, the stored cursor
    try:
        rest, _, _ = await poll(again, stored, NOW + timedelta(minutes=5))
    finally:
        await again.close()

    bounces = requests_for(fake, "bounces")
    assert bounces[2] == {"limit": "5", "offset": "10", "end_time": str(T)}  # mid-sweep, as left
    assert ids([*one.events, *two.events, *rest]) == {
        f"bounces:{T - 100 + n}:r{n}@example.com" for n in range(12)
    }


async def test_an_unreadable_cursor_starts_over(fake: FakeSendGrid) -> None:
    fake.add("unsubscribes", "u@example.com", T - 5)
    feed = SendGridFeed(fake.spec())
    try:
        events, cursor, _ = await poll(feed, '{"list": "nonsense"}')
    finally:
        await feed.close()
    assert ids(events) == {f"unsubscribes:{T - 5}:u@example.com"}
    assert json.loads(cursor)["since"] == {"unsubscribes": T - 5}


async def test_a_wrong_key_is_refused_and_never_shown(
    fake: FakeSendGrid, caplog: pytest.LogCaptureFixture
) -> None:
    fake.echo_auth = True  # even a server that quotes the key back must not make it show
    caplog.set_level(logging.DEBUG, logger="outreach")
    feed = SendGridFeed(fake.spec(api_key=WRONG_KEY), sleep=Sleeps())
    try:
        with pytest.raises(LoginRefused) as refused:
            await feed.read(None, NOW)
        verdict = await feed.probe()
    finally:
        await feed.close()

    assert "401" in str(refused.value)
    assert verdict.verdict is Verdict.REFUSED
    for text in (str(refused.value), verdict.detail, caplog.text, repr(feed)):
        assert WRONG_KEY not in text
        assert "wrong-S3cret" not in text


async def test_probe_says_ok_with_the_right_key_and_unreachable_without_a_server() -> None:
    async with FakeSendGrid() as server:
        feed = SendGridFeed(server.spec())
        try:
            ok = await feed.probe()
        finally:
            await feed.close()
        assert ok.verdict is Verdict.OK
        assert server.seen[0].params == {"limit": "1"}
    gone = SendGridFeed(server.spec(), sleep=Sleeps())  # stopped: nothing listens there now
    try:
        down = await gone.probe()
    finally:
        await gone.close()
    assert down.verdict is Verdict.UNREACHABLE


@pytest.mark.parametrize("body", [{"errors": []}, {"result": [1]}, "bounces"])
async def test_an_answer_of_another_shape_is_a_provider_failure(
    fake: FakeSendGrid, body: object
) -> None:
    fake.fail_next(200, body=body)
    feed = SendGridFeed(fake.spec())
    try:
        with pytest.raises(PeerUnavailable, match="not a JSON array"):
            await feed.read(None, NOW)
    finally:
        await feed.close()


async def test_an_entry_dated_in_the_future_does_not_move_the_next_poll_past_now(
    fake: FakeSendGrid,
) -> None:
    future = {"created": T + 10**6, "email": "clock@example.com", "status": "5.1.1"}
    fake.fail_next(200, body=[future])  # a server that ignores end_time, or a wrong clock
    feed = SendGridFeed(fake.spec(), overlap=timedelta(0))
    try:
        events, cursor, _ = await poll(feed, None)
        fake.add("bounces", "next@example.com", T + 5, status="5.1.1")
        later, _, _ = await poll(feed, cursor, NOW + timedelta(minutes=1))
    finally:
        await feed.close()
    assert ids(events) == {f"bounces:{T + 10**6}:clock@example.com"}
    assert json.loads(cursor)["since"] == {"bounces": T}
    assert f"bounces:{T + 5}:next@example.com" in ids(later)
