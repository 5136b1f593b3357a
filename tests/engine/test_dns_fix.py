"""engine/dns_fix.py: the plan from a real DNS check, applied through a fake Cloudflare.

The fake Cloudflare publishes what it creates on the local DNS server, so the check after the
fix reads the new records over DNS.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from core.dns_advice import TxtRecord
from engine.dns_fix import apply_fix, dns_report, plan, zone_candidates
from tests.bot.data_world import T0, data_world
from tests.engine.dns_world import D0_DMARC, D1_DMARC, D1_SPF, RECORDS, fix_config
from tests.fakes.cloudflare import FakeCloudflare
from tests.fakes.dns_server import FakeDnsServer


def _records(*triples: tuple[str, str, str]) -> list[TxtRecord]:
    return [TxtRecord(name.removeprefix("_dmarc."), name, content) for name, _, content in triples]


async def test_the_missing_records_are_created_once(tmp_path: Path) -> None:
    async with FakeDnsServer(RECORDS) as dns, FakeCloudflare(dns=dns) as cf:
        cf.add_zone("d0.test")
        cf.add_zone("d1.test")
        cf.add_record("d0.test", "d0.test", "TXT", "v=spf1 include:_spf.google.com ~all")
        async with data_world(tmp_path, fix_config(dns.address, cf.url)) as w:
            reports = await dns_report(w.ctx)
            records = plan(reports)
            assert records == _records(D0_DMARC, D1_SPF, D1_DMARC)
            assert cf.seen == []  # planning asks DNS only

            outcome = await apply_fix(w.ctx, records)
            assert outcome.created == records
            assert (outcome.kept, outcome.failed, outcome.refused) == ([], [], None)
            assert cf.created == [D0_DMARC, D1_SPF, D1_DMARC]
            # Checked again over DNS: nothing is missing now, nothing more to add.
            assert [r.result.problems() for r in outcome.after] == [[], []]
            assert plan(outcome.after) == []

            again = await apply_fix(w.ctx, records)  # a second run adds nothing
    assert again.created == []
    assert [record for record, _ in again.kept] == records
    assert len(cf.posts()) == 3
    assert {s.method for s in cf.seen} == {"GET", "POST"}


async def test_an_existing_record_is_left_as_it_is(tmp_path: Path) -> None:
    async with FakeDnsServer(RECORDS) as dns, FakeCloudflare(dns=dns) as cf:
        cf.add_zone("d0.test")
        cf.add_zone("d1.test")
        async with data_world(tmp_path, fix_config(dns.address, cf.url)) as w:
            records = plan(await dns_report(w.ctx))
            # Added at Cloudflare after the check (DNS does not serve it yet).
            strict = cf.add_record("d1.test", "_dmarc.d1.test", "TXT", '"v=DMARC1; p=reject"')
            outcome = await apply_fix(w.ctx, records)
    assert outcome.created == _records(D0_DMARC, D1_SPF)
    assert outcome.kept == [(_records(D1_DMARC)[0], "v=DMARC1; p=reject")]
    assert cf.created == [D0_DMARC, D1_SPF]
    assert [r["content"] for r in cf.records if r["name"] == "_dmarc.d1.test"] == [
        '"v=DMARC1; p=reject"'
    ]
    assert strict in cf.records


async def test_a_refused_token_changes_nothing(tmp_path: Path) -> None:
    async with FakeDnsServer(RECORDS) as dns, FakeCloudflare(dns=dns) as cf:
        cf.add_zone("d0.test")
        cf.add_zone("d1.test")
        config = fix_config(dns.address, cf.url, token="revoked-Zq9-token")
        async with data_world(tmp_path, config) as w:
            outcome = await apply_fix(w.ctx, plan(await dns_report(w.ctx)))
    assert outcome.refused == "Cloudflare refused the token (9109: Invalid access token)"
    assert "revoked-Zq9-token" not in repr(w.ctx)
    assert (outcome.created, outcome.kept, outcome.failed) == ([], [], [])
    assert cf.posts() == [] and cf.records == []
    assert "revoked-Zq9-token" not in repr(outcome)


async def test_a_domain_outside_the_account_is_not_added(tmp_path: Path) -> None:
    async with FakeDnsServer(RECORDS) as dns, FakeCloudflare(dns=dns) as cf:
        cf.add_zone("d0.test")
        async with data_world(tmp_path, fix_config(dns.address, cf.url)) as w:
            outcome = await apply_fix(w.ctx, plan(await dns_report(w.ctx)))
    assert cf.created == [D0_DMARC]
    assert [(r.name, why) for r, why in outcome.failed] == [
        ("d1.test", "no Cloudflare zone holds d1.test for this token"),
        ("_dmarc.d1.test", "no Cloudflare zone holds d1.test for this token"),
    ]


async def test_p_none_after_30_days_of_sending_is_a_hint(tmp_path: Path) -> None:
    records = {**RECORDS, ("_dmarc.d0.test", "TXT"): ["v=DMARC1; p=none"]}
    async with (
        FakeDnsServer(records) as dns,
        data_world(tmp_path, fix_config(dns.address, "http://127.0.0.1:9")) as w,
    ):
        fresh = await dns_report(w.ctx)
        await w.add_sends("m0@d0.test", T0 - timedelta(days=29))
        young = await dns_report(w.ctx)
        await w.add_sends("m0@d0.test", T0 - timedelta(days=31))
        old = await dns_report(w.ctx)
    assert not any("p=none" in h for r in fresh + young for h in r.advice.hints)
    assert [h for h in old[0].advice.hints if "p=none" in h] == [
        "DMARC: still p=none after more than 30 days of sending; once the rua reports show "
        "only your own senders, move to p=quarantine"
    ]
    assert not any("p=none" in h for h in old[1].advice.hints)


def test_a_sending_subdomain_is_looked_up_in_the_zones_above_it() -> None:
    assert zone_candidates("mail.brand.co.uk") == ["mail.brand.co.uk", "brand.co.uk", "co.uk"]
    assert zone_candidates("brand.com") == ["brand.com"]
