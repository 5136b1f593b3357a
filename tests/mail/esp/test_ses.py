"""The SES adapter: SNS-wrapped SES notifications read from a (fake) SQS queue, then deleted."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import pytest

from core.connect import Verdict
from core.errors import LoginRefused, PeerUnavailable
from core.esp import EspEvent, EspPage
from core.models import EventKind
from core.specs import EspSpec
from engine.ports import EspFeed
from mail.esp.ses import SesFeed
from mail.esp.ses_events import _addr_spec
from tests.fakes.sqs import FakeSqs

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "esp" / "ses"
KEY_ID = "AKIAFAKEKEY1234567"
SECRET = "wJalr/S3cret+Never-Shown"
NOW = datetime(2026, 12, 7, tzinfo=UTC)


def fixture(name: str) -> str:
    """One documented SQS body, as text."""
    return (FIXTURES / name).read_text()


def ses_body(notification: dict[str, Any]) -> str:
    """An SES notification in an SNS envelope, as the queue holds it."""
    return json.dumps(
        {"Type": "Notification", "MessageId": "x", "Message": json.dumps(notification)}
    )


def bounce(feedback: str, email: str, bounce_type: str = "Permanent") -> str:
    """A bounce of one recipient, in the documented shape."""
    return ses_body(
        {
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": bounce_type,
                "bounceSubType": "General",
                "bouncedRecipients": [{"emailAddress": email}],
                "timestamp": "2026-12-06T10:00:00.000Z",
                "feedbackId": feedback,
            },
            "mail": {
                "timestamp": "2026-12-06T09:59:00.000Z",
                "messageId": f"ses-{feedback}",
                "source": "alex@brand-news.com",
                "destination": [email],
                "commonHeaders": {"messageId": f"<{feedback}@brand-news.com>"},
            },
        }
    )


@pytest.fixture
async def sqs() -> AsyncIterator[FakeSqs]:
    """A fake queue only KEY_ID and SECRET may read, with a 30 s visibility timeout."""
    async with FakeSqs(access_key=KEY_ID, secret_key=SECRET, visibility_timeout=30) as fake:
        yield fake


def spec_for(fake: FakeSqs, *, key_id: str = KEY_ID, endpoint: str | None = None) -> EspSpec:
    """The [[esp]] of kind ses pointing at the fake."""
    return EspSpec(
        name="ses-main",
        kind="ses",
        base_url="",
        region="us-east-1",
        queue_url=fake.queue_url,
        access_key_id=key_id,
        secret_access_key=SECRET,
        endpoint_url=endpoint or fake.url,
    )


class Sleeps:
    """A sleep that returns at once and remembers what it was asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def sleeps() -> Sleeps:
    """The adapter's sleep, recorded."""
    return Sleeps()


@pytest.fixture
async def feed(sqs: FakeSqs, sleeps: Sleeps) -> AsyncIterator[SesFeed]:
    """The adapter on the fake queue: batches of 3, no long poll, sleeps recorded."""
    adapter = SesFeed(spec_for(sqs), sleep=sleeps, wait_seconds=0, batch=3)
    port: EspFeed = adapter  # mypy checks the adapter against the engine's port
    yield adapter
    assert port.name == "ses-main"
    await adapter.close()


async def drain(feed: SesFeed) -> tuple[list[EspPage], dict[str, EspEvent]]:
    """Read and acknowledge until the queue has nothing; the pages and the events by id."""
    pages: list[EspPage] = []
    stored: dict[str, EspEvent] = {}
    while True:
        page = await feed.read(None, NOW)
        pages.append(page)
        for event in page.events:
            stored.setdefault(event.event_id, event)  # the events table's UNIQUE(source, id)
        await feed.acknowledge(page)
        if not page.more and not page.receipts:
            return pages, stored


