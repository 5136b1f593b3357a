"""The provider's id of a message, read from the 250 reply to its DATA (SPEC 8, ESP part).

An ESP's events name the message by the provider's own id; its SMTP relay tells us that id
when it accepts the message, so the send can store it and an event find its send by it.
"""

from __future__ import annotations

import re

# Amazon SES: "250 Ok <MessageID>" ("SMTP response codes returned by Amazon SES",
# docs.aws.amazon.com/ses/latest/dg/troubleshoot-smtp.html): one token after "Ok".
_OK_ID = re.compile(r"^(?:[245]\.\d{1,3}\.\d{1,3}\s+)?ok\s+<?([A-Za-z0-9][\w.@+-]*)>?\s*$", re.I)
# Postfix-style relays (SendGrid's among them): "250 2.0.0 Ok: queued as <id>".
_QUEUED_AS = re.compile(r"\bqueued as\s+<?([A-Za-z0-9][\w.@+-]*)>?", re.I)


def provider_message_id(reply: str) -> str | None:
    """The message id a relay's 250 reply text carries (code stripped or not), else None."""
    text = reply.strip()
    if text[:3] == "250":
        text = text[3:].lstrip(" -")
    for pattern in (_QUEUED_AS, _OK_ID):
        found = pattern.search(text)
        if found:
            return found.group(1)
    return None
