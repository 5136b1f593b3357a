"""Build one outgoing e-mail (SPEC 6.11): headers, threading, opt-out footer, List-Unsubscribe."""

from __future__ import annotations

import functools
import html as html_lib
import re
from collections.abc import Sequence
from datetime import datetime
from email import policy as email_policy
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

# C0, DEL, C1 (NEL among them) and the Unicode line/paragraph separators: anything a mail
# parser or `str.splitlines()` could take as the end of a header line.
_CONTROL = "\x00-\x1f\x7f-\x9f\u2028\u2029"
_UNSAFE_RUN = re.compile(f" *(?:[{_CONTROL}] *)+")
_REPLY_PREFIX = re.compile(r"re\s*(?:\[\d+\])?\s*:", re.IGNORECASE)
_MSG_ID = re.compile(r"<[^<>@\s]+@[^<>@\s]+>")
_ID_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")
_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_FOLD_AT = 78
_PARSED_KEPT = 4096  # parsed header values kept for reuse


def header_safe(value: str) -> str:
    """Collapse every run of control characters (CR, LF, NUL, ...) to one space and trim."""
    return _UNSAFE_RUN.sub(" ", value).strip()


def reply_subject(subject: str) -> str:
    """`Re: ` + subject, unless it already starts with a `Re:`."""
    clean = header_safe(subject)
    if _REPLY_PREFIX.match(clean):
        return clean
    return f"Re: {clean}".rstrip()


def make_message_id(domain: str, unique: str) -> str:
    """`<unique@domain>`; the unique part comes from the caller (random or a counter)."""
    if not _ID_PART.fullmatch(unique):
        raise ValueError(f"unusable Message-ID left part {unique!r}")
    try:
        ascii_domain = domain.strip().encode("idna").decode("ascii")
    except UnicodeError:
        ascii_domain = ""
    if not _DOMAIN.fullmatch(ascii_domain):
        raise ValueError(f"unusable Message-ID domain {domain!r}")
    return f"<{unique}@{ascii_domain}>"


class _ListHeader(UnstructuredHeader, BaseHeader):
    """An ASCII header that is folded only between its items and never RFC 2047-encoded.

    The stock folder turns a long URL in List-Unsubscribe (or a long msg-id) into encoded
    words, which no mail client can use any more.
    """

    def fold(self, *, policy: Policy) -> str:
        """Name and items as given, a line break only between two items."""
        comma_list = self.name.lower() == "list-unsubscribe"
        # List-Unsubscribe items are <...> separated by commas (a URL may hold commas itself);
        # msg-id lists are separated by white space.
        items = re.split(r"(?<=>)\s*,\s*", str(self)) if comma_list else str(self).split()
        joiner = "," if comma_list else ""
        lines = [f"{self.name}: {items[0]}"]
        for item in items[1:]:
            if len(lines[-1]) + len(joiner) + 1 + len(item) > _FOLD_AT:
                lines[-1] += joiner
                lines.append(f" {item}")
            else:
                lines[-1] += f"{joiner} {item}"
        linesep = str(policy.linesep)
        return linesep.join(lines) + linesep


_VERBATIM = ("message-id", "in-reply-to", "references", "list-unsubscribe", "list-unsubscribe-post")


class _FoldOnce(BaseHeader):
    """A header that keeps its folded text: a header reused by many messages folds once."""

    def fold(self, *, policy: Policy) -> str:
        """The header as it goes on the wire under `policy`."""
        # Folding reads only these policy values (email._header_value_parser), and a header
        # object never changes.
        key = (policy.max_line_length, policy.linesep, bool(getattr(policy, "utf8", False)))
        folds: dict[tuple[int | None, str, bool], str] = self.__dict__.setdefault("_folds", {})
        text = folds.get(key)
        if text is None:
            text = folds[key] = super().fold(policy=policy)
        return text


class _CachedRegistry(HeaderRegistry):
    """A HeaderRegistry that builds each header class once and parses a repeated value once.

    The stock registry creates a new class with type() on every lookup, and the email package
    looks a header up several times per header set; parsing a value is the other big cost of a
    message, and most values repeat (Content-Type, MIME-Version, the mailbox's
    List-Unsubscribe, the Date within one second). Header objects are immutable, so one
    parsed (and, by _FoldOnce, folded) header can serve every message that sets the same name
    to the same text.
    """

    def __init__(self) -> None:
        super().__init__(base_class=_FoldOnce)
        self._classes: dict[str, type[BaseHeader]] = {}
        self._parsed: dict[tuple[str, str], BaseHeader] = {}

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if not isinstance(value, str):  # an Address object, say: not hashable
            return super().__call__(name, value)
        key = (name, value)
        header = self._parsed.get(key)
        if header is None:
            if len(self._parsed) >= _PARSED_KEPT:
                self._parsed.clear()  # bounded memory: the values that repeat come back soon
            header = self._parsed[key] = super().__call__(name, value)
        return header

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls

    def map_to_type(self, name: str, cls: type[BaseHeader]) -> None:
        """Register `cls` for `name` (forgetting any class built for it before)."""
        self._classes.pop(name.lower(), None)
        super().map_to_type(name, cls)


