"""Outgoing messages (SPEC 6.7, 6.11): headers, threading, footer, and no header injection."""

import email
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.header import decode_header
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.message import (
    OutgoingMessage,
    build_message,
    header_safe,
    make_message_id,
    reply_subject,
)
from core.templates import compile_step, render
from tests.core.email_reference import reference_message

WHEN = datetime(2026, 11, 23, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
ADDRESS = "Brand Ltd, 1 Main St, Springfield"
URL = "https://u.brand-news.com/u/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def build(**overrides: Any) -> OutgoingMessage:
    args: dict[str, Any] = {
        "sender": "alex@brand-news.com",
        "display_name": "Alex Stone",
        "to": "jane@acme.test",
        "subject": "Quick question for Acme",
        "text": "Hi Jane,\n\nA short note.\n",
        "message_id": make_message_id("brand-news.com", "abc123"),
        "date": WHEN,
        "postal_address": ADDRESS,
    }
    args.update(overrides)
    return build_message(**args)


def wire(message: OutgoingMessage | EmailMessage) -> EmailMessage:
    """Parse the bytes that go on the wire, like the receiving side does."""
    parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body_of(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


BASE_HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe"]


# --- helpers -------------------------------------------------------------------------------------


def test_make_message_id() -> None:
    assert make_message_id("brand-news.com", "0f3a.17") == "<0f3a.17@brand-news.com>"
    assert make_message_id("bücher.de", "x") == "<x@xn--bcher-kva.de>"
    for unique, domain in [
        ("a b", "x.com"),
        ("a>", "x.com"),
        ("ok", "x.com>\r\nBcc: y"),
        ("", "x"),
    ]:
        with pytest.raises(ValueError, match="Message-ID"):
            make_message_id(domain, unique)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Quick question", "Re: Quick question"),
        ("Re: Quick question", "Re: Quick question"),
        ("RE:Quick question", "RE:Quick question"),
        ("re : Quick question", "re : Quick question"),
        ("Regarding Acme", "Re: Regarding Acme"),
        ("Quick\r\nquestion", "Re: Quick question"),
    ],
)
def test_reply_subject(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def test_header_safe_collapses_control_runs() -> None:
    assert header_safe("a\r\nb") == "a b"
    assert header_safe("  a \r\n\r\n  b\x00c\td\x85e\u2028f  ") == "a b c d e f"
    assert header_safe("plain") == "plain"


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_header_safe_fast_path_agrees_with_the_rule(value: str) -> None:
    # The rule: every run of control characters (with the spaces around it) becomes one space.
    rule = re.sub("[ ]*(?:[\x00-\x1f\x7f-\x9f\u2028\u2029][ ]*)+", " ", value).strip()
    assert header_safe(value) == rule


def test_no_control_character_counts_as_printable() -> None:
    # header_safe skips the regex for printable text: that is only sound if this holds.
    controls = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]
    assert not any(chr(code).isprintable() for code in controls)


# --- a first mail --------------------------------------------------------------------------------


def test_first_mail_headers() -> None:
    message = wire(build())
    assert message["From"] == "Alex Stone <alex@brand-news.com>"
    assert message["To"] == "jane@acme.test"
    assert message["Subject"] == "Quick question for Acme"
    assert message["Date"].datetime == WHEN
    assert message["Message-ID"] == "<abc123@brand-news.com>"
    assert message["List-Unsubscribe"] == ("<mailto:alex@brand-news.com?subject=unsubscribe>")
    # One-click needs a URL: without one there is no List-Unsubscribe-Post.
    assert message["List-Unsubscribe-Post"] is None
    assert message["In-Reply-To"] is None
    assert message["References"] is None
    assert message.get_content_type() == "text/plain"


def test_date_is_rfc5322_and_must_be_aware() -> None:
    raw = build().as_bytes()
    assert b"\r\nDate: Mon, 23 Nov 2026 09:30:00 -0500\r\n" in raw
    with pytest.raises(ValueError, match="timezone-aware"):
        build(date=datetime(2026, 11, 23, 9, 30))  # noqa: DTZ001 - the point of the test


def test_non_ascii_display_name_is_encoded() -> None:
    message = build(display_name="Jürgen Großmann")
    raw = message.as_bytes()
    raw.decode("ascii")  # every header line is 7-bit on the wire
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n")[0]
    assert wire(message)["From"].addresses[0].display_name == "Jürgen Großmann"


