"""A tiny authoritative DNS server on 127.0.0.1 (UDP, dnspython) answering from a dict.

    records = {("brand.com", "TXT"): ["v=spf1 include:mailgun.org -all"],
               ("brand.com", "MX"): ["10 mxa.mailgun.org."]}
    async with FakeDnsServer(records) as server:
        resolver points at server.address ("127.0.0.1:PORT")

A name with no records at all is NXDOMAIN; a known name without the asked type is an empty
NOERROR answer (NoAnswer). Names in `silent` are never answered (the client times out);
names in `servfail` get SERVFAIL. TXT values are plain strings, split into 255-byte chunks
the way long DKIM keys are published.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from types import TracebackType

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

Records = Mapping[tuple[str, str], Iterable[str]]


def _txt(value: str) -> str:
    """A TXT value in zone-file form: quoted 255-byte chunks."""
    data = value.encode()
    chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
    return " ".join(
        '"' + chunk.decode().replace("\\", "\\\\").replace('"', '\\"') + '"' for chunk in chunks
    )


class FakeDnsServer(asyncio.DatagramProtocol):
    """Answers A/TXT/MX/... queries for the names in `records`; records every question."""

    def __init__(
        self,
        records: Records | None = None,
        *,
        silent: Iterable[str] = (),
        servfail: Iterable[str] = (),
    ) -> None:
        self.records = {
            (name.lower().rstrip("."), rdtype.upper()): list(values)
            for (name, rdtype), values in (records or {}).items()
        }
        self.silent = {name.lower().rstrip(".") for name in silent}
        self.servfail = {name.lower().rstrip(".") for name in servfail}
        self.questions: list[tuple[str, str]] = []
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def address(self) -> str:
        """`host:port` for [dns].nameserver."""
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> FakeDnsServer:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0)
        )
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._transport is not None:
            self._transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        """Answer one query."""
        reply = self.answer(data)
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)

    def answer(self, data: bytes) -> bytes | None:
        """The wire reply to one wire query, or None to stay silent."""
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text().lower().rstrip(".")
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.questions.append((name, rdtype))
        if name in self.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif (name, rdtype) in self.records:
            values = self.records[(name, rdtype)]
            texts = [_txt(v) if rdtype == "TXT" else v for v in values]
            response.answer.append(
                dns.rrset.from_text_list(question.name, 300, "IN", rdtype, texts)
            )
        elif not any(known == name for known, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        wire: bytes = response.to_wire()
        return wire
