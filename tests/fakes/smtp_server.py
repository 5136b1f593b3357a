"""A scriptable SMTP server on 127.0.0.1 (aiosmtpd) that records what it accepts.

In-process: `async with FakeSmtpServer(...) as server:` in the test's own loop.
Standalone, so it can outlive a bot that is killed and restarted:
`python -m tests.fakes.smtp_server --port N --log FILE [--user U --password P] [--script FILE]`
prints `listening HOST PORT` once it accepts connections and stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import email.parser
import email.policy
import json
import os
import signal
import ssl
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import trustme
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

Stage = Literal["rcpt", "data"]
Security = Literal["none", "tls", "starttls"]

# What Microsoft 365 answers a refused XOAUTH2 after its error challenge.
XOAUTH2_REFUSED = "535 5.7.3 Authentication unsuccessful"
# The challenge of a refused XOAUTH2 (base64 of this JSON), as Google documents it:
# https://developers.google.com/gmail/imap/xoauth2-protocol#error_response_2
XOAUTH2_ERROR = '{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}'

GMAIL_BAD_CREDENTIALS = (
    "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
    "535 5.7.8  https://support.google.com/mail/?p=BadCredentials - gsmtp"
)


@dataclass(frozen=True, slots=True)
class Accept:
    """Take the recipient at RCPT and the message at the end of DATA."""


@dataclass(frozen=True, slots=True)
class Reply:
    """Refuse with this code and text at RCPT or at the end of DATA; `\\n` makes it multi-line."""

    code: int
    text: str
    at: Stage = "rcpt"


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Hang up without a reply; at `data` once the whole message has arrived.

    `deliver=True` records the message first: the reply was lost, the mail was not.
    """

    at: Stage = "data"
    deliver: bool = False


@dataclass(frozen=True, slots=True)
class Delay:
    """Wait `seconds` before answering at RCPT or at the end of DATA, then do `then`."""

    seconds: float
    at: Stage = "data"
    then: Accept | Reply = Accept()


Action = Accept | Reply | Disconnect | Delay
Script = Mapping[str, Action] | Callable[[str], Action]


@dataclass(frozen=True, slots=True)
class Received:
    """One accepted message as the server saw it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    message_id: str | None
    received_at: datetime
    login: str | None = None
    tls: bool = False  # the session was encrypted (implicit TLS or STARTTLS)

    def to_json(self) -> str:
        """One JSON line (the raw data as UTF-8 text)."""
        return json.dumps(
            {
                "mail_from": self.mail_from,
                "rcpt_tos": list(self.rcpt_tos),
                "message_id": self.message_id,
                "received_at": self.received_at.isoformat(),
                "login": self.login,
                "tls": self.tls,
                "data": self.data.decode("utf-8", "replace"),
            }
        )

    @classmethod
    def from_json(cls, line: str) -> Received:
        """Read back one line written by `to_json`."""
        raw = json.loads(line)
        return cls(
            mail_from=raw["mail_from"],
            rcpt_tos=tuple(raw["rcpt_tos"]),
            data=raw["data"].encode("utf-8"),
            message_id=raw["message_id"],
            received_at=datetime.fromisoformat(raw["received_at"]),
            login=raw["login"],
            tls=raw.get("tls", False),
        )


def read_log(path: Path) -> list[Received]:
    """Every message recorded in a log file, oldest first (a missing file is empty)."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Received.from_json(line) for line in lines if line.strip()]


@dataclass(frozen=True, slots=True)
class TestCA:
    """A throwaway certificate authority and contexts for a server on 127.0.0.1."""

    __test__ = False  # not a pytest test class, despite the name

    server_context: ssl.SSLContext
    client_context: ssl.SSLContext  # trusts only this CA


