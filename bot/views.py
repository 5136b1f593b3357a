"""Pure formatting of what the bot and the CLI show; no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from core.models import RateCounts
from core.records import CampaignCounts
from engine.control import Change, ControlResult, Left, Unknown
from engine.status import (
    CampaignDetail,
    Detail,
    DomainDetail,
    MailboxDetail,
    StatusReport,
)

LEAD_STATES = ("queued", "active", "finished", "replied", "bounced", "unsubscribed", "failed")


def status_lines(report: StatusReport) -> list[str]:
    """The /status text: today's numbers, mailboxes by state, queues, last alerts."""
    cap = report.capacity
    lines = [
        f"Today {report.day.isoformat()}: sent {report.sent} / capacity {cap.total} "
        f"/ target {cap.target}",
    ]
    if cap.shortfall:
        lines.append(f"Capacity is {cap.shortfall} below the target.")
    states = cap.by_state()
    lines.append(
        "Mailboxes: "
        + ", ".join(f"{count} {state.value}" for state, count in states.items() if count)
    )
    for item in report.attention:
        why = f" - {item.reason[:160]}" if item.reason else ""
        lines.append(f"  {item.address}: {item.state}, {item.sent}/{item.cap} today{why}")
    if report.unlisted:
        more = ", ".join(f"{n} {kind}" for kind, n in report.unlisted.items())
        lines.append(
            f"  ... and {sum(report.unlisted.values())} more ({more}); "
            "/status <mailbox or domain> shows one, /warmup the warming ones"
        )
    lines.append("Campaigns:")
    if not report.campaigns:
        lines.append("  (none)")
    for camp in report.campaigns:
        limit = f"/{camp.daily_limit}" if camp.daily_limit is not None else ""
        counts = ", ".join(f"{camp.leads[s]} {s}" for s in LEAD_STATES if camp.leads.get(s))
        state = camp.state if not camp.reason else f"{camp.state} ({camp.reason[:80]})"
        lines.append(
            f"  {camp.name}: {state}; sent today {camp.sent_today}{limit}; "
            f"queue {camp.leads.get('queued', 0)}; {counts or 'no leads'}"
        )
    if report.alerts:
        lines.append("Last alerts:")
        for alert in report.alerts:
            first = alert.text.splitlines()[0][:160]
            lines.append(f"  {alert.created_at:%m-%d %H:%M} [{alert.severity}] {first}")
    return lines


# --- bot texts (SPEC 10) --------------------------------------------------------------------

MESSAGE_LIMIT = 4096  # Telegram's limit, in UTF-16 code units
MAX_PARTS = 4  # a longer answer is cut: a chat is no place for thousands of lines
LIST_LIMIT = 25  # items of one kind listed before "... and N more"
ERROR_TEXT = "Something went wrong; the admins' log has details."


@dataclass(frozen=True, slots=True)
class BotCommand:
    """One command: its name, arguments and what it does."""

    name: str
    args: str
    does: str


COMMANDS = (
    BotCommand("start", "", "what this bot does"),
    BotCommand("help", "", "this list"),
    BotCommand("status", "[mailbox, domain or campaign]", "today's numbers, or one item in detail"),
    BotCommand("pause", "<mailbox, domain, campaign or all> [reason]", "stop sending from it now"),
    BotCommand(
        "resume",
        "<mailbox, domain, campaign or all> [force]",
        "undo a pause; force also ends a cool-down",
    ),
    BotCommand("warmup", "[start|stop <mailbox>]", "warm-up table; start or stop one warm-up"),
    BotCommand("upload", "[campaign]", "then send leads (.csv/.xlsx) or a campaign (.toml)"),
    BotCommand("campaigns", "", "each campaign: state, leads, sent today, rates"),
    BotCommand("stats", "[days]", "chart of sends, bounces, complaints, replies per day"),
    BotCommand("suppress", "<email or @domain>", "never mail it again"),
    BotCommand("unsuppress", "<email or @domain>", "take it off the suppression list"),
    BotCommand("dns", "", "SPF, DKIM, DMARC and MX of every domain"),
    BotCommand("cost", "", "this month's cost estimate"),
)
USAGE = {c.name: f"Usage: /{c.name} {c.args}".rstrip() for c in COMMANDS}


def private_text(user_id: int) -> str:
    """What anyone not in ADMIN_IDS is told."""
    return f"This bot is private. Your user id is {user_id}."


