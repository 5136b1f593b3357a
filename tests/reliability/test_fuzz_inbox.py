"""Inbound mail and DSN classification under random and mutated mail: a classification only.

classify_mail catches everything as a last resort (a poll must go on), so "never raises" is
checked one level deeper: a mail must not come back as the catch-all's "unreadable mail", which
would mean the parser or our code raised on it and a bounce or reply was filed as OTHER.
"""

from __future__ import annotations

import re
from email import encoders
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import HeaderParser
from email.policy import compat32
from pathlib import Path
from typing import cast

from hypothesis import example, given
from hypothesis import strategies as st

from core.classify import classify_dsn_status, classify_reply
from core.inbox import DETAIL_LIMIT, TEXT_LIMIT, InboxMail, MailKind, classify_mail
from core.models import OutcomeKind
from core.specs import InboxRules
from tests.reliability.mutate import mutated
from tests.reliability.profiles import fuzz

CORPUS = sorted((Path(__file__).parents[1] / "core" / "fixtures" / "inbox").glob("*.eml"))
STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
UNREADABLE = "unreadable mail"


def check(mail: InboxMail) -> None:
    """What every classification holds, whatever the mail."""
    assert isinstance(mail.kind, MailKind)
    assert not mail.detail.startswith(UNREADABLE), mail.detail
    assert len(mail.detail) <= DETAIL_LIMIT and len(mail.text) <= TEXT_LIMIT
    assert "\n" not in mail.detail and "\n" not in mail.subject
    texts = [mail.detail, mail.subject, mail.text, *mail.refs]
    texts += [t for t in (mail.message_id, mail.sender, mail.recipient, mail.status) if t]
    for text in texts:
        text.encode("utf-8")  # storable: no lone surrogates
    assert mail.status is None or STATUS.fullmatch(mail.status)
    assert all(ref.startswith("<") and ref.endswith(">") for ref in mail.refs)
    assert mail.sender is None or ("@" in mail.sender and mail.sender == mail.sender.lower())
    if mail.kind not in (MailKind.BOUNCE_HARD, MailKind.BOUNCE_SOFT):
        assert mail.recipient is None


STOP_WORDS = st.lists(st.one_of(st.sampled_from(InboxRules().stop_words), st.text()), max_size=4)


@fuzz()
@given(st.binary(max_size=4000), STOP_WORDS)
def test_random_bytes(raw: bytes, stop_words: list[str]) -> None:
    check(classify_mail(raw, stop_words))


# --- RFC 3464 reports built with the email package, then mutated ------------------------------

ANY_TEXT = st.text(max_size=80)
# Printable ASCII: what the generator writes as given, so encodings can be compared.
PLAIN_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
KNOWN_ADDRESSES = ["jane@example.com", "Jonas.Weber@Example-GmbH.de", "<a@b.co>", "", "x@"]
KNOWN_ACTIONS = ["failed", "delayed", "delivered", "relayed", "expanded", "Failed (x)", ""]
KNOWN_STATUSES = ["5.1.1", "4.2.2", "5.7.1", "2.0.0", "5.4.5", "5.1.10", "9.9.9", "5.1", ""]
KNOWN_DIAGNOSTICS = [
    "smtp; 550 5.1.1 <jane@example.com>: Recipient address rejected: User unknown",
    "smtp; 452 4.2.2 The email account that you tried to reach is over quota",
    "smtp; 554 5.7.1 Service unavailable; Client host blocked using Spamhaus",
    "X-Postfix; mailbox full",
    "",
]
TYPES = st.sampled_from(["rfc822", "RFC822", "utf-8", "x-local", ""])
ENCODINGS = st.sampled_from([None, "base64", "quoted-printable", "7bit", "8bit", "x-unknown"])
CHARSETS = st.sampled_from(["utf-8", "us-ascii", "iso-8859-1", "x-no-such-charset", "utf-16"])
KINDS = st.sampled_from(["delivery-status", "global-delivery-status"])
PLACEHOLDER = "x-fuzz-delivery-status"


@st.composite
def recipient_block(draw: st.DrawFn, text: st.SearchStrategy[str]) -> str:
    fields = {
        "Action": draw(st.one_of(st.sampled_from(KNOWN_ACTIONS), text)),
        "Status": draw(
            st.one_of(
                st.sampled_from(KNOWN_STATUSES),
                st.from_regex(r"[0-9]\.[0-9]{1,4}\.[0-9]{1,4}", fullmatch=True),
                text,
            )
        ),
        "Final-Recipient": f"{draw(TYPES)}; {draw(addresses(text))}",
        "Original-Recipient": f"{draw(TYPES)}; {draw(addresses(text))}",
        "Diagnostic-Code": draw(st.one_of(st.sampled_from(KNOWN_DIAGNOSTICS), text)),
        "Remote-MTA": "dns; mx.example.com",
    }
    # Mostly the fields every report has, sometimes one missing; the rest at random.
    kept = [name for name in list(fields)[:3] if draw(st.integers(0, 9))]
    kept += draw(st.lists(st.sampled_from(list(fields)[3:]), unique=True))
    return "".join(f"{name}: {fields[name]}\n" for name in kept)