def make_test_ca() -> TestCA:
    """A fresh CA with a server certificate for 127.0.0.1 and localhost."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client)
    return TestCA(server, client)


class _Session(SMTP):
    """aiosmtpd's protocol object for one connection, known to its server while it lives."""

    def __init__(self, owner: FakeSmtpServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner

    def connection_lost(self, error: Exception | None) -> None:
        self.owner.live.discard(self)
        super().connection_lost(error)


@dataclass
class FakeSmtpServer:
    """An SMTP server for tests: AUTH PLAIN/LOGIN, optional TLS, scripted per recipient."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port; read `port` after start()
    username: str | None = None  # None: any login is accepted and none is required
    password: str | None = None
    security: Security = "none"
    ssl_context: ssl.SSLContext | None = None  # required for tls and starttls
    script: Script = field(default_factory=dict)  # recipient (lower case) or "*" -> action
    log_path: Path | None = None  # one JSON line per accepted message, fsynced
    idle_timeout: float = 300.0  # the server hangs up on a client silent this long
    login_fail_reply: str = GMAIL_BAD_CREDENTIALS
    pipelining: bool = True  # offer RFC 2920 PIPELINING in EHLO, as the big providers do
    mail_reply: str | None = None  # answer every MAIL FROM with this instead of 250
    # Offers AUTH XOAUTH2 when set: (user, access token) -> whether the token is good for it.
    bearer: Callable[[str, str], bool] | None = None

    messages: list[Received] = field(default_factory=list, init=False)
    connections: int = field(default=0, init=False)
    logins: int = field(default=0, init=False)
    failed_logins: int = field(default=0, init=False)
    tokens_seen: list[str] = field(default_factory=list, init=False)  # XOAUTH2, in order
    live: set[_Session] = field(default_factory=set, init=False)
    _server: asyncio.Server | None = field(default=None, init=False)
    _log_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _queued: int = field(default=0, init=False)

    async def start(self) -> None:
        """Listen; `port` holds the real port afterwards."""
        if self.security != "none" and self.ssl_context is None:
            raise ValueError(f"security={self.security!r} needs an ssl_context")
        implicit = self.ssl_context if self.security == "tls" else None
        self._server = await asyncio.get_running_loop().create_server(
            self._factory, self.host, self.port, ssl=implicit
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Hang up on every client and stop listening."""
        self.drop_connections()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def drop_connections(self) -> None:
        """Close every open client connection without a word, as a server restart would."""
        for session in list(self.live):
            if session.transport is not None:
                session.transport.close()

    @property
    def session_type(self) -> type[_Session]:
        """The protocol class of one connection (a subclass may change how it talks)."""
        return _Session

    def action_for(self, recipient: str) -> Action:
        """What the script says for this recipient; accept when it says nothing."""
        if callable(self.script):
            return self.script(recipient)
        return self.script.get(recipient.lower(), self.script.get("*", Accept()))

    # --- aiosmtpd wiring ---------------------------------------------------------------

    def _factory(self) -> SMTP:
        self.connections += 1
        starttls = self.security == "starttls"
        session = self.session_type(
            self,
            self,  # the handler: aiosmtpd calls the handle_* methods below
            hostname="fake-smtp.test",
            ident="fake-smtp",
            tls_context=self.ssl_context if starttls else None,
            require_starttls=starttls,
            # aiosmtpd only counts STARTTLS as TLS; over implicit TLS it must allow AUTH.
            auth_require_tls=starttls,
            authenticator=self._authenticate,
            auth_exclude_mechanism=None if self.bearer is not None else ["XOAUTH2"],
            timeout=self.idle_timeout,
            loop=asyncio.get_running_loop(),
        )
        self.live.add(session)
        return session

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode("utf-8", "replace")
        password = data.password.decode("utf-8", "replace")
        anyone = self.username is None and self.bearer is None
        if anyone or (login, password) == (self.username, self.password):
            self.logins += 1
            return AuthResult(success=True, auth_data=login)
        self.failed_logins += 1
        return AuthResult(success=False, handled=False, message=self.login_fail_reply)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:  # noqa: N802
        """SASL XOAUTH2 (aiosmtpd finds `auth_<MECHANISM>` on the handler): the bearer check."""
        blob = args[1] if len(args) > 1 else None
        if blob is None:
            answer = await server.challenge_auth("", encode_to_b64=False)
            blob = answer.decode("ascii", "replace") if isinstance(answer, bytes) else ""
        try:
            fields = base64.b64decode(blob, validate=True).decode("utf-8").split("\x01")
        except (binascii.Error, UnicodeDecodeError):
            return AuthResult(success=False, handled=False, message="501 5.5.2 Bad XOAUTH2")
        values = dict(item.split("=", 1) for item in fields if "=" in item)
        user = values.get("user", "")
        token = values.get("auth", "").removeprefix("Bearer ")
        self.tokens_seen.append(token)
        if self.bearer is not None and self.bearer(user, token):
            self.logins += 1
            return AuthResult(success=True, auth_data=user)
        self.failed_logins += 1
        # The error comes as a challenge; the client's empty reply gets the final 535.
        await server.challenge_auth(XOAUTH2_ERROR)
        return AuthResult(success=False, handled=False, message=XOAUTH2_REFUSED)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """aiosmtpd's EHLO reply, plus PIPELINING when offered (aiosmtpd reads commands in turn)."""
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """Require a login when credentials are configured."""
        needs_login = self.username is not None or self.bearer is not None
        if needs_login and not session.authenticated:
            return "530 5.7.0 Authentication Required"
        if self.mail_reply is not None:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Run the recipient's action if it acts at RCPT, else take the recipient."""
        action = self.action_for(address)
        if isinstance(action, Delay) and action.at == "rcpt":
            await asyncio.sleep(action.seconds)
            action = action.then
        if isinstance(action, Reply) and action.at == "rcpt":
            return _render(action)
        if isinstance(action, Disconnect) and action.at == "rcpt":
            return await _hang_up(server)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Run the first DATA-stage action among the recipients, else record and accept."""
        actions = [self.action_for(rcpt) for rcpt in envelope.rcpt_tos]
        action: Action = next((a for a in actions if _acts_at_data(a)), Accept())
        if isinstance(action, Delay):
            await asyncio.sleep(action.seconds)
            action = action.then
        if isinstance(action, Reply):
            return _render(action)
        data = envelope.original_content or b""
        received = Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=data,
            message_id=_message_id(data),
            received_at=datetime.now(UTC),
            login=session.auth_data if isinstance(session.auth_data, str) else None,
            tls=server.transport is not None
            and server.transport.get_extra_info("sslcontext") is not None,
        )
        if isinstance(action, Disconnect):
            if action.deliver:
                await self._record(received)
            return await _hang_up(server)
        await self._record(received)
        self._queued += 1
        return f"250 2.0.0 OK queued as fake{self._queued:06d}"

    async def _record(self, received: Received) -> None:
        # Recorded before the 250 goes out: a client that saw it finds the line in the log.
        self.messages.append(received)
        if self.log_path is not None:
            await asyncio.to_thread(self._append, self.log_path, received.to_json())

    def _append(self, path: Path, line: str) -> None:
        with self._log_lock, path.open("a", encoding="utf-8") as log:
            log.write(line + "\n")
            log.flush()
            os.fsync(log.fileno())


def _acts_at_data(action: Action) -> bool:
    return isinstance(action, Reply | Disconnect | Delay) and action.at == "data"


def _render(reply: Reply) -> str:
    lines = reply.text.splitlines() or [""]
    head = [f"{reply.code}-{line}" for line in lines[:-1]]
    return "\r\n".join([*head, f"{reply.code} {lines[-1]}"])


async def _hang_up(server: SMTP) -> str:
    if server.transport is not None:
        server.transport.close()
    # Closing cancels this session's task; it never gets to reply.
    await asyncio.Event().wait()
    return "421 4.4.2 closing"


def _message_id(data: bytes) -> str | None:
    headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(data)
    value = headers.get("Message-ID")
    return str(value).strip() if value is not None else None


# --- standalone ---------------------------------------------------------------------------


def parse_action(raw: Mapping[str, Any]) -> Action:
    """An action from JSON: {"action": "accept"|"reply"|"disconnect"|"delay", ...}."""
    kind = raw.get("action", "accept")
    at = raw.get("at")
    if kind == "accept":
        return Accept()
    if kind == "reply":
        return Reply(int(raw["code"]), str(raw["text"]), at or "rcpt")
    if kind == "disconnect":
        return Disconnect(at or "data", bool(raw.get("deliver", False)))
    if kind == "delay":
        then = parse_action(raw["then"]) if "then" in raw else Accept()
        if not isinstance(then, Accept | Reply):
            raise ValueError("a delay can only be followed by accept or reply")
        return Delay(float(raw["seconds"]), at or "data", then)
    raise ValueError(f"unknown action {kind!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.smtp_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--log", type=Path, required=True, help="JSON lines of accepted mail")
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--script", type=Path, help='JSON: {"rcpt@x or *": {"action": ...}}')
    parser.add_argument(
        "--tls-chain", type=Path, help="PEM of key and certificate: require STARTTLS before AUTH"
    )
    args = parser.parse_args(argv)
    context = None
    if args.tls_chain is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_chain)
    script: dict[str, Action] = {}
    if args.script is not None:
        raw = json.loads(args.script.read_text(encoding="utf-8"))
        script = {rcpt.lower(): parse_action(spec) for rcpt, spec in raw.items()}
    server = FakeSmtpServer(
        host=args.host,
        port=args.port,
        username=args.user,
        password=args.password,
        script=script,
        log_path=args.log,
        security="starttls" if context is not None else "none",
        ssl_context=context,
    )
    asyncio.run(_serve(server))
    return 0


async def _serve(server: FakeSmtpServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await server.start()
    sys.stdout.write(f"listening {server.host} {server.port}\n")
    sys.stdout.flush()
    await stop.wait()
    await server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
