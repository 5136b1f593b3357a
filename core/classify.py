"""SMTP replies and DSN status codes -> one Outcome (SPEC 8, SMTP replies at send time)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from core.models import Outcome, OutcomeKind

# RFC 3463 enhanced status code: class.subject.detail.
_STATUS = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?![\w.]|\.\d)")
# What servers put in front of every line of a (multi-line) reply: `550-5.1.1 `, `550 5.1.1 `.
_LINE_PREFIX = re.compile(r"^\s*(?:\d{3}(?:[ -]|$))?\s*(?:[245]\.\d{1,3}\.\d{1,3}(?:\s+|$))?")
# A DSN's Diagnostic-Code starts with its type: `smtp; 550 ...`, `X-Postfix; ...`.
_DIAGNOSTIC_TYPE = re.compile(r"^\s*[\w-]+\s*;\s*")
_LEADING_CODE = re.compile(r"^\s*([245]\d\d)(?:[ -]|$)")

_TEXT_LIMIT = 1000  # a reply is stored with its send; a runaway one must not bloat the row

# The recipient's mailbox is full: temporary by nature, retried (RFC 3463 X.2.2).
_MAILBOX_FULL = re.compile(
    r"mailbox (?:is )?full|inbox is full|over ?quota|out of storage|insufficient storage"
    r"|mailbox[^.;]{0,20}\bquota\b|\bquota\b[^.;]{0,30}\bmailbox|storage allocation",
    re.IGNORECASE,
)
# The sending account hit its provider's volume cap: nothing more goes out today.
_PROVIDER_CAP = re.compile(
    r"\bdaily\b[^.;]{0,40}\b(?:limit|quota)"  # Gmail, Workspace relay, Microsoft 365, SES
    r"|sending (?:limit|quota)s? (?:exceeded|reached)"
    r"|exceeded (?:the |your )?(?:\w+ )?sending (?:limit|quota)"
    r"|quota ?exceeded",  # SES, Microsoft's SubmissionQuotaExceededException
    re.IGNORECASE,
)
# Our credentials or our right to send as this address were refused.
_AUTH = re.compile(
    r"authentication (?:failed|unsuccessful|required|credentials invalid)"
    r"|username and password not accepted|invalid credentials|client not authenticated"
    r"|permissions? to send as",
    re.IGNORECASE,
)
# A named blocklist: the sending IP or domain is listed as a spammer's.
_BLOCKLIST = (
    r"\b(?:spamhaus|spamcop|barracuda(?:central)?|sorbs|surbl|uribl|abuseat)\b"
    r"|block ?list|black ?list|deny ?list|\blisted (?:at|on|in|by)\b|\b(?:rbl|dnsbl)\b"
)
_LISTED = re.compile(_BLOCKLIST, re.IGNORECASE)
# A blocklist or reputation refusal: the sending domain or IP is considered a spammer.
_BLOCK = re.compile(
    _BLOCKLIST + r"|\bblocked\b.{0,120}\bspam|\bspam\b.{0,120}\bblocked|reputation"
    r"|unsolicited (?:mail|e-?mail|bulk|commercial)|(?:detected|identified) as spam",
    re.IGNORECASE | re.DOTALL,
)
# The recipient address does not exist (or no longer does).
_USER_UNKNOWN = re.compile(
    r"user unknown|unknown user|unknown recipient|no such (?:user|mailbox|recipient|address)"
    r"|mailbox (?:unavailable|not found|does not exist|doesn'?t exist)"
    r"|does not exist|doesn'?t exist|doesn'?t have an? [\w.-]+ account"
    r"|recipient (?:not found|unknown|does not exist)|recipientnotfound|invalid recipient"
    r"|address (?:unknown|not found|does not exist)|no mailbox here"
    r"|recipient address rejected: (?:user unknown|access denied)"  # Postfix; Microsoft DBEB
    r"|account (?:has been )?(?:disabled|deactivated|closed|suspended)",
    re.IGNORECASE,
)

# 5.7.8 authentication credentials invalid; 5.7.60 (Microsoft 365) not allowed to send as.
_AUTH_STATUSES = frozenset({"5.7.8", "5.7.60"})
# Sender-side address statuses (bad sender mailbox / system): not the recipient's fault.
_SENDER_STATUSES = frozenset({"5.1.7", "5.1.8"})


def names_blocklist(text: str) -> bool:
    """Whether a reply's text names a blocklist (Spamhaus, an RBL, "listed at" ...)."""
    return bool(_LISTED.search(text))


