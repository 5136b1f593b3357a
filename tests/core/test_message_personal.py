"""build_message's extra `X-` headers (the warm-up token), beside the footer every mail has."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from typing import Any

import pytest

from core.message import build_message

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


def build(**overrides: Any) -> bytes:
    values: dict[str, Any] = {
        "sender": "alex@brand-news.com",
        "display_name": "Alex",
        "to": "sam@example.org",
        "subject": "Lunch",
        "text": "Hi Sam",
        "message_id": "<abc@brand-news.com>",
        "date": NOW,
        "postal_address": "Brand Ltd, 1 Main St",
    }
    values.update(overrides)
    return build_message(**values).data


def test_a_bulk_message_keeps_its_footer_and_list_unsubscribe() -> None:
    parsed = email.message_from_bytes(build(), policy=email.policy.default)
    assert parsed["List-Unsubscribe"] is not None
    assert "Brand Ltd" in build().decode()


def test_an_extra_header_comes_with_the_footer_and_list_unsubscribe() -> None:
    data = build(extra_headers=(("X-Entity-Ref-ID", "00ff"),))
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["X-Entity-Ref-ID"] == "00ff"
    assert parsed["List-Unsubscribe"] is not None
    assert "Brand Ltd" in data.decode()


@pytest.mark.parametrize(
    "name", ["Subject", "Bcc", "X-Bad\r\nBcc", "X-Has Space", "X-Colon:", "", "X-"]
)
def test_an_extra_header_must_be_a_plain_x_name(name: str) -> None:
    with pytest.raises(ValueError, match="not a usable extra header name"):
        build(extra_headers=((name, "v"),))


def test_an_extra_header_value_cannot_break_the_line() -> None:
    data = build(extra_headers=(("X-Ref", "a\r\nBcc: victim@evil.example"),))
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert parsed["X-Ref"] == "a Bcc: victim@evil.example"
