"""`main.py check`: a valid config seen as the core sees it, the summary printed for it, and
the table of `check --connect`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from config import CampaignConfig, OutreachConfig
from core.capacity import Capacity
from core.connect import LoginCheck, Verdict, failed
from core.models import WEEKDAYS, MailboxState
from core.ramp import configured_pool, pool_capacity
from core.warmup import phase

MAX_LISTED = 20  # warming mailboxes listed one by one; the rest are counted


def config_capacity(config: OutreachConfig, today: date) -> Capacity:
    """Today's capacity of the configured pool, every mailbox and domain as configured."""
    rules = config.rules()
    pool = configured_pool(rules.mailboxes, rules.domains)
    return pool_capacity(pool, today, rules.warmup, rules.daily_target)


def summary_lines(config: OutreachConfig, today: date, source: str) -> list[str]:
    """What `check` prints for a valid config: domains, mailboxes, campaigns, capacity."""
    capacity = config_capacity(config, today)
    lines = [f"{source}: OK (as of {today.isoformat()}, {config.sending.timezone})", ""]
    lines += _domain_lines(config, capacity)
    lines += _mailbox_lines(config, capacity)
    lines.append(f"Campaigns: {len(config.campaigns)}")
    lines += [f"  {_campaign_line(campaign)}" for campaign in config.campaigns]
    lines.append(f"Seeds: {len(config.seeds)}    ESPs: {len(config.esp)}")
    lines += [f"  {line}" for line in _esp_lines(config)]
    lines.append(_warmup_line(config))
    if config.unsubscribe is not None:
        unsubscribe = config.unsubscribe
        lines.append(f"Unsubscribe: {unsubscribe.base_url} (served on {unsubscribe.listen})")
    else:
        lines.append("Unsubscribe: mailto only (no [unsubscribe] table)")
    lines.append("")
    lines.append(f"Capacity today: {capacity.total} of daily target {capacity.target}")
    if capacity.shortfall:
        lines.append(
            f"WARNING: capacity {capacity.total} is below the daily target {capacity.target} "
            f"(short by {capacity.shortfall})"
        )
    if not config.sending.postal_address.strip():
        lines.append("WARNING: [sending].postal_address is empty; the footer needs one (CAN-SPAM)")
    return lines


def _domain_lines(config: OutreachConfig, capacity: Capacity) -> list[str]:
    esp = {domain.name: domain.esp for domain in config.domains}
    width = max((len(d.name) for d in capacity.domains), default=0)
    lines = [f"Domains: {len(capacity.domains)}"]
    for domain in capacity.domains:
        cap = f"cap {domain.daily_limit}" if domain.daily_limit is not None else "no cap"
        via = f"  esp {esp[domain.name]}" if esp.get(domain.name) else ""
        lines.append(
            f"  {domain.name:<{width}}  {cap:<8}  {domain.mailboxes:>3} mailbox(es)  "
            f"today {domain.capacity:>4}{via}"
        )
    return lines


def _warmup_line(config: OutreachConfig) -> str:
    """Who takes part in the warm-up loop: it writes only to inboxes it reads (SPEC 7)."""
    readers = sum(1 for mailbox in config.mailboxes if mailbox.imap is not None)
    hours = f"{config.warmup.hours}, maintenance {config.warmup.maintenance_share:.0%}"
    if readers + len(config.seeds) == 0:
        return (
            "Warm-up loop: off (no mailbox has imap and there are no [[seeds]]: warm-up mail "
            "goes only to inboxes the loop reads)"
        )
    return (
        f"Warm-up loop: {readers} pool mailbox(es) with imap and {len(config.seeds)} seed(s) "
        f"receive; hours {hours}, reply_rate {config.warmup.reply_rate:.0%}"
    )


def _esp_lines(config: OutreachConfig) -> list[str]:
    """Each ESP and the domains that name it (its events are matched to their mail)."""
    lines = []
    for esp in config.rules().esps:
        used = ", ".join(esp.domains) if esp.domains else "no domain names it (events from any)"
        lines.append(f"esp {esp.name} ({esp.kind}, every {esp.poll_seconds}s): {used}")
    return lines


def _mailbox_lines(config: OutreachConfig, capacity: Capacity) -> list[str]:
    states = ", ".join(f"{n} {state}" for state, n in capacity.by_state().items())
    lines = [f"Mailboxes: {len(capacity.mailboxes)}" + (f" ({states})" if states else "")]
    policy = config.warmup.policy()
    warming = [m for m in capacity.mailboxes if m.state is MailboxState.WARMING]
    limits = {mailbox.address: mailbox.daily_limit for mailbox in config.mailboxes}
    for mailbox in warming[:MAX_LISTED]:
        day = mailbox.warmup_day or 1
        lines.append(
            f"  warming {mailbox.address}: day {day} (phase {phase(policy, day)}), "
            f"cap {mailbox.cap} today, ramps to {min(limits[mailbox.address], policy.target)}"
        )
    if len(warming) > MAX_LISTED:
        lines.append(f"  ... and {len(warming) - MAX_LISTED} more warming")
    return lines


def _campaign_line(campaign: CampaignConfig) -> str:
    cap = f"cap {campaign.daily_limit}/day" if campaign.daily_limit is not None else "no cap"
    warmup = ", also on week-1 warm-up mailboxes" if campaign.during_warmup else ""
    return (
        f"{campaign.name}: {len(campaign.steps)} step(s), {_days(campaign.days)} "
        f"{campaign.hours} {campaign.timezone}, {cap}{warmup}"
    )


def _days(days: list[str]) -> str:
    """`mon-fri`, `mon,wed,fri`: runs of three or more consecutive weekdays collapsed."""
    indices = sorted({WEEKDAYS.index(day) for day in days})
    runs: list[list[int]] = []
    for index in indices:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{WEEKDAYS[run[0]]}-{WEEKDAYS[run[-1]]}")
        else:
            parts.extend(WEEKDAYS[i] for i in run)
    return ",".join(parts)


def connect_lines(checks: Sequence[LoginCheck], timeout: float) -> list[str]:
    """The `check --connect` table: one row per account and protocol, then the tally."""
    width = max((len(check.account) for check in checks), default=0)
    lines = [f"Connections (each login within {timeout:g} s; nothing is sent):"]
    for check in checks:
        result = check.result
        verdict = result.verdict.value + (f": {result.detail}" if result.detail else "")
        lines.append(f"  {check.account:<{width}}  {check.protocol:<4}  {verdict}")
    tried = [check for check in checks if check.result.verdict is not Verdict.NOT_CHECKED]
    ok = sum(check.result.verdict is Verdict.OK for check in tried)
    lines.append("")
    if failed(checks):
        lines.append(f"FAILED: {len(tried) - ok} of {len(tried)} login(s) refused or unreachable")
    else:
        lines.append(f"All {len(tried)} login(s) ok")
    return lines