def classify_reply(code: int | None, text: str) -> Outcome:
    """Map one SMTP reply (basic code and its text) to an Outcome; `code` may be None."""
    lines = _lines(text)
    if code is None and lines:
        leading = _LEADING_CODE.match(lines[0])
        code = int(leading.group(1)) if leading else None
    status = _find_status(" ".join(lines))
    clean = _clean(lines)
    if code is not None:
        klass = code // 100
    elif status is not None:
        klass = int(status[0])
    else:
        klass = 5  # a refusal without any code: treat it as permanent, not silently as sent
    return Outcome(_kind(klass, code, status, clean), code, status, clean)


def classify_dsn_status(status: str, diagnostic: str) -> Outcome:
    """Map an RFC 3464 `Status:` value and its `Diagnostic-Code` text to an Outcome."""
    dsn_status = _find_status(status)
    text = _DIAGNOSTIC_TYPE.sub("", diagnostic.strip(), count=1)
    reply = classify_reply(None, text)
    if dsn_status is None:
        return reply
    klass = int(dsn_status[0])
    # The Status field is authoritative; the diagnostic's code counts only when it agrees
    # with it (a final 5.4.7 "expired" may quote the last 421 seen on the way).
    code = reply.code if reply.code is not None and reply.code // 100 == klass else None
    # A 4.x.x DSN is a delay notice: the message is still queued somewhere, so soft.
    kind = OutcomeKind.SOFT if klass == 4 else _kind(klass, code, dsn_status, reply.text)
    return Outcome(kind, code, dsn_status, reply.text)


@dataclass(frozen=True, slots=True)
class _Reply:
    klass: int  # 2, 4 or 5 (anything else is a garbled reply)
    code: int | None
    status: str | None
    text: str


# The SPEC 8 table, first match wins: the most specific signals come first. A mailbox-full
# text may say "quota exceeded", and providers word their caps as 5.1.x or 5.7.x, so both
# are checked before the generic status classes.
_RULES: tuple[tuple[Callable[[_Reply], bool], OutcomeKind], ...] = (
    (lambda r: r.klass == 2, OutcomeKind.SENT),
    (lambda r: r.klass not in (4, 5), OutcomeKind.SOFT),  # garbled: nothing was accepted
    (lambda r: _is_mailbox_full(r.status, r.text), OutcomeKind.SOFT),
    (lambda r: r.status == "5.4.5" or bool(_PROVIDER_CAP.search(r.text)), OutcomeKind.PROVIDER_CAP),
    # SPEC 8 "a blocklist text: block", whatever the class: a temporary refusal that names a
    # blocklist says the sender is listed, and every further mail from the domain makes it
    # worse. Other spam wording in a 4xx ("unusual rate of unsolicited mail") is a rate limit.
    (lambda r: r.klass == 4 and bool(_LISTED.search(r.text)), OutcomeKind.BLOCK),
    (lambda r: r.code == 421, OutcomeKind.BACKOFF),
    (lambda r: r.klass == 4 and bool(_BLOCK.search(r.text)), OutcomeKind.BACKOFF),
    (lambda r: r.klass == 4, OutcomeKind.SOFT),
    (lambda r: r.code in (530, 534, 535) or r.status in _AUTH_STATUSES, OutcomeKind.AUTH),
    (lambda r: bool(_AUTH.search(r.text)), OutcomeKind.AUTH),
    (lambda r: (r.status or "").startswith("5.7."), OutcomeKind.BLOCK),
    (lambda r: bool(_BLOCK.search(r.text)), OutcomeKind.BLOCK),
    (lambda r: _is_hard_bounce(r.status, r.text), OutcomeKind.HARD_BOUNCE),
    # "Exceeded storage allocation" (RFC 5321): the mailbox is full, retried.
    (lambda r: r.code == 552 and r.status is None, OutcomeKind.SOFT),
)


def _kind(klass: int, code: int | None, status: str | None, text: str) -> OutcomeKind:
    reply = _Reply(klass, code, status, text)
    for matches, kind in _RULES:
        if matches(reply):
            return kind
    return OutcomeKind.FAILED  # any other permanent refusal of this message


def _is_mailbox_full(status: str | None, text: str) -> bool:
    return (status is not None and status.endswith(".2.2")) or bool(_MAILBOX_FULL.search(text))


def _is_hard_bounce(status: str | None, text: str) -> bool:
    if status is not None and status in _SENDER_STATUSES:
        return False
    if status is not None and (status.startswith("5.1.") or status == "5.2.1"):
        return True
    return bool(_USER_UNKNOWN.search(text))


def _find_status(text: str) -> str | None:
    match = _STATUS.search(text)
    return ".".join(match.groups()) if match else None


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def _clean(lines: list[str]) -> str:
    """One line without the per-line code and status prefixes that servers repeat."""
    parts = [_LINE_PREFIX.sub("", line, count=1).strip() for line in lines]
    return " ".join(" ".join(part for part in parts if part).split())[:_TEXT_LIMIT]