def addresses(text: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(KNOWN_ADDRESSES), st.emails().map(str), text)


@st.composite
def report_parts(draw: st.DrawFn, text: st.SearchStrategy[str] = ANY_TEXT) -> dict[str, object]:
    """What a report says, before it is laid out as MIME."""
    return {
        "from": draw(st.sampled_from(["MAILER-DAEMON@mx.example.com", "postmaster@x.org"])),
        "subject": draw(st.one_of(st.sampled_from(["Undelivered Mail", "Delay"]), text)),
        "message_id": draw(st.sampled_from(["<dsn1@mx.example.com>", "", "bare@id"])),
        "notice": draw(st.one_of(st.sampled_from(KNOWN_DIAGNOSTICS), text)),
        "blocks": [
            "Reporting-MTA: dns; mx.example.com\n",
            *draw(st.lists(recipient_block(text), max_size=3)),
        ],
        "original": draw(st.sampled_from(["rfc822-headers", "rfc822", None])),
        "original_id": draw(st.sampled_from(["<d41f09b2c7e8@acme-mail.com>", "<>", ""])),
        "original_subject": draw(text),
    }


def encoded(part: Message, encoding: str | None) -> Message:
    if encoding in ("base64", "quoted-printable"):
        (encoders.encode_base64 if encoding == "base64" else encoders.encode_quopri)(part)
    elif encoding is not None:
        del part["Content-Transfer-Encoding"]
        part["Content-Transfer-Encoding"] = encoding
    return part


