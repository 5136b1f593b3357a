"""A mail read from a mailbox -> bounce, auto-reply, reply or other (SPEC 8 IMAP part, 12)."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.errors import MissingHeaderBodySeparatorDefect
from email.header import Header, decode_header, make_header
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.policy import compat32
from email.utils import getaddresses, parseaddr

from core.classify import classify_dsn_status, classify_reply
from core.models import OutcomeKind
from core.quotes import html_to_text, new_text

DETAIL_LIMIT = 300
TEXT_LIMIT = 1000
_MAX_DEPTH = 12  # MIME nesting walked; deeper is not a real bounce or reply
_MAX_REFS = 20
# The warm-up loop's mark (issue 12): 32 hex characters of an HMAC the loop checks itself.
# Transactional senders set the same header to their own ids (a hex UUID has this shape too),
# so the mark alone decides nothing here: core/ingest.py weighs it with what the mail refers to.
WARMUP_HEADER = "X-Entity-Ref-ID"
_WARMUP_TOKEN = re.compile(r"[0-9a-fA-F]{32}")


class MailKind(enum.StrEnum):
    """What a mail that came back is."""

    BOUNCE_HARD = "bounce_hard"
    BOUNCE_SOFT = "bounce_soft"
    AUTO_REPLY = "auto_reply"
    REPLY = "reply"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class InboxMail:
    """One classified mail: its kind and what the engine needs to match and record it."""

    kind: MailKind
    message_id: str | None  # this mail's own Message-ID, '<...>' form
    refs: tuple[str, ...]  # In-Reply-To, then References newest first; a DSN's original id(s)
    sender: str | None  # From address, lower-cased
    recipient: str | None  # DSN: the failed recipient
    status: str | None  # DSN: enhanced status, e.g. "5.1.1"
    detail: str  # one line for the event record, <= DETAIL_LIMIT
    subject: str
    text: str  # REPLY/AUTO_REPLY: the new text, quotes and signature cut, <= TEXT_LIMIT
    stop_word: str | None  # the first configured stop word found in `text` (REPLY only)
    warmup: bool = False  # carries the warm-up loop's header (top level, token-shaped)


def classify_mail(raw: bytes, stop_words: Sequence[str] = ()) -> InboxMail:
    """Classify one raw mail; never raises (broken mail comes back as OTHER)."""
    try:
        return _storable(_classify(raw, stop_words))
    except Exception as exc:  # a poll must go on past any mail the parser chokes on
        return InboxMail(
            MailKind.OTHER, None, (), None, None, None, _line(f"unreadable mail: {exc!r}"), "", "",
            None,
        )  # fmt: skip


def _storable(mail: InboxMail) -> InboxMail:
    """Every text valid UTF-8: 8-bit header bytes parse as lone surrogates, which no
    database or chat message accepts."""

    def clean(text: str) -> str:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

    def maybe(text: str | None) -> str | None:
        return None if text is None else clean(text)

    return InboxMail(
        mail.kind,
        maybe(mail.message_id),
        tuple(clean(ref) for ref in mail.refs),
        maybe(mail.sender),
        maybe(mail.recipient),
        maybe(mail.status),
        clean(mail.detail),
        clean(mail.subject),
        clean(mail.text),
        mail.stop_word,
        mail.warmup,
    )


def _classify(raw: bytes, stop_words: Sequence[str]) -> InboxMail:
    # compat32 keeps headers as the raw strings they were: it does not raise on the broken
    # address and date headers real bounces carry, where policy.default may.
    msg = BytesParser(policy=compat32).parsebytes(raw)
    subject = _header(msg, "Subject")
    message_id = _first(_ids(_header(msg, "Message-ID")))
    sender = _sender(msg)
    mail = _kind_of(msg, subject, message_id, sender, stop_words)
    # The top-level header only: a bounce quoting a warm-up mail does not carry it itself.
    if _WARMUP_TOKEN.fullmatch(_header(msg, WARMUP_HEADER)):
        return dataclasses.replace(mail, warmup=True)
    return mail


def _kind_of(
    msg: Message, subject: str, message_id: str | None, sender: str | None,
    stop_words: Sequence[str],
) -> InboxMail:  # fmt: skip
    bounce = _bounce(msg, subject, sender, message_id)
    if bounce is not None:
        return bounce
    refs = _reply_refs(msg, message_id)
    auto = _auto_reply_reason(msg, subject, has_refs=bool(refs))
    if auto is not None:
        text = _clip(new_text(_body(msg)))
        return InboxMail(
            MailKind.AUTO_REPLY, message_id, refs, sender, None, None,
            _line(f"auto-reply ({auto}): {subject}"), subject, text, None,
        )  # fmt: skip
    if refs:
        text = new_text(_body(msg))
        stop = _stop_word(text, stop_words)
        text = _clip(text)
        return InboxMail(
            MailKind.REPLY, message_id, refs, sender, None, None,
            _line(f"reply from {sender or 'unknown sender'}: {text or subject}"), subject, text,
            stop,
        )  # fmt: skip
    return InboxMail(
        MailKind.OTHER, message_id, (), sender, None, None, _line(subject or "(no subject)"),
        subject, "", None,
    )  # fmt: skip


# --- headers -------------------------------------------------------------------------------

_MSGID = re.compile(r"<\s*([^<>\s]+)\s*>")
_BARE_MSGID = re.compile(r"[^<>\s,;\"()]+@[^<>\s,;\"()]+")


def _header(msg: Message, name: str) -> str:
    """A header's decoded value on one line, "" when missing or beyond repair."""
    try:
        value = msg.get(name)
    except Exception:
        return ""
    if value is None:
        return ""
    if isinstance(value, Header):  # compat32 wraps 8-bit header bytes as unknown-8bit
        return " ".join(_eight_bit(value).split())
    text = str(value)
    # An encoded word that does not decode is kept as it came.
    with contextlib.suppress(Exception):
        text = str(make_header(decode_header(text)))
    # 8-bit header bytes arrive surrogate-escaped; most such mail is UTF-8.
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())


