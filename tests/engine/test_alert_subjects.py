"""engine/alert_subjects.py: what an alert's buttons act on, read from its stored key."""

from __future__ import annotations

import pytest

from engine.alert_subjects import AlertSubject, alert_subject


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("mailbox_paused:m0@d0.test", AlertSubject(7, "m0@d0.test", resume=True, force=False)),
        ("cooldown:d0.test", AlertSubject(7, "d0.test", resume=True, force=True)),
        ("campaign_stopped:q4: founders", AlertSubject(7, "q4: founders", True, True)),
        ("provider_cap:m0@d0.test", AlertSubject(7, "m0@d0.test", resume=False, force=False)),
        ("imap_login:m0@d0.test", AlertSubject(7, "m0@d0.test", False, False)),
        ("cooldown_over:d0.test", AlertSubject(7, "d0.test", False, False)),
        ("dns_missing:d0.test", AlertSubject(7, "d0.test", False, False)),
        ("dns_record:d0.test:DMARC", AlertSubject(7, "d0.test", False, False)),
        ("bounce_warn:m0@d0.test:2026-11-23", AlertSubject(7, "m0@d0.test", False, False)),
        ("domain_complaints:d0.test:2026-11-23", AlertSubject(7, "d0.test", False, False)),
        ("placement_warn:m0@d0.test:2026-11-23", AlertSubject(7, "m0@d0.test", False, False)),
        ("placement_hold:m0@d0.test", AlertSubject(7, "m0@d0.test", False, False)),
        ("placement_release:m0@d0.test", AlertSubject(7, "m0@d0.test", False, False)),
    ],
)
def test_subjects_of_alerts_about_one_thing(key: str, expected: AlertSubject) -> None:
    assert alert_subject(7, key) == expected


@pytest.mark.parametrize(
    "key",
    [
        "reply:<abc@mail>",  # a reply notification: label buttons, not these
        "unknown_sends:2026-11-23T14:00:00+00:00#1",
        "esp_login:mailgun",  # a kind this module does not know offers nothing
        "mailbox_paused:",
        "bounce_warn::2026-11-23",
        "dns_record::SPF",
        "digest:2026-11-23",  # the daily digest is about no one thing
        "no key at all",
        "",
    ],
)
def test_other_alerts_offer_nothing(key: str) -> None:
    assert alert_subject(7, key) is None