def help_lines() -> list[str]:
    """/start and /help: what the bot does and every command with its arguments."""
    lines = [
        "This bot runs cold e-mail outreach from a pool of mailboxes: it warms new mailboxes "
        "up, keeps every mailbox, domain and campaign inside its daily limits, watches "
        "bounces and complaints, and pauses or cools down what is about to burn. Alerts "
        "come to this chat.",
        "",
        "Commands:",
    ]
    lines += [f"/{c.name} {c.args}".rstrip() + f" - {c.does}" for c in COMMANDS]
    return lines


def utf16_len(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` cut to fit one message, marked when cut."""
    if utf16_len(text) <= limit:
        return text
    marker = "\n[cut]"
    keep = limit - utf16_len(marker)
    out = text[:keep]
    while utf16_len(out) > keep:
        out = out[:-1]
    return out + marker


def alert_text(severity: str, text: str) -> str:
    """An alert as it goes to a chat: critical and warning ones marked, cut to one message."""
    label = {"critical": "CRITICAL: ", "warning": "Warning: "}.get(severity, "")
    return clip(label + text)


def chunk_lines(
    lines: Sequence[str], limit: int = MESSAGE_LIMIT, parts: int = MAX_PARTS
) -> list[str]:
    """Lines packed into messages of at most `limit`; at most `parts` messages, the rest cut."""
    packed: list[list[str]] = [[]]
    size = 0
    for raw in lines:
        line = clip(raw, limit)
        extra = utf16_len(line) + (1 if packed[-1] else 0)
        if packed[-1] and size + extra > limit:
            packed.append([])
            extra = utf16_len(line)
            size = 0
        packed[-1].append(line)
        size += extra
    if len(packed) > parts:
        packed = packed[:parts]
        last = packed[-1]
        shown = sum(len(p) for p in packed)

        def marker() -> str:
            return f"... {len(lines) - shown} more line(s) not shown"

        while last and utf16_len("\n".join([*last, marker()])) > limit:
            last.pop()
            shown -= 1
        last.append(marker())
    return ["\n".join(p) or "(nothing)" for p in packed]


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "never"


def unknown_lines(unknown: Unknown, what: str = "mailbox, domain or campaign") -> list[str]:
    """A name that matched nothing, with the closest names."""
    line = f"unknown {what} {unknown.name!r}"
    if unknown.suggestions:
        return [f"{line}; did you mean: {', '.join(unknown.suggestions)}"]
    return [f"{line}; /status lists mailboxes that need attention and every campaign"]


def detail_lines(detail: Detail) -> list[str]:
    """/status NAME: one mailbox, domain or campaign."""
    if isinstance(detail, MailboxDetail):
        return _mailbox_detail_lines(detail)
    if isinstance(detail, DomainDetail):
        return _domain_detail_lines(detail)
    return _campaign_detail_lines(detail)


def _mailbox_detail_lines(d: MailboxDetail) -> list[str]:
    lines = [f"Mailbox {d.address} (domain {d.domain}, {d.domain_state})"]
    lines.append(f"State: {d.state}" + (f" - {d.reason}" if d.reason else ""))
    lines.append(f"Today: sent {d.sent} / cap {d.cap} (daily limit {d.daily_limit})")
    if d.warmup_day is not None:
        lines.append(f"Warm-up: day {d.warmup_day}, phase {d.warmup_phase}")
    if d.cooldown_until is not None:
        lines.append(f"Cool-down of {d.domain} until {_when(d.cooldown_until)}")
    if d.resting_until is not None:
        lines.append(f"Resting until {_when(d.resting_until)}")
    lines.append(f"Last sent: {_when(d.last_sent_at)}")
    return lines


def _domain_detail_lines(d: DomainDetail) -> list[str]:
    limit = f"/{d.daily_limit}" if d.daily_limit is not None else " (no domain cap)"
    lines = [f"Domain {d.name}"]
    lines.append(f"State: {d.state}" + (f" - {d.reason}" if d.reason else ""))
    if d.cooldown_until is not None:
        lines.append(f"Cool-down until {_when(d.cooldown_until)}")
    lines.append(f"Today: sent {d.sent}{limit}")
    lines.append(f"Mailboxes ({len(d.mailboxes)}):")
    for box in d.mailboxes:
        why = f" - {box.reason}" if box.reason else ""
        lines.append(f"  {box.address}: {box.state}, {box.sent}/{box.cap} today{why}")
    return lines


def _rates(rates: RateCounts) -> str:
    if not rates.sends:
        return "no sends"
    return (
        f"{rates.sends} sent, bounces {rates.bounce_rate:.1%}, "
        f"complaints {rates.complaints} ({rates.complaint_rate:.2%}), "
        f"replies {rates.rate(rates.replies):.1%}"
    )


def _leads(counts: CampaignCounts) -> str:
    known = [s for s in LEAD_STATES if counts.leads.get(s)]
    others = sorted(s for s in counts.leads if s not in LEAD_STATES and counts.leads[s])
    parts = [f"{counts.leads[s]} {s}" for s in [*known, *others]]
    return ", ".join(parts) or "no leads"


def _campaign_detail_lines(d: CampaignDetail) -> list[str]:
    c = d.counts
    limit = f"/{c.daily_limit}" if c.daily_limit is not None else ""
    return [
        f"Campaign {c.name}" + (" (uploaded)" if d.origin == "upload" else ""),
        f"State: {c.state}" + (f" - {c.reason}" if c.reason else ""),
        f"Window: {', '.join(d.days)} {d.hours} {d.timezone}",
        f"Today: sent {c.sent_today}{limit}",
        f"Leads: {_leads(c)}",
        f"Last {d.window_days} days: {_rates(d.rates)}",
    ]


def campaigns_lines(
    counts: Sequence[CampaignCounts], rates: Mapping[int, RateCounts], window_days: int
) -> list[str]:
    """/campaigns: each campaign's state, leads by state, sent today and rates."""
    if not counts:
        return ["No campaigns yet: add one to the config, or /upload a campaign .toml."]
    lines = [f"Campaigns (rates over the last {window_days} days):"]
    for c in counts:
        limit = f"/{c.daily_limit}" if c.daily_limit is not None else ""
        state = c.state + (f" ({c.reason[:80]})" if c.reason else "")
        lines.append(f"{c.name}: {state}; sent today {c.sent_today}{limit}")
        lines.append(f"  leads: {_leads(c)}")
        lines.append(f"  {_rates(rates.get(c.id, RateCounts()))}")
    return lines


def control_lines(result: ControlResult) -> list[str]:
    """What a /pause or /resume changed, and what it left as it was and why."""
    verb = "Paused" if result.action == "pause" else "Resumed"
    what = (
        "everything"
        if result.target.kind == "all"
        else f"{result.target.kind} {result.target.name}"
    )
    lines: list[str] = []
    if not result.changed:
        lines.append(
            "Nothing changed." if result.target.kind == "all" else f"Nothing changed for {what}."
        )
    elif result.target.kind == "all":
        lines.append(f"{verb} everything: {_tally(result.changed)}.")
    else:
        lines.append(f"{verb} {what}.")
    if len(result.changed) == 1 and result.changed[0].subject == what:
        # One object, the one named: the headline says it all.
        change = result.changed[0]
        lines[-1] = f"{verb} {what} ({change.before} -> {change.after})."
        lines += [change.note] if change.note else []
    else:
        lines += _listed([_change_line(c) for c in result.changed], "Changed:")
    left = [_left_line(item) for item in result.left]
    lines += _listed(left, "Left as it is:" if len(left) == 1 else "Left as they are:")
    lines += list(result.notes)
    return lines


def _change_line(change: Change) -> str:
    line = f"{change.subject}: {change.before} -> {change.after}"
    return f"{line} ({change.note})" if change.note else line


def _left_line(item: Left) -> str:
    line = f"{item.subject} ({item.state})"
    return f"{line}: {item.why}" if item.why else line


def _tally(changes: Sequence[Change]) -> str:
    kinds: dict[str, int] = {}
    for change in changes:
        kind = change.subject.split(" ", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    plural = {"mailbox": "mailboxes"}
    return ", ".join(
        f"{n} {kind if n == 1 else plural.get(kind, kind + 's')}" for kind, n in kinds.items()
    )


def _listed(items: list[str], title: str) -> list[str]:
    if not items:
        return []
    shown = [f"  {item}" for item in items[:LIST_LIMIT]]
    if len(items) > LIST_LIMIT:
        shown.append(f"  ... and {len(items) - LIST_LIMIT} more")
    return [title, *shown]
