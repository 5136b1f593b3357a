"""core/provider_ids.py: the provider's message id from documented 250 replies."""

from __future__ import annotations

import pytest

from core.provider_ids import provider_message_id


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # Amazon SES, "SMTP response codes returned by Amazon SES": "250 Ok MessageID".
        (
            "250 Ok 0100018c5e3b2f1a-7d3c1e2b-4a5f-4c8e-9b1d-2e3f4a5b6c7d-000000",
            "0100018c5e3b2f1a-7d3c1e2b-4a5f-4c8e-9b1d-2e3f4a5b6c7d-000000",
        ),
        ("Ok 010001-abc-000000", "010001-abc-000000"),  # the text without its code
        # Postfix-style relays: "250 2.0.0 Ok: queued as <id>" (also our fake server's form).
        ("250 2.0.0 Ok: queued as 224B824BD40", "224B824BD40"),
        ("2.0.0 OK queued as fake000001", "fake000001"),
        # SendGrid's documented 250 text names no id ("SMTP Errors and Troubleshooting");
        # Gmail's carries more than one token.
        ("250 Queued mail for delivery", None),
        ("250 2.0.0 OK  1700000000 a1-20020a05600c1234gsmtp", None),
        ("250 2.0.0 Ok", None),
        ("250 OK id=1TkhHl-0006EV-R3", None),  # Exim's queue id is no provider's message id
        ("", None),
    ],
)
def test_provider_message_id(reply: str, expected: str | None) -> None:
    assert provider_message_id(reply) == expected
