"""/pause and /resume: what changed, and what was left as it was and why."""

from __future__ import annotations

from collections.abc import Sequence

from bot.views.status import unknown_lines
from engine.control import Change, ControlResult, Left, Unknown

LIST_LIMIT = 25  # items of one kind listed before "... and N more"


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


def result_lines(result: ControlResult | Unknown) -> list[str]:
    """A /pause or /resume outcome, or the name it did not know."""
    if isinstance(result, Unknown):
        return unknown_lines(result, "mailbox, domain, campaign or 'all'")
    return control_lines(result)
