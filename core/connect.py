"""`check --connect` in the core's terms: what one login attempt found, and the verdicts' rules."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Verdict(enum.Enum):
    """How one login went."""

    OK = "ok"
    REFUSED = "refused"  # the server answered and said no: its reply is the detail
    UNREACHABLE = "unreachable"  # no answer, a lost connection, a timeout, a TLS failure
    NOT_CHECKED = "not checked"  # nothing here can log in to it yet (ESPs)


@dataclass(frozen=True, slots=True)
class LoginResult:
    """One login attempt's verdict and, unless ok, the server's reply or the reason."""

    verdict: Verdict
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LoginCheck:
    """The verdict for one account over one protocol (`smtp`, `imap` or `esp`)."""

    account: str
    protocol: str
    result: LoginResult


def failed(checks: Iterable[LoginCheck]) -> bool:
    """Whether any login was refused or unreachable (an unchecked ESP is no failure)."""
    bad = {Verdict.REFUSED, Verdict.UNREACHABLE}
    return any(check.result.verdict in bad for check in checks)


def one_line(text: str, limit: int = 300) -> str:
    """A server's reply or an error on one line, whitespace collapsed, at most `limit` long."""
    return " ".join(text.split())[:limit]


def scrub(text: str, secret: str) -> str:
    """`text` with every occurrence of `secret` masked (a reply must never show a password)."""
    return text.replace(secret, "***") if secret else text
