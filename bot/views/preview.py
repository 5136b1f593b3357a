"""/preview and /test: the rendered step as the lead would see it, and what a test send did."""

from __future__ import annotations

from core.message_view import view_message
from engine.preview import Preview
from engine.trial_sends import TestSent


def preview_lines(preview: Preview) -> list[str]:
    """Who it is for, the headers that matter, then the text body with its footer."""
    who = (
        f"lead {preview.lead} ({preview.lead_state.value})"
        if preview.lead is not None and preview.lead_state is not None
        else "a sample lead (the campaign has no queued lead)"
    )
    lines = [
        f"Preview of {preview.campaign} step {preview.step_no} of {preview.steps} for {who}, "
        f"from {preview.mailbox}",
    ]
    if preview.lacking:
        names = ", ".join(sorted(preview.lacking))
        lines.append(
            f"Warning: no lead column or sender variable provides {names}; shown as [name?]. "
            "This lead would fail, not be sent."
        )
    view = view_message(preview.message)
    lines.append("")
    lines += [f"{name}: {value}" for name, value in view.headers]
    lines.append("")
    lines += view.text.rstrip("\n").split("\n")
    if view.has_html:
        lines += ["", "(an HTML part goes with it, with the same footer)"]
    return lines


def sent_test_lines(result: TestSent) -> list[str]:
    """One line: sent from which mailbox, or why not."""
    what = f"Test of {result.campaign} step {result.step_no} to {result.address}"
    if result.sent:
        return [f"{what}: sent from {result.mailbox} (counts against its cap; no lead changed)."]
    return [f"{what}: not sent, {result.why}."]
