"""`check --connect`: every mailbox's SMTP and IMAP login tried at once, each with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence

from core.connect import LoginCheck, LoginResult, Verdict, scrub
from core.specs import ImapAccount, MailboxSpec, MailServer, SmtpAccount
from engine.ports import EspFeed, LoginProbe

TIMEOUT = 10.0  # seconds for one whole login, connect to QUIT
NO_ESP_CLIENT = "no ESP client yet"  # no adapter for its kind is registered


async def check_logins(
    mailboxes: Sequence[MailboxSpec],
    esps: Sequence[str],
    *,
    smtp: LoginProbe[SmtpAccount],
    imap: LoginProbe[ImapAccount],
    seconds: float = TIMEOUT,
    feeds: Mapping[str, EspFeed] | None = None,
    esp_secrets: Sequence[str] = (),
) -> list[LoginCheck]:
    """One verdict per mailbox's SMTP, per IMAP where set, and per ESP, in config order.

    `seconds` bounds each login, connect to QUIT; they all run at once. An ESP is tried
    through its feed's probe() (one authenticated call) when `feeds` has one for it, else
    it stays "not checked"; none of `esp_secrets` shows in its detail.
    """

    async def bounded(probe: Awaitable[LoginResult]) -> LoginResult:
        try:
            async with asyncio.timeout(seconds):
                return await probe
        except TimeoutError:
            # The adapters time out each step; this bounds the whole login, so a server that
            # answers every step just in time cannot hold the check for several timeouts.
            return LoginResult(Verdict.UNREACHABLE, f"no answer within {seconds:g} s")

    async def attempt(server: MailServer, probe: Awaitable[LoginResult]) -> LoginResult:
        result = await bounded(probe)
        # A reply that echoes what it was sent must not put a password or token on the screen.
        detail = result.detail
        for secret in server.secrets:
            detail = scrub(detail, secret)
        return LoginResult(result.verdict, detail)

    async def attempt_esp(feed: EspFeed) -> LoginResult:
        result = await bounded(feed.probe())
        detail = result.detail
        for secret in esp_secrets:
            detail = scrub(detail, secret)
        return LoginResult(result.verdict, detail)

    jobs: list[tuple[str, str, Awaitable[LoginResult]]] = []
    for mailbox in mailboxes:
        jobs.append(("smtp", mailbox.address, attempt(mailbox.smtp, smtp.probe(mailbox.account))))
        inbox = mailbox.inbox
        if inbox is not None:
            jobs.append(("imap", mailbox.address, attempt(inbox.server, imap.probe(inbox))))
    for name in esps:
        feed = (feeds or {}).get(name)
        if feed is not None:
            jobs.append(("esp", name, attempt_esp(feed)))
    results = await asyncio.gather(*(job for _, _, job in jobs))
    checks = [
        LoginCheck(account, protocol, result)
        for (protocol, account, _), result in zip(jobs, results, strict=True)
    ]
    # The ESPs after the mailboxes, in config order, the unchecked among them.
    tried = {check.account: check for check in checks if check.protocol == "esp"}
    mail = [check for check in checks if check.protocol != "esp"]
    untried = LoginResult(Verdict.NOT_CHECKED, NO_ESP_CLIENT)
    return mail + [tried.get(name, LoginCheck(name, "esp", untried)) for name in esps]
