"""/suppress and /unsuppress: what changed on the suppression list."""

from __future__ import annotations

from engine.suppression import SuppressResult, UnsuppressResult


def suppress_text(result: SuppressResult) -> str:
    """What /suppress changed."""
    entry = result.entry.stored
    head = (
        f"{entry} added to the suppression list."
        if result.added
        else f"{entry} was already on the suppression list."
    )
    what = "of that domain " if result.entry.is_domain else "with that address "
    return f"{head} {result.closed_leads} open lead(s) {what}closed in all campaigns."


def unsuppress_text(result: UnsuppressResult) -> str:
    """What /unsuppress changed."""
    entry = result.entry.stored
    if not result.removed:
        text = f"{entry} was not on the suppression list; nothing changed."
    else:
        text = f"{entry} removed from the suppression list. Leads it closed stay closed."
    if result.domain_still_suppressed:
        domain = "@" + result.entry.value.rpartition("@")[2]
        text += f" Its whole domain {domain} is still suppressed."
    return text
