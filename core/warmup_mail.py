"""The warm-up loop's mails (SPEC 7): natural plain text, and a token only the loop can make.

A warm-up mail carries `X-Entity-Ref-ID`, the first 32 hex digits of HMAC-SHA256 of its
Message-ID (without the angle brackets) under the service's secret. The receiving side knows a
warm-up mail by recomputing it; an outsider can neither forge one nor filter on a fixed value,
since every mail's token differs.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass, field
from datetime import datetime

from core import warmup_corpus as corpus
from core.message import OutgoingMessage, build_message, header_safe, make_message_id
from core.templates import spin

TOKEN_HEADER = "X-Entity-Ref-ID"
TOKEN_HEX = 32  # 128 bits: far beyond guessing, short enough to look like any tracking id


@dataclass(frozen=True, slots=True)
class Party:
    """One end of a warm-up mail: a pool mailbox or a seed inbox."""

    address: str
    display_name: str = ""

    @property
    def domain(self) -> str:
        """The part after the @."""
        return self.address.rpartition("@")[2]

    @property
    def first_name(self) -> str:
        """The display name's first word, or "" (seeds usually have none)."""
        words = header_safe(self.display_name).split()
        return words[0] if words else ""


@dataclass(frozen=True, slots=True)
class Received:
    """A warm-up mail as its receiver read it: what an in-thread answer needs."""

    message_id: str  # with or without <>
    subject: str
    sender: Party  # who wrote it: the answer goes to them
    receiver: Party  # the pool mailbox that answers
    references: tuple[str, ...] = field(default=())  # the thread before it, oldest first


def _bare(message_id: str) -> str:
    """The Message-ID without white space or angle brackets: what the token signs."""
    return message_id.strip().removeprefix("<").removesuffix(">")


def warmup_token(message_id: str, secret: bytes) -> str:
    """The token of the warm-up mail with this Message-ID."""
    digest = hmac.new(secret, _bare(message_id).encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:TOKEN_HEX]


def is_warmup(message_id: str | None, token: str | None, secret: bytes) -> bool:
    """Whether `token` (the X-Entity-Ref-ID value) is the loop's own for this Message-ID."""
    if not message_id or not token or not secret:
        return False
    expected = warmup_token(message_id, secret)
    # Constant time: the comparison must not tell a forger how many leading digits were right.
    return hmac.compare_digest(expected.encode(), token.strip().lower().encode("ascii", "replace"))


def _fill(line: str, name: str) -> str:
    """Put a name where the corpus says NAME; without one, drop it and its separator."""
    if name:
        return line.replace("NAME", name)
    return line.replace(",\nNAME", ",").replace("- NAME", "").replace("NAME", "").strip()


def _greeting(recipient: Party, rng: random.Random) -> str:
    name = recipient.first_name
    pool = corpus.GREETINGS_NAMED if name else corpus.GREETINGS_PLAIN
    return _fill(spin(rng.choice(pool), rng), name)


def _sign_off(sender: Party, rng: random.Random) -> str:
    line = _fill(spin(rng.choice(corpus.SIGN_OFFS), rng), sender.first_name)
    return line or "Best,"


def _build(
    sender: Party,
    recipient: Party,
    *,
    subject: str,
    text: str,
    rng: random.Random,
    now: datetime,
    secret: bytes,
    postal_address: str,
    thread: tuple[str, ...] = (),
    message_id: str | None = None,
) -> OutgoingMessage:
    message_id = message_id or new_message_id(sender.domain, rng)
    return build_message(
        sender=sender.address,
        display_name=sender.display_name,
        to=recipient.address,
        subject=subject,
        text=text,
        message_id=message_id,
        date=now,
        postal_address=postal_address,
        in_reply_to=thread[-1] if thread else None,
        references=thread[:-1] or None,
        extra_headers=((TOKEN_HEADER, warmup_token(message_id, secret)),),
        # SPEC 6.11: every message carries the footer and a List-Unsubscribe mailto, warm-up
        # mail too (SPEC wins over the "person to person"); no https link: no lead.
    )


def new_message_id(domain: str, rng: random.Random) -> str:
    """A fresh `<hex@domain>` for a warm-up mail, chosen when it is planned."""
    return make_message_id(domain, f"{rng.getrandbits(128):032x}")


def warmup_message(
    sender: Party,
    recipient: Party,
    rng: random.Random,
    now: datetime,
    secret: bytes,
    *,
    postal_address: str = "",
    message_id: str | None = None,
) -> OutgoingMessage:
    """A new warm-up mail: greeting, one topic, sign-off; its Message-ID on the sender's domain."""
    subject, body = rng.choice(corpus.TOPICS)
    text = "\n\n".join((_greeting(recipient, rng), spin(body, rng), _sign_off(sender, rng)))
    return _build(
        sender, recipient, subject=spin(subject, rng), text=text, rng=rng, now=now, secret=secret,
        postal_address=postal_address, message_id=message_id,
    )  # fmt: skip


def warmup_reply(
    original: Received,
    rng: random.Random,
    now: datetime,
    secret: bytes,
    *,
    postal_address: str = "",
    message_id: str | None = None,
) -> OutgoingMessage:
    """The receiver's answer in the same thread: `Re:` subject, In-Reply-To, its own token."""
    greeting = _greeting(original.sender, rng) if rng.random() < 0.6 else ""
    parts = (greeting, spin(rng.choice(corpus.REPLIES), rng), _sign_off(original.receiver, rng))
    text = "\n\n".join(part for part in parts if part)
    thread = (*original.references, original.message_id)
    return _build(
        original.receiver,
        original.sender,
        subject=original.subject,
        text=text,
        rng=rng,
        now=now,
        secret=secret,
        postal_address=postal_address,
        thread=thread,
        message_id=message_id,
    )