def _eight_bit(value: Header) -> str:
    """A header that came with raw 8-bit bytes: most such mail is UTF-8, the rest replaced."""
    parts: list[str] = []
    for chunk, charset in decode_header(value):
        if isinstance(chunk, str):
            parts.append(chunk)
            continue
        try:
            parts.append(chunk.decode(charset or "utf-8", "replace"))
        except LookupError:  # unknown-8bit and invented charsets
            parts.append(chunk.decode("utf-8", "replace"))
    return "".join(parts)


def _ids(value: str) -> list[str]:
    """Message-IDs in a header value, '<...>' form; a bare one (no brackets) is wrapped."""
    found = [f"<{match}>" for match in _MSGID.findall(value)]
    if not found:
        found = [f"<{match}>" for match in _BARE_MSGID.findall(value)]
    return found


def _first(values: list[str]) -> str | None:
    return values[0] if values else None


def _unique(values: list[str], exclude: str | None) -> tuple[str, ...]:
    seen: list[str] = []
    for value in values:
        if value != exclude and value not in seen:
            seen.append(value)
    return tuple(seen[:_MAX_REFS])


def _sender(msg: Message) -> str | None:
    # Parsed before decoding: a decoded display name ("Müller, Klaus") may hold a bare comma.
    try:
        raw = " ".join(str(msg.get("From") or "").split())
    except Exception:
        return None
    address = parseaddr(raw)[1].strip().lower()
    return address if "@" in address else None


def _reply_refs(msg: Message, own: str | None) -> tuple[str, ...]:
    in_reply_to = _ids(_header(msg, "In-Reply-To"))
    references = _ids(_header(msg, "References"))
    return _unique(in_reply_to + references[::-1], own)


# --- bodies --------------------------------------------------------------------------------


def _parts(msg: Message, depth: int = 0) -> Iterator[Message]:
    """The MIME tree, parts of attached messages (message/rfc822) left out."""
    yield msg
    if depth >= _MAX_DEPTH or msg.get_content_maintype() != "multipart":
        return
    payload = msg.get_payload()
    if isinstance(payload, list):
        for sub in payload:
            if isinstance(sub, Message):
                yield from _parts(sub, depth + 1)


def _decoded(part: Message) -> str:
    """A leaf part's payload as text, whatever its transfer encoding and charset."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        inner = part.get_payload()
        if isinstance(inner, list):
            return "\n\n".join(_message_text(sub) for sub in inner if isinstance(sub, Message))
        return str(inner or "")
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except (LookupError, ValueError):
        return payload.decode("utf-8", "replace")


def _message_text(msg: Message) -> str:
    """An attached message's headers as text (for searching the original Message-ID)."""
    return "\n".join(f"{name}: {value}" for name, value in msg.items())


def _is_attachment(part: Message) -> bool:
    return _header(part, "Content-Disposition").lower().startswith("attachment")


