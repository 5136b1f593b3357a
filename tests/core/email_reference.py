"""The same message built with the standard email package: the oracle for core/message.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote

from core.message import header_safe, html_footer, reply_subject, text_footer


def reference_message(
    *,
    sender: str,
    display_name: str,
    to: str,
    subject: str,
    text: str,
    message_id: str,
    date: datetime,
    postal_address: str,
    html: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] | None = None,
    unsubscribe_url: str | None = None,
) -> EmailMessage:
    """What core.message.build_message means, said with EmailMessage (slow, but standard)."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = Address(display_name=header_safe(display_name), addr_spec=sender)
    message["To"] = Address(addr_spec=to)
    message["Subject"] = header_safe(reply_subject(subject) if in_reply_to else subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    if in_reply_to:
        chain = list(references or ())
        if in_reply_to not in chain:
            chain.append(in_reply_to)
        message["In-Reply-To"] = in_reply_to
        message["References"] = " ".join(chain)
    targets = [f"<mailto:{quote(sender, safe='@+')}?subject=unsubscribe>"]
    if unsubscribe_url:
        targets.append(f"<{unsubscribe_url}>")
    message["List-Unsubscribe"] = ", ".join(targets)
    if unsubscribe_url:
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text.rstrip() + "\n" + text_footer(postal_address, unsubscribe_url))
    if html is not None:
        footer = html_footer(postal_address, unsubscribe_url)
        at = html.lower().rfind("</body>")
        document = html.rstrip() + "\n" + footer if at < 0 else html[:at] + footer + html[at:]
        message.add_alternative(document, subtype="html")
    return message
