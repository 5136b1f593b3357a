"""An outgoing message read back for display (/preview): the headers that matter and the text."""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage

from core.message import OutgoingMessage

# What a reader or a spam filter looks at; Date, MIME-Version and the like are left out.
SHOWN_HEADERS = (
    "From",
    "To",
    "Subject",
    "In-Reply-To",
    "References",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)


@dataclass(frozen=True, slots=True)
class MessageView:
    """The headers that matter, in order, and the plain-text body with its footer."""

    headers: tuple[tuple[str, str], ...]
    text: str
    has_html: bool


def view_message(message: OutgoingMessage) -> MessageView:
    """Decode `message` as a mail client would (encoded words, transfer encodings)."""
    parsed = message_from_bytes(message.data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)  # policy.default builds EmailMessage
    headers = tuple(
        (name, " ".join(str(value).split()))
        for name in SHOWN_HEADERS
        if (value := parsed.get(name)) is not None
    )
    text_part = parsed.get_body(preferencelist=("plain",))
    text = text_part.get_content() if text_part is not None else ""
    has_html = parsed.get_body(preferencelist=("html",)) is not None
    return MessageView(headers, str(text).replace("\r\n", "\n"), has_html)