def _body(msg: Message) -> str:
    """The mail's own text: its first text/plain part, else its first HTML part as text."""
    plain: str | None = None
    markup: str | None = None
    for part in _parts(msg):
        if part.get_content_maintype() == "multipart" or _is_attachment(part):
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain is None:
            plain = _decoded(part)
        elif ctype == "text/html" and markup is None:
            markup = _decoded(part)
    if plain is not None and plain.strip():
        return plain
    if markup is not None:
        return html_to_text(markup)
    return plain or ""


def _clip(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _line(text: str) -> str:
    return _clip(" ".join(text.split()), DETAIL_LIMIT)


def _stop_word(text: str, stop_words: Sequence[str]) -> str | None:
    """The first configured stop word (in config order) found as whole words in `text`."""
    flat = " ".join(text.split()).casefold()
    for word in stop_words:
        words = word.split()
        if not words:
            continue
        pattern = r"(?<!\w)" + r"\s+".join(re.escape(w.casefold()) for w in words) + r"(?!\w)"
        if re.search(pattern, flat):
            return word
    return None


# --- bounces -------------------------------------------------------------------------------

_DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_ORIGINAL_TYPES = frozenset(
    {"message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers"}
)
_STATUS = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?![\w.]|\.\d)")
_BASIC_CODE = re.compile(r"(?<![\w.#-])([45])\d\d(?=[ -])")
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_DAEMON = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.IGNORECASE)
_DAEMON_NAME = re.compile(r"mailer-daemon|mail delivery (?:system|subsystem)", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|delivery status notification|mail delivery fail"
    r"|delivery failure|failure notice|returned mail|delivery has failed|could not be delivered"
    r"|unzustellbar|nicht zustellbar|non remis|no se puede entregar|delivery delayed"
    r"|delayed mail|warning: message|mail failure",
    re.IGNORECASE,
)
# Where a non-standard bounce's notification ends and the copy of the original begins.
_COPY_MARKER = re.compile(
    r"^(?:-+ ?Below this line is a copy of the message"
    r"|-+ This is a copy of the message"
    r"|-+ Original message -+"
    r"|Original message headers:"
    r"|-+ The header of the original message is following"
    r"|-+ Original Message Header -+)",
    re.IGNORECASE | re.MULTILINE,
)
# The failed recipient as the common non-standard formats name it, best first.
_RECIPIENT_PATTERNS = (
    re.compile(r"^<[^>\s]+>\s*\(expanded from <([^>\s]+)>\)", re.MULTILINE),  # Postfix alias
    re.compile(r"^<([^>\s]+@[^>\s]+)>:", re.MULTILINE),  # Postfix text, qmail, Yahoo
    re.compile(
        r"(?:following (?:recipient|address)(?:\(es\)|es)?|these recipients or groups)"
        r"[^:\n]*:\s*\n\s*\n?\s*<?([^\s<>]+@[^\s<>]+?)>?(?:<mailto:|\s|$)",
        re.IGNORECASE,
    ),  # Gmail (old), Exim, Exchange
    re.compile(
        r"(?:wasn't|was not|couldn't be|could not be) delivered to\s+<?([^\s<>]+@[^\s<>]+?)>?"
        r"(?:\s|\.|,|$)",
        re.IGNORECASE,
    ),  # Gmail, Microsoft 365
    re.compile(r"Your message to\s+<?([^\s<>]+@[^\s<>]+?)>?\s+couldn't", re.IGNORECASE),
    # last resort: a line that is only an address (Exim and GMX list them that way)
    re.compile(r"^\s*[\"<]?([^\s\"<>]+@[^\s\"<>]+?)[\">]?:?\s*$", re.MULTILINE),
)
_DELAYED = re.compile(
    r"\bdelayed\b|will (?:retry|keep trying|continue)|still trying|not yet been delivered"
    r"|has been postponed|temporar(?:y|ily) (?:failure|problem|error)",
    re.IGNORECASE,
)
_PERMANENT = re.compile(r"permanent(?:ly)?|gave up|given up|failed permanently", re.IGNORECASE)
# A full mailbox said the way Gmail and Yahoo say it in a bounce ("Storage quota exceeded").
_STORAGE = re.compile(r"storage quota|mailbox (?:is )?full|quota exceeded|over quota", re.I)
# What the send-time table calls not the recipient's fault: for a late bounce that means the
# address itself is fine, so it is not suppressed (a soft bounce).
_SOFT_OUTCOMES = frozenset({OutcomeKind.SOFT, OutcomeKind.BACKOFF, OutcomeKind.PROVIDER_CAP})


