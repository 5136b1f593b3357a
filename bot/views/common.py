"""What every answer shares: Telegram's message limit, splitting and clipping, number formats."""

from __future__ import annotations

import html
import textwrap
from collections.abc import Iterable, Sequence

MESSAGE_LIMIT = 4096  # Telegram's limit, in UTF-16 code units
PHONE_COLUMNS = 34  # monospace columns a phone held upright shows without wrapping
MAX_PARTS = 4  # a longer answer is cut: a chat is no place for thousands of lines
ERROR_TEXT = "Something went wrong; the admins' log has details."


def private_text(user_id: int) -> str:
    """What anyone not in ADMIN_IDS is told."""
    return f"This bot is private. Your user id is {user_id}."


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


def number(value: int) -> str:
    """40000 -> '40 000' (thin groups read well in chat, in any locale)."""
    return f"{value:,}".replace(",", " ")


def usd(value: float) -> str:
    """A dollar amount with cents."""
    return f"${value:,.2f}"


def pre(lines: Iterable[str]) -> str:
    """Lines as a monospace block for parse_mode=HTML."""
    return "<pre>" + html.escape("\n".join(lines)) + "</pre>"


def phone_lines(lines: Iterable[str], width: int = PHONE_COLUMNS) -> list[str]:
    """Lines wider than `width` wrapped at spaces; table rows are built to fit, notes get this."""
    out: list[str] = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
        else:  # a word longer than the width (an address) is broken; nothing is lost
            out += textwrap.wrap(line, width, subsequent_indent="  ", break_on_hyphens=False) or [
                ""
            ]
    return out
