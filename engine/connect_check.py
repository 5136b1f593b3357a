"""`check --connect`: every mailbox's SMTP and IMAP login tried at once, each with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence

from core.connect import LoginCheck, LoginResult, Verdict, scrub
from core.specs import ImapAccount, MailboxSpec, MailServer, SmtpAccount
from engine.ports import LoginProbe

TIMEOUT = 10.0  # seconds for one whole login, connect to QUIT
NO_ESP_CLIENT = "no ESP client yet"


async def check_logins(
    mailboxes: Sequence[MailboxSpec],
    esps: Sequence[str],
    *,
    smtp: LoginProbe[SmtpAccount],
    imap: LoginProbe[ImapAccount],
    seconds: float = TIMEOUT,
) -> list[LoginCheck]:
    """One verdict per mailbox's SMTP, per IMAP where set, and per ESP, in config order.

    `seconds` bounds each login, connect to QUIT; they all run at once.
    """

    async def attempt(server: MailServer, probe: Awaitable[LoginResult]) -> LoginResult:
        try:
            async with asyncio.timeout(seconds):
                result = await probe
        except TimeoutError:
            # The adapters time out each step; this bounds the whole login, so a server that
            # answers every step just in time cannot hold the check for several timeouts.
            result = LoginResult(Verdict.UNREACHABLE, f"no answer within {seconds:g} s")
        # A reply that echoes what it was sent must not put the password on the screen.
        return LoginResult(result.verdict, scrub(result.detail, server.password))

    jobs: list[tuple[str, str, Awaitable[LoginResult]]] = []
    for mailbox in mailboxes:
        jobs.append(("smtp", mailbox.address, attempt(mailbox.smtp, smtp.probe(mailbox.account))))
        inbox = mailbox.inbox
        if inbox is not None:
            jobs.append(("imap", mailbox.address, attempt(inbox.server, imap.probe(inbox))))
    results = await asyncio.gather(*(job for _, _, job in jobs))
    checks = [
        LoginCheck(account, protocol, result)
        for (protocol, account, _), result in zip(jobs, results, strict=True)
    ]
    checks += [
        LoginCheck(name, "esp", LoginResult(Verdict.NOT_CHECKED, NO_ESP_CLIENT)) for name in esps
    ]
    return checks
