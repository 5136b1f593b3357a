"""bot/views/dns.py: each domain's records, what is missing, and the records to add."""

from __future__ import annotations

from bot.views.dns import dns_lines, fix_lines, fix_question
from core.dns_advice import Advice, TxtRecord
from engine.dns_check import DomainDns, Lookup, Status
from engine.dns_fix import DomainReport, FixOutcome

DMARC = TxtRecord("d0.test", "_dmarc.d0.test", "v=DMARC1; p=none; rua=mailto:postmaster@d0.test")


def _result() -> DomainDns:
    return DomainDns(
        "d0.test",
        spf=Lookup(Status.FOUND, ("v=spf1 -all",)),
        dkim=(("s1", Lookup(Status.MISSING, note="no such name")),),
        dmarc=Lookup(Status.MISSING, note="no such name"),
        mx=Lookup(Status.UNKNOWN, note="timed out"),
    )


def test_dns_lines() -> None:
    report = DomainReport(_result(), Advice("d0.test", dmarc=DMARC, hints=("DKIM: publish",)))
    assert dns_lines([report]) == [
        "d0.test: missing DMARC, DKIM (no key under selector s1)",
        "  SPF: ok - v=spf1 -all",
        "  DKIM s1: MISSING - no such name",
        "  DMARC: MISSING - no such name",
        "  MX: ? - timed out",
        "  could not check: MX: timed out",
        '  add: TXT _dmarc.d0.test "v=DMARC1; p=none; rua=mailto:postmaster@d0.test"',
        "  hint: DKIM: publish",
        "Add the records marked add: at your DNS host (or set [dns] cloudflare_token and use "
        "/dns fix).",
    ]
    assert dns_lines([report], can_fix=True)[-1].startswith("/dns fix adds the records")
    assert "No domain is configured" in dns_lines([])[0]


def test_fix_question_and_outcome() -> None:
    assert fix_question([DMARC]) == (
        "Add 1 TXT record(s) through Cloudflare?\n"
        '- TXT _dmarc.d0.test "v=DMARC1; p=none; rua=mailto:postmaster@d0.test"\n'
        "An existing SPF or DMARC record is never changed."
    )
    spf = TxtRecord("d0.test", "d0.test", "v=spf1 include:mailgun.org ~all")
    outcome = FixOutcome(created=[DMARC], kept=[(spf, "v=spf1 -all")])
    assert fix_lines(outcome) == [
        'Added TXT _dmarc.d0.test "v=DMARC1; p=none; rua=mailto:postmaster@d0.test"',
        "Left as it is: d0.test already has v=spf1 -all",
    ]
    refused = fix_lines(FixOutcome(refused="Cloudflare refused the token (9109: Invalid)"))
    assert refused == [
        "Cloudflare refused the token (9109: Invalid). Check that [dns].cloudflare_token is "
        "valid and has DNS edit permission for these zones.",
        "Nothing changed.",
    ]


def test_a_long_question_stays_one_message() -> None:
    records = [
        TxtRecord(f"d{i}.test", f"_dmarc.d{i}.test", f"v=DMARC1; p=none; rua=mailto:p@d{i}.test")
        for i in range(300)
    ]
    question = fix_question(records)
    assert question.startswith("Add 300 TXT record(s) through Cloudflare?\n")
    assert "- and 280 more (/dns lists them all)" in question
    assert len(question) < 4096