def _registry() -> _CachedRegistry:
    registry = _CachedRegistry()
    for name in _VERBATIM:
        registry.map_to_type(name, _ListHeader)
    return registry


_REGISTRY = _registry()
# CRLF line ends: the message is meant for SMTP as it stands.
POLICY: Policy = email_policy.SMTP.clone(header_factory=_REGISTRY)


@functools.lru_cache(maxsize=1024)  # Address objects are immutable; senders repeat
def _address(value: str, display_name: str = "") -> Address:
    clean = header_safe(value)
    try:
        return Address(display_name=header_safe(display_name), addr_spec=clean)
    except (ValueError, IndexError) as exc:  # the email parser raises both on junk
        raise ValueError(f"not a usable e-mail address: {clean!r}") from exc


@functools.lru_cache(maxsize=1024)
def _from_header(sender: str, display_name: str) -> BaseHeader:
    """A sender's From header, made once: what `message["From"] = _address(...)` makes."""
    return _REGISTRY("From", _address(sender, display_name))


def _msg_id(value: str) -> str:
    clean = header_safe(value)
    if not (clean.isascii() and _MSG_ID.fullmatch(clean)):
        raise ValueError(f"not a Message-ID: {clean!r}")
    return clean


def _url(value: str) -> str:
    clean = header_safe(value)
    if not clean.isascii() or re.search(r"[\s<>]", clean) or not re.match(r"https?://", clean):
        raise ValueError(f"not a usable unsubscribe URL: {clean!r}")
    return clean


def opt_out_line(unsubscribe_url: str | None) -> str:
    """The footer's opt-out sentence: reply "unsubscribe", or open the one-click URL."""
    line = 'To opt out, reply "unsubscribe"'
    if unsubscribe_url:
        return f"{line} or visit: {unsubscribe_url}"
    return f"{line}."


def text_footer(postal_address: str, unsubscribe_url: str | None) -> str:
    """The plain-text footer: a blank line, `--`, the postal address, the opt-out line."""
    lines = ["", "--"]
    if postal_address.strip():
        lines.append(postal_address.strip())
    lines.append(opt_out_line(unsubscribe_url))
    return "\n".join(lines) + "\n"


def html_footer(postal_address: str, unsubscribe_url: str | None) -> str:
    """The same footer as HTML, every value escaped."""
    parts = ["--"]
    if postal_address.strip():
        parts.append(html_lib.escape(postal_address.strip()).replace("\n", "<br>"))
    if unsubscribe_url:
        link = html_lib.escape(unsubscribe_url, quote=True)
        parts.append(
            "To opt out, reply &quot;unsubscribe&quot; or "
            f'<a href="{link}">unsubscribe with one click</a>.'
        )
    else:
        parts.append(html_lib.escape(opt_out_line(None)))
    return '\n<p style="font-size:small;color:#666">' + "<br>\n".join(parts) + "</p>\n"


def _with_html_footer(document: str, footer: str) -> str:
    # Inside the body when the template is a whole document, else simply appended.
    at = document.lower().rfind("</body>")
    if at < 0:
        return document.rstrip() + "\n" + footer
    return document[:at] + footer + document[at:]


def build_message(
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
    """One complete message; a follow-up (with `in_reply_to`) gets `Re:` and threading headers."""
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("the Date of a message must be timezone-aware")
    from_address = _address(sender, display_name)
    url = _url(unsubscribe_url) if unsubscribe_url else None

    message = EmailMessage(policy=POLICY)
    message["From"] = _from_header(sender, display_name)
    message["To"] = _address(to)
    message["Subject"] = header_safe(reply_subject(subject) if in_reply_to else subject)
    message["Date"] = header_safe(format_datetime(date))
    message["Message-ID"] = _msg_id(message_id)
    if in_reply_to:
        parent = _msg_id(in_reply_to)
        chain = [_msg_id(ref) for ref in references or ()]
        if parent not in chain:
            chain.append(parent)
        message["In-Reply-To"] = parent
        message["References"] = " ".join(chain)
    mailto = quote(from_address.addr_spec, safe="@+")
    targets = [f"<mailto:{mailto}?subject=unsubscribe>"]
    if url:
        targets.append(f"<{url}>")
    message["List-Unsubscribe"] = header_safe(", ".join(targets))
    if url:
        # RFC 8058: with this header a client may POST to the URL without asking the user.
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"

    message.set_content(text.rstrip() + "\n" + text_footer(postal_address, url))
    if html is not None:
        message.add_alternative(
            _with_html_footer(html, html_footer(postal_address, url)), subtype="html"
        )
    return message
