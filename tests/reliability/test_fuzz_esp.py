"""ESP item and page parsing under random and mutated provider JSON: events or skips, never a crash.

Each JSON adapter's page is decoded the way its HTTP client decodes an answer (mail/esp/http.py
`decode_json`), so escapes like a lone \\ud800 or NaN arrive as they would from the wire. SES
bodies go through `parse_body`, whose one documented error is `Malformed` (the feed logs the
body and deletes it). The documented samples (tests/fixtures/esp/**) are mixed into every page
unchanged: whatever junk surrounds them, their events must come back.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from core.esp import EspEvent
from core.models import EventKind
from core.specs import EspSpec
from mail.esp import ses_events
from mail.esp.http import Malformed, decode_json
from mail.esp.mailgun import MailgunFeed
from mail.esp.postmark import PostmarkFeed
from mail.esp.sendgrid import LISTS, SendGridFeed
from tests.reliability.profiles import fuzz

FIXTURES = Path(__file__).parents[1] / "fixtures" / "esp"
DOMAIN = "samples.mailgun.org"
DETAIL_LIMIT = 300


def load(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text(encoding="utf-8"))


MAILGUN_ITEMS: list[dict[str, Any]] = [*load("mailgun/events.json")["items"]]
MAILGUN_ITEMS += load("mailgun/events.json")["derived"]
SENDGRID_ITEMS = {
    name: load(f"sendgrid/{name}.json")["response"] for name in LISTS
}  # every list has a sample
POSTMARK_ITEMS: list[dict[str, Any]] = load("postmark/bounces.json")["response"]["Bounces"]
SES_BODIES = {path.name: path.read_text(encoding="utf-8") for path in FIXTURES.glob("ses/*.json")}

# --- values and edits -----------------------------------------------------------------------

ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\ud800",  # a lone surrogate: JSON may escape one, no database takes it
        "x\udfffy@example.com",
        "JANE@EXAMPLE.COM ",
        "@",
        "a@",
        "\x00@\x00",
        "İSTANBUL@ÖRNEK.COM.TR",
        "ﬀ@example.com",
        "<jane@example.com>",
        "null",
        "NaN",
        "9999-12-31T23:59:59",
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
        "2016-01-27T14:59:38.237Z",
        "2016-01-27T14:59:38",
        "x" * 5000,
        "\n\r\t\u2028\u200b",
    ]
)
TEXT = st.one_of(st.text(max_size=40), ODD_TEXT)
NUMBERS = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e308, -1e308, 2**63, 32503680000, 253402300800, 1443651125.0]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a JSON value (dict keys and list indexes)."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, (*prefix, index))
    return found


@st.composite
def mutated_item(draw: st.DrawFn, item: Any) -> Any:
    """A deep copy of `item` with a few fields removed, retyped or replaced with junk."""
    item = copy.deepcopy(item)
    for _ in range(draw(st.integers(1, 4))):
        where = paths(item)
        if not where:
            return draw(JSON_VALUES)
        path = draw(st.sampled_from(where))
        parent = item
        for key in path[:-1]:
            parent = parent[key]
        edit = draw(st.sampled_from(["remove", "replace", "nest"]))
        if edit == "remove":
            del parent[path[-1]]
        elif edit == "replace":
            parent[path[-1]] = draw(SCALARS)
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return item


@st.composite
def page(draw: st.DrawFn, samples: list[Any]) -> tuple[list[Any], list[Any]]:
    """A page of junk and mutated samples with the untouched samples among them."""
    junk = draw(
        st.lists(st.one_of(JSON_VALUES, st.sampled_from(samples).flatmap(mutated_item)), max_size=8)
    )
    good = copy.deepcopy(samples)
    items = [*junk]
    for sample in good:
        items.insert(draw(st.integers(0, len(items))), copy.deepcopy(sample))
    return items, good


def wire(value: Any) -> Any:
    """`value` as the adapter's HTTP client gets it: sent as JSON text, decoded again."""
    return decode_json(json.dumps(value))


