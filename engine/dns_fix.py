"""/dns advice and `/dns fix`: the records each domain lacks, and adding them through Cloudflare.

The plan comes from a fresh check: only SPF and DMARC records the lookups found missing and
core.dns_advice can write exactly. Applying it never touches an existing record: each name's
TXT records are read from Cloudflare first, and a record of the same kind there is left as it
is. Then the domains are checked again, so the reply shows what DNS serves now.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from core.dns_advice import P_NONE_GRACE, Advice, DomainFacts, Presence, TxtRecord, advise
from core.errors import ConflictError, LoginRefused, PeerUnavailable
from engine.context import AppContext
from engine.dns_check import DnsChecker, DomainDns, Status, check_dns
from engine.ports import DnsHost

log = logging.getLogger("outreach.dns")

_SINCE = datetime(2000, 1, 1, tzinfo=UTC)  # before any send this product made


@dataclass(frozen=True, slots=True)
class DomainReport:
    """One domain's lookups and what to do about them."""

    result: DomainDns
    advice: Advice


@dataclass(slots=True)
class FixOutcome:
    """What `/dns fix` did, record by record, and the domains checked afterwards."""

    created: list[TxtRecord] = field(default_factory=list)
    kept: list[tuple[TxtRecord, str]] = field(default_factory=list)  # the record already there
    failed: list[tuple[TxtRecord, str]] = field(default_factory=list)  # and why
    refused: str | None = None  # the token was refused: nothing was changed after that
    after: list[DomainReport] = field(default_factory=list)


def _presence(status: Status) -> Presence:
    return Presence(status.value)


async def _long_sending(ctx: AppContext) -> set[str]:
    """Domains whose mailboxes sent mail more than P_NONE_GRACE ago."""
    cutoff = ctx.clock.now() - P_NONE_GRACE
    rates = await ctx.reports.mailbox_rates(_SINCE, cutoff)
    senders = {mailbox_id for mailbox_id, counts in rates.items() if counts.sends > 0}
    if not senders:
        return set()
    return {row.domain for row in await ctx.reports.mailboxes() if row.id in senders}


def facts_of(ctx: AppContext, result: DomainDns, long_sending: bool) -> DomainFacts:
    """The core's view of one domain's lookups and of how it sends."""
    rules = ctx.rules
    hosts = tuple(m.smtp.host for m in rules.mailboxes if m.domain == result.domain)
    esp_name = next((d.esp for d in rules.domains if d.name == result.domain), None)
    esp_kind = next((e.kind for e in rules.esps if e.name == esp_name), None)
    return DomainFacts(
        domain=result.domain,
        spf=_presence(result.spf.status),
        spf_values=result.spf.values,
        dmarc=_presence(result.dmarc.status),
        dmarc_policy=result.dmarc_policy,
        dkim=_presence(result.dkim_status) if result.dkim else Presence.UNKNOWN,
        selectors=tuple(selector for selector, _ in result.dkim),
        mx=_presence(result.mx.status),
        smtp_hosts=hosts,
        esp_kind=esp_kind,
        long_sending=long_sending,
    )


async def dns_report(ctx: AppContext, checker: DnsChecker | None = None) -> list[DomainReport]:
    """Check every domain (raising alerts as check_dns does) and advise on each."""
    results = await check_dns(ctx, checker)
    long_sending = await _long_sending(ctx) if results else set()
    return [
        DomainReport(result, advise(facts_of(ctx, result, result.domain in long_sending)))
        for result in results
    ]


def plan(reports: Sequence[DomainReport]) -> list[TxtRecord]:
    """The records `/dns fix` would add: SPF and DMARC found missing, written exactly."""
    return [record for report in reports for record in report.advice.records]


def _kind(content: str) -> str:
    """`v=spf1` or `v=dmarc1`: the tag a record of the same kind starts with."""
    head = content.partition(";")[0].split(maxsplit=1)
    return head[0].lower() if head else ""


def zone_candidates(domain: str) -> list[str]:
    """`mail.brand.com` -> [mail.brand.com, brand.com]: a sending subdomain's zone is above it."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)] or [domain]


async def _zone(host: DnsHost, domain: str, zones: dict[str, str | None]) -> str | None:
    if domain not in zones:
        zones[domain] = None
        for candidate in zone_candidates(domain):
            zone = await host.zone_id(candidate)
            if zone is not None:
                zones[domain] = zone
                break
    return zones[domain]


async def _add(host: DnsHost, record: TxtRecord, zones: dict[str, str | None]) -> str | None:
    """Add one record unless one of its kind is there; the existing one's content, or None."""
    zone = await _zone(host, record.domain, zones)
    if zone is None:
        raise ConflictError(f"no Cloudflare zone holds {record.domain} for this token")
    kind = _kind(record.content)
    for existing in await host.txt_records(zone, record.name):
        if _kind(existing) == kind:
            return existing
    await host.create_txt(zone, record.name, record.content)
    return None


async def apply_fix(
    ctx: AppContext, records: Sequence[TxtRecord], checker: DnsChecker | None = None
) -> FixOutcome:
    """Add the confirmed records that are still missing, then check every domain again."""
    outcome = FixOutcome()
    if ctx.dns_host is None:
        outcome.refused = "no [dns].cloudflare_token is configured"
        return outcome
    zones: dict[str, str | None] = {}
    async with ctx.dns_host() as host:
        for record in records:
            try:
                existing = await _add(host, record, zones)
            except LoginRefused as exc:
                outcome.refused = str(exc)
                break
            except (ConflictError, PeerUnavailable) as exc:
                outcome.failed.append((record, str(exc)))
                continue
            if existing is None:
                log.info("DNS: added TXT %s through Cloudflare", record.name)
                outcome.created.append(record)
            else:
                outcome.kept.append((record, existing))
    outcome.after = await dns_report(ctx, checker)
    return outcome
