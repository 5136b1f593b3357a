"""Pooled SMTP sender over aiosmtplib: one connection per mailbox, every result an Outcome."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import re
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass

import aiosmtplib
from aiosmtplib.email import parse_address

from core.classify import classify_reply, names_blocklist
from core.connect import LoginResult, Verdict, one_line
from core.errors import LoginRefused, PeerUnavailable
from core.message import OutgoingMessage
from core.models import Outcome, OutcomeKind
from core.specs import MailServer, SmtpAccount
from mail import pipeline
from mail.oauth import OAuthTokens

log = logging.getLogger(__name__)

_DOT_AT_LINE_START = re.compile(rb"^\.", re.MULTILINE)
_QUIT_TIMEOUT = 5.0
# A connection whose last transaction ended cleanly this recently (seconds) is used without an
# RSET probe: far below any server's idle timeout, and a mailbox's next mail usually follows
# its last one at once when the gap is zero.
_FRESH = 2.0


class _Stage(enum.Enum):
    """How far one attempt got; it decides what a lost connection means."""

    CONNECT = "connect"  # TCP, TLS, greeting, EHLO, STARTTLS
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"  # the DATA command: no byte of the message has gone out yet
    BODY = "body"  # the message went out; its fate hangs on the final reply


@dataclass(slots=True)
class _Progress:
    stage: _Stage = _Stage.CONNECT


class _Refused(Exception):
    """A failure this module decided itself (e.g. no STARTTLS), already as an Outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.summary)
        self.outcome = outcome


@dataclass(slots=True)
class _Pooled:
    account: SmtpAccount
    smtp: aiosmtplib.SMTP
    expiry: asyncio.TimerHandle | None = None
    used_at: float = 0.0  # loop time the last send on it ended
    clean_at: float | None = None  # loop time the session was last seen alive with no envelope


# After these the mailbox stops for a while (or its session is in an unknown state):
# an open connection would only sit idle or carry the confusion into the next send.
_DROP_AFTER = frozenset(
    {
        OutcomeKind.BACKOFF,
        OutcomeKind.PROVIDER_CAP,
        OutcomeKind.AUTH,
        OutcomeKind.BLOCK,
        OutcomeKind.UNKNOWN,
    }
)


# Kinds that blame a message or its recipient: wrong before any message was on the table.
_NOT_ABOUT_THIS_MESSAGE = frozenset({OutcomeKind.HARD_BOUNCE, OutcomeKind.FAILED})


