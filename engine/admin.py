"""What the admin commands share: the error a user can correct, and 'did you mean' names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AdminError(Exception):
    """A command the admin can correct; the message says what was wrong or expected."""


def closest(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` known names that look like `name`, best first (case-insensitive)."""
    by_folded: dict[str, str] = {}
    for item in known:
        by_folded.setdefault(item.casefold(), item)
    matches = difflib.get_close_matches(name.casefold(), list(by_folded), n=n, cutoff=0.5)
    return [by_folded[match] for match in matches]


def unknown(what: str, name: str, known: Iterable[str], *, listing: int = 10) -> AdminError:
    """'no campaign named x; did you mean y?' or, without a close match, the known names."""
    names = sorted(set(known))
    close = closest(name, names)
    if close:
        hint = "did you mean " + " or ".join(close) + "?"
    elif names:
        shown = ", ".join(names[:listing])
        more = f" and {len(names) - listing} more" if len(names) > listing else ""
        hint = f"known: {shown}{more}"
    else:
        hint = f"there is no {what} yet"
    return AdminError(f"no {what} named {name!r}; {hint}")
