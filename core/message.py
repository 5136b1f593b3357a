"""Build one outgoing e-mail (SPEC 6.11): headers, threading, opt-out footer, List-Unsubscribe."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import html as html_lib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
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
_URL_UNSAFE = re.compile(r"[\s<>]")
_URL_SCHEME = re.compile(r"https?://")


def header_safe(value: str) -> str:
    """Collapse every run of control characters (CR, LF, NUL, ...) to one space and trim."""
    if value.isprintable():
        # Every character of _CONTROL is unprintable, so there is nothing to collapse; this
        # test is C code and most values pass it (five per message).
        return value.strip()
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
    return f"<{unique}@{_id_domain(domain)}>"


@functools.lru_cache(maxsize=1024)  # one per sending domain
def _id_domain(domain: str) -> str:
    """The domain as ASCII for a Message-ID's right part, or ValueError."""
    try:
        ascii_domain = domain.strip().encode("idna").decode("ascii")
    except UnicodeError:
        ascii_domain = ""
    if not _DOMAIN.fullmatch(ascii_domain):
        raise ValueError(f"unusable Message-ID domain {domain!r}")
    return ascii_domain


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message ready for SMTP: the envelope recipient and the exact bytes for DATA."""

    recipient: str
    message_id: str
    data: bytes  # CRLF line ends, ending in CRLF, not yet dot-stuffed
    smtputf8: bool  # an address is non-ASCII: the server must offer SMTPUTF8

    def as_bytes(self) -> bytes:
        """The message as it goes on the wire (before SMTP's dot-stuffing)."""
        return self.data


# The wire format is written here directly rather than through the email package: building and
# flattening an EmailMessage cost over a millisecond a mail, the largest share of a send.
# tests/core/test_message.py proves with hypothesis that what a mail parser reads back from
# these bytes is what the email package would have made of the same values.

_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-"
_PLAIN_PHRASE = re.compile(f"[{_ATEXT} ]+")
_LOCAL_PART = re.compile(f"[{_ATEXT}\x80-\U0010ffff]+(?:\\.[{_ATEXT}\x80-\U0010ffff]+)*")
_LABEL = "[A-Za-z0-9\x80-\U0010ffff](?:[A-Za-z0-9\x80-\U0010ffff-]*)?"
_HOST = re.compile(f"{_LABEL}(?:\\.{_LABEL})*")  # dot-separated labels, none empty
_WORD_BYTES = 45  # base64 of 45 bytes is 60 characters: `=?utf-8?b?...?=` stays <= 75
_LONGEST_PLAIN = 900  # a longer unbroken run can't be folded under 998: encode it instead
_MAX_LINE = 998  # RFC 5322's hard limit, line end excluded


@functools.lru_cache(maxsize=64)  # a tick's messages share the second they are built in
def _date(when: datetime) -> str:
    return format_datetime(when)


def _address(value: str) -> str:
    """A bare addr-spec fit for a header and an envelope, or ValueError."""
    clean = header_safe(value)
    local, at, domain = clean.rpartition("@")
    if not (at and _LOCAL_PART.fullmatch(local) and _HOST.fullmatch(domain)):
        raise ValueError(f"not a usable e-mail address: {clean!r}")
    return clean


def _encoded_words(text: str) -> list[str]:
    """RFC 2047 `=?utf-8?b?...?=` words for `text`, split between characters."""
    words: list[str] = []
    chunk: list[bytes] = []
    size = 0
    for char in text:
        raw = char.encode("utf-8", "surrogatepass")
        if size + len(raw) > _WORD_BYTES:
            words.append(_b_word(b"".join(chunk)))
            chunk, size = [], 0
        chunk.append(raw)
        size += len(raw)
    if chunk:
        words.append(_b_word(b"".join(chunk)))
    return words


def _b_word(data: bytes) -> str:
    return f"=?utf-8?b?{binascii.b2a_base64(data, newline=False).decode('ascii')}?="


def _plain_words(text: str) -> list[str] | None:
    """The space-separated words of `text` if it can stand as plain ASCII, else None."""
    # "=?" would be read back as the start of an encoded word.
    if not text.isascii() or "=?" in text:
        return None
    words = text.split(" ")
    return words if all(len(word) <= _LONGEST_PLAIN for word in words) else None


def _folded(name: str, items: Sequence[str]) -> str:
    """`Name: item item ...` with CRLF + space before an item that would pass column 78."""
    lines = [f"{name}:"]
    for item in items:
        line = lines[-1]
        # An empty item (two spaces in a row) never starts a line: a line of only white
        # space would end the header block for some parsers.
        if item and line != f"{name}:" and len(line) + 1 + len(item) > _FOLD_AT:
            lines.append(f" {item}")
        else:
            lines[-1] = f"{line} {item}"
    return "\r\n".join(lines) + "\r\n"


def _unstructured(name: str, value: str) -> str:
    """A free-text header (Subject): plain where it can be, else encoded words."""
    return _folded(name, _plain_words(value) or _encoded_words(value) if value else [""])


@functools.lru_cache(maxsize=1024)  # one per sending mailbox; senders repeat
def _mailbox_header(name: str, display_name: str, address: str) -> str:
    """`Name: Display Name <address>` (or the bare address) for the wire."""
    phrase = header_safe(display_name)
    if not phrase:
        return _folded(name, [address])
    plain = _plain_words(phrase) if _PLAIN_PHRASE.fullmatch(phrase) else None
    if plain is not None:
        words = plain
    elif phrase.isascii() and len(phrase) < _FOLD_AT - len(name) - len(address) - 8:
        words = ['"' + phrase.replace("\\", "\\\\").replace('"', '\\"') + '"']
    else:
        words = _encoded_words(phrase)
    return _folded(name, [*words, f"<{address}>"])


def _list_header(name: str, items: Sequence[str], joiner: str) -> str:
    """A header of ASCII items folded only between items, never encoded (URLs must survive)."""
    return _folded(name, [item + joiner for item in items[:-1]] + [items[-1]])


def _body_part(content_type: str, text: str) -> str:
    """Part headers and the body, 7bit when it is short-lined ASCII, else the smaller encoding."""
    lines = text.encode("utf-8", "surrogateescape").splitlines()
    raw = b"\n".join(lines) + b"\n"
    if raw.isascii() and max(map(len, lines), default=0) <= _MAX_LINE:
        cte, body = "7bit", raw.decode("ascii")
    else:
        qp = binascii.b2a_qp(raw, istext=True)
        b64 = base64.encodebytes(raw)
        cte, encoded = ("quoted-printable", qp) if len(qp) <= len(b64) else ("base64", b64)
        body = encoded.decode("ascii")
    return (
        f'Content-Type: {content_type}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {cte}\r\n\r\n" + body.replace("\n", "\r\n")
    )


def _boundary(message_id: str, parts: Sequence[str]) -> str:
    """A multipart boundary no part contains ("=_" can't occur in QP or base64 either)."""
    seed = hashlib.blake2b(message_id.encode(), digest_size=12).hexdigest()
    for attempt in itertools.count():
        boundary = f"=_{seed}_{attempt}"
        if not any(f"--{boundary}" in part for part in parts):
            return boundary
    raise AssertionError("unreachable")


# Only `X-` names: an extra header can never repeat or override one build_message writes.
_HEADER_NAME = re.compile(r"X-[A-Za-z0-9-]+")


def _extra_header(name: str, value: str) -> str:
    """An extra `X-` header: a plain name, a value with no line break, or ValueError."""
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"not a usable extra header name: {name!r}")
    return _unstructured(name, header_safe(value))


