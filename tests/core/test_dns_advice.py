"""core/dns_advice.py: the exact SPF/DMARC records to add, and the hints for the rest."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.dns_advice import (
    GOOGLE,
    MAILGUN,
    MICROSOFT,
    POSTMARK,
    SENDGRID,
    SES,
    DomainFacts,
    Presence,
    TxtRecord,
    advise,
    provider_of_host,
)

ALL_FOUND = DomainFacts(
    domain="brand.com",
    spf=Presence.FOUND,
    spf_values=("v=spf1 include:_spf.google.com ~all",),
    dmarc=Presence.FOUND,
    dmarc_policy="quarantine",
    dkim=Presence.FOUND,
    selectors=("s1", "google"),
    mx=Presence.FOUND,
    smtp_hosts=("smtp.gmail.com",),
)


@pytest.mark.parametrize(
    ("host", "provider"),
    [
        ("smtp.gmail.com", GOOGLE),
        ("SMTP-relay.gmail.com.", GOOGLE),
        ("smtp.office365.com", MICROSOFT),
        ("smtp.eu.mailgun.org", MAILGUN),
        ("email-smtp.eu-west-1.amazonaws.com", SES),
        ("smtp.sendgrid.net", SENDGRID),
        ("smtp.postmarkapp.com", POSTMARK),
        ("mail.brand.com", None),
        ("smtp.gmail.com.evil.test", None),
    ],
)
def test_provider_of_host(host: str, provider: object) -> None:
    assert provider_of_host(host) == provider


def test_nothing_to_add_when_all_is_there() -> None:
    advice = advise(ALL_FOUND)
    assert advice.records == ()
    assert advice.hints == ()


def test_missing_spf_and_dmarc_get_exact_records() -> None:
    facts = replace(
        ALL_FOUND,
        spf=Presence.MISSING,
        spf_values=(),
        dmarc=Presence.MISSING,
        dmarc_policy=None,
        smtp_hosts=("smtp.gmail.com", "smtp.mailgun.org", "smtp.gmail.com"),
        esp_kind="sendgrid",
    )
    assert advise(facts).records == (
        TxtRecord(
            "brand.com",
            "brand.com",
            "v=spf1 include:_spf.google.com include:mailgun.org include:sendgrid.net ~all",
        ),
        TxtRecord(
            "brand.com", "_dmarc.brand.com", "v=DMARC1; p=none; rua=mailto:postmaster@brand.com"
        ),
    )


def test_an_unknown_smtp_host_gets_a_hint_not_a_record() -> None:
    facts = replace(
        ALL_FOUND, spf=Presence.MISSING, spf_values=(), smtp_hosts=("smtp.gmail.com", "mx.own.io")
    )
    advice = advise(facts)
    assert advice.records == ()
    assert advice.hints == (
        "SPF: add one TXT record at brand.com starting v=spf1 with include:_spf.google.com, "
        "plus what the provider of mx.own.io documents for SPF, ending ~all",
    )


def test_weak_records_get_hints() -> None:
    facts = replace(
        ALL_FOUND,
        spf_values=("v=spf1 include:_spf.google.com -all",),
        smtp_hosts=("smtp.gmail.com", "smtp.office365.com"),
        dmarc_policy="none",
        long_sending=True,
        dkim=Presence.MISSING,
        mx=Presence.MISSING,
    )
    assert advise(facts).hints == (
        "SPF: add include:spf.protection.outlook.com to the existing record (Microsoft 365 "
        "sends for it)",
        "DMARC: still p=none after more than 30 days of sending; once the rua reports show "
        "only your own senders, move to p=quarantine",
        "DKIM: publish the public key your provider gives you as TXT at "
        "google._domainkey.brand.com (looked up: s1, google; another selector goes into "
        "[dns].dkim_selectors)",
        "MX: add MX brand.com 1 smtp.google.com (replies and bounces go there)",
    )
    # p=none is no warning while the domain is new to sending.
    young = advise(replace(facts, long_sending=False)).hints
    assert not any(hint.startswith("DMARC") for hint in young)


def test_invalid_and_unknown_records_are_never_offered() -> None:
    facts = replace(
        ALL_FOUND,
        spf=Presence.INVALID,
        spf_values=("v=spf1 -all", "v=spf1 include:x ~all"),
        dmarc=Presence.UNKNOWN,
        dmarc_policy=None,
    )
    advice = advise(facts)
    assert advice.records == ()
    assert advice.hints == ("SPF: merge the 2 v=spf1 records into one",)
