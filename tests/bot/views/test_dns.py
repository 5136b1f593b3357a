"""bot/views/dns.py: each domain's records and what is missing."""

from __future__ import annotations

from bot.views.dns import dns_lines
from engine.dns_check import DomainDns, Lookup, Status


def test_dns_lines() -> None:
    found = Lookup(Status.FOUND, ("v=spf1 -all",))
    result = DomainDns(
        "d0.test",
        spf=found,
        dkim=(("s1", Lookup(Status.MISSING, note="no such name")),),
        dmarc=Lookup(Status.FOUND, ("v=DMARC1; p=none",)),
        mx=Lookup(Status.UNKNOWN, note="timed out"),
    )
    assert dns_lines([result]) == [
        "d0.test: missing DKIM (no key under selector s1)",
        "  SPF: ok - v=spf1 -all",
        "  DKIM s1: MISSING - no such name",
        "  DMARC: ok - p=none",
        "  MX: ? - timed out",
        "  could not check: MX: timed out",
    ]
    assert "No domain is configured" in dns_lines([])[0]
