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


class LoginRefused(OutreachError):
    """A server refused the login (bad credentials, app password needed); the text is its reply."""


class PeerUnavailable(OutreachError):
    """A server could not be reached or dropped the connection; trying again later may work."""