def test_without_display_name() -> None:
    assert wire(build(display_name=""))["From"] == "alex@brand-news.com"


def test_one_click_headers_with_url() -> None:
    message = build(unsubscribe_url=URL)
    raw = message.as_bytes()
    parsed = wire(message)
    assert parsed["List-Unsubscribe"] == (
        f"<mailto:alex@brand-news.com?subject=unsubscribe>, <{URL}>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A long URL is folded between items, never turned into RFC 2047 encoded words.
    headers = raw.split(b"\r\n\r\n")[0]
    assert b"=?" not in headers
    assert URL.encode() in headers


def test_text_footer() -> None:
    text = body_of(wire(build()), "plain")
    assert text.startswith("Hi Jane,\n\nA short note.\n\n--\n")
    assert ADDRESS in text
    assert 'reply "unsubscribe"' in text
    with_url = body_of(wire(build(unsubscribe_url=URL)), "plain")
    assert with_url.endswith(f'{ADDRESS}\nTo opt out, reply "unsubscribe" or visit: {URL}\n')


def test_html_alternative_with_escaped_footer() -> None:
    message = wire(
        build(
            html="<html><body><p>Hi Jane</p></body></html>",
            postal_address="Brand & Sons <Ltd>",
            unsubscribe_url=URL,
        )
    )
    assert message.get_content_type() == "multipart/alternative"
    html = body_of(message, "html")
    assert "Brand &amp; Sons &lt;Ltd&gt;" in html
    assert f'<a href="{URL}">' in html
    assert "&quot;unsubscribe&quot;" in html
    # The footer goes inside the body element.
    assert html.index("Brand &amp; Sons") < html.index("</body>")
    assert "Brand & Sons <Ltd>" in body_of(message, "plain")


def test_html_fragment_gets_the_footer_appended() -> None:
    html = body_of(wire(build(html="<p>Hi</p>")), "html")
    assert html.startswith("<p>Hi</p>")
    assert ADDRESS in html
    assert "reply &quot;unsubscribe&quot;" in html


# --- follow-ups ----------------------------------------------------------------------------------


def test_follow_up_threads_under_the_first_mail() -> None:
    first = "<first@brand-news.com>"
    message = wire(
        build(
            subject="Quick question for Acme",
            message_id="<second@brand-news.com>",
            in_reply_to=first,
            references=[first],
        )
    )
    assert message["Subject"] == "Re: Quick question for Acme"
    assert message["In-Reply-To"] == first
    assert message["References"] == first


def test_third_step_references_the_whole_chain() -> None:
    message = wire(
        build(
            message_id="<third@brand-news.com>",
            in_reply_to="<second@brand-news.com>",
            references=["<first@brand-news.com>"],
        )
    )
    assert message["In-Reply-To"] == "<second@brand-news.com>"
    assert message["References"] == "<first@brand-news.com> <second@brand-news.com>"


def test_follow_up_does_not_double_re() -> None:
    message = wire(build(subject="Re: Quick question", in_reply_to="<first@brand-news.com>"))
    assert message["Subject"] == "Re: Quick question"


def test_bad_message_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="Message-ID"):
        build(message_id="no-angle-brackets@x.com")
    with pytest.raises(ValueError, match="Message-ID"):
        build(in_reply_to="<a@b.com> <c@d.com>")


# --- header injection ----------------------------------------------------------------------------

HOSTILE = "Acme\r\nBcc: victim@evil.test\r\n\r\nInjected body"


def assert_only_expected_headers(message: EmailMessage, extra: tuple[str, ...] = ()) -> None:
    expected = {*BASE_HEADERS, "MIME-Version", "Content-Type", "Content-Transfer-Encoding", *extra}
    assert set(message.keys()) <= expected
    assert message["Bcc"] is None
    assert message.defects == []


def test_hostile_lead_values_cannot_inject_headers() -> None:
    step = compile_step("{Quick question|An idea} for {{ company }}", "Hi {{ company }}", None)
    lead = {"email": "jane@acme.test", "company": HOSTILE}
    rendered = render(step, lead, random.Random(1))
    assert rendered.subject is not None
    message = wire(build(subject=rendered.subject, text=rendered.text))
    assert_only_expected_headers(message)
    assert "\n" not in message["Subject"]
    assert message["Subject"].endswith("for Acme Bcc: victim@evil.test Injected body")
    # In the body the value is only text.
    assert "Bcc: victim@evil.test" in body_of(message, "plain")


