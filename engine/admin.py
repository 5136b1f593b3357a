"""What the admin commands share: the error a user can correct, and 'did you mean' names."""

from __future__ import annotations

from collections.abc import Iterable

from core.names import closest

# A two-character campaign name one letter off ('q5' for 'q4') scores exactly 0.5: admin
# commands name one kind of thing, so a looser match than /status's mixed pool is still useful.
CLOSE_ENOUGH = 0.5


class AdminError(Exception):
    """A command the admin can correct; the message says what was wrong or expected."""


def unknown(what: str, name: str, known: Iterable[str], *, listing: int = 10) -> AdminError:
    """'no campaign named x; did you mean y?' or, without a close match, the known names."""
    names = sorted(set(known))
    close = closest(name, names, cutoff=CLOSE_ENOUGH)
    if close:
        hint = "did you mean " + " or ".join(close) + "?"
    elif names:
        shown = ", ".join(names[:listing])
        more = f" and {len(names) - listing} more" if len(names) > listing else ""
        hint = f"known: {shown}{more}"
    else:
        hint = f"there is no {what} yet"
    return AdminError(f"no {what} named {name!r}; {hint}")
