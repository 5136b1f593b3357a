"""Confirm / Cancel: the questions risky commands ask (bot.confirm adds the deadline), outcomes."""

from __future__ import annotations

from engine.control import Target
from engine.uploads import CampaignFile

STALE = "Expired or unknown: nothing changed."
CANCELLED = "Cancelled: nothing changed."
NOT_YOURS = "Only the admin who asked can answer this question; nothing changed."


def resume_question(target: Target, force: bool) -> str:
    """Before `/resume all`, `/resume ... force` or an alert's Resume."""
    if target.kind == "all":
        what = (
            "Resume everything? Every pause, system stop and cool-down ends now."
            if force
            else "Resume everything /pause all paused?"
        )
    else:
        what = f"Resume {target.kind} {target.name}"
        what += " with force? A cool-down or system stop of it ends now." if force else "?"
    return what


def unsuppress_question(domain: str) -> str:
    """Before `/unsuppress @domain`."""
    return (
        f"Take @{domain} off the suppression list? Every address at {domain} can be mailed "
        f"again (leads it closed stay closed)."
    )


def warmup_stop_question(address: str, daily_limit: int) -> str:
    """Before `/warmup stop <mailbox>`."""
    return (
        f"Stop the warm-up of {address}? It then sends up to its full daily limit of "
        f"{daily_limit} at once."
    )


def replace_question(upload: CampaignFile) -> str:
    """Before a `.toml` upload replaces a campaign."""
    return (
        f"Campaign {upload.name!r} exists. Replace it with {upload.source} "
        f"({upload.steps} step(s))?"
    )