async def test_every_documented_sample_is_read_once_and_deleted(
    sqs: FakeSqs, feed: SesFeed
) -> None:
    for name in sorted(FIXTURES.glob("*.json")):
        sqs.send(name.read_text())
    sqs.send(fixture("bounce_dsn_sns.json"))  # SNS delivers at least once: the same bounce again

    pages, stored = await drain(feed)

    assert sorted((e.kind, e.email) for e in stored.values()) == [
        (EventKind.BOUNCE_HARD, "jane@example.com"),  # bounce with a DSN
        (EventKind.BOUNCE_HARD, "jane@example.com"),  # bounce without one: another feedback id
        (EventKind.BOUNCE_HARD, "recipient@example.com"),  # event publishing (eventType)
        (EventKind.BOUNCE_HARD, "richard@example.com"),  # the second recipient of that bounce
        (EventKind.COMPLAINT, "richard@example.com"),
        (EventKind.DELIVERED, "jane@example.com"),
    ]
    read = [e for page in pages for e in page.events]
    # The twin came in another page (batches of 3): read twice, counted once by its id.
    assert len(read) == 7
    assert sum(page.skipped for page in pages) == 0
    assert [page.cursor for page in pages] == [""] * len(pages)
    assert [page.more for page in pages] == [True, True, False]  # 6 messages, batches of 3
    assert sqs.messages == []  # every message was deleted after its page
    receives = sqs.received()
    assert {(c.params["MaxNumberOfMessages"], c.params["WaitTimeSeconds"]) for c in receives} == {
        (3, 0)
    }


async def test_a_bounce_keeps_the_documented_fields(sqs: FakeSqs, feed: SesFeed) -> None:
    sqs.send(fixture("bounce_dsn_sns.json"))
    page = await feed.read(None, NOW)
    assert page.events == (
        EspEvent(
            esp="ses-main",
            event_id="00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000:jane@example.com",
            kind=EventKind.BOUNCE_HARD,
            email="jane@example.com",
            occurred_at=datetime(2016, 1, 27, 14, 59, 38, 237000, tzinfo=UTC),
            provider_message_id="00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
            message_id="custom-message-ID",
            domain="example.com",
            detail="Permanent/General: smtp; 550 5.1.1 <jane@example.com>... User",
        ),
    )
    assert page.more is False
    assert len(page.receipts) == 1


async def test_deliveries_complaints_and_event_publishing(sqs: FakeSqs, feed: SesFeed) -> None:
    sqs.send(fixture("delivery_sns.json"))
    sqs.send(fixture("complaint_raw.json"))
    sqs.send(fixture("event_bounce_sns.json"))
    page = await feed.read(None, NOW)
    delivered, complaint, published = page.events
    assert delivered.event_id == (
        "0000014644fe5ef6-9a483358-9170-4cb4-a269-f5dcdf415321-000000:jane@example.com"
    )
    assert delivered.detail == "250 ok: Message 64111812 accepted"
    assert complaint.kind is EventKind.COMPLAINT
    assert complaint.event_id.startswith("000001378603177f-18c07c78")  # the feedbackId
    assert complaint.detail == "abuse"
    # "Sender Name <sender@example.com>": the domain still comes out.
    assert published.domain == "example.com"
    assert published.message_id == "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"


@pytest.mark.parametrize(
    ("bounce_type", "kind"),
    [
        ("Permanent", EventKind.BOUNCE_HARD),
        ("Transient", EventKind.BOUNCE_SOFT),
        ("Undetermined", EventKind.BOUNCE_SOFT),
    ],
)
async def test_bounce_types(sqs: FakeSqs, feed: SesFeed, bounce_type: str, kind: EventKind) -> None:
    sqs.send(bounce("fb-1", " Lead@Example.COM ", bounce_type))
    (event,) = (await feed.read(None, NOW)).events
    assert event.kind is kind
    assert event.email == "lead@example.com"
    assert event.message_id == "fb-1@brand-news.com"  # our Message-ID, without <>
    assert event.domain == "brand-news.com"


async def test_a_long_poll_returns_when_a_notification_arrives(sqs: FakeSqs) -> None:
    feed = SesFeed(spec_for(sqs), sleep=Sleeps())  # the default: WaitTimeSeconds=20
    try:
        reading = asyncio.create_task(feed.read(None, NOW))
        assert sqs.polling is not None
        await sqs.polling.wait()  # the queue holds the empty answer
        sqs.send(bounce("fb-1", "a@example.com"))
        page = await reading
    finally:
        await feed.close()
    assert [e.email for e in page.events] == ["a@example.com"]
    assert sqs.received()[0].params["WaitTimeSeconds"] == 20


async def test_unacknowledged_messages_come_back_after_the_visibility_timeout(
    sqs: FakeSqs, feed: SesFeed
) -> None:
    sqs.send(bounce("fb-1", "a@example.com"))
    sqs.send(bounce("fb-2", "b@example.com"))

    first = await feed.read(None, NOW)  # then a crash before the commit: no acknowledge
    assert len(first.events) == 2
    hidden = await feed.read(None, NOW)
    assert hidden.events == () and hidden.receipts == ()  # in flight, invisible

    sqs.advance(31)
    again = await feed.read(None, NOW)
    assert [e.event_id for e in again.events] == [e.event_id for e in first.events]
    assert set(again.receipts).isdisjoint(first.receipts)  # a new receipt for each receive
    await feed.acknowledge(again)
    sqs.advance(31)
    assert (await feed.read(None, NOW)).receipts == ()
    assert sqs.messages == []


