"""classify_mail over a corpus of real-shaped bounces, auto-replies and replies (SPEC 8, 12)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.inbox import DETAIL_LIMIT, TEXT_LIMIT, InboxMail, MailKind, classify_mail
from core.specs import InboxRules

FIXTURES = Path(__file__).parent / "fixtures" / "inbox"
STOP_WORDS = InboxRules().stop_words  # "unsubscribe" first: our own footer says it
K = MailKind


@dataclass(frozen=True)
class Expected:
    """What one fixture must classify as."""

    kind: MailKind
    refs: tuple[str, ...] = ()
    recipient: str | None = None
    status: str | None = None
    stop_word: str | None = None
    text_starts: str = ""


CORPUS: dict[str, Expected] = {
    # --- bounces: RFC 3464 reports of Gmail, Microsoft 365, Postfix, Exim
    "gmail_dsn_hard.eml": Expected(
        K.BOUNCE_HARD, ("<d41f09b2c7e8@acme-mail.com>",), "jonas.weber@example-gmbh.de", "5.1.1"
    ),
    "gmail_dsn_delay.eml": Expected(
        K.BOUNCE_SOFT, ("<0b3c55e1aa90@acme-mail.com>",), "peter@slow-example.com", "4.3.0"
    ),
    "exchange_online_ndr.eml": Expected(
        K.BOUNCE_HARD, ("<5c2e8a91f3d0@acme-mail.com>",), "j.doe@contoso-example.com", "5.1.10"
    ),
    "postfix_dsn_hard.eml": Expected(
        K.BOUNCE_HARD, ("<2a7be0c41d95@acme-mail.com>",), "k.mueller@beispiel-firma.de", "5.1.1"
    ),
    "postfix_dsn_delayed.eml": Expected(
        K.BOUNCE_SOFT, ("<c0ffee5a11d4@acme-mail.com>",), "info@langsam-example.de", "4.4.1"
    ),
    # a full mailbox is retried at send time (SPEC 8): the address is fine, not suppressed
    "exim_dsn_mailbox_full.eml": Expected(
        K.BOUNCE_SOFT, ("<e5f60718293a@acme-mail.com>",), "lisa@full-example.net", "5.0.0"
    ),
    # a spam refusal reported later: hard for that recipient
    "rfc3464_block_571.eml": Expected(
        K.BOUNCE_HARD, ("<ab12cd34ef56@acme-mail.com>",), "buyer@strict-example.com", "5.7.1"
    ),
    # the failed recipient wins over the delayed one; Original-Recipient over Final-
    "rfc3464_two_recipients.eml": Expected(
        K.BOUNCE_HARD, ("<5151aa22bb33@acme-mail.com>",), "former.head@partner-example.org", "5.1.6"
    ),
    # a success report is no bounce
    "rfc3464_delivered.eml": Expected(K.OTHER, ("<de11fe12ed13@acme-mail.com>",)),
    # --- bounces written for people, original headers pasted as text
    "gmail_text_quota.eml": Expected(
        K.BOUNCE_SOFT, ("<77aa01c9e4f2@acme-mail.com>",), "maria.lopez@gmail.com", None
    ),
    "exchange_ndr_text_only.eml": Expected(
        K.BOUNCE_HARD, ("<9e8d7c6b5a41@acme-mail.com>",), "sales@contoso-example.com", "5.1.1"
    ),
    "exim_text_hard.eml": Expected(
        K.BOUNCE_HARD, ("<4b1d9e0f7a23@acme-mail.com>",), "tom@unknown-example.co.uk", "5.1.1"
    ),
    "yahoo_failure_notice.eml": Expected(
        K.BOUNCE_HARD,
        ("<1204977015.3310544.1737650400123@mail.yahoo.com>",),
        "olga@nowhere-example.org",
        "5.1.1",
    ),
    "yahoo_soft_quota.eml": Expected(
        K.BOUNCE_SOFT,
        ("<88412.99031.1737706360777@mail.yahoo.com>",),
        "busy.bob@full-example.com",
        "5.2.2",
    ),
    "qmail_failure_notice.eml": Expected(
        K.BOUNCE_HARD, ("<f00dbabe0042@acme-mail.com>",), "ceo@old-host-example.com", "5.1.1"
    ),
    # --- auto-replies: never replies, whatever they say
    "exchange_ooo_en.eml": Expected(K.AUTO_REPLY, text_starts="I'm out of the office until"),
    "exchange_ooo_de.eml": Expected(K.AUTO_REPLY, text_starts="Vielen Dank für Ihre Nachricht."),
    "gmail_vacation_en.eml": Expected(
        K.AUTO_REPLY, ("<7e6f5a4b3c21@acme-mail.com>",), text_starts="Thanks for your email."
    ),
    "gmail_vacation_de.eml": Expected(
        K.AUTO_REPLY, ("<2a7be0c41d95@acme-mail.com>",), text_starts="Guten Tag,"
    ),
    "ooo_subject_fr.eml": Expected(K.AUTO_REPLY, text_starts="Bonjour,"),
    "ooo_subject_es.eml": Expected(
        K.AUTO_REPLY, ("<3c3c4d4d5e5e@acme-mail.com>",), text_starts="Estaré fuera de la oficina"
    ),
    "sieve_vacation.eml": Expected(
        K.AUTO_REPLY, ("<1a2b3c4d5e6f@acme-mail.com>",), text_starts="I am on parental leave"
    ),
    "x_autoreply_legacy.eml": Expected(
        K.AUTO_REPLY, ("<6d6d7e7e8f8f@acme-mail.com>",), text_starts="Thank you for contacting"
    ),
    # --- human replies in the Gmail, Outlook and Apple Mail quote styles
    "reply_gmail_en.eml": Expected(
        K.REPLY,
        ("<aa11bb22cc33@acme-mail.com>", "<d41f09b2c7e8@acme-mail.com>"),
        text_starts="Sounds good, call me Tuesday after 2 pm.\n\nJonas",
    ),
    "reply_gmail_de_remove.eml": Expected(
        K.REPLY,
        ("<2a7be0c41d95@acme-mail.com>",),
        stop_word="remove me",
        text_starts="Bitte nehmen Sie mich aus Ihrem Verteiler.",
    ),
    "reply_outlook_en.eml": Expected(
        K.REPLY, ("<7e6f5a4b3c21@acme-mail.com>",), text_starts="Hi Anna,\n\nWe're interested."
    ),
    "reply_outlook_de.eml": Expected(
        K.REPLY,
        ("<2a7be0c41d95@acme-mail.com>", "<1f1f2e2e3d3d@acme-mail.com>"),
        text_starts="Guten Morgen Frau Schmidt,\n\nja, wir liefern noch aus Hamburg.",
    ),
    "reply_apple_mail.eml": Expected(
        K.REPLY, ("<4b1d9e0f7a23@acme-mail.com>",), text_starts="Not right now, maybe next quarter."
    ),
    "reply_html_only_outlook.eml": Expected(
        K.REPLY,
        ("<9f9f8e8e7d7d@acme-mail.com>",),
        stop_word="take me off",
        text_starts="Please take me off your list. We already have a provider.",
    ),
    # --- everything else
    "newsletter.eml": Expected(K.OTHER),
    "plain_mail_no_refs.eml": Expected(K.OTHER),
    "broken_mime.eml": Expected(K.OTHER),
    "broken_truncated_report.eml": Expected(K.OTHER),
}

# What a reply's new text must never contain: our own quoted mail and its footer.
QUOTED_HISTORY = ('reply "unsubscribe"', "do you still ship", "liefern Sie noch", "From:", "Von:")


def test_every_fixture_is_in_the_table() -> None:
    assert sorted(path.name for path in FIXTURES.glob("*.eml")) == sorted(CORPUS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus(name: str) -> None:
    expected = CORPUS[name]
    raw = (FIXTURES / name).read_bytes()
    mail = classify_mail(raw, STOP_WORDS)
    assert mail.kind is expected.kind, mail.detail
    assert mail.refs == expected.refs
    assert mail.recipient == expected.recipient
    assert mail.status == expected.status
    assert mail.stop_word == expected.stop_word
    assert mail.text.startswith(expected.text_starts), mail.text
    if expected.kind in (K.REPLY, K.AUTO_REPLY):
        assert mail.text, "a reply's new text is what the chat shows"
        assert not any(quoted in mail.text for quoted in QUOTED_HISTORY), mail.text
    else:
        assert mail.text == ""
    assert len(mail.detail) <= DETAIL_LIMIT
    assert "\n" not in mail.detail
    assert mail.message_id is None or mail.message_id not in mail.refs
    # IMAP hands mail over with CRLF line ends; the files are LF: both read the same.
    assert classify_mail(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), STOP_WORDS) == mail


def test_message_id_and_sender() -> None:
    mail = classify_mail((FIXTURES / "reply_outlook_de.eml").read_bytes())
    assert mail.message_id == (
        "<FR3P281MB17264E2A1B0C9D8E7F6A5B4C3D2E1F0@FR3P281MB1726.DEUP281.PROD.OUTLOOK.COM>"
    )
    assert mail.sender == "k.mueller@beispiel-firma.de"
    assert mail.subject == "AW: Kurze Frage zu Ihrer Logistik"
    assert mail.stop_word is None  # none configured


def test_bounce_detail_names_status_recipient_and_reason() -> None:
    mail = classify_mail((FIXTURES / "postfix_dsn_hard.eml").read_bytes())
    assert mail.detail.startswith("5.1.1 k.mueller@beispiel-firma.de: 550 5.1.1")
    assert "User unknown" in mail.detail
    assert mail.sender == "mailer-daemon@mail.acme-mail.com"


def test_auto_reply_carries_no_stop_word() -> None:
    raw = (
        (FIXTURES / "gmail_vacation_en.eml")
        .read_bytes()
        .replace(b"will reply when", b"please unsubscribe me, I will reply when")
    )
    mail = classify_mail(raw, STOP_WORDS)
    assert mail.kind is K.AUTO_REPLY
    assert mail.stop_word is None


def test_stop_words_in_config_order_and_whole_words_only() -> None:
    raw = (FIXTURES / "reply_gmail_de_remove.eml").read_bytes()
    assert classify_mail(raw, ("please", "remove me")).stop_word == "please"
    assert classify_mail(raw, ("remove me", "please")).stop_word == "remove me"
    assert classify_mail(raw, ("verteil", "REMOVE   ME")).stop_word == "REMOVE   ME"


def test_stop_word_in_quoted_footer_only_does_not_count() -> None:
    mail = classify_mail((FIXTURES / "reply_gmail_en.eml").read_bytes(), ("unsubscribe",))
    assert mail.kind is K.REPLY
    assert mail.stop_word is None


def test_long_reply_text_is_clipped() -> None:
    body = ("word " * 600).encode()
    raw = b"From: a@example.com\r\nSubject: Re: x\r\nIn-Reply-To: <1@acme-mail.com>\r\n\r\n" + body
    mail = classify_mail(raw)
    assert mail.kind is K.REPLY
    assert len(mail.text) <= TEXT_LIMIT
    assert len(mail.detail) <= DETAIL_LIMIT


def test_human_reply_about_out_of_office_subject_is_a_reply() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: Re: Out of office policy\r\n"
        b"In-Reply-To: <1@acme-mail.com>\r\n\r\nYes, interested.\r\n"
    )
    assert classify_mail(raw).kind is K.REPLY


def test_auto_submitted_no_is_not_an_auto_reply() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: Re: hello\r\nAuto-Submitted: no\r\n"
        b"In-Reply-To: <1@acme-mail.com>\r\n\r\nSure.\r\n"
    )
    assert classify_mail(raw).kind is K.REPLY


def test_bulk_mail_answering_ours_is_an_auto_reply() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: Re: hello\r\nPrecedence: bulk\r\n"
        b"References: <1@acme-mail.com>\r\n\r\nWe got your mail.\r\n"
    )
    mail = classify_mail(raw)
    assert mail.kind is K.AUTO_REPLY
    assert mail.refs == ("<1@acme-mail.com>",)


def test_8bit_headers_come_back_as_valid_text() -> None:
    raw = (
        b"From: M\xfcller <k@example.de>\r\nSubject: Gr\xfc\xdfe \xc3\xa4\r\n"
        b"In-Reply-To: <1@acme-mail.com>\r\n\r\nJa.\r\n"
    )
    mail = classify_mail(raw)
    assert mail.kind is K.REPLY
    assert mail.sender == "k@example.de"
    assert mail.subject.endswith("ä")  # UTF-8 bytes read as UTF-8, the rest replaced
    _assert_storable(mail)


TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def test_warm_up_mail_is_marked_whatever_it_reads_like() -> None:
    first = (
        f"From: Sam <sam@brand-news.com>\r\nTo: alex@brand-news.com\r\nSubject: Quick one\r\n"
        f"Message-ID: <w1@brand-news.com>\r\nX-Entity-Ref-ID: {TOKEN}\r\n\r\nHi Alex\r\n"
    ).encode()
    mail = classify_mail(first, STOP_WORDS)
    assert mail.warmup and mail.kind is K.OTHER
    assert (mail.message_id, mail.sender, mail.subject) == (
        "<w1@brand-news.com>",
        "sam@brand-news.com",
        "Quick one",
    )
    # An in-thread answer reads like a human reply: marked all the same (ingest decides).
    answer = (
        f"From: alex@brand-news.com\r\nSubject: Re: Quick one\r\n"
        f"In-Reply-To: <w1@brand-news.com>\r\nX-Entity-Ref-ID: {TOKEN.upper()}\r\n\r\n"
        "Sounds good, talk soon.\r\n"
    ).encode()
    reply = classify_mail(answer, STOP_WORDS)
    assert reply.warmup and reply.kind is K.REPLY
    assert reply.refs == ("<w1@brand-news.com>",)
    # CRLF or LF, the mark reads the same.
    assert classify_mail(answer.replace(b"\r\n", b"\n"), STOP_WORDS) == reply


def test_only_the_warm_up_token_shape_marks() -> None:
    for value in ("", "newsletter-2026-12", TOKEN[:-1], TOKEN + "0", "g" * 32):
        raw = (
            f"From: a@example.com\r\nSubject: Re: hello\r\nX-Entity-Ref-ID: {value}\r\n"
            "In-Reply-To: <1@acme-mail.com>\r\n\r\nYes, interested.\r\n"
        ).encode()
        mail = classify_mail(raw)
        assert mail.kind is K.REPLY and not mail.warmup, value


def test_a_bounce_of_a_warm_up_mail_is_an_unmarked_bounce() -> None:
    raw = (FIXTURES / "gmail_dsn_hard.eml").read_bytes()
    # The token inside the returned copy of the original is not the report's own header.
    copy = b"\nMessage-ID: <d41f"  # the attached original's header (line starts)
    quoted = raw.replace(copy, f"\nX-Entity-Ref-ID: {TOKEN}{copy.decode()}".encode())
    assert quoted.count(TOKEN.encode()) == 1
    mail = classify_mail(quoted)
    assert mail.kind is K.BOUNCE_HARD and not mail.warmup


def test_no_fixture_of_the_corpus_is_warm_up_mail() -> None:
    for name in CORPUS:
        assert not classify_mail((FIXTURES / name).read_bytes()).warmup, name


def test_empty_and_garbage_input() -> None:
    for raw in (b"", b"\x00\xff" * 50, b"not a mail at all", b"\r\n\r\n\r\n"):
        mail = classify_mail(raw)
        assert mail.kind is K.OTHER
        assert mail.refs == ()


# --- hypothesis: no input makes the classifier raise -------------------------------------

HEADER_NAMES = st.sampled_from(
    [
        "From",
        "Subject",
        "Message-ID",
        "In-Reply-To",
        "References",
        "Auto-Submitted",
        "Precedence",
        "X-Failed-Recipients",
        "Content-Type",
        "Content-Transfer-Encoding",
        "X-Auto-Response-Suppress",
        "X-MS-Exchange-Inbox-Rules-Loop",
        "List-Id",
    ]
)
HEADER_VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "multipart/report; report-type=delivery-status; boundary=b",
            "multipart/mixed; boundary=b",
            "message/delivery-status",
            "message/rfc822",
            "text/rfc822-headers",
            "text/html; charset=x-unknown",
            "base64",
            "quoted-printable",
            "auto-replied",
            "<a@b> <c@d>",
            "=?utf-8?B?////?=",
            "MAILER-DAEMON@example.com",
        ]
    ),
)
BODY_LINES = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "--b",
            "--b--",
            "Content-Type: message/delivery-status",
            "Content-Type: message/rfc822",
            "Content-Type: text/rfc822-headers",
            "Action: failed",
            "Status: 5.1.1",
            "Final-Recipient: rfc822; x@y.z",
            "Original-Recipient: rfc822;",
            "Message-ID: <orig@x>",
            "<a@b.c>:",
            "On Mon, Jan 6, 2025 at 10:00 AM X <x@y.z> wrote:",
            "> quoted",
            "-- ",
            "<blockquote><div class=gmail_quote>",
            "",
        ]
    ),
)


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    """Mail-shaped bytes: header lines, a blank line, body lines; any of them garbage."""
    headers = draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8))
    body = draw(st.lists(BODY_LINES, max_size=30))
    text = "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n" + "\r\n".join(body)
    encoding = draw(st.sampled_from(["utf-8", "latin-1"]))
    return text.encode(encoding, "replace")


@settings(max_examples=300, deadline=None)
@given(mails(), st.lists(st.text(max_size=12), max_size=3))
def test_mail_shaped_input_never_raises(raw: bytes, stop_words: list[str]) -> None:
    mail = classify_mail(raw, stop_words)
    assert isinstance(mail, InboxMail)
    assert len(mail.detail) <= DETAIL_LIMIT
    assert len(mail.text) <= TEXT_LIMIT
    assert mail.kind in MailKind
    _assert_storable(mail)


def _assert_storable(mail: InboxMail) -> None:
    """Every text encodes as UTF-8 (the database and Telegram take nothing else)."""
    texts = [mail.message_id, mail.sender, mail.recipient, mail.status, *mail.refs]
    for text in [mail.detail, mail.subject, mail.text, *texts]:
        if text is not None:
            text.encode("utf-8")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_never_raise(raw: bytes) -> None:
    _assert_storable(classify_mail(raw, ("unsubscribe",)))


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(CORPUS)), st.data())
def test_mangled_fixtures_never_raise(name: str, data: st.DataObject) -> None:
    raw = bytearray((FIXTURES / name).read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    _assert_storable(classify_mail(bytes(raw[:cut]), STOP_WORDS))
