"""The warm-up loop's mails: natural plain text, no links, a token only the secret can make."""

from __future__ import annotations

import email
import email.policy
import random
import re
from datetime import UTC, datetime

import pytest

from core import warmup_corpus
from core.message import OutgoingMessage
from core.templates import spin
from core.warmup_mail import (
    TOKEN_HEADER,
    Party,
    Received,
    is_warmup,
    warmup_message,
    warmup_reply,
    warmup_token,
)

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
SECRET = b"service-secret-0123456789abcdef"
ALEX = Party("alex@brand-news.com", "Alex Stone")
SAM = Party("sam@other-brand.org", "Sam Lee")
SEED = Party("seed.one@example.org")
# Anything a filter or a reader could take as a link or a place to go.
LINKISH = re.compile(r"https?:|www\.|://|\b[\w-]+\.(?:com|org|net|io|de)\b|@", re.IGNORECASE)


def parse(message: OutgoingMessage) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def body_of(message: OutgoingMessage) -> str:
    part = parse(message).get_body(("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def test_a_warmup_mail_is_plain_text_between_the_two_parties_with_a_valid_token() -> None:
    message = warmup_message(ALEX, SAM, random.Random(1), NOW, SECRET)
    parsed = parse(message)
    assert message.recipient == SAM.address
    assert parsed["From"] == "Alex Stone <alex@brand-news.com>"
    assert parsed["To"] == SAM.address
    assert parsed.get_content_type() == "text/plain"
    assert not parsed.is_multipart()
    assert parsed["Message-ID"] == message.message_id
    assert message.message_id.endswith("@brand-news.com>")
    assert is_warmup(parsed["Message-ID"], parsed[TOKEN_HEADER], SECRET)
    # SPEC 6.11, every message: the footer and a List-Unsubscribe mailto; no one-click link.
    assert parsed["List-Unsubscribe"] == f"<mailto:{ALEX.address}?subject=unsubscribe>"
    assert parsed["List-Unsubscribe-Post"] is None
    body = body_of(message)
    assert body.rstrip().endswith('To opt out, reply "unsubscribe".')
    assert body.startswith(tuple(("Hi", "Hello", "Hey", "Good", "Sam", "Dear", "Morning")))
    assert "Sam" in body.split("\n")[0]


def test_no_link_or_address_appears_in_any_mail_or_reply_over_many_seeds() -> None:
    for seed in range(400):
        rng = random.Random(seed)
        message = warmup_message(ALEX, SEED, rng, NOW, SECRET)
        parsed = parse(message)
        reply = warmup_reply(
            Received(message.message_id, str(parsed["Subject"]), ALEX, SAM), rng, NOW, SECRET
        )
        for text in (body_of(message), body_of(reply), str(parsed["Subject"])):
            assert LINKISH.search(text) is None, text
            assert "{" not in text and "|" not in text and "NAME" not in text, text


def test_every_corpus_option_is_free_of_links_and_spins_cleanly() -> None:
    parts = [
        *warmup_corpus.GREETINGS_NAMED,
        *warmup_corpus.GREETINGS_PLAIN,
        *warmup_corpus.SIGN_OFFS,
        *warmup_corpus.REPLIES,
        *(text for topic in warmup_corpus.TOPICS for text in topic),
    ]
    rng = random.Random(0)
    for part in parts:
        assert LINKISH.search(part) is None, part
        for _ in range(20):
            spun = spin(part, rng)
            assert "{" not in spun and "}" not in spun and "|" not in spun, spun
    assert len(warmup_corpus.TOPICS) >= 40
    assert len(warmup_corpus.GREETINGS_NAMED) + len(warmup_corpus.GREETINGS_PLAIN) >= 15
    assert len(warmup_corpus.SIGN_OFFS) >= 10


def test_mails_vary_over_200_draws() -> None:
    rng = random.Random(42)
    messages = [warmup_message(ALEX, SAM, rng, NOW, SECRET) for _ in range(200)]
    bodies = {body_of(m) for m in messages}
    subjects = {str(parse(m)["Subject"]) for m in messages}
    first_lines = {body.split("\n")[0] for body in bodies}
    assert len(bodies) >= 195
    assert len(subjects) >= 100
    assert len(first_lines) >= 15
    assert len({m.message_id for m in messages}) == 200


def test_the_same_seed_gives_the_same_mail() -> None:
    first = warmup_message(ALEX, SAM, random.Random(7), NOW, SECRET)
    second = warmup_message(ALEX, SAM, random.Random(7), NOW, SECRET)
    assert first == second


def test_a_forged_token_or_another_secret_does_not_verify() -> None:
    message = warmup_message(ALEX, SAM, random.Random(3), NOW, SECRET)
    parsed = parse(message)
    token = str(parsed[TOKEN_HEADER])
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert token == warmup_token(message.message_id, SECRET)
    assert is_warmup(message.message_id, token, SECRET)
    assert is_warmup(message.message_id.strip("<>"), token.upper(), SECRET)  # either form
    assert not is_warmup(message.message_id, token, b"another-secret")
    assert not is_warmup(message.message_id, "0" * 32, SECRET)
    flipped = ("1" if token[0] == "0" else "0") + token[1:]
    assert not is_warmup(message.message_id, flipped, SECRET)
    assert not is_warmup("<other@brand-news.com>", token, SECRET)  # not transferable
    assert not is_warmup(message.message_id, token[:16], SECRET)
    assert not is_warmup(message.message_id, None, SECRET)
    assert not is_warmup(None, token, SECRET)
    assert not is_warmup(message.message_id, "é" * 32, SECRET)
    assert not is_warmup(message.message_id, token, b"")


def test_tokens_differ_per_mail_so_a_filter_cannot_match_one_value() -> None:
    rng = random.Random(5)
    tokens = {
        str(parse(warmup_message(ALEX, SAM, rng, NOW, SECRET))[TOKEN_HEADER]) for _ in range(50)
    }
    assert len(tokens) == 50


def test_a_reply_is_in_thread_with_re_subject_and_its_own_token() -> None:
    rng = random.Random(11)
    first = warmup_message(ALEX, SAM, rng, NOW, SECRET)
    parsed = parse(first)
    older = "<older@brand-news.com>"
    original = Received(
        first.message_id, str(parsed["Subject"]), sender=ALEX, receiver=SAM, references=(older,)
    )
    reply = warmup_reply(original, rng, NOW, SECRET)
    answer = parse(reply)
    assert reply.recipient == ALEX.address
    assert answer["From"] == "Sam Lee <sam@other-brand.org>"
    assert answer["Subject"] == f"Re: {parsed['Subject']}"
    assert answer["In-Reply-To"] == first.message_id
    assert str(answer["References"]).split() == [older, first.message_id]
    assert reply.message_id.endswith("@other-brand.org>")
    assert reply.message_id != first.message_id
    assert is_warmup(reply.message_id, answer[TOKEN_HEADER], SECRET)
    assert answer[TOKEN_HEADER] != parsed[TOKEN_HEADER]
    assert str(answer["List-Unsubscribe"]).startswith("<mailto:sam@other-brand.org")
    assert "Sam" in body_of(reply).split("--")[0].rstrip().split("\n")[-1]


def test_a_re_subject_is_not_doubled() -> None:
    original = Received("<a1@brand-news.com>", "Re: Lunch this week?", ALEX, SAM)
    reply = warmup_reply(original, random.Random(2), NOW, SECRET)
    assert parse(reply)["Subject"] == "Re: Lunch this week?"


def test_a_seed_without_a_name_gets_a_greeting_without_one() -> None:
    for seed in range(50):
        body = body_of(warmup_message(ALEX, SEED, random.Random(seed), NOW, SECRET))
        first_line = body.split("\n")[0]
        assert "seed" not in first_line.lower()
        assert not first_line.startswith((" ", ","))
    nameless = Party("ops@brand-news.com")
    for seed in range(50):
        body = body_of(warmup_message(nameless, SAM, random.Random(seed), NOW, SECRET))
        assert body.rstrip().split("\n")[-1].strip()  # the sign-off line is never empty


@pytest.mark.parametrize(
    ("sender", "recipient"),
    [
        (Party("alex@brand-news.com", "Alex\r\nBcc: victim@evil.example"), SAM),
        (ALEX, Party("sam@other-brand.org", "Sam\r\nX-Injected: yes\r\n\r\nbody")),
        (Party("alex@brand-news.com", "Alex\u2028Bcc: victim@evil.example"), SAM),
    ],
)
def test_names_cannot_inject_headers(sender: Party, recipient: Party) -> None:
    for seed in range(20):
        message = warmup_message(sender, recipient, random.Random(seed), NOW, SECRET)
        parsed = parse(message)
        assert parsed["Bcc"] is None
        assert parsed["X-Injected"] is None
        head = message.data.split(b"\r\n\r\n", 1)[0].decode()
        names = [line.split(":", 1)[0] for line in head.split("\r\n") if not line[:1].isspace()]
        assert names == [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "List-Unsubscribe",
            TOKEN_HEADER,
            "MIME-Version",
            "Content-Type",
            "Content-Transfer-Encoding",
        ]


@pytest.mark.parametrize(
    "address", ["alex@brand-news.com\r\nBcc: victim@evil.example", "bad address@x.com"]
)
def test_an_address_with_a_line_break_or_space_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="not a usable e-mail address"):
        warmup_message(Party(address), SAM, random.Random(0), NOW, SECRET)
    with pytest.raises(ValueError, match="not a usable e-mail address"):
        warmup_message(ALEX, Party(address), random.Random(0), NOW, SECRET)


def test_a_forged_reply_message_id_cannot_inject_headers() -> None:
    original = Received("<a1@x.com>\r\nBcc: victim@evil.example", "Hi", ALEX, SAM)
    with pytest.raises(ValueError, match="not a Message-ID"):
        warmup_reply(original, random.Random(0), NOW, SECRET)