async def test_a_malformed_body_is_skipped_counted_and_still_deleted(
    sqs: FakeSqs, feed: SesFeed, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sqs.send(bounce("fb-1", "a@example.com"))
    poison = sqs.send("{not json")
    sqs.send(ses_body({"notificationType": "Bounce", "bounce": {}, "mail": {"messageId": "m"}}))

    page = await feed.read(None, NOW)
    assert [e.email for e in page.events] == ["a@example.com"]
    assert page.skipped == 2
    assert len(page.receipts) == 3  # the poison messages too: they must not return forever
    await feed.acknowledge(page)
    sqs.advance(31)
    assert sqs.messages == []
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert any(poison in line and "not JSON" in line for line in skipped)
    assert any("bounce.bounceType is missing" in line for line in skipped)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"timestamp": "yesterday"}, "bounce.timestamp is not an ISO 8601 time"),
        ({"timestamp": "2026-12-06T10:00:00"}, "has no time zone"),
        ({"bouncedRecipients": "a@example.com"}, "bouncedRecipients is missing or not a list"),
        ({"feedbackId": 7}, "bounce.feedbackId is missing"),
    ],
)
async def test_wrong_fields_make_a_message_malformed(
    sqs: FakeSqs,
    feed: SesFeed,
    caplog: pytest.LogCaptureFixture,
    change: dict[str, Any],
    why: str,
) -> None:
    notification = json.loads(json.loads(bounce("fb-1", "a@example.com"))["Message"])
    notification["bounce"].update(change)
    sqs.send(ses_body(notification))
    sqs.send(bounce("fb-2", "b@example.com"))
    page = await feed.read(None, NOW)
    assert [e.email for e in page.events] == ["b@example.com"]
    assert page.skipped == 1
    assert any(why in r.getMessage() for r in caplog.records)


async def test_a_recipient_without_an_address_is_skipped_and_the_others_kept(
    sqs: FakeSqs, feed: SesFeed
) -> None:
    notification = json.loads(fixture("bounce_no_dsn_raw.json"))
    notification["bounce"]["bouncedRecipients"].append({"status": "5.1.1"})
    notification["bounce"]["bouncedRecipients"].append({"emailAddress": 42})
    sqs.send(json.dumps(notification))
    page = await feed.read(None, NOW)
    assert [e.email for e in page.events] == ["jane@example.com", "richard@example.com"]
    assert page.skipped == 2


async def test_other_notifications_are_not_events_and_not_errors(
    sqs: FakeSqs, feed: SesFeed
) -> None:
    sqs.send(json.dumps({"Type": "SubscriptionConfirmation", "Message": "You have chosen..."}))
    sqs.send(ses_body({"eventType": "Send", "mail": {"messageId": "m"}, "send": {}}))
    sqs.send(ses_body({"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"}))
    page = await feed.read(None, NOW)
    assert page.events == ()
    assert page.skipped == 0
    assert len(page.receipts) == 3  # deleted all the same


async def test_opens_and_clicks_of_event_publishing(sqs: FakeSqs, feed: SesFeed) -> None:
    mail = {
        "timestamp": "2017-08-09T21:59:49.927Z",
        "messageId": "EXAMPLE7c191be45",
        "source": "sender@example.com",
        "destination": ["recipient@example.com"],
    }
    opened = {"timestamp": "2017-08-09T22:00:19.652Z", "ipAddress": "192.0.2.1"}
    clicked = {"timestamp": "2017-08-09T23:51:25.570Z", "link": "http://docs.aws.amazon.com/"}
    sqs.send(ses_body({"eventType": "Open", "mail": mail, "open": opened}))
    sqs.send(ses_body({"eventType": "Click", "mail": mail, "click": clicked}))
    sqs.send(
        ses_body(
            {
                "eventType": "Open",
                "mail": {**mail, "destination": ["a@example.com", "b@example.com"]},
                "open": opened,
            }
        )
    )
    page = await feed.read(None, NOW)
    assert [(e.kind, e.email) for e in page.events] == [
        (EventKind.OPEN, "recipient@example.com"),
        (EventKind.CLICK, "recipient@example.com"),
    ]
    assert page.events[1].detail == "http://docs.aws.amazon.com/"
    assert page.skipped == 1  # an open of a mail to two: whose is not said