@dataclass(frozen=True, slots=True)
class _Failure:
    recipient: str | None
    action: str
    status: str | None
    diagnostic: str


def _bounce(msg: Message, subject: str, sender: str | None, own: str | None) -> InboxMail | None:
    parts = list(_parts(msg))
    reports = [part for part in parts if part.get_content_type() in _DSN_TYPES]
    if not reports and not _looks_like_bounce(msg, subject, sender):
        return None
    notice = _notice_text(parts)
    if reports:
        failure = _dsn_failure(reports)
        if failure is not None and (failure.recipient is None or not failure.diagnostic):
            # Exim reports local deliveries by file path ("Final-Recipient: rfc822;/mail/...")
            # and without a Diagnostic-Code: the notice's words fill in.
            head = _COPY_MARKER.split(notice, maxsplit=1)[0]
            failure = _Failure(
                failure.recipient or _text_recipient(msg, notice),
                failure.action,
                failure.status,
                failure.diagnostic or _diagnostic_line(head),
            )
    else:
        failure = _text_failure(msg, notice)
    # Gmail and Microsoft also thread their reports to the bounced mail (In-Reply-To).
    refs = _unique(_original_ids(parts, notice) + list(_reply_refs(msg, own)), own)
    if failure is None:  # a report of delivery ("Action: delivered", relayed...): no bounce
        return InboxMail(
            MailKind.OTHER, own, refs, sender, None, None, _line(f"delivery report: {subject}"),
            subject, "", None,
        )  # fmt: skip
    kind = _bounce_kind(failure)
    detail = f"{failure.status or '-'} {failure.recipient or '?'}: {failure.diagnostic or subject}"
    return InboxMail(
        kind, own, refs, sender, failure.recipient, failure.status, _line(detail), subject, "",
        None,
    )  # fmt: skip


def _bounce_kind(failure: _Failure) -> MailKind:
    status = failure.status
    if failure.action == "delayed" or (status is not None and status.startswith("4.")):
        return MailKind.BOUNCE_SOFT
    if _STORAGE.search(failure.diagnostic):
        return MailKind.BOUNCE_SOFT
    if status is not None and status.startswith("5."):
        outcome = classify_dsn_status(status, failure.diagnostic)
    elif failure.diagnostic:
        outcome = classify_reply(None, failure.diagnostic)
    else:
        return MailKind.BOUNCE_HARD  # "failed" and nothing more said: permanent
    # 5.7.x (a policy or spam refusal) stays hard here: the send-time table makes it a block
    # that cools the sending domain, but a late report names one recipient that refused us,
    # and retrying that recipient only adds refusals.
    return MailKind.BOUNCE_SOFT if outcome.kind in _SOFT_OUTCOMES else MailKind.BOUNCE_HARD


def _dsn_failure(reports: list[Message]) -> _Failure | None:
    """The first failed recipient of the RFC 3464 reports (else the first delayed one)."""
    failures: list[_Failure] = []
    for report in reports:
        for fields in _dsn_fields(report):
            action = fields.get("action", "").split(" ")[0].lower()
            status = _find_status(fields.get("status", ""))
            if action in ("delivered", "relayed", "expanded"):
                continue
            if not action and status is None:
                continue  # the per-message block (Reporting-MTA, Arrival-Date ...)
            if status is not None and status.startswith("2."):
                continue
            recipient = _typed_address(fields.get("original-recipient", "")) or _typed_address(
                fields.get("final-recipient", "")
            )
            diagnostic = re.sub(r"^\s*[\w-]+\s*;\s*", "", fields.get("diagnostic-code", ""))
            failures.append(_Failure(recipient, action, status, diagnostic))
    for failure in failures:
        if failure.action != "delayed":
            return failure
    return failures[0] if failures else None


def _dsn_fields(report: Message) -> list[dict[str, str]]:
    """The field blocks of a message/delivery-status part, names lower-cased."""
    payload = report.get_payload()
    blocks: list[dict[str, str]] = []
    encoding = str(report.get("Content-Transfer-Encoding", "")).strip().lower()
    # The email package splits the blocks before any transfer decoding: encoded, they are
    # read from the decoded text below.
    if isinstance(payload, list) and encoding not in _DECODED:
        for block in payload:
            if isinstance(block, Message):
                blocks.append({k.lower(): " ".join(str(v).split()) for k, v in block.items()})
    if not any("action" in block or "status" in block for block in blocks):
        # Encoded (base64, quoted-printable) or oddly laid out: parse the decoded text.
        text = _report_text(report).replace("\r\n", "\n")
        blocks = []
        for chunk in re.split(r"\n[ \t]*\n", text):
            fields = HeaderParser(policy=compat32).parsestr(chunk.strip() + "\n")
            blocks.append({k.lower(): " ".join(str(v).split()) for k, v in fields.items()})
    return blocks


