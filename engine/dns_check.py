"""/dns: SPF, DKIM, DMARC and MX of every configured domain, and what is missing.

Each record is looked up on its own; a timeout or a failing server marks that one lookup as
unknown and never the whole check. Domains with something missing raise a warning alert.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.resolver
from dns.rdtypes.ANY.MX import MX
from dns.rdtypes.ANY.TXT import TXT

from engine.admin import AdminError
from engine.alerts import Severity
from engine.context import AppContext

log = logging.getLogger("outreach.dns")

TIMEOUT = 3.0  # seconds per lookup, retries included
PARALLEL = 16  # lookups in flight at once, so hundreds of domains do not flood the resolver


class Status(enum.StrEnum):
    """The outcome of one record's lookup."""

    FOUND = "found"
    MISSING = "missing"
    INVALID = "invalid"  # present but unusable (two SPF records, DMARC without p=)
    UNKNOWN = "unknown"  # the lookup failed: timeout, server failure


@dataclass(frozen=True, slots=True)
class Lookup:
    """One record: its status, the matching values, and a note (the error or the problem)."""

    status: Status
    values: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class DomainDns:
    """The mail records of one domain."""

    domain: str
    spf: Lookup
    dkim: tuple[tuple[str, Lookup], ...]  # per selector, in config order
    dmarc: Lookup
    mx: Lookup

    @property
    def dmarc_policy(self) -> str | None:
        """The DMARC record's p= value, when there is one."""
        return dmarc_tag(self.dmarc.values[0], "p") if self.dmarc.values else None

    @property
    def dkim_status(self) -> Status:
        """FOUND when any selector has a key; UNKNOWN when none has and a lookup failed."""
        statuses = [lookup.status for _, lookup in self.dkim]
        if Status.FOUND in statuses:
            return Status.FOUND
        if Status.UNKNOWN in statuses:
            return Status.UNKNOWN
        return Status.MISSING

    def problems(self) -> list[str]:
        """What is missing or unusable, like ['SPF', 'DMARC (no p= tag)']; failed lookups aren't."""
        out = []
        for name, lookup in (("SPF", self.spf), ("DMARC", self.dmarc), ("MX", self.mx)):
            if lookup.status is Status.MISSING:
                out.append(name)
            elif lookup.status is Status.INVALID:
                out.append(f"{name} ({lookup.note})")
        if self.dkim and self.dkim_status is Status.MISSING:
            selectors = ", ".join(selector for selector, _ in self.dkim)
            plural = "s" if len(self.dkim) > 1 else ""
            out.append(f"DKIM (no key under selector{plural} {selectors})")
        return out

    def unknown(self) -> list[str]:
        """Records whose lookup failed, with why."""
        lookups = [("SPF", self.spf), ("DMARC", self.dmarc), ("MX", self.mx)]
        lookups += [(f"DKIM {selector}", lookup) for selector, lookup in self.dkim]
        return [f"{name}: {lk.note}" for name, lk in lookups if lk.status is Status.UNKNOWN]


def dmarc_tag(record: str, tag: str) -> str | None:
    """The value of one tag (`p`, `rua`...) of a DMARC record."""
    for part in record.split(";"):
        key, eq, value = part.partition("=")
        if eq and key.strip().lower() == tag:
            return value.strip()
    return None