async def test_the_feed_keeps_going_after_a_500_and_throttling(
    sqs: FakeSqs, feed: SesFeed, sleeps: Sleeps
) -> None:
    sqs.send(bounce("fb-1", "a@example.com"))
    sqs.faults.extend(["500", "throttle"])
    page = await feed.read(None, NOW)
    assert [e.email for e in page.events] == ["a@example.com"]
    assert [c.status for c in sqs.calls] == [500, 400, 200]
    assert sleeps.delays == [1.0, 2.0]

    sqs.faults.extend(["throttle"])
    await feed.acknowledge(page)  # the delete is retried too
    assert sqs.messages == []


async def test_a_provider_that_keeps_failing_is_unavailable(sqs: FakeSqs, feed: SesFeed) -> None:
    sqs.send(bounce("fb-1", "a@example.com"))
    sqs.faults.extend(["500"] * 4)
    with pytest.raises(PeerUnavailable, match="InternalFailure") as caught:
        await feed.read(None, NOW)
    assert len(sqs.calls) == 4  # one call and three retries
    assert SECRET not in str(caught.value) and KEY_ID not in str(caught.value)
    page = await feed.read(None, NOW)  # the next poll reads it
    assert len(page.events) == 1


async def test_a_missing_queue_is_not_asked_again(sqs: FakeSqs) -> None:
    spec = spec_for(sqs)
    wrong = EspSpec(**{**_fields(spec), "queue_url": sqs.queue_url + "-gone"})
    feed = SesFeed(wrong, sleep=Sleeps(), wait_seconds=0)
    try:
        with pytest.raises(PeerUnavailable, match="NonExistentQueue"):
            await feed.read(None, NOW)
        assert len(sqs.calls) == 1
        result = await feed.probe()
        assert result.verdict is Verdict.UNREACHABLE
    finally:
        await feed.close()


async def test_no_key_is_refused_without_asking(sqs: FakeSqs) -> None:
    spec = _fields(spec_for(sqs))
    no_key = SesFeed(EspSpec(**{**spec, "secret_access_key": ""}), sleep=Sleeps())
    try:
        with pytest.raises(LoginRefused, match="no SQS access key"):
            await no_key.read(None, NOW)
        assert (await no_key.probe()).verdict is Verdict.REFUSED
    finally:
        await no_key.close()
    assert sqs.calls == []  # nor anywhere else: botocore's own key search is not started


