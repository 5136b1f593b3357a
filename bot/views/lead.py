"""/lead <email>: one block per campaign the address is in."""

from __future__ import annotations

from datetime import datetime

from core.records import LeadCard, LeadStep

SMTP_REPLY_CHARS = 60  # the server's answer is one line of context, not the whole transcript


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _short(reply: str) -> str:
    flat = " ".join(reply.split())
    return flat if len(flat) <= SMTP_REPLY_CHARS else flat[: SMTP_REPLY_CHARS - 3] + "..."


def _step_line(step: LeadStep) -> str:
    name = f"Step {step.step_no}" if step.step_no is not None else "Answer"
    when = _when(step.at) if step.sent else f"updated {_when(step.at)}"
    line = f"  {name}: {step.state.value} {when} from {step.mailbox}"
    return line + f" - {_short(step.smtp_reply)}" if step.smtp_reply else line


def lead_lines(cards: list[LeadCard]) -> list[str]:
    """Each campaign's state, label, steps sent and events, oldest first."""
    lines = [f"Lead {cards[0].email}" + (f" ({len(cards)} campaigns)" if len(cards) > 1 else "")]
    for card in cards:
        label = card.label.value if card.label is not None else "none"
        lines += ["", f"Campaign {card.campaign}: {card.state.value}, reply label {label}"]
        lines += [_step_line(step) for step in card.steps] or ["  No step sent yet"]
        lines += ["  Events:" if card.events else "  No events"]
        lines += [f"    {_when(e.at)} {e.kind.value} ({e.source})" for e in card.events]
    return lines