def parse_nameserver(text: str) -> tuple[str, int] | None:
    """`host[:port]` (`[v6]:port` for IPv6) -> (host, port); None for the system resolver."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:  # a bare IPv4 address, a host name, or a bare IPv6 address
        host, port = text, ""
    if not port:
        return host, 53
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"bad port in [dns].nameserver {text!r}; use HOST or HOST:PORT")
    return host, int(port)


class DnsChecker:
    """Looks up the mail records of domains through one resolver."""

    def __init__(
        self,
        resolver: dns.asyncresolver.Resolver,
        selectors: Sequence[str],
        timeout: float = TIMEOUT,
    ) -> None:
        self._resolver = resolver
        self._selectors = tuple(selectors)
        self._timeout = timeout
        self._slots = asyncio.Semaphore(PARALLEL)

    @classmethod
    async def create(
        cls, nameserver: str, selectors: Sequence[str], seconds: float = TIMEOUT
    ) -> DnsChecker:
        """A checker using `nameserver` (host[:port]), or the system's resolver when empty."""
        try:
            server = parse_nameserver(nameserver)
        except ValueError as exc:
            raise AdminError(str(exc)) from None
        if server is None:
            # Reads /etc/resolv.conf: a file read, so off the loop.
            resolver = await asyncio.to_thread(dns.asyncresolver.Resolver)
        else:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [server[0]]
            resolver.port = server[1]
        resolver.timeout = seconds
        resolver.lifetime = seconds
        return cls(resolver, selectors, seconds)

    async def check(self, domain: str) -> DomainDns:
        """Every record of one domain, looked up concurrently."""
        spf, dmarc, mx, *dkim = await asyncio.gather(
            self._txt(domain, "v=spf1"),
            self._txt(f"_dmarc.{domain}", "v=DMARC1"),
            self._mx(domain),
            *(self._txt(f"{selector}._domainkey.{domain}", None) for selector in self._selectors),
        )
        if len(spf.values) > 1:
            spf = Lookup(Status.INVALID, spf.values, f"{len(spf.values)} records, must be one")
        if len(dmarc.values) > 1:  # RFC 7489 6.6.3: several records count as none
            dmarc = Lookup(Status.INVALID, dmarc.values, f"{len(dmarc.values)} records")
        elif dmarc.status is Status.FOUND and dmarc_tag(dmarc.values[0], "p") is None:
            dmarc = Lookup(Status.INVALID, dmarc.values, "no p= tag")
        return DomainDns(domain, spf, tuple(zip(self._selectors, dkim, strict=True)), dmarc, mx)

    async def check_all(self, domains: Sequence[str]) -> list[DomainDns]:
        """Every domain, in the given order."""
        return list(await asyncio.gather(*(self.check(domain) for domain in domains)))

    async def _resolve(self, name: str, rdtype: str) -> dns.resolver.Answer | Lookup:
        """The answer, or the Lookup that says why there is none."""
        async with self._slots:
            try:
                return await self._resolver.resolve(
                    name, rdtype, search=False, lifetime=self._timeout
                )
            except dns.resolver.NXDOMAIN:
                return Lookup(Status.MISSING, note="no such name")
            except dns.resolver.NoAnswer:
                return Lookup(Status.MISSING, note=f"no {rdtype} record")
            except dns.exception.Timeout:
                return Lookup(Status.UNKNOWN, note="timed out")
            except dns.resolver.NoNameservers:
                return Lookup(Status.UNKNOWN, note="no server answered (SERVFAIL or refused)")
            except (dns.exception.DNSException, OSError) as exc:
                log.warning("DNS lookup %s %s failed: %s", name, rdtype, exc)
                return Lookup(Status.UNKNOWN, note=f"lookup failed ({type(exc).__name__})")

    async def _txt(self, name: str, prefix: str | None) -> Lookup:
        """TXT records at `name`, those starting with `prefix` (any case) when given."""
        answer = await self._resolve(name, "TXT")
        if isinstance(answer, Lookup):
            return answer
        texts = [
            b"".join(rdata.strings).decode("utf-8", "replace")
            for rdata in answer
            if isinstance(rdata, TXT)
        ]
        if prefix is not None:
            folded = prefix.lower()
            texts = [text for text in texts if text.strip().lower().startswith(folded)]
        if not texts:
            return Lookup(Status.MISSING, note=f"no {prefix or 'TXT'} record")
        return Lookup(Status.FOUND, tuple(texts))

    async def _mx(self, domain: str) -> Lookup:
        answer = await self._resolve(domain, "MX")
        if isinstance(answer, Lookup):
            return answer
        records = sorted(
            (rdata.preference, rdata.exchange.to_text(omit_final_dot=True))
            for rdata in answer
            if isinstance(rdata, MX)
        )
        # RFC 7505 null MX (exchange "."): the domain says it takes no mail, so replies bounce.
        hosts = [(pref, host) for pref, host in records if host != "."]
        if not hosts:
            return Lookup(Status.MISSING, note="null MX: the domain takes no mail")
        return Lookup(Status.FOUND, tuple(f"{pref} {host}" for pref, host in hosts))


def alert_text(result: DomainDns) -> str:
    """The warning raised for a domain with missing records."""
    return (
        f"DNS of {result.domain}: missing {', '.join(result.problems())}. "
        "Mail from it is more likely to land in spam; run /dns for details."
    )


async def check_dns(ctx: AppContext, checker: DnsChecker | None = None) -> list[DomainDns]:
    """Check every configured domain; raise a warning alert per domain missing something."""
    if checker is None:
        rules = ctx.rules.dns
        checker = await DnsChecker.create(rules.nameserver, rules.dkim_selectors)
    results = await checker.check_all([domain.name for domain in ctx.rules.domains])
    for result in results:
        if result.problems():
            await ctx.alerts.raise_alert(
                "dns_missing", result.domain, Severity.WARNING, alert_text(result)
            )
    return results
