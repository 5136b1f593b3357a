"""engine/dns_check.py against a real UDP DNS server on 127.0.0.1 (tests/fakes/dns_server.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import DnsConfig
from engine.admin import AdminError
from engine.dns_check import DnsChecker, Status, check_dns, dmarc_tag, parse_nameserver
from tests.bot.data_world import data_config, data_world
from tests.fakes.dns_server import FakeDnsServer

DKIM_KEY = "v=DKIM1; k=rsa; p=" + "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" * 9  # > 255 bytes

GOOD = {
    ("d0.test", "TXT"): ["google-site-verification=abc", "v=spf1 include:mailgun.org -all"],
    ("d0.test", "MX"): ["20 mxb.mailgun.org.", "10 mxa.mailgun.org."],
    ("s1._domainkey.d0.test", "TXT"): [DKIM_KEY],
    ("_dmarc.d0.test", "TXT"): ["v=DMARC1; p=quarantine; rua=mailto:d@d0.test"],
}


def test_parse_nameserver() -> None:
    assert parse_nameserver("") is None
    assert parse_nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_nameserver("1.1.1.1") == ("1.1.1.1", 53)
    assert parse_nameserver("[::1]:5353") == ("::1", 5353)
    assert parse_nameserver("2606:4700::1111") == ("2606:4700::1111", 53)
    with pytest.raises(ValueError, match="bad port"):
        parse_nameserver("127.0.0.1:99999")


def test_dmarc_tag() -> None:
    assert dmarc_tag("v=DMARC1; p=reject; sp=none", "p") == "reject"
    assert dmarc_tag("v=DMARC1;P = none ", "p") == "none"
    assert dmarc_tag("v=DMARC1; rua=mailto:x@y", "p") is None


async def test_a_domain_with_everything() -> None:
    async with FakeDnsServer(GOOD) as server:
        checker = await DnsChecker.create(server.address, ["s1", "google"])
        result = await checker.check("d0.test")
    assert result.spf.status is Status.FOUND
    assert result.spf.values == ("v=spf1 include:mailgun.org -all",)
    assert dict(result.dkim)["s1"].status is Status.FOUND
    assert dict(result.dkim)["s1"].values == (DKIM_KEY,)  # the 255-byte chunks joined
    assert dict(result.dkim)["google"].status is Status.MISSING
    assert result.dkim_status is Status.FOUND
    assert result.dmarc_policy == "quarantine"
    assert result.mx.values == ("10 mxa.mailgun.org", "20 mxb.mailgun.org")
    assert result.problems() == []
    assert result.unknown() == []


async def test_what_is_missing_is_listed() -> None:
    records = {
        ("d1.test", "TXT"): ["v=spf1 -all", "v=spf1 include:x -all"],  # two SPF records
        ("_dmarc.d1.test", "TXT"): ["v=DMARC1; rua=mailto:d@d1.test"],  # no p=
    }
    async with FakeDnsServer(records) as server:
        checker = await DnsChecker.create(server.address, ["s1"])
        result = await checker.check("d1.test")
    assert result.spf.status is Status.INVALID
    assert result.dmarc.status is Status.INVALID
    assert result.mx.status is Status.MISSING  # the name exists, no MX: NoAnswer
    assert result.problems() == [
        "SPF (2 records, must be one)",
        "DMARC (no p= tag)",
        "MX",
        "DKIM (no key under selector s1)",
    ]


async def test_nxdomain_null_mx_timeouts_and_servfail_stay_per_record() -> None:
    records = {("d2.test", "MX"): ["0 ."]}  # RFC 7505 null MX
    async with FakeDnsServer(
        records, silent={"_dmarc.d2.test"}, servfail={"s1._domainkey.d2.test"}
    ) as server:
        checker = await DnsChecker.create(server.address, ["s1"], seconds=0.5)
        result = await checker.check("d2.test")
        gone = await checker.check("nowhere.test")
    assert result.spf.status is Status.MISSING
    assert result.mx.status is Status.MISSING and "null MX" in result.mx.note
    assert result.dmarc.status is Status.UNKNOWN and result.dmarc.note == "timed out"
    assert dict(result.dkim)["s1"].status is Status.UNKNOWN
    assert result.dkim_status is Status.UNKNOWN
    assert result.problems() == ["SPF", "MX"]  # the failed lookups are not called missing
    assert [line.split(":")[0] for line in result.unknown()] == ["DMARC", "DKIM s1"]
    assert gone.problems() == ["SPF", "DMARC", "MX", "DKIM (no key under selector s1)"]
    assert gone.spf.note == "no such name"


async def test_check_dns_raises_one_warning_per_domain_with_something_missing(
    tmp_path: Path,
) -> None:
    async with FakeDnsServer(GOOD) as server:
        config = data_config(nameserver=server.address)
        async with data_world(tmp_path, config) as w:
            results = await check_dns(w.ctx)
            again = await check_dns(w.ctx)  # within the quiet period: no second alert
            alerts = await w.stores.reports.recent_alerts(10)
    assert [r.domain for r in results] == ["d0.test", "d1.test"]
    assert [r.problems() == [] for r in again] == [True, False]
    assert len(alerts) == 1
    assert alerts[0].severity == "warning"
    assert alerts[0].text.startswith("DNS of d1.test: missing SPF, DMARC, MX, DKIM")


async def test_a_bad_nameserver_setting_is_a_message(tmp_path: Path) -> None:
    # `check` refuses this value now; the engine still says so if one reaches it.
    config = data_config()
    bad = DnsConfig.model_construct(nameserver="127.0.0.1:0", dkim_selectors=["s1"])
    async with data_world(tmp_path, config.model_copy(update={"dns": bad})) as w:
        with pytest.raises(AdminError, match="bad port"):
            await check_dns(w.ctx)