def check(event: EspEvent, esp: str) -> None:
    """What every event holds, whatever the item it came from."""
    assert event.esp == esp
    assert isinstance(event.kind, EventKind)
    assert isinstance(event.event_id, str) and event.event_id
    assert "@" in event.email and event.email == event.email.strip().lower(), event.email
    offset = event.occurred_at.utcoffset()
    assert offset is not None and offset == timedelta(0)
    assert len(event.detail) <= DETAIL_LIMIT and "\n" not in event.detail
    texts = [event.event_id, event.email, event.detail]
    texts += [t for t in (event.provider_message_id, event.message_id, event.domain) if t]
    for text in texts:
        assert isinstance(text, str)
        text.encode("utf-8")  # storable: SQLite refuses lone surrogates


def spec(kind: str) -> EspSpec:
    return EspSpec(
        name=f"fuzz-{kind}",
        kind=kind,  # type: ignore[arg-type]
        base_url="http://127.0.0.1:9",
        domains=(DOMAIN,),
        api_key="key-secret",
        server_token="token-secret",
    )


# --- Mailgun --------------------------------------------------------------------------------


def mailgun_events(items: list[Any]) -> tuple[list[EspEvent], int]:
    feed = MailgunFeed(spec("mailgun"))
    events, skipped, newest = feed._parse(DOMAIN, wire(items))
    assert newest is None or math.isfinite(newest)
    return events, skipped


FAILED = next(item for item in MAILGUN_ITEMS if item["event"] == "failed")
GOOD_MAILGUN = {event.event_id for event in mailgun_events(MAILGUN_ITEMS)[0]}


@fuzz()
@given(page(MAILGUN_ITEMS))
@example(([{**FAILED, "severity": "permanent", "reason": []}, *MAILGUN_ITEMS], []))
@example(([{**MAILGUN_ITEMS[0], "recipient": "\ud800@example.com"}, *MAILGUN_ITEMS], []))
def test_mailgun_page(drawn: tuple[list[Any], list[Any]]) -> None:
    items, _ = drawn
    events, skipped = mailgun_events(items)
    for event in events:
        check(event, "fuzz-mailgun")
    assert 0 <= skipped <= len(items)
    assert {event.event_id for event in events} >= GOOD_MAILGUN


@fuzz()
@given(st.lists(JSON_VALUES, max_size=6))
def test_mailgun_random_items(items: list[Any]) -> None:
    events, skipped = mailgun_events(items)
    for event in events:
        check(event, "fuzz-mailgun")
    assert len(events) + skipped <= len(items)


# --- SendGrid -------------------------------------------------------------------------------


def sendgrid_events(name: str, items: list[Any]) -> tuple[list[EspEvent], int]:
    feed = SendGridFeed(spec("sendgrid"))
    events, skipped, latest = feed._events(name, wire(items), 0)
    assert latest is None or latest > 0
    return events, skipped


@fuzz()
@given(
    st.sampled_from(list(LISTS)).flatmap(
        lambda name: st.tuples(st.just(name), page(SENDGRID_ITEMS[name]))
    )
)
@example(
    (
        "bounces",
        ([{"created": 1443651125, "email": "\ud800@x.com"}, *SENDGRID_ITEMS["bounces"]], []),
    )
)
def test_sendgrid_page(drawn: tuple[str, tuple[list[Any], list[Any]]]) -> None:
    name, (items, _) = drawn
    events, skipped = sendgrid_events(name, items)
    for event in events:
        check(event, "fuzz-sendgrid")
    assert 0 <= skipped <= len(items)
    good = {event.event_id for event in sendgrid_events(name, SENDGRID_ITEMS[name])[0]}
    assert good <= {event.event_id for event in events}


@fuzz()
@given(st.sampled_from(list(LISTS)), st.lists(JSON_VALUES, max_size=6))
def test_sendgrid_random_items(name: str, items: list[Any]) -> None:
    events, skipped = sendgrid_events(name, items)
    for event in events:
        check(event, "fuzz-sendgrid")
    assert len(events) + skipped <= len(items)


# --- Postmark -------------------------------------------------------------------------------


def postmark_events(items: list[Any]) -> tuple[list[EspEvent], int]:
    feed = PostmarkFeed(spec("postmark"))
    events, skipped, oldest = feed._events(wire(items), 0)
    assert oldest is None or isinstance(oldest, int)
    return events, skipped


GOOD_POSTMARK = {event.event_id for event in postmark_events(POSTMARK_ITEMS)[0]}


