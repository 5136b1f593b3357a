"""An outgoing message read back for /preview: the headers that matter, decoded, and the text."""

from __future__ import annotations

from datetime import UTC, datetime

from core.message import build_message
from core.message_view import view_message

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def test_a_follow_up_shows_threading_unsubscribe_and_decoded_text() -> None:
    msg = build_message(
        sender="anna@d0.test", display_name="Anna Müller", to="jane@ex.test",
        subject="Grüße aus Köln", text="Hallo Jane,\nschöne Grüße", message_id="<b@d0.test>",
        date=NOW, postal_address="Test Ltd, 1 Main St", html="<p>Hallo</p>",
        in_reply_to="<a2@d0.test>", references=["<a1@d0.test>"],
        unsubscribe_url="https://u.example.test/u/tok",
    )  # fmt: skip
    view = view_message(msg)
    assert view.headers == (
        ("From", "Anna Müller <anna@d0.test>"),
        ("To", "jane@ex.test"),
        ("Subject", "Re: Grüße aus Köln"),
        ("In-Reply-To", "<a2@d0.test>"),
        ("References", "<a1@d0.test> <a2@d0.test>"),
        (
            "List-Unsubscribe",
            "<mailto:anna@d0.test?subject=unsubscribe>, <https://u.example.test/u/tok>",
        ),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    )
    assert view.text == (
        "Hallo Jane,\nschöne Grüße\n\n--\nTest Ltd, 1 Main St\n"
        'To opt out, reply "unsubscribe" or visit: https://u.example.test/u/tok\n'
    )
    assert view.has_html


def test_a_first_mail_has_no_threading_headers_and_no_html() -> None:
    msg = build_message(
        sender="anna@d0.test", display_name="", to="jane@ex.test", subject="Hi",
        text="Hello", message_id="<c@d0.test>", date=NOW, postal_address="",
    )  # fmt: skip
    view = view_message(msg)
    assert [name for name, _ in view.headers] == ["From", "To", "Subject", "List-Unsubscribe"]
    assert view.text == 'Hello\n\n--\nTo opt out, reply "unsubscribe".\n'
    assert not view.has_html