def build(parts: dict[str, object], kind: str, encoding: str | None, charset: str) -> bytes:
    """A multipart/report as MTAs send them: notice, delivery-status, the original's copy."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = str(parts["from"])
    report["Subject"] = str(parts["subject"])
    report["Message-ID"] = str(parts["message_id"])
    report.attach(MIMEText(str(parts["notice"]), "plain", "utf-8"))
    blocks = cast(list[str], parts["blocks"])
    status: Message
    if encoding is None:  # as most MTAs send it: the field blocks as parts of their own
        status = MIMEBase("message", kind)
        # 8-bit text as the parser holds raw bytes (surrogate-escaped), so it goes out as UTF-8.
        escaped = [
            b.encode("utf-8", "surrogateescape").decode("ascii", "surrogateescape") for b in blocks
        ]
        status.set_payload([HeaderParser(policy=compat32).parsestr(b) for b in escaped])
    else:  # encoded: the generator flattens only a list, so it goes out under another type
        status = MIMEBase("application", PLACEHOLDER)
        status.set_payload("\n".join(blocks).encode("utf-8", "surrogateescape"))
        status.set_param("charset", charset)
        status = encoded(status, encoding)
    report.attach(status)
    if parts["original"] is not None:
        original = MIMEText(
            f"Message-ID: {parts['original_id']}\nSubject: {parts['original_subject']}\n",
            "rfc822-headers",
        )
        if parts["original"] == "rfc822":
            del original["Content-Type"]
            original["Content-Type"] = "message/rfc822"
        report.attach(original)
    report.set_boundary("=_fuzz_report_=")  # the email package draws one with `random`
    raw = report.as_bytes(policy=compat32)
    return raw.replace(f"application/{PLACEHOLDER}".encode(), f"message/{kind}".encode())


@st.composite
def dsn(draw: st.DrawFn) -> bytes:
    """A report of any layout, type, encoding and charset."""
    return build(draw(report_parts()), draw(KINDS), draw(ENCODINGS), draw(CHARSETS))


@fuzz()
@given(st.data())
def test_mutated_built_reports(data: st.DataObject) -> None:
    raw = data.draw(dsn())
    check(classify_mail(raw))  # the report as built
    check(classify_mail(data.draw(mutated(raw))))


@fuzz()
@given(
    report_parts(PLAIN_TEXT),
    KINDS,
    st.sampled_from(["base64", "quoted-printable", "7bit", "8bit", "x-unknown"]),
)
@example(  # a quoted-printable soft break ended a block's headers: the next block ran into it
    {
        "from": "MAILER-DAEMON@mx.example.com",
        "subject": "Undelivered Mail",
        "message_id": "",
        "notice": "",
        "blocks": [
            "Reporting-MTA: dns; mx.example.com\n",
            "Status: 5.1.1\nFinal-Recipient: rfc822; jane@example.com\n"
            "Diagnostic-Code: smtp; 452 4.2.2 The email account that you tried to reach is over"
            " quota\n",
            "Diagnostic-Code: smtp; 550 5.1.1 user unknown\n",
        ],
        "original": None,
        "original_id": "",
        "original_subject": "",
    },
    "delivery-status",
    "quoted-printable",
)
def test_layout_and_encoding_do_not_change_the_verdict(
    parts: dict[str, object], kind: str, encoding: str
) -> None:
    # The same report as field-block parts of message/delivery-status, and in another type
    # or encoding, is the same bounce (message/global-delivery-status was read as no bounce).
    plain = classify_mail(build(parts, "delivery-status", None, "utf-8"))
    other = classify_mail(build(parts, kind, encoding, "utf-8"))
    check(plain)
    assert (other.kind, other.recipient, other.status) == (
        plain.kind,
        plain.recipient,
        plain.status,
    )


@fuzz()
@given(st.sampled_from(CORPUS), st.data())
def test_mutated_real_mail(path: Path, data: st.DataObject) -> None:
    raw = path.read_bytes()
    check(classify_mail(data.draw(mutated(raw)), InboxRules().stop_words))


# --- SMTP replies and DSN status fields --------------------------------------------------------

REPLY_TEXT = st.one_of(
    st.text(),
    st.lists(st.sampled_from([*KNOWN_DIAGNOSTICS, "550-5.1.1 ", "421 ", "\r\n"]), max_size=5).map(
        "".join
    ),
    st.text(min_size=2000, max_size=6000),
)


@fuzz()
@given(st.one_of(st.none(), st.integers(-(10**6), 10**6), st.integers()), REPLY_TEXT)
def test_smtp_replies(code: int | None, text: str) -> None:
    outcome = classify_reply(code, text)
    assert isinstance(outcome.kind, OutcomeKind)
    assert len(outcome.text) <= 1000 and "\n" not in outcome.text
    assert outcome.status is None or STATUS.fullmatch(outcome.status)


@fuzz()
@given(st.one_of(st.sampled_from(KNOWN_STATUSES), st.text()), REPLY_TEXT)
def test_dsn_status_fields(status: str, diagnostic: str) -> None:
    outcome = classify_dsn_status(status, diagnostic)
    assert isinstance(outcome.kind, OutcomeKind)
    assert len(outcome.text) <= 1000
    assert outcome.status is None or STATUS.fullmatch(outcome.status)


# --- regressions the fuzzing found ---------------------------------------------------------------

GLOBAL_REPORT = b"""From: MAILER-DAEMON@mx.example.com
Subject: Undelivered Mail Returned to Sender
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain; charset=utf-8

I'm sorry to have to inform you that your message could not be delivered.

--b
Content-Type: message/global-delivery-status
Content-Transfer-Encoding: %s

%s
--b--
"""
FIELDS = (
    b"Reporting-MTA: dns; mx.example.com\n\n"
    b"Final-Recipient: utf-8; j\xc3\xb6rg@example.com\nAction: failed\nStatus: 5.1.1\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\n"
)


def test_a_global_delivery_status_report_is_a_bounce() -> None:
    # RFC 6533 (Postfix for SMTPUTF8 mail): the email package reads message/global-delivery-
    # status as one attached message, so only the Reporting-MTA block was seen: no bounce.
    mail = classify_mail(GLOBAL_REPORT % (b"8bit", FIELDS))
    assert (mail.kind, mail.recipient, mail.status) == (
        MailKind.BOUNCE_HARD,
        "jörg@example.com",
        "5.1.1",
    )


def test_an_encoded_delivery_status_part_is_read_decoded() -> None:
    # Quoted-printable fields ("Status:=205.1.1") were read before decoding: no status, no
    # action, so the failure was taken for a delivery report.
    encoded_fields = FIELDS.replace(b" ", b"=20").replace(b"\xc3\xb6", b"=C3=B6")
    raw = (GLOBAL_REPORT % (b"quoted-printable", encoded_fields)).replace(
        b"message/global-delivery-status", b"message/delivery-status"
    )
    mail = classify_mail(raw)
    assert (mail.kind, mail.recipient, mail.status) == (
        MailKind.BOUNCE_HARD,
        "jörg@example.com",
        "5.1.1",
    )