def test_hostile_subject_passed_directly_is_made_safe() -> None:
    message = wire(build(subject=HOSTILE, in_reply_to="<p@brand-news.com>"))
    assert_only_expected_headers(message, ("In-Reply-To", "References"))
    assert message["Subject"] == "Re: Acme Bcc: victim@evil.test Injected body"


def test_hostile_display_name_stays_inside_from() -> None:
    message = wire(build(display_name=f"Alex {HOSTILE}"))
    assert_only_expected_headers(message)
    (address,) = message["From"].addresses
    assert address.addr_spec == "alex@brand-news.com"
    assert address.display_name == "Alex Acme Bcc: victim@evil.test Injected body"


@pytest.mark.parametrize(
    "to",
    [
        "jane@acme.test\r\nBcc: victim@evil.test",
        "jane@acme.test\nSubject: hijacked",
        "jane@acme.test, victim@evil.test",
        "Victim <victim@evil.test>",
        "jane@acme..test",
        "jane@.acme.test",
        "jane@acme.test.",
        "jane@",
        "jane@-acme.test",
    ],
)
def test_hostile_to_address_is_refused(to: str) -> None:
    with pytest.raises(ValueError, match="e-mail address"):
        build(to=to)


def test_hostile_unsubscribe_url_is_refused() -> None:
    with pytest.raises(ValueError, match="URL"):
        build(unsubscribe_url="https://x.test/u/a>\r\nBcc: victim@evil.test")
    with pytest.raises(ValueError, match="URL"):
        build(unsubscribe_url="javascript:alert(1)")


def test_utc_date() -> None:
    message = wire(build(date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)))
    assert message["Date"] == "Fri, 02 Jan 2026 03:04:05 +0000"


def test_building_the_same_message_again_gives_the_same_bytes() -> None:
    first = build(display_name="Zoë Stone", unsubscribe_url=URL).as_bytes()
    build(sender="bo@brand-news.com", subject="Something else", to="x@y.test")
    assert build(display_name="Zoë Stone", unsubscribe_url=URL).as_bytes() == first


# --- the wire bytes against the email package ----------------------------------------------------

# Printable text with the characters that need care: quotes, specials, "=?", non-ASCII of 2-4
# bytes, long runs; control characters are covered by the injection tests above.
TEXT = st.text(
    alphabet=st.sampled_from(list("aZ09 .,;:\"'\\()<>@=?_-!é€𝄞ü漢\t"))
    | st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
    max_size=120,
)
BODY = st.lists(
    st.text(
        alphabet=st.characters(codec="utf-8", blacklist_characters="\r\n"),
        max_size=300,
    )
    | st.sampled_from(["", ".", "..", "x" * 1200, "From here", "=?utf-8?b?eA==?=", "a  "]),
    max_size=8,
).map("\n".join)


def from_display_name(raw: bytes) -> str:
    """The From display name decoded as RFC 2047 says: adjacent encoded words join directly."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii").replace("\r\n ", " ")
    value = next(line for line in head.split("\r\n") if line.startswith("From: "))[6:]
    phrase = value.rpartition(" <")[0] if value.endswith(">") and " <" in value else ""
    if phrase.startswith('"'):
        return re.sub(r"\\(.)", r"\1", phrase[1:-1])
    if "=?" not in phrase:
        return phrase
    return "".join(
        part.decode(charset or "ascii") if isinstance(part, bytes) else part
        for part, charset in decode_header(phrase)
    )


def spaced(value: str) -> str:
    """Runs of Unicode white space as one space.

    Python's parser turns a no-break space inside an encoded display name into a plain one,
    and the email package writes one as an encoded word glued to the next word; what differs
    is white space only.
    """
    return value if value.isascii() else " ".join(value.split())


def assert_wire_shape(raw: bytes) -> None:
    """CRLF only, every line within RFC 5322's 998, and 7-bit with ASCII addresses."""
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert raw.isascii()
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        assert line.strip(), "a blank or white-space line inside the header block"


