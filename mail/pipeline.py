"""RFC 2920 pipelining: several SMTP commands in one write, their replies read back in order."""

from __future__ import annotations

import asyncio

import aiosmtplib
from aiosmtplib import SMTPResponse

_MAX_REPLY = 32 * 1024  # a reply group longer than this is not SMTP


class _Replies(asyncio.Protocol):
    """Stands in for aiosmtplib's protocol while one group of replies comes in."""

    def __init__(self, inner: asyncio.BaseProtocol, wanted: int) -> None:
        self._inner = inner
        self._wanted = wanted
        self._buffer = bytearray()
        self.replies: list[SMTPResponse] = []
        self.error: BaseException | None = None
        self.done = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self._buffer.extend(data)
        try:
            while len(self.replies) < self._wanted:
                reply = _take_reply(self._buffer)
                if reply is None:
                    break
                self.replies.append(reply)
        except aiosmtplib.SMTPResponseException as exc:
            self._finish(exc)
            return
        if len(self._buffer) > _MAX_REPLY:
            self._finish(aiosmtplib.SMTPResponseException(-1, "Response too long"))
        elif len(self.replies) >= self._wanted:
            self._finish(None)

    def eof_received(self) -> bool:
        self._finish(aiosmtplib.SMTPServerDisconnected("Unexpected EOF received"))
        return False  # the transport closes, and connection_lost tells aiosmtplib

    def connection_lost(self, exc: Exception | None) -> None:
        lost = aiosmtplib.SMTPServerDisconnected("Connection lost")
        lost.__cause__ = exc
        self._finish(lost)
        self._inner.connection_lost(exc)  # so the SMTP object knows it is disconnected

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def time_out(self) -> None:
        """The server did not answer in time: stop waiting with what came."""
        self._finish(aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"))

    def _finish(self, error: BaseException | None) -> None:
        if not self.done.done():
            self.error = error
            self.done.set_result(None)


def _take_reply(buffer: bytearray) -> SMTPResponse | None:
    """Remove and return the first complete (possibly multi-line) reply, else None."""
    lines: list[bytes] = []
    offset = 0
    while True:
        end = buffer.find(b"\n", offset)
        if end < 0:
            return None
        line = bytes(buffer[offset : end + 1])
        offset = end + 1
        code = line[:3]
        if not code.isdigit():
            text = line.decode("utf-8", "replace").strip()
            raise aiosmtplib.SMTPResponseException(-1, f"Malformed SMTP response line: {text}")
        lines.append(line[4:].strip(b" \t\r\n"))
        if line[3:4] != b"-":
            del buffer[:offset]
            return SMTPResponse(int(code), b"\n".join(lines).decode("utf-8", "surrogateescape"))


async def exchange(
    smtp: aiosmtplib.SMTP, commands: bytes, count: int, *, seconds: float
) -> tuple[list[SMTPResponse], BaseException | None]:
    """Write `commands` at once and read `count` replies, waiting `seconds` at most.

    Returns the replies that came and, if fewer came, why (a timeout or a lost connection).
    aiosmtplib reads one reply per command it sent itself and would drop the others, so for
    this one exchange a reader of our own takes the connection over, then hands it back.
    """
    protocol = smtp.protocol
    transport = protocol.transport if protocol is not None else None
    if protocol is None or transport is None or transport.is_closing():
        return [], aiosmtplib.SMTPServerDisconnected("Connection lost")
    reader = _Replies(protocol, count)
    transport.set_protocol(reader)
    # A plain timer rather than asyncio.wait_for: this runs twice per mail, and wait_for's
    # extra future and callbacks were a measurable share of a send.
    timer = asyncio.get_running_loop().call_later(seconds, reader.time_out)
    try:
        protocol.write(commands)
        await reader.done
    finally:
        timer.cancel()
        if not transport.is_closing():
            transport.set_protocol(protocol)
    return reader.replies, reader.error