def _msg_id(value: str) -> str:
    clean = header_safe(value)
    if not (clean.isascii() and _MSG_ID.fullmatch(clean)):
        raise ValueError(f"not a Message-ID: {clean!r}")
    return clean


def _url(value: str) -> str:
    clean = header_safe(value)
    if not clean.isascii() or _URL_UNSAFE.search(clean) or not _URL_SCHEME.match(clean):
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
    extra_headers: Sequence[tuple[str, str]] = (),
) -> OutgoingMessage:
    """One complete message; a follow-up (with `in_reply_to`) gets `Re:` and threading headers.

    Every message carries the footer and List-Unsubscribe (SPEC 6.11), warm-up mail too.
    """
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("the Date of a message must be timezone-aware")
    from_address = _address(sender)
    to_address = _address(to)
    url = _url(unsubscribe_url) if unsubscribe_url else None
    msg_id = _msg_id(message_id)

    head = [
        _mailbox_header("From", display_name, from_address),
        _folded("To", [to_address]),
        _unstructured("Subject", header_safe(reply_subject(subject) if in_reply_to else subject)),
        f"Date: {_date(date.replace(microsecond=0))}\r\n",
        f"Message-ID: {msg_id}\r\n",
    ]
    if in_reply_to:
        parent = _msg_id(in_reply_to)
        chain = [_msg_id(ref) for ref in references or ()]
        if parent not in chain:
            chain.append(parent)
        head.append(f"In-Reply-To: {parent}\r\n")
        head.append(_list_header("References", chain, ""))
    mailto = quote(from_address, safe="@+")
    targets = [f"<mailto:{mailto}?subject=unsubscribe>"]
    if url:
        targets.append(f"<{url}>")
    head.append(_list_header("List-Unsubscribe", targets, ","))
    if url:
        # RFC 8058: with this header a client may POST to the URL without asking the user.
        head.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
    head.extend(_extra_header(name, value) for name, value in extra_headers)
    head.append("MIME-Version: 1.0\r\n")

    footer = text_footer(postal_address, url)
    plain = _body_part("text/plain", text.rstrip() + "\n" + footer)
    if html is None:
        wire = "".join(head) + plain
    else:
        rich = _body_part("text/html", _with_html_footer(html, html_footer(postal_address, url)))
        boundary = _boundary(msg_id, (plain, rich))
        wire = (
            "".join(head)
            + f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
            + f"--{boundary}\r\n{plain}\r\n--{boundary}\r\n{rich}\r\n--{boundary}--\r\n"
        )
    smtputf8 = not (from_address.isascii() and to_address.isascii())
    return OutgoingMessage(to_address, msg_id, wire.encode("utf-8"), smtputf8)
