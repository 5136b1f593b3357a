"""Once a day at `digest_hour` (a cron job): the DNS check and the digest of yesterday (SPEC 11).

Both go through the alert outbox, so a headless service logs them. The digest's key is the
day it covers: a restart (or a second run the same day) finds it raised and sends nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta

from core import limits
from core.digest import DigestNumbers, Held, digest_text, in_digest_hour
from core.models import CampaignState, DomainState, MailboxState
from core.specs import Rules
from engine.admin import AdminError
from engine.alerts import AlertOutbox, Severity
from engine.clock import Clock
from engine.dns_check import DnsChecker, DomainDns
from engine.ports import ReportQueries
from engine.status import gather_status

log = logging.getLogger("outreach.daily")

DIGEST_KIND = "digest"
DNS_KIND = "dns_record"
# Longer than a day, so the digest of one day is raised once whatever restarts happen.
DIGEST_QUIET = timedelta(days=2)
# A little under a day: the next day's check warns again about a record still broken,
# even when that run starts a few minutes earlier than this one did.
DNS_QUIET = timedelta(hours=20)

MakeChecker = Callable[[], Awaitable[DnsChecker]]


def record_name(problem: str) -> str:
    """The record a DomainDns problem is about: 'DMARC (no p= tag)' -> 'DMARC'."""
    return problem.split(" ", 1)[0]


def dns_alert_text(domain: str, problem: str) -> str:
    """The warning about one missing or broken record of a domain."""
    return (
        f"DNS of {domain}: {problem} missing or broken (daily check). "
        "Mail from it is more likely to land in spam; run /dns for details."
    )


class DailyReport:
    """The daily DNS check and digest, raised through the alert outbox."""

    def __init__(
        self,
        reports: ReportQueries,
        alerts: AlertOutbox,
        clock: Clock,
        rules: Rules,
        checker: MakeChecker | None = None,
    ) -> None:
        self._reports = reports
        self._alerts = alerts
        self._clock = clock
        self._rules = rules
        self._checker = checker or self._configured_checker

    async def _configured_checker(self) -> DnsChecker:
        dns = self._rules.dns
        return await DnsChecker.create(dns.nameserver, dns.dkim_selectors)

    async def run(self) -> bool:
        """The DNS check, then the digest of yesterday; False when that digest was raised."""
        results = await self.check_dns()
        return await self.digest(results)

    async def catch_up(self) -> bool:
        """At a start within digest_hour's hour: the run the cron job missed; True if it ran.

        A restart at 09:20 still gets the 09:00 digest; a start at any other hour, or one
        after today's digest was raised, runs nothing (and checks no DNS).
        """
        now = self._clock.now()
        tz = self._rules.timezone
        if not in_digest_hour(now, tz, self._rules.digest_hour):
            return False
        day = yesterday(now, tz)
        if await self._reports.alert_raised(f"{DIGEST_KIND}:{day.isoformat()}"):
            log.info("started within digest_hour: the digest of %s was raised already", day)
            return False
        log.info("started within digest_hour: the DNS check and the digest of %s now", day)
        await self.run()
        return True

    async def check_dns(self) -> list[DomainDns] | None:
        """Check every domain; a warning per missing or broken record; None when it can't run."""
        domains = [domain.name for domain in self._rules.domains]
        try:
            checker = await self._checker()
        except AdminError as exc:  # a bad [dns].nameserver: the digest says it was not checked
            log.warning("daily DNS check not run: %s", exc)
            return None
        results = await checker.check_all(domains)
        for result in results:
            for problem in result.problems():
                await self._alerts.raise_alert(
                    DNS_KIND,
                    f"{result.domain}:{record_name(problem)}",
                    Severity.WARNING,
                    dns_alert_text(result.domain, problem),
                    quiet=DNS_QUIET,
                )
        return results

    async def digest(self, dns: Sequence[DomainDns] | None) -> bool:
        """Raise the digest of yesterday (local); False when it was raised already."""
        numbers = await self.gather(dns)
        return await self._alerts.raise_alert(
            DIGEST_KIND,
            numbers.day.isoformat(),
            Severity.INFO,
            digest_text(numbers),
            quiet=DIGEST_QUIET,
        )

    async def gather(self, dns: Sequence[DomainDns] | None) -> DigestNumbers:
        """Yesterday's numbers in the sending timezone, today's capacity, what is held."""
        tz = self._rules.timezone
        now = self._clock.now()
        day = yesterday(now, tz)
        start, end = limits.day_bounds(day, tz)
        key = day.isoformat()
        repo = self._reports
        sent = await repo.sent_per_day([(key, start, end)])
        events = await repo.events_per_day([(key, start, end)], ("bounce_hard", "complaint"))
        status = await gather_status(repo, self._clock, self._rules)
        return DigestNumbers(
            day=day,
            timezone=tz,
            sent=sent.get(key, 0),
            bounces=events.get((key, "bounce_hard"), 0),
            complaints=events.get((key, "complaint"), 0),
            replies=await repo.replies_by_label(start, end),
            capacity=status.capacity.total,
            target=status.capacity.target,
            unknown_sends=await repo.unknown_sends(key),
            held=await self._held(now),
            dns_problems=tuple(
                f"{result.domain}: {', '.join(result.problems())}"
                for result in dns or ()
                if result.problems()
            ),
            dns_checked=dns is not None,
        )

    async def _held(self, now: datetime) -> tuple[Held, ...]:
        """Domains, mailboxes and campaigns that do not send, domains first."""
        held = [
            Held("domain", d.name, d.state.value, d.cooldown_until, d.reason)
            for d in await self._reports.domains()
            if d.state in (DomainState.PAUSED, DomainState.COOLDOWN)
        ]
        cooling = {item.name for item in held if item.state == DomainState.COOLDOWN.value}
        for m in await self._reports.mailboxes():
            if m.state is MailboxState.COOLDOWN and m.domain in cooling:
                continue  # its domain's line says it, with the end date
            if m.state in (MailboxState.PAUSED, MailboxState.COOLDOWN):
                held.append(Held("mailbox", m.address, m.state.value, None, m.reason))
            elif m.state is not MailboxState.DISABLED and _after(m.resting_until, now):
                held.append(Held("mailbox", m.address, "resting", m.resting_until, m.reason))
        held += [
            Held("campaign", c.name, c.state.value, None, c.reason)
            for c in await self._reports.campaigns()
            if c.state in (CampaignState.PAUSED, CampaignState.STOPPED)
        ]
        return tuple(held)


def _after(moment: datetime | None, now: datetime) -> bool:
    return moment is not None and moment > now


def yesterday(now: datetime, tz: str) -> date:
    """The local day before `now`'s."""
    return limits.local_day(now, tz) - timedelta(days=1)
