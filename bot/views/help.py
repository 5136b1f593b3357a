"""/start and /help: the commands, their arguments and usage lines."""

from __future__ import annotations

from dataclasses import dataclass


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
    BotCommand("dns", "[fix]", "SPF, DKIM, DMARC and MX of every domain; fix adds SPF/DMARC"),
    BotCommand("cost", "", "this month's cost estimate"),
    BotCommand("backup", "", "a consistent copy of the database as a file (gzip)"),
    BotCommand("plan", "[mailboxes target]", "warm-up ramp: the day the daily target is reached"),
    BotCommand("lead", "<email>", "that lead: campaign, state, steps, events, label"),
    BotCommand("preview", "<campaign> [step] [email]", "a step rendered for that lead, unsent"),
    BotCommand("test", "<campaign> [step] <address>", "send a step to that address as a test"),
    BotCommand("export", "<campaign>", "every lead of it as CSV: state, steps, event, label"),
)


USAGE = {c.name: f"Usage: /{c.name} {c.args}".rstrip() for c in COMMANDS}


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