async def test_a_wrong_key_is_refused_and_no_secret_shows(
    sqs: FakeSqs, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_key = "AKIAWRONGKEY0000000"
    feed = SesFeed(spec_for(sqs, key_id=wrong_key), sleep=Sleeps(), wait_seconds=0)
    try:
        with pytest.raises(LoginRefused, match="InvalidClientTokenId") as caught:
            await feed.read(None, NOW)
        assert len(sqs.calls) == 1  # a refusal is not asked again
        assert sqs.calls[0].access_key == wrong_key  # the fake saw the key that signed
        result = await feed.probe()
    finally:
        await feed.close()
    assert result.verdict is Verdict.REFUSED
    assert "security token included in the request is invalid" in result.detail
    shown = [str(caught.value), result.detail, repr(feed)]
    shown += [r.getMessage() for r in caplog.records if r.name.startswith("outreach")]
    assert not [text for text in shown if SECRET in text or wrong_key in text]
    # botocore's own debug log never sees the secret either: only its signature goes out.
    assert not [r for r in caplog.records if SECRET in r.getMessage()]


async def test_a_wrong_secret_fails_the_signature_and_is_refused(sqs: FakeSqs) -> None:
    spec = EspSpec(**{**_fields(spec_for(sqs)), "secret_access_key": "not-the-secret"})
    feed = SesFeed(spec, sleep=Sleeps(), wait_seconds=0)
    try:
        with pytest.raises(LoginRefused, match="SignatureDoesNotMatch") as caught:
            await feed.read(None, NOW)
        result = await feed.probe()
    finally:
        await feed.close()
    assert result.verdict is Verdict.REFUSED
    assert "not-the-secret" not in str(caught.value) + result.detail
    assert [c.status for c in sqs.calls] == [403, 403]


async def test_probe_says_ok_with_the_right_key(sqs: FakeSqs, feed: SesFeed) -> None:
    sqs.send(bounce("fb-1", "a@example.com"))
    result = await feed.probe()
    assert result.verdict is Verdict.OK
    assert "1 message" in result.detail
    assert sqs.calls[-1].operation == "GetQueueAttributes"
    assert sqs.calls[-1].access_key == KEY_ID


async def test_no_server_is_unreachable(sqs: FakeSqs) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleeps = Sleeps()
    feed = SesFeed(spec_for(sqs, endpoint=f"http://127.0.0.1:{port}"), sleep=sleeps, wait_seconds=0)
    try:
        with pytest.raises(PeerUnavailable) as caught:
            await feed.read(None, NOW)
        assert sleeps.delays == [1.0, 2.0, 4.0]
        assert SECRET not in str(caught.value)
        result = await feed.probe()
        assert result.verdict is Verdict.UNREACHABLE
    finally:
        await feed.close()


async def test_one_acknowledge_deletes_in_batches_of_ten(sqs: FakeSqs) -> None:
    for n in range(15):
        sqs.send(bounce(f"fb-{n}", f"lead{n}@example.com"))
    feed = SesFeed(spec_for(sqs), sleep=Sleeps(), wait_seconds=0, batch=10)
    try:
        first = await feed.read(None, NOW)
        second = await feed.read(None, NOW)
        assert (len(first.receipts), first.more, len(second.receipts), second.more) == (
            10,
            True,
            5,
            False,
        )
        both = EspPage(
            events=first.events + second.events,
            cursor="",
            more=False,
            receipts=first.receipts + second.receipts,
        )
        await feed.acknowledge(both)
    finally:
        await feed.close()
    deletes = [c for c in sqs.calls if c.operation == "DeleteMessageBatch"]
    assert [len(c.params["Entries"]) for c in deletes] == [10, 5]
    assert sqs.messages == []


async def test_an_empty_page_deletes_nothing(sqs: FakeSqs, feed: SesFeed) -> None:
    page = await feed.read(None, NOW)
    assert page == EspPage(events=(), cursor="", more=False)
    await feed.acknowledge(page)
    assert [c.operation for c in sqs.calls] == ["ReceiveMessage"]


def _fields(spec: EspSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in EspSpec.__dataclass_fields__}


def test_a_plain_address_is_read_as_email_utils_parseaddr_reads_it() -> None:
    # The fast path for bare addresses must give parseaddr's answer for every string.
    samples = ["ann@example.com", "A.b+c@X.Example", "Ann <ann@example.com>", '"a b"@x.test',
               "ann@x.test (work)", "a..b@x.test", ".a@x.test", "a@b@c", "", "ann"]  # fmt: skip
    chars = "abXY09!#$%&'*+/=?^_`{|}~-.@ <>\"(),;:[]\\"
    draw = random.Random(11)
    samples += [
        "".join(draw.choice(chars) for _ in range(draw.randint(0, 14))) for _ in range(20000)
    ]
    assert [_addr_spec(s) for s in samples] == [parseaddr(s)[1] for s in samples]


async def receives_reach(sqs: FakeSqs, count: int) -> None:
    """Wait until the fake queue has answered `count` receives (its record, not a clock)."""
    for _ in range(1000):
        if len(sqs.received()) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(sqs.received())} receives, not {count}")


async def test_after_a_full_batch_the_next_is_received_ahead_and_read_from_there(
    sqs: FakeSqs, feed: SesFeed
) -> None:
    for n in range(7):
        sqs.send(bounce(f"fb-{n}", f"lead{n}@example.com"))
    first = await feed.read(None, NOW)
    await receives_reach(sqs, 2)  # asked for while the poller would commit the first
    second = await feed.read(first.cursor, NOW)
    await receives_reach(sqs, 3)
    third = await feed.read(second.cursor, NOW)  # one message: nothing is asked for ahead
    pages = [first, second, third]
    for page in pages:
        await feed.acknowledge(page)
    assert [len(page.events) for page in pages] == [3, 3, 1]
    assert [page.more for page in pages] == [True, True, False]
    assert len(sqs.received()) == 3 and sqs.messages == []
    assert {e.email for page in pages for e in page.events} == {
        f"lead{n}@example.com" for n in range(7)
    }


async def test_a_receive_ahead_nobody_reads_is_cancelled_by_close(sqs: FakeSqs) -> None:
    feed = SesFeed(spec_for(sqs), sleep=Sleeps(), batch=1)  # long polls, as in service
    sqs.send(bounce("fb-1", "a@example.com"))
    page = await feed.read(None, NOW)
    assert sqs.polling is not None
    await sqs.polling.wait()  # the receive ahead waits on the empty queue
    await feed.close()
    assert [e.email for e in page.events] == ["a@example.com"]
    assert len(sqs.received()) == 1  # the one ahead never got its answer
