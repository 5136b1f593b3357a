"""bot/views/common.py and help.py: splitting, clipping, number formats, the command list."""

from __future__ import annotations

from bot.views.common import (
    MAX_PARTS,
    MESSAGE_LIMIT,
    alert_text,
    chunk_lines,
    clip,
    number,
    pre,
    private_text,
    utf16_len,
)
from bot.views.help import USAGE, help_lines
from bot.views.upload import import_progress

SPEC_COMMANDS = ("start", "help", "status", "pause", "resume", "warmup", "upload", "campaigns",
                 "stats", "suppress", "unsuppress", "dns", "cost", "export")  # fmt: skip


def test_help_names_every_command_with_its_arguments() -> None:
    text = "\n".join(help_lines())
    for name in SPEC_COMMANDS:
        assert f"/{name}" in text
    assert "/pause <mailbox, domain, campaign or all> [reason]" in text
    assert "/resume <mailbox, domain, campaign or all> [force]" in text
    assert USAGE["pause"] == "Usage: /pause <mailbox, domain, campaign or all> [reason]"


def test_private_text_gives_the_user_id() -> None:
    assert private_text(42) == "This bot is private. Your user id is 42."


def test_long_answers_are_split_at_lines_and_capped() -> None:
    lines = [f"line {i:05d} " + "x" * 90 for i in range(1000)]
    parts = chunk_lines(lines)
    assert len(parts) == MAX_PARTS
    assert all(utf16_len(p) <= MESSAGE_LIMIT for p in parts)
    assert parts[0].startswith("line 00000")
    assert "more line(s) not shown" in parts[-1]
    assert chunk_lines(["a", "b"]) == ["a\nb"]


def test_clip_counts_utf16_units() -> None:
    text = "\N{GRINNING FACE}" * 3000  # 6000 UTF-16 units
    clipped = clip(text)
    assert utf16_len(clipped) <= MESSAGE_LIMIT
    assert clipped.endswith("[cut]")
    assert alert_text("critical", "x") == "CRITICAL: x"
    assert alert_text("info", "digest") == "digest"


def test_pre_escapes_html() -> None:
    assert pre(["a <b>", "&"]) == "<pre>a &lt;b&gt;\n&amp;</pre>"


def test_number_groups_thousands() -> None:
    assert number(40000) == "40 000"
    assert import_progress("q4", 40000) == "Importing into 'q4'... 40 000 rows read"