class SmtpSender:
    """Sends one message at a time per mailbox over a kept-open, authenticated connection."""

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        max_idle: float = 240.0,
        local_hostname: str | None = None,
        tokens: OAuthTokens | None = None,
    ) -> None:
        self._timeout = timeout  # per network step: connect, each command, the final reply
        self._tls_context = tls_context  # None: the system's trust store, hostname checked
        # Servers hang up on idle clients after a few minutes anyway, and thousands of idle
        # TLS sessions would cost memory for nothing: close a connection unused this long.
        self._max_idle = max_idle
        self._local_hostname = local_hostname  # EHLO name; None: this host's FQDN
        # Access tokens of the XOAUTH2 logins; shared with the IMAP reader when given.
        self._own_tokens = tokens is None
        self._tokens = tokens if tokens is not None else OAuthTokens(timeout=timeout)
        self._locks: dict[str, asyncio.Lock] = {}
        self._pool: dict[str, _Pooled] = {}

    async def send(
        self,
        account: SmtpAccount,
        message: OutgoingMessage,
        *,
        gate: Awaitable[bool] | None = None,
    ) -> Outcome:
        """Deliver `message` from `account` to its recipient; SMTP trouble never raises.

        With a `gate`, the message data goes out only once it has said True; when it says False
        the transaction is abandoned before a byte of the message is sent (the connection is
        dropped, so the server discards it) and the outcome is a SOFT "not sent".
        """
        recipient = message.recipient
        lock = self._locks.setdefault(account.address, asyncio.Lock())
        async with lock:
            progress = _Progress()
            try:
                outcome, refused = await self._attempt(account, recipient, message, progress, gate)
            except BaseException:
                # Cancelled (or a bug) mid-transaction: the session state is unknown.
                self._drop(account.address)
                raise
            if outcome.kind is OutcomeKind.SENT:
                self._mark_clean(account.address)  # a 250 to the message ends the transaction
            else:
                await self._clean_up(account.address, outcome, refused=refused)
            self._arm_expiry(account.address)
        log.debug(
            "smtp %s -> %s at %s: %s",
            account.address,
            recipient,
            progress.stage.value,
            outcome.summary,
        )
        return outcome

    async def probe(self, account: SmtpAccount) -> LoginResult:
        """Log in as the mailbox and say QUIT (connect, EHLO, STARTTLS or TLS, AUTH): no mail."""
        # The same _open as a send, so the check proves exactly what sending will need; the
        # connection is its own, not pooled: a check leaves nothing open behind it.
        try:
            smtp = await self._open(account.server, _Progress())
        except _Refused as refused:
            # SOFT only when the OAuth token endpoint could not be reached.
            soft = refused.outcome.kind is OutcomeKind.SOFT
            verdict = Verdict.UNREACHABLE if soft else Verdict.REFUSED
            return LoginResult(verdict, refused.outcome.text)
        except aiosmtplib.SMTPResponseException as exc:
            return LoginResult(Verdict.REFUSED, one_line(f"{exc.code} {exc.message}"))
        except OSError as exc:  # refused or lost connections, timeouts, TLS failures
            return LoginResult(Verdict.UNREACHABLE, one_line(str(exc)) or type(exc).__name__)
        except aiosmtplib.SMTPException as exc:  # e.g. the server offers no AUTH at all
            return LoginResult(Verdict.REFUSED, one_line(str(exc)) or type(exc).__name__)
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await smtp.quit(timeout=min(self._timeout, _QUIT_TIMEOUT))
        smtp.close()
        return LoginResult(Verdict.OK)

    async def close(self) -> None:
        """Say QUIT on every idle connection, then close them all."""
        pooled = list(self._pool.values())
        self._pool.clear()
        await asyncio.gather(*(self._quit(entry) for entry in pooled))
        if self._own_tokens:
            await self._tokens.close()

    # --- one attempt -----------------------------------------------------------------

    async def _attempt(
        self,
        account: SmtpAccount,
        recipient: str,
        message: OutgoingMessage,
        progress: _Progress,
        gate: Awaitable[bool] | None,
    ) -> tuple[Outcome, bool]:
        """The outcome, and whether it was the server's reply (the session is still sane)."""
        try:
            smtp, probed = await self._connection(account, progress)
            try:
                outcome = await self._transaction(
                    smtp, account.address, recipient, message, progress, gate=gate
                )
            except (aiosmtplib.SMTPException, OSError) as exc:
                if probed or not _stale(exc, progress.stage):
                    raise
                # The kept connection went unprobed and turned out dead at MAIL, before the
                # server took anything of this message: what the RSET probe would have found.
                # Once more, on a new connection.
                self._drop(account.address)
                smtp = await self._fresh(account, progress)
                outcome = await self._transaction(
                    smtp, account.address, recipient, message, progress, gate=gate
                )
            return outcome, True
        except _Refused as refused:
            return refused.outcome, False
        except aiosmtplib.SMTPResponseException as exc:
            return _refusal(exc.code, exc.message, progress.stage), True
        except (aiosmtplib.SMTPException, OSError) as exc:
            return _lost(exc, progress.stage), False
        except ValueError as exc:  # an address aiosmtplib will not put on a command line
            return Outcome(OutcomeKind.FAILED, text=str(exc)), False

    async def _pipelined(self, smtp: aiosmtplib.SMTP, commands: bytes, progress: _Progress) -> None:
        """MAIL, RCPT and DATA in one write (RFC 2920); raise at the first that failed."""
        replies, error = await pipeline.exchange(smtp, commands, 3, seconds=self._timeout)
        for stage, reply, accepted in zip(
            (_Stage.MAIL, _Stage.RCPT, _Stage.DATA),
            replies,
            (_MAIL_OK, _RCPT_OK, _DATA_OK),
            strict=False,  # fewer replies when the server went silent or away
        ):
            progress.stage = stage
            if reply.code in accepted:
                continue
            if replies[-1].code in _DATA_OK:
                # The server took DATA although MAIL or RCPT failed: the session now waits for
                # message data, so it can't be reused; drop it with the refusal's outcome.
                raise _Refused(_refusal(reply.code, reply.message, stage))
            raise aiosmtplib.SMTPResponseException(reply.code, reply.message)
        if error is not None:
            progress.stage = (_Stage.MAIL, _Stage.RCPT, _Stage.DATA)[len(replies)]
            raise error

    async def _transaction(
        self,
        smtp: aiosmtplib.SMTP,
        sender: str,
        recipient: str,
        message: OutgoingMessage,
        progress: _Progress,
        *,
        gate: Awaitable[bool] | None,
    ) -> Outcome:
        # Step by step rather than send_message(): each stage's failure means something
        # different, and a refused recipient raises here instead of hiding in a dict.
        progress.stage = _Stage.MAIL
        utf8 = not (sender.isascii() and recipient.isascii())
        if utf8 and not smtp.supports_extension("smtputf8"):
            raise _Refused(
                Outcome(OutcomeKind.FAILED, text="non-ASCII address; server lacks SMTPUTF8")
            )
        body = message.data  # CRLF throughout, and 7-bit but for SMTPUTF8 addresses
        eight_bit = not body.isascii()
        if eight_bit and not smtp.supports_extension("8bitmime"):
            raise _Refused(Outcome(OutcomeKind.FAILED, text="8-bit message; no 8BITMIME"))
        options = [f"SIZE={len(body)}"] if smtp.supports_extension("size") else []
        options += ["BODY=8BITMIME"] if eight_bit else []
        options += ["SMTPUTF8"] if utf8 else []
        encoding = "utf-8" if utf8 else "ascii"
        mail = _envelope(b"MAIL FROM:", sender, options, encoding)
        rcpt = _envelope(b"RCPT TO:", recipient, [], encoding)
        if smtp.supports_extension("pipelining"):
            await self._pipelined(smtp, mail + rcpt + b"DATA\r\n", progress)
        else:
            for stage, line, accepted in (
                (_Stage.MAIL, mail, _MAIL_OK),
                (_Stage.RCPT, rcpt, _RCPT_OK),
                (_Stage.DATA, b"DATA\r\n", _DATA_OK),
            ):
                progress.stage = stage
                reply = await smtp.execute_command(line[:-2])
                if reply.code not in accepted:
                    raise aiosmtplib.SMTPResponseException(reply.code, reply.message)
        # aiosmtplib's data() sends DATA and the message in one call, which would hide
        # whether a lost connection happened before or after the message went out.
        if gate is not None and not await gate:
            # Not one byte of the message has gone out; dropping the connection mid-DATA makes
            # the server discard the transaction (RFC 5321 4.1.1.4).
            raise _Refused(Outcome(OutcomeKind.SOFT, text="not sent: the gate said no"))
        protocol = smtp.protocol
        transport = protocol.transport if protocol is not None else None
        if transport is None or transport.is_closing():
            raise aiosmtplib.SMTPServerDisconnected("Connection lost")  # nothing went out
        if body.startswith(b".") or b"\n." in body:
            body = _DOT_AT_LINE_START.sub(b"..", body)  # RFC 5321 4.5.2 dot-stuffing
        progress.stage = _Stage.BODY
        replies, error = await pipeline.exchange(smtp, body + b".\r\n", 1, seconds=self._timeout)
        if error is not None:
            raise error
        reply = replies[0]
        if reply.code != aiosmtplib.SMTPStatus.completed:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        return classify_reply(reply.code, reply.message)

    # --- connections -----------------------------------------------------------------

    async def _connection(
        self, account: SmtpAccount, progress: _Progress
    ) -> tuple[aiosmtplib.SMTP, bool]:
        """The mailbox's pooled connection if it still answers, else a fresh logged-in one.

        The flag says whether the connection is known to be alive (new, or it answered RSET)
        rather than trusted for having finished a transaction a moment ago.
        """
        pooled = self._pool.get(account.address)
        if pooled is not None:
            if pooled.account == account and pooled.smtp.is_connected:
                if self._recently_clean(pooled):
                    return pooled.smtp, False
                try:
                    # Proves the server still listens (a silent drop shows only when we
                    # talk) and clears any envelope a failed attempt left behind.
                    await pooled.smtp.rset(timeout=self._timeout)
                except (aiosmtplib.SMTPException, OSError):
                    pass
                else:
                    return pooled.smtp, True
            self._drop(account.address)
        return await self._fresh(account, progress), True

    async def _fresh(self, account: SmtpAccount, progress: _Progress) -> aiosmtplib.SMTP:
        """A new logged-in connection for the mailbox, pooled."""
        smtp = await self._open(account.server, progress)
        self._pool[account.address] = _Pooled(account, smtp)
        return smtp

    def _recently_clean(self, pooled: _Pooled) -> bool:
        loop = asyncio.get_running_loop()
        return pooled.clean_at is not None and loop.time() - pooled.clean_at < _FRESH

    def _mark_clean(self, address: str) -> None:
        pooled = self._pool.get(address)
        if pooled is not None:
            pooled.clean_at = asyncio.get_running_loop().time()

    async def _open(self, server: MailServer, progress: _Progress) -> aiosmtplib.SMTP:
        smtp = aiosmtplib.SMTP(
            hostname=server.host,
            port=server.port,
            timeout=self._timeout,
            use_tls=server.security == "tls",
            start_tls=False,  # done by hand below: never a silent fall-back to plain text
            tls_context=self._tls_context,
            local_hostname=self._local_hostname,
        )
        try:
            progress.stage = _Stage.CONNECT
            await smtp.connect()
            if server.security == "starttls":
                await smtp.ehlo()
                if not smtp.supports_extension("starttls"):
                    raise _Refused(
                        Outcome(
                            OutcomeKind.AUTH,
                            text="server does not offer STARTTLS; refusing to log in in plain text",
                        )
                    )
                await smtp.starttls()
            progress.stage = _Stage.AUTH
            await self._login(smtp, server)
        except BaseException:
            smtp.close()
            raise
        return smtp

    async def _login(self, smtp: aiosmtplib.SMTP, server: MailServer) -> None:
        """Authenticate a fresh connection; AUTH is never skipped."""
        # A method of its own so that bench/bench_send.py can speak to Postfix's smtp-sink,
        # which answers AUTH with 250 where RFC 4954 (and aiosmtplib) want 235.
        if server.oauth is None:
            await smtp.login(server.username, server.password)
            return
        if smtp.is_ehlo_or_helo_needed:
            await smtp.ehlo()  # after STARTTLS: the AUTH methods are those offered over TLS
        if "xoauth2" not in smtp.server_auth_methods:
            # Checked before any refresh: no token is fetched for a server that can't take it.
            text = "server does not offer AUTH XOAUTH2 (the mailbox's login is oauth)"
            raise _Refused(Outcome(OutcomeKind.AUTH, text=text))
        token = await self._access_token(server, None)
        try:
            await smtp.auth_xoauth2(server.username, token)
        except aiosmtplib.SMTPAuthenticationError:
            # A cached token the server no longer takes (revoked early, clocks apart): once
            # more with a new one; a refusal of that is the mailbox's bad credentials.
            token = await self._access_token(server, token)
            await smtp.auth_xoauth2(server.username, token)

    async def _access_token(self, server: MailServer, refused: str | None) -> str:
        assert server.oauth is not None
        try:
            return await self._tokens.access_token(server.oauth, refused=refused)
        except LoginRefused as exc:
            # The token endpoint refused the refresh token: bad credentials, like a 535.
            raise _Refused(Outcome(OutcomeKind.AUTH, text=str(exc))) from None
        except PeerUnavailable as exc:  # the token endpoint is down: try again later
            raise _Refused(Outcome(OutcomeKind.SOFT, text=str(exc))) from None

    async def _clean_up(self, address: str, outcome: Outcome, *, refused: bool) -> None:
        """Leave the mailbox's connection fit for the next send, or drop it."""
        pooled = self._pool.get(address)
        if pooled is None:
            return
        if not refused or outcome.kind in _DROP_AFTER or not pooled.smtp.is_connected:
            self._drop(address)
            return
        try:
            await pooled.smtp.rset(timeout=self._timeout)
        except (aiosmtplib.SMTPException, OSError):
            self._drop(address)
        else:
            self._mark_clean(address)

    def _drop(self, address: str) -> None:
        pooled = self._pool.pop(address, None)
        if pooled is not None:
            if pooled.expiry is not None:
                pooled.expiry.cancel()
            pooled.smtp.close()

    def _arm_expiry(self, address: str) -> None:
        pooled = self._pool.get(address)
        if pooled is not None:
            loop = asyncio.get_running_loop()
            pooled.used_at = loop.time()
            if pooled.expiry is None:
                # One timer per connection that moves itself on when it fires early (_expire),
                # rather than a new timer after every send.
                pooled.expiry = loop.call_later(self._max_idle, self._expire, address, pooled)

    def _expire(self, address: str, pooled: _Pooled) -> None:
        pooled.expiry = None
        if self._pool.get(address) is not pooled:
            return
        loop = asyncio.get_running_loop()
        idle = loop.time() - pooled.used_at
        lock = self._locks.get(address)
        if lock is not None and lock.locked():
            # A send is under way; it sets used_at when it ends.
            pooled.expiry = loop.call_later(self._max_idle, self._expire, address, pooled)
        elif idle < self._max_idle:
            pooled.expiry = loop.call_later(self._max_idle - idle, self._expire, address, pooled)
        else:
            self._drop(address)

    async def _quit(self, pooled: _Pooled) -> None:
        if pooled.expiry is not None:
            pooled.expiry.cancel()
        lock = self._locks.get(pooled.account.address)
        idle = lock is None or not lock.locked()
        if idle and pooled.smtp.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await pooled.smtp.quit(timeout=min(self._timeout, _QUIT_TIMEOUT))
        pooled.smtp.close()


