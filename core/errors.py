"""The small error hierarchy: what a user can correct, named in the user's terms."""

from __future__ import annotations


class OutreachError(Exception):
    """Base of the errors this product raises on purpose; the message is for the user."""


class SpecError(OutreachError, ValueError):
    """A config or campaign file that can't be used; `errors` name each problem and its place."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class ConflictError(OutreachError):
    """A change the stored state refuses, e.g. an upload replacing a campaign the config owns."""
