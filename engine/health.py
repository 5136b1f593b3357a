"""Health automation (SPEC 9): cool-downs on blocks, pauses and warnings from window rates."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from core import health, limits, warmup
from core.models import MailboxState, RateCounts
from core.records import CoolDown, Effects, MailboxHealth, NewAlert
from core.specs import Rules
from engine.alerts import AlertOutbox, Severity
from engine.clock import Clock
from engine.ports import EffectStore, HealthStore

log = logging.getLogger("outreach.health")

ONE_DAY = timedelta(days=1)


class HealthService:
    """Applies the core's verdicts to the stored state and raises the alerts that go with them."""

    def __init__(
        self,
        store: HealthStore,
        effects: EffectStore,
        clock: Clock,
        rules: Rules,
        alerts: AlertOutbox,
    ) -> None:
        self._store = store
        self._effects = effects
        self._clock = clock
        self._rules = rules
        self._policy = rules.health
        self._alerts = alerts

    def _today(self) -> date:
        return limits.local_day(self._clock.now(), self._rules.timezone)

    def cool_down_of(self, domain: str, mailbox: str, why: str) -> CoolDown:
        """A spam block on `mailbox`: its whole domain rests for `cooldown_days` (SPEC 9)."""
        verdict = health.block_verdict(domain, mailbox, self._clock.now(), self._policy)
        assert verdict.until is not None
        return CoolDown(
            domain,
            f"{verdict.reason}: {why}",
            verdict.until,
            self._alerts.draft(
                "cooldown",
                domain,
                Severity.CRITICAL,
                f"Domain {domain} is cooling down until {verdict.until:%Y-%m-%d} "
                f"({self._policy.cooldown_days} days): {verdict.reason} ({why}). Its mailboxes "
                "then restart warm-up at phase 2.",
            ),
        )

    async def cool_down(self, domain: str, mailbox: str, why: str) -> None:
        """cool_down_of() applied: the domain, its mailboxes and the alert in one commit."""
        await self._effects.apply(Effects(cool_down=self.cool_down_of(domain, mailbox, why)))

    async def maintain(self) -> None:
        """Day-level upkeep: end cool-downs, promote warm mailboxes to active."""
        today = self._today()
        policy = self._rules.warmup

        def back(domain: str) -> Callable[[int], NewAlert]:
            return lambda count: self._alerts.draft(
                "cooldown_over",
                domain,
                Severity.INFO,
                f"Domain {domain} is back from cool-down; {count} mailbox(es) restart warm-up "
                "at phase 2.",
            )

        for domain, _until in await self._store.cooldowns_over(self._clock.now()):
            restart = warmup.phase2_restart(policy, today)
            await self._store.end_cooldown(domain, restart, back(domain))
        for mailbox_id, address, daily_limit, start in await self._store.warming_mailboxes():
            if start is None:
                continue
            day = warmup.warmup_day(date.fromisoformat(start), today)
            if warmup.is_warm(policy, day, daily_limit):
                await self._store.set_mailbox_state(mailbox_id, MailboxState.ACTIVE, "warmed up")
                log.info("%s finished warm-up on day %d", address, day)

    async def evaluate(self) -> None:
        """Rates over the window -> pauses and alerts for mailboxes and domains."""
        rows = await self._store.window_counts(self.window_start(), self._clock.now())
        for effects in self.verdicts(rows):
            await self._effects.apply(effects)

    def window_start(self) -> datetime:
        """Where today's health window starts (SPEC 9 `window_days`)."""
        tz = self._rules.timezone
        start, _ = limits.day_bounds(health.window_start(self._today(), self._policy), tz)
        return start

    def verdicts(self, rows: Sequence[MailboxHealth]) -> list[Effects]:
        """What the window's counts call for: pauses with their alerts, and warnings."""
        today = self._today()
        out: list[Effects] = []
        per_domain: dict[str, list[RateCounts]] = defaultdict(list)
        for row in rows:
            per_domain[row.domain].append(row.counts)
            culprit = (
                health.Culprit(row.complaint_campaign, row.complaint_step or 0)
                if row.complaint_campaign
                else None
            )
            if row.state not in (MailboxState.ACTIVE, MailboxState.WARMING):
                continue  # already stopped: neither pause again nor warn
            for verdict in health.mailbox_verdicts(row.address, row.counts, self._policy, culprit):
                if verdict.action is health.Action.PAUSE:
                    alert = self._alerts.draft(
                        "mailbox_paused",
                        row.address,
                        Severity.CRITICAL,
                        f"Mailbox {row.address} paused: {verdict.reason}. /resume when fixed.",
                    )
                    out.append(
                        Effects(pause_mailbox=(row.mailbox_id, verdict.reason), alerts=(alert,))
                    )
                else:
                    # Once a day per mailbox (SPEC 9): the key carries the day, quiet a day.
                    warning = self._alerts.draft(
                        "bounce_warn",
                        f"{row.address}:{today.isoformat()}",
                        Severity.WARNING,
                        f"Mailbox {row.address}: {verdict.reason}.",
                        quiet=ONE_DAY,
                    )
                    out.append(Effects(alerts=(warning,)))
        for domain, counts in per_domain.items():
            for verdict in health.domain_verdicts(domain, health.total(counts), self._policy):
                warning = self._alerts.draft(
                    "domain_complaints",
                    f"{domain}:{today.isoformat()}",
                    Severity.WARNING,
                    f"Domain {domain}: {verdict.reason}.",
                    quiet=ONE_DAY,
                )
                out.append(Effects(alerts=(warning,)))
        return out