@fuzz()
@given(page(POSTMARK_ITEMS))
@example(
    ([{**POSTMARK_ITEMS[0], "ID": 1, "BouncedAt": "9999-12-31T23:59:59"}, *POSTMARK_ITEMS], [])
)
@example(
    (
        [{**POSTMARK_ITEMS[0], "ID": 2, "BouncedAt": "0001-01-01T00:00:00+05:00"}, *POSTMARK_ITEMS],
        [],
    )
)
def test_postmark_page(drawn: tuple[list[Any], list[Any]]) -> None:
    items, _ = drawn
    events, skipped = postmark_events(items)
    for event in events:
        check(event, "fuzz-postmark")
    assert 0 <= skipped <= len(items)
    assert {event.event_id for event in events} >= GOOD_POSTMARK


@fuzz()
@given(st.lists(JSON_VALUES, max_size=6))
def test_postmark_random_items(items: list[Any]) -> None:
    events, skipped = postmark_events(items)
    for event in events:
        check(event, "fuzz-postmark")
    assert len(events) + skipped <= len(items)


# --- SES (SQS bodies: raw notifications and SNS envelopes) ----------------------------------


def ses_parse(body: str) -> ses_events.Parsed | None:
    """The body's events, or None when it is refused with the documented `Malformed`."""
    try:
        parsed = ses_events.parse_body("fuzz-ses", body)
    except Malformed as exc:
        assert str(exc)  # a clear reason, every time
        return None
    for event in parsed.events:
        check(event, "fuzz-ses")
    assert parsed.skipped >= 0
    return parsed


@st.composite
def ses_body(draw: st.DrawFn) -> str:
    """A documented body with its notification (inside the envelope if any) mutated."""
    doc = json.loads(draw(st.sampled_from(sorted(SES_BODIES.values()))))
    if "Message" in doc:
        inner = json.loads(doc["Message"])
        doc["Message"] = json.dumps(draw(mutated_item(inner)))
        if draw(st.booleans()):  # and sometimes the envelope itself
            doc = draw(mutated_item(doc))
        return json.dumps(doc)
    return json.dumps(draw(mutated_item(doc)))


def ses_sample(name: str, **changes: Any) -> str:
    """A documented raw notification with top-level parts replaced."""
    doc = json.loads(SES_BODIES[name])
    for key, value in changes.items():
        doc[key] = {**doc[key], **value}
    return json.dumps(doc)


@fuzz()
@given(ses_body())
@example(ses_sample("complaint_raw.json", complaint={"timestamp": "0001-01-01T00:00:00+05:00"}))
@example(ses_sample("bounce_no_dsn_raw.json", mail={"timestamp": "9999-12-31T23:59:59-05:00"}))
def test_ses_mutated_bodies(body: str) -> None:
    ses_parse(body)


@st.composite
def broken_envelope(draw: st.DrawFn) -> str:
    """An SNS envelope whose Message string is cut, re-typed or not JSON at all."""
    doc = json.loads(SES_BODIES["bounce_dsn_sns.json"])
    message: str = doc["Message"]
    broken = draw(
        st.one_of(
            st.integers(0, len(message)).map(lambda at: message[:at]),
            st.integers(0, len(message)).map(lambda at: message[:at] + "\ud800" + message[at:]),
            st.just("[" * 5000 + "]" * 5000),  # deeper than the JSON decoder recurses
            JSON_VALUES.map(json.dumps),
            JSON_VALUES,
            TEXT,
        )
    )
    doc["Message"] = broken
    return json.dumps(doc)


@fuzz()
@given(broken_envelope())
@example(json.dumps({"Type": "Notification", "Message": "[" * 100_000}))
def test_ses_broken_envelopes(body: str) -> None:
    ses_parse(body)


@fuzz()
@given(st.one_of(JSON_VALUES.map(json.dumps), st.text(max_size=200)))
def test_ses_random_bodies(body: str) -> None:
    ses_parse(body)


@pytest.mark.parametrize("name", sorted(SES_BODIES))
def test_ses_samples_give_events(name: str) -> None:
    parsed = ses_parse(SES_BODIES[name])
    assert parsed is not None and parsed.events and parsed.skipped == 0