_MAIL_OK = (250,)
_RCPT_OK = (250, 251)
_DATA_OK = (354,)
# What may stand between < and > on MAIL FROM or RCPT TO as it is (no quoting needed).
_PLAIN_PATH = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[^\s<>()\[\]\\,;:\"@]+")


def _envelope(verb: bytes, address: str, options: list[str], encoding: str) -> bytes:
    """The MAIL FROM or RCPT TO line, CRLF included."""
    # aiosmtplib's mail()/rcpt() run every address through email.utils.parseaddr, a third of
    # a millisecond each; an address that needs no quoting goes on the line as it is.
    path = address if _PLAIN_PATH.fullmatch(address) else parse_address(address)
    if "\r" in path or "\n" in path:
        raise ValueError(f"unusable address for the envelope: {address!r}")
    line = verb + f"<{path}>".encode(encoding)
    return b" ".join([line, *(option.encode("ascii") for option in options)]) + b"\r\n"


def _stale(exc: BaseException, stage: _Stage) -> bool:
    """Whether a failure at MAIL means only that the kept connection had died meanwhile."""
    if stage is not _Stage.MAIL:
        return False
    # A lost connection, or the 421 a server sends as it closes an idle session.
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code == aiosmtplib.SMTPStatus.domain_unavailable
    return isinstance(exc, OSError)


