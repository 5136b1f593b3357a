"""bot/views/suppress.py: what /suppress and /unsuppress say."""

from __future__ import annotations

from bot.views.suppress import suppress_text, unsuppress_text
from engine.suppression import Entry, SuppressResult, UnsuppressResult


def test_suppress_texts() -> None:
    entry = Entry("acme.com", True)
    assert suppress_text(SuppressResult(entry, True, 3)) == (
        "@acme.com added to the suppression list. 3 open lead(s) of that domain closed in all "
        "campaigns."
    )
    address = Entry("a@acme.com", False)
    text = unsuppress_text(UnsuppressResult(address, True, True))
    assert "removed" in text and "@acme.com is still suppressed" in text
    assert "nothing changed" in unsuppress_text(UnsuppressResult(address, False, False))
