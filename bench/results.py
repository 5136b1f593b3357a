"""bench/RESULTS.md: each benchmark owns one `## ` section and replaces only that one."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(title: str, section: str, results: Path = RESULTS) -> None:
    """Replace the section headed `title` (added at the end if missing), keeping the others."""
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    results.write_text(text)


def opening(
    title: str,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
    *,
    note: str = "",
) -> list[str]:
    """A section's heading, date and machine lines (cores, Python, OS, the 1-minute load)."""
    return [
        title,
        "",
        f"- Date: {datetime.now(UTC).date().isoformat()}",
        f"- Machine: {os.cpu_count()} cores (nproc), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average (1 min) {load_before[0]:.2f} "
        f"at the start, {load_after[0]:.2f} at the end{note}",
    ]
