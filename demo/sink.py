"""The demo's SMTP sink: a small SMTP server on 127.0.0.1 that plays the simulated recipients.

It checks each mailbox's login like a provider's submission server (AUTH PLAIN or LOGIN, and
a mailbox may send only as itself), asks the recipient model what to answer at RCPT (a dead
address, a blocklist refusal, a provider cap) and swallows accepted mail after telling the
model, which plans replies and complaints; mail for the pool's own addresses and the seeds
(the warm-up loop's) is filed in their inboxes (demo/inboxes.py), INBOX or Junk. It speaks
just the SMTP the engine's sender uses (EHLO, AUTH, pipelined MAIL/RCPT/DATA, RSET, NOOP,
QUIT) on an asyncio Protocol: the default world sends some 30,000 mails, and a
general-purpose server's per-command parsing (aiosmtpd's) cost more than the engine itself.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import re
from collections.abc import Callable
from typing import ClassVar, Protocol

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)
_PATH = re.compile(rb"^(?:MAIL FROM|RCPT TO):\s*<([^>]*)>", re.IGNORECASE)
_MAX_LINE = 4096  # a command line longer than this is not SMTP (RFC 5321 allows 512)
_MAX_DATA = 10 * 1024 * 1024


class RecipientModel(Protocol):
    """Decides how simulated recipients answer."""

    def at_rcpt(self, sender: str, recipient: str) -> tuple[int, str] | None:
        """A refusal (code, text) for this recipient now, or None to accept it."""
        ...

    def delivered(self, sender: str, recipient: str, message_id: str | None) -> None:
        """One message was accepted for `recipient`."""
        ...


class Mailboxes(Protocol):
    """Where mail for hosted addresses (the pool's own and the seeds) is filed."""

    def hosts(self, address: str) -> bool:
        """Whether mail for `address` is filed here."""
        ...

    def deliver(self, sender: str, recipient: str, head: bytes) -> str:
        """File one message by its head (headers only); the folder it went to."""
        ...


class _Mode(enum.Enum):
    COMMAND = "command"
    AUTH_PLAIN = "auth plain"  # waiting for the PLAIN response after a 334
    AUTH_USER = "auth user"  # LOGIN: waiting for the username
    AUTH_PASS = "auth pass"  # LOGIN: waiting for the password
    DATA = "data"


class DemoSink:
    """An SMTP server with AUTH PLAIN/LOGIN over plain TCP on 127.0.0.1 (never leaves the box)."""

    def __init__(
        self, model: RecipientModel, logins: dict[str, str], mailboxes: Mailboxes | None = None
    ) -> None:
        self._model = model
        self._logins = logins  # username -> password, one per mailbox
        self._mailboxes = mailboxes  # the pool's and the seeds' inboxes (warm-up mail)
        self._server: asyncio.Server | None = None
        self.port = 0
        self.accepted = 0
        self.refused = 0
        self.sessions: set[_Session] = set()  # open connections, closed by stop()
        self._all_closed = asyncio.Event()

    async def start(self) -> int:
        """Listen on a free port of 127.0.0.1 and return it."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Session(self), "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening and hang up on every client still connected."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._all_closed.clear()
        for session in list(self.sessions):
            session.hang_up()
        # Wait for the transports to finish closing (their sockets close a loop turn later),
        # so no socket outlives the event loop.
        if self.sessions:
            await self._all_closed.wait()

    def forget(self, session: _Session) -> None:
        """A connection is gone."""
        self.sessions.discard(session)
        if not self.sessions:
            self._all_closed.set()

    def login_ok(self, username: str, password: str) -> bool:
        """Whether the pair is one mailbox's login."""
        expected = self._logins.get(username)
        return expected is not None and expected == password

    def rcpt(self, sender: str, recipient: str) -> tuple[int, str] | None:
        """The model's refusal for this recipient, counted."""
        refusal = self._model.at_rcpt(sender, recipient)
        if refusal is not None:
            self.refused += 1
        return refusal

    def take(self, sender: str, recipients: list[str], data: bytes) -> int:
        """Tell the model who got the message; its queue number."""
        head = data.split(b"\r\n\r\n", 1)[0]
        found = _MESSAGE_ID.search(head)
        message_id = found.group(1).decode("ascii", "replace") if found else None
        for recipient in recipients:
            self._model.delivered(sender, recipient, message_id)
            if self._mailboxes is not None and self._mailboxes.hosts(recipient):
                self._mailboxes.deliver(sender, recipient, head)
        self.accepted += 1
        return self.accepted


class _Session(asyncio.Protocol):
    """One client connection: lines in, replies out, commands handled in the order they came."""

    _COMMANDS: ClassVar[dict[bytes, Callable[[_Session, bytes], None]]]

    def __init__(self, sink: DemoSink) -> None:
        self._sink = sink
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._mode = _Mode.COMMAND
        self._greeted = False
        self._user: str | None = None  # logged in as
        self._login_name = ""  # LOGIN's username while its password is awaited
        self._sender: str | None = None
        self._recipients: list[str] = []
        self._data = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._sink.sessions.add(self)
        self._reply("220 sink.demo.localhost ESMTP outreach demo sink")

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._sink.forget(self)

    def hang_up(self) -> None:
        """Close the connection (the sink is stopping)."""
        if self._transport is not None:
            self._transport.close()
        else:
            self._sink.forget(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while self._transport is not None and not self._transport.is_closing():
            if self._mode is _Mode.DATA:
                if not self._take_data():
                    return
                continue
            end = self._buffer.find(b"\r\n")
            if end < 0:
                if len(self._buffer) > _MAX_LINE:
                    self._reply("500 5.5.2 Line too long")
                    self._close()
                return
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 2]
            self._line(line)

    def _take_data(self) -> bool:
        """Move message data out of the buffer; True once the final dot was read."""
        # The DATA reply 354 came after "DATA\r\n", so the terminator is "\r\n.\r\n", or
        # ".\r\n" for an empty message right at the start.
        if self._buffer.startswith(b".\r\n") and not self._data:
            del self._buffer[:3]
        else:
            end = self._buffer.find(b"\r\n.\r\n")
            if end < 0:
                if len(self._data) + len(self._buffer) > _MAX_DATA:
                    self._reply("552 5.3.4 Message too big")
                    self._close()
                return False
            self._data += self._buffer[: end + 2]
            del self._buffer[: end + 5]
        body = bytes(self._data).replace(b"\r\n..", b"\r\n.")  # undo dot-stuffing
        if body.startswith(b".."):
            body = body[1:]
        sender = self._sender or ""
        number = self._sink.take(sender, self._recipients, body)
        self._reset()
        self._mode = _Mode.COMMAND
        self._reply(f"250 2.0.0 OK queued as demo{number:06d}")
        return True

    def _line(self, line: bytes) -> None:
        if self._mode is _Mode.AUTH_PLAIN:
            self._mode = _Mode.COMMAND
            self._auth_plain(line)
            return
        if self._mode is _Mode.AUTH_USER:
            self._login_name = _b64(line) or ""
            self._mode = _Mode.AUTH_PASS
            self._reply("334 UGFzc3dvcmQ6")  # "Password:"
            return
        if self._mode is _Mode.AUTH_PASS:
            self._mode = _Mode.COMMAND
            self._logged_in(self._login_name, _b64(line))
            return
        handler = self._COMMANDS.get(line[:4].upper())
        if handler is None:
            self._reply("500 5.5.2 Command not recognized")
        else:
            handler(self, line)

    def _hello(self, line: bytes) -> None:
        self._greeted = True
        self._reset()
        if line[:4].upper() == b"HELO":
            self._reply("250 sink.demo.localhost")
        else:
            self._reply(
                "250-sink.demo.localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                "250-SIZE 10485760\r\n250-AUTH PLAIN LOGIN\r\n250 HELP"
            )

    def _data_command(self, line: bytes) -> None:
        if not self._recipients:
            self._reply("503 5.5.1 Need RCPT")
            return
        self._mode = _Mode.DATA
        self._data = bytearray()
        self._reply("354 End data with <CR><LF>.<CR><LF>")

    def _rset(self, line: bytes) -> None:
        self._reset()
        self._reply("250 2.0.0 OK")

    def _noop(self, line: bytes) -> None:
        self._reply("250 2.0.0 OK")

    def _quit(self, line: bytes) -> None:
        self._reply("221 2.0.0 Bye")
        self._close()

    def _auth(self, line: bytes) -> None:
        arguments = line[5:].strip()
        if self._user is not None:
            self._reply("503 5.5.1 Already authenticated")
            return
        mechanism, _, initial = arguments.partition(b" ")
        mechanism = mechanism.upper()
        if mechanism == b"PLAIN":
            if initial:
                self._auth_plain(initial)
            else:
                self._mode = _Mode.AUTH_PLAIN
                self._reply("334 ")
        elif mechanism == b"LOGIN":
            if initial:
                self._login_name = _b64(initial) or ""
                self._mode = _Mode.AUTH_PASS
                self._reply("334 UGFzc3dvcmQ6")
            else:
                self._mode = _Mode.AUTH_USER
                self._reply("334 VXNlcm5hbWU6")  # "Username:"
        else:
            self._reply("504 5.5.4 Unrecognized authentication type")

    def _auth_plain(self, response: bytes) -> None:
        decoded = _b64(response)
        parts = decoded.split("\x00") if decoded is not None else []
        if len(parts) != 3:
            self._reply("501 5.5.2 Cannot decode response")
            return
        self._logged_in(parts[1], parts[2])

    def _logged_in(self, username: str, password: str | None) -> None:
        if password is not None and self._sink.login_ok(username, password):
            self._user = username
            self._reply("235 2.7.0 Authentication successful")
        else:
            self._reply("535 5.7.8 Authentication credentials invalid")

    def _mail(self, line: bytes) -> None:
        """Only a logged-in mailbox may send, and only as itself."""
        if not self._greeted:
            self._reply("503 5.5.1 Send EHLO first")
            return
        if self._user is None:
            self._reply("530 5.7.0 Authentication required")
            return
        if self._sender is not None:
            self._reply("503 5.5.1 Sender already given")
            return
        path = _PATH.match(line)
        if path is None:
            self._reply("501 5.5.4 Syntax: MAIL FROM:<address>")
            return
        sender = path.group(1).decode("utf-8", "replace")
        if sender.lower() != self._user.lower():
            self._reply("553 5.7.1 Sender address rejected: not owned by the logged-in user")
            return
        self._sender = sender
        self._reply("250 2.1.0 OK")

    def _rcpt(self, line: bytes) -> None:
        """Ask the recipient model; a refusal is answered here, as real servers do."""
        if self._sender is None:
            self._reply("503 5.5.1 Need MAIL first")
            return
        path = _PATH.match(line)
        if path is None:
            self._reply("501 5.5.4 Syntax: RCPT TO:<address>")
            return
        recipient = path.group(1).decode("utf-8", "replace")
        refusal = self._sink.rcpt(self._sender, recipient)
        if refusal is not None:
            code, text = refusal
            self._reply(f"{code} {text}")
            return
        self._recipients.append(recipient)
        self._reply("250 2.1.5 OK")

    def _reset(self) -> None:
        self._sender = None
        self._recipients = []
        self._data = bytearray()

    def _reply(self, text: str) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(text.encode("utf-8") + b"\r\n")

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()  # connection_lost follows and forgets the session


_Session._COMMANDS = {
    b"EHLO": _Session._hello,
    b"HELO": _Session._hello,
    b"AUTH": _Session._auth,
    b"MAIL": _Session._mail,
    b"RCPT": _Session._rcpt,
    b"DATA": _Session._data_command,
    b"RSET": _Session._rset,
    b"NOOP": _Session._noop,
    b"QUIT": _Session._quit,
}


def _b64(value: bytes) -> str | None:
    try:
        return base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