def _refusal(code: int, text: str, stage: _Stage) -> Outcome:
    """A server reply refusing a step, classified with what the stage tells."""
    outcome = classify_reply(code, text)
    kind = outcome.kind
    if stage is _Stage.BODY and code // 100 not in (4, 5):
        kind = OutcomeKind.UNKNOWN  # a garbled final reply: the message may have been taken
    elif stage is _Stage.AUTH and (
        kind in _NOT_ABOUT_THIS_MESSAGE or (kind is OutcomeKind.BLOCK and not names_blocklist(text))
    ):
        # The login was refused (app password needed, SMTP disabled: often a 5.7.x); only a
        # named blocklist stays a block, which cools the domain down.
        kind = OutcomeKind.AUTH
    elif stage is _Stage.CONNECT and kind in _NOT_ABOUT_THIS_MESSAGE:
        # A permanent refusal before any message: this mailbox cannot submit at all, so
        # pause it (AUTH) rather than fail every lead that happens to come next.
        kind = OutcomeKind.AUTH
    elif stage is _Stage.MAIL and (
        kind is OutcomeKind.HARD_BOUNCE or (outcome.status or "").startswith("5.1.")
    ):
        # An address status at MAIL FROM is about the sender: the server refuses this
        # mailbox's own address (5.1.0, 5.1.8 ...). The recipient is not at fault and every
        # lead would fail the same way, so the mailbox pauses (AUTH) and the step waits. A
        # message-size refusal there (5.3.4) stays about the message.
        kind = OutcomeKind.AUTH
    if kind is outcome.kind:
        return outcome
    return Outcome(kind, outcome.code, outcome.status, outcome.text)


def _lost(exc: BaseException, stage: _Stage) -> Outcome:
    """No usable reply: a network failure, a timeout, or a capability the server lacks."""
    text = " ".join(str(exc).split())[:300]
    if _untrusted_certificate(exc):
        return Outcome(OutcomeKind.AUTH, text=f"TLS certificate not trusted: {text}")
    if stage is _Stage.BODY:
        # The message went out and no verdict came back: it may well have been delivered,
        # so it must never be sent again automatically.
        return Outcome(OutcomeKind.UNKNOWN, text=text or "connection lost after the message")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return Outcome(OutcomeKind.FAILED, text=text)
    # Disconnects and timeouts are OSErrors (ConnectionError, TimeoutError): transient, and
    # nothing was delivered yet. Anything else at AUTH means the login cannot work at all.
    if stage is _Stage.AUTH and not isinstance(exc, OSError):
        return Outcome(OutcomeKind.AUTH, text=text)  # e.g. the server offers no AUTH
    return Outcome(OutcomeKind.SOFT, text=text or type(exc).__name__)


def _untrusted_certificate(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
