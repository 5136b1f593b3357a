"""'Did you mean': the known names closest to one that matched nothing."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, known: Iterable[str], *, cutoff: float, n: int = 3) -> list[str]:
    """Up to `n` known names that look like `name`, best first, compared case-insensitively.

    Of known names equal but for letter case, the first one listed is the one suggested;
    `cutoff` is difflib's similarity ratio a name must reach (0..1).
    """
    by_folded: dict[str, str] = {}
    for item in known:
        by_folded.setdefault(item.casefold(), item)
    matches = difflib.get_close_matches(name.casefold(), list(by_folded), n=n, cutoff=cutoff)
    return [by_folded[match] for match in matches]
