"""What to add to a domain's DNS: the exact SPF and DMARC records, and hints for the rest.

Pure: the caller says what the lookups found (`DomainFacts`); `advise` says which TXT records
to add and what else to do. Only a record we can write exactly is offered to `/dns fix`: an SPF
record when every SMTP host of the domain belongs to a provider we know, and a DMARC starter.
SPF includes are each provider's documented value (tests/fixtures/cloudflare/README.md).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

P_NONE_GRACE = timedelta(days=30)  # sending this long with DMARC p=none earns a warning
DMARC_STARTER = "v=DMARC1; p=none; rua=mailto:postmaster@{domain}"


class Presence(enum.StrEnum):
    """What a lookup found for one record."""

    FOUND = "found"
    MISSING = "missing"
    INVALID = "invalid"
    UNKNOWN = "unknown"  # the lookup failed: nothing is offered for it


@dataclass(frozen=True, slots=True)
class Provider:
    """A mail provider: its name and the SPF include it documents."""

    name: str
    include: str


GOOGLE = Provider("Google Workspace", "_spf.google.com")
MICROSOFT = Provider("Microsoft 365", "spf.protection.outlook.com")
MAILGUN = Provider("Mailgun", "mailgun.org")
SES = Provider("Amazon SES", "amazonses.com")
SENDGRID = Provider("SendGrid", "sendgrid.net")
POSTMARK = Provider("Postmark", "spf.mtasv.net")

# SMTP submission hosts -> provider, matched on the whole (lower-case) host name.
_HOSTS: tuple[tuple[re.Pattern[str], Provider], ...] = (
    (re.compile(r"smtp(-relay)?\.gmail\.com|smtp\.googlemail\.com"), GOOGLE),
    (re.compile(r"smtp\.office365\.com|smtp-mail\.outlook\.com"), MICROSOFT),
    (re.compile(r"[a-z0-9-]+\.mail\.protection\.outlook\.com"), MICROSOFT),
    # mailgun.org's own SPF includes the EU region's ranges: one include serves both.
    (re.compile(r"smtp(\.eu)?\.mailgun\.org"), MAILGUN),
    (re.compile(r"email-smtp(-fips)?\.[a-z0-9-]+\.amazonaws\.com"), SES),
    (re.compile(r"smtp\.sendgrid\.net"), SENDGRID),
    (re.compile(r"smtp(-broadcasts)?\.postmarkapp\.com"), POSTMARK),
)
# [[esp]] kinds -> provider: a domain sending through an ESP authorises it too.
ESP_PROVIDERS = {"mailgun": MAILGUN, "ses": SES, "sendgrid": SENDGRID, "postmark": POSTMARK}


def provider_of_host(host: str) -> Provider | None:
    """The provider behind an SMTP host, when it is one we know."""
    name = host.strip().lower().rstrip(".")
    for pattern, provider in _HOSTS:
        if pattern.fullmatch(name):
            return provider
    return None


@dataclass(frozen=True, slots=True)
class TxtRecord:
    """A TXT record to add for a domain: its full name and its content."""

    domain: str
    name: str
    content: str


@dataclass(frozen=True, slots=True)
class DomainFacts:
    """What the lookups found for one domain, and how it sends."""

    domain: str
    spf: Presence
    spf_values: tuple[str, ...]
    dmarc: Presence
    dmarc_policy: str | None
    dkim: Presence  # FOUND when any looked-up selector has a key
    selectors: tuple[str, ...]  # the selectors looked up
    mx: Presence
    smtp_hosts: tuple[str, ...]  # of its mailboxes, in config order
    esp_kind: str | None = None  # of the [[esp]] its [[domains]] table names
    long_sending: bool = False  # it has sent mail for more than P_NONE_GRACE


@dataclass(frozen=True, slots=True)
class Advice:
    """For one domain: the records `/dns fix` may add, and what the admin should do."""

    domain: str
    spf: TxtRecord | None = None
    dmarc: TxtRecord | None = None
    hints: tuple[str, ...] = ()

    @property
    def records(self) -> tuple[TxtRecord, ...]:
        """The records to add, SPF first."""
        return tuple(r for r in (self.spf, self.dmarc) if r is not None)


def providers_of(facts: DomainFacts) -> tuple[list[Provider], list[str]]:
    """The known providers a domain sends through (no repeats), and its unknown SMTP hosts."""
    known: list[Provider] = []
    unknown: list[str] = []
    for host in facts.smtp_hosts:
        provider = provider_of_host(host)
        if provider is None:
            if host not in unknown:
                unknown.append(host)
        elif provider not in known:
            known.append(provider)
    esp = ESP_PROVIDERS.get(facts.esp_kind or "")
    if esp is not None and esp not in known:
        known.append(esp)
    return known, unknown


def spf_record(providers: Sequence[Provider]) -> str:
    """An SPF record authorising `providers`; soft fail (~all) for the rest while starting."""
    includes = " ".join(f"include:{p.include}" for p in providers)
    return f"v=spf1 {includes} ~all"


def _spf(facts: DomainFacts, known: list[Provider], unknown: list[str]) -> TxtRecord | str | None:
    """The SPF record to add, or a hint, or None when SPF needs nothing."""
    domain = facts.domain
    if facts.spf is Presence.MISSING:
        if known and not unknown:
            return TxtRecord(domain, domain, spf_record(known))
        if unknown:
            start = " ".join(f"include:{p.include}" for p in known)
            start = f" with {start}" if start else ""
            return (
                f"SPF: add one TXT record at {domain} starting v=spf1{start}, plus what the "
                f"provider of {', '.join(unknown)} documents for SPF, ending ~all"
            )
        return None
    if facts.spf is Presence.INVALID:
        return f"SPF: merge the {len(facts.spf_values)} v=spf1 records into one"
    if facts.spf is Presence.FOUND and facts.spf_values:
        record = facts.spf_values[0].lower()
        lacking = [p for p in known if f"include:{p.include}" not in record]
        if lacking:
            wanted = " ".join(f"include:{p.include}" for p in lacking)
            names = ", ".join(p.name for p in lacking)
            return f"SPF: add {wanted} to the existing record ({names} sends for it)"
    return None


def _dmarc(facts: DomainFacts) -> TxtRecord | str | None:
    """The DMARC starter to add, or a hint, or None."""
    domain = facts.domain
    if facts.dmarc is Presence.MISSING:
        return TxtRecord(domain, f"_dmarc.{domain}", DMARC_STARTER.format(domain=domain))
    if facts.dmarc is Presence.INVALID:
        return f"DMARC: keep one v=DMARC1 record at _dmarc.{domain}, with a p= tag"
    policy = (facts.dmarc_policy or "").lower()
    if facts.dmarc is Presence.FOUND and policy == "none" and facts.long_sending:
        return (
            f"DMARC: still p=none after more than {P_NONE_GRACE.days} days of sending; once "
            "the rua reports show only your own senders, move to p=quarantine"
        )
    return None


def _others(facts: DomainFacts, known: list[Provider]) -> list[str]:
    """Hints for DKIM and MX, which /dns fix never writes."""
    domain = facts.domain
    hints: list[str] = []
    if facts.dkim is Presence.MISSING and facts.selectors:
        selector = "google" if GOOGLE in known and "google" in facts.selectors else "<selector>"
        hints.append(
            f"DKIM: publish the public key your provider gives you as TXT at "
            f"{selector}._domainkey.{domain} (looked up: {', '.join(facts.selectors)}; "
            "another selector goes into [dns].dkim_selectors)"
        )
    if facts.mx is Presence.MISSING:
        where = (
            f"MX {domain} 1 smtp.google.com"
            if GOOGLE in known
            else f"the MX records of the service receiving {domain}'s mail"
        )
        hints.append(f"MX: add {where} (replies and bounces go there)")
    return hints


def advise(facts: DomainFacts) -> Advice:
    """The records to add and the hints for one domain."""
    known, unknown = providers_of(facts)
    spf = _spf(facts, known, unknown)
    dmarc = _dmarc(facts)
    hints = [item for item in (spf, dmarc) if isinstance(item, str)]
    hints += _others(facts, known)
    return Advice(
        facts.domain,
        spf if isinstance(spf, TxtRecord) else None,
        dmarc if isinstance(dmarc, TxtRecord) else None,
        tuple(hints),
    )