@settings(max_examples=300, deadline=None)
@given(
    display_name=TEXT,
    subject=TEXT,
    text=BODY,
    html=st.none() | BODY,
    follow_up=st.booleans(),
    url=st.booleans(),
)
def test_wire_bytes_read_back_as_the_email_package_would_build_them(
    display_name: str, subject: str, text: str, html: str | None, follow_up: bool, url: bool
) -> None:
    args: dict[str, Any] = {
        "sender": "alex@brand-news.com",
        "display_name": display_name,
        "to": "jane@acme.test",
        "subject": subject,
        "text": text,
        "html": html,
        "message_id": "<m2@brand-news.com>",
        "date": WHEN,
        "postal_address": ADDRESS,
        "unsubscribe_url": URL if url else None,
    }
    if follow_up:
        args |= {"in_reply_to": "<m1@brand-news.com>", "references": ["<m0@brand-news.com>"]}
    ours = build_message(**args)
    assert_wire_shape(ours.data)
    mine, theirs = wire(ours), wire(reference_message(**args))
    assert mine.defects == theirs.defects == []
    assert sorted(mine.keys()) == sorted(theirs.keys())
    # The transfer encoding may differ (ours is 7-bit clean for any server) and so does the
    # multipart boundary; what the reader gets out of the parts is compared below.
    for name in set(mine.keys()) - {"Content-Transfer-Encoding", "Content-Type", "From"}:
        assert spaced(str(mine[name])) == spaced(str(theirs[name])), name
    (address,) = mine["From"].addresses
    assert address.addr_spec == theirs["From"].addresses[0].addr_spec
    # Python's address parser puts a space between adjacent encoded words of a display name
    # (RFC 2047 6.2 says to drop it, as mail clients do), so the name is decoded by the RFC.
    assert from_display_name(ours.data) == header_safe(display_name)
    assert address.addr_spec == "alex@brand-news.com"
    assert mine.get_content_type() == theirs.get_content_type()
    for subtype in ("plain", "html") if html is not None else ("plain",):
        assert body_of(mine, subtype) == body_of(theirs, subtype)
        part = mine.get_body(preferencelist=(subtype,))
        assert part is not None and part.get_content_charset() == "utf-8"
    assert ours.recipient == "jane@acme.test"
    assert ours.message_id == "<m2@brand-news.com>"
    assert not ours.smtputf8


@pytest.mark.parametrize(
    ("text", "cte"),
    [
        ("Plain ASCII, short lines.", "7bit"),
        ("x" * 1200, "quoted-printable"),
        ("Grüße aus Köln", "quoted-printable"),
        ("Привет, как дела? " * 20, "base64"),
    ],
)
def test_body_encoding_is_7bit_when_it_can_be(text: str, cte: str) -> None:
    message = wire(build(text=text))
    assert message["Content-Transfer-Encoding"] == cte
    assert body_of(message, "plain").startswith(text.rstrip() + "\n\n--\n")


def test_long_subject_folds_between_words() -> None:
    subject = " ".join(["word"] * 40)
    raw = build(subject=subject).as_bytes()
    head = raw.split(b"\r\n\r\n")[0].decode()
    assert "Subject: word" in head and "\r\n word" in head
    assert all(len(line) <= 78 for line in head.split("\r\n"))
    assert wire(build(subject=subject))["Subject"] == subject


def test_a_literal_encoded_word_in_a_subject_stays_literal() -> None:
    assert wire(build(subject="Deal =?utf-8?b?eA==?= now"))["Subject"] == (
        "Deal =?utf-8?b?eA==?= now"
    )


def test_display_name_with_specials_is_quoted() -> None:
    raw = build(display_name='Stone, "Alex"').as_bytes()
    assert b'From: "Stone, \\"Alex\\"" <alex@brand-news.com>\r\n' in raw
    assert wire(build(display_name='Stone, "Alex"'))["From"].addresses[0].display_name == (
        'Stone, "Alex"'
    )


def test_non_ascii_address_needs_smtputf8_and_stays_utf8() -> None:
    message = build(to="zoë@acme.test")
    assert message.smtputf8
    assert message.recipient == "zoë@acme.test"
    assert "To: zoë@acme.test\r\n".encode() in message.data