_DECODED = ("base64", "quoted-printable")


def _report_text(report: Message) -> str:
    """A delivery-status part's text, transfer-decoded.

    The email package reads only message/delivery-status as field blocks; any other message/*
    type - message/global-delivery-status (RFC 6533, Postfix's report for SMTPUTF8 mail) - it
    reads as one attached message: the first block as its headers, the rest (still
    transfer-encoded) as its body. That is put back together before decoding.
    """
    payload = report.get_payload()
    if not isinstance(payload, list):
        return _decoded(report)
    raw = b""
    for sub in payload:
        if not isinstance(sub, Message):
            continue
        head = _message_text(sub).encode("utf-8", "surrogateescape")  # 8-bit bytes as they came
        # The headers end at a blank line, or (a defect) at the first line that is no header.
        blank = not any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in sub.defects)
        body = sub.get_payload(decode=True)  # the body's bytes: no transfer encoding of its own
        text = head + (b"\n\n" if blank else b"\n") + (body if isinstance(body, bytes) else b"")
        raw += text.rstrip(b"\r\n") + b"\n\n"  # a blank line after each block, as they came
    encoding = str(report.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding in _DECODED:
        holder = Message()
        holder["Content-Transfer-Encoding"] = encoding
        holder.set_payload(raw.decode("ascii", "replace"))
        decoded = holder.get_payload(decode=True)
        raw = decoded if isinstance(decoded, bytes) else raw
    try:
        return raw.decode(report.get_content_charset() or "utf-8", "replace")
    except (LookupError, ValueError):
        return raw.decode("utf-8", "replace")


def _typed_address(value: str) -> str | None:
    """`rfc822; user@example.com` -> user@example.com (other address types -> None)."""
    kind, _, address = value.partition(";")
    if not address:
        address, kind = kind, "rfc822"
    if kind.strip().lower() not in ("rfc822", "utf-8", ""):
        return None
    address = address.strip().strip("<>").strip()
    return address.lower() if _ADDRESS.fullmatch(address) else None


def _find_status(text: str) -> str | None:
    match = _STATUS.search(text)
    return ".".join(match.groups()) if match else None


def _looks_like_bounce(msg: Message, subject: str, sender: str | None) -> bool:
    if _header(msg, "X-Failed-Recipients"):
        return True
    # "MAILER-DAEMON <>" has no address at all: the name says it.
    from_daemon = (sender is not None and bool(_DAEMON.match(sender))) or bool(
        _DAEMON_NAME.search(_header(msg, "From"))
    )
    return from_daemon and bool(_BOUNCE_SUBJECT.search(subject))


def _notice_text(parts: list[Message]) -> str:
    """A non-standard bounce's human-readable text (the first text part)."""
    for part in parts:
        ctype = part.get_content_type()
        if ctype == "text/plain":
            return _decoded(part)
        if ctype == "text/html":
            return html_to_text(_decoded(part))
    return ""


def _text_failure(msg: Message, notice: str) -> _Failure:
    """Recipient, status and diagnostic read out of a bounce written for people."""
    head = _COPY_MARKER.split(notice, maxsplit=1)[0]
    recipient = _text_recipient(msg, notice)
    diagnostic = _diagnostic_line(head)
    status = _find_status(diagnostic) or _find_status(head)
    action = "failed"
    if (
        (status is None or status.startswith("4."))
        and _DELAYED.search(head)
        and not _PERMANENT.search(head)
    ):
        action = "delayed"
    return _Failure(recipient, action, status, diagnostic)


def _text_recipient(msg: Message, notice: str) -> str | None:
    """The failed recipient from X-Failed-Recipients (Exim, Gmail) or the bounce's words."""
    for _, address in getaddresses([_header(msg, "X-Failed-Recipients")]):
        if _ADDRESS.fullmatch(address.strip()):
            return address.strip().lower()
    head = _COPY_MARKER.split(notice, maxsplit=1)[0]
    for pattern in _RECIPIENT_PATTERNS:
        match = pattern.search(head)
        if match and _ADDRESS.fullmatch(match.group(1)):
            return match.group(1).lower()
    return None


def _diagnostic_line(head: str) -> str:
    """The line (with its continuation) that carries the remote server's reply."""
    lines = head.replace("\r\n", "\n").split("\n")
    # A line with the SMTP reply code first ("550 5.1.1 ..."); Microsoft's text names
    # statuses in its advice too ("see DSN 5.1.10 Errors ...").
    for pattern in (_BASIC_CODE, _STATUS):
        for index, line in enumerate(lines):
            if pattern.search(line):
                taken = [line.strip()]
                for following in lines[index + 1 : index + 4]:
                    if not following.strip() or _ADDRESS.fullmatch(following.strip()):
                        break
                    taken.append(following.strip())
                return " ".join(" ".join(taken).split())
    # No code at all (Gmail's "Technical details of permanent failure:" form): the words
    # after the recipient list, the first line that is not boilerplate.
    for line in reversed(lines):
        if line.strip():
            return " ".join(line.split())
    return ""


def _original_ids(parts: list[Message], notice: str) -> list[str]:
    """Message-IDs of the bounced message: attached parts first, then pasted headers."""
    found: list[str] = []
    for part in parts:
        ctype = part.get_content_type()
        if ctype not in _ORIGINAL_TYPES:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            for attached in payload:
                if isinstance(attached, Message):
                    found.extend(_ids(_header(attached, "Message-ID")))
        if not found:
            found.extend(_pasted_ids(_decoded(part)))
    pasted = _COPY_MARKER.split(notice, maxsplit=1)
    if len(pasted) == 2:
        found.extend(_pasted_ids(pasted[1]))
    return found


_PASTED_ID = re.compile(r"^Message-ID:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]+>)", re.I | re.M)


def _pasted_ids(text: str) -> list[str]:
    return _PASTED_ID.findall(text)


# --- auto-replies --------------------------------------------------------------------------

# Out-of-office subjects as Exchange, Gmail and the usual clients write them (English,
# German, French, Spanish), at the start of the subject: a human "Re: Out of office
# policy" is a reply, an "Automatic reply: Re: ..." is not.
_OOO_SUBJECT = re.compile(
    r"^\s*\[?(?:out of (?:the )?office|ooo\b|automatic reply|auto[- ]?reply|autoreply"
    r"|auto[- ]?respon(?:se|der)|autorespon|away from (?:the )?office|on vacation"
    r"|vacation (?:reply|response|notice)"
    r"|abwesenheit|automatische antwort|nicht im b(?:ü|ue)ro|urlaubsabwesenheit"
    r"|r[ée]ponse automatique|message d'absence|absent(?:e)? du bureau|absence\b"
    r"|respuesta autom[áa]tica|fuera de (?:la )?oficina|ausente|respuesta de ausencia)",
    re.IGNORECASE,
)


def _auto_reply_reason(msg: Message, subject: str, *, has_refs: bool) -> str | None:
    """Why this mail is an auto-reply (RFC 3834 and the common vendor marks), or None."""
    submitted = _header(msg, "Auto-Submitted").lower()
    precedence = _header(msg, "Precedence").lower()
    is_list = bool(_header(msg, "List-Id") or _header(msg, "List-Unsubscribe"))
    suppress = _header(msg, "X-Auto-Response-Suppress").lower()
    marks = (
        (bool(submitted) and not submitted.startswith("no"), f"Auto-Submitted: {submitted}"),
        *(
            (_header(msg, name).lower() not in ("", "no", "false", "0"), name)
            for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply")
        ),
        (precedence in ("auto_reply", "auto-reply"), f"Precedence: {precedence}"),
        # A list's newsletter is bulk too; bulk/junk marks an auto-reply only when the mail
        # answers one (In-Reply-To/References) and is not list mail.
        (
            precedence in ("bulk", "junk") and has_refs and not is_list,
            f"Precedence: {precedence}",
        ),
        # X-Auto-Response-Suppress asks others not to auto-answer this mail; Exchange sets it
        # on its own out-of-office replies together with the inbox-rule loop mark (OOF is an
        # inbox rule). Alone it says nothing: bulk mail and ordinary Exchange mail carry it.
        (
            ("oof" in suppress or "all" in suppress)
            and bool(_header(msg, "X-MS-Exchange-Inbox-Rules-Loop")),
            "X-Auto-Response-Suppress with an Exchange inbox rule",
        ),
        (bool(_OOO_SUBJECT.search(subject)), "out-of-office subject"),
    )
    return next((reason for found, reason in marks if found), None)
