"""engine/suppression.py: the list, and the open leads it closes."""

from __future__ import annotations

from pathlib import Path

from bot.parsing import parse_entry
from engine.suppression import suppress, unsuppress
from tests.bot.data_world import ADMIN, data_world


async def test_suppress_an_address_closes_its_open_leads_in_every_campaign(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        await w.add_leads("q4", ["Jane@acme.com", "bob@acme.com"])
        await w.add_leads("spring-founders", ["jane@acme.com"], state="active")
        await w.add_leads("spring-founders", ["JANE@acme.com"], state="replied")

        result = await suppress(w.ctx, parse_entry("jane@ACME.com", "suppress"), ADMIN)

        assert (result.added, result.closed_leads) == (True, 2)
        assert await w.stores.events.is_suppressed("jane@acme.com")
        assert await w.lead_states("q4") == {
            "Jane@acme.com": "suppressed",
            "bob@acme.com": "queued",
        }
        # An already closed lead keeps its own state.
        assert await w.lead_states("spring-founders") == {
            "jane@acme.com": "suppressed",
            "JANE@acme.com": "replied",
        }
        again = await suppress(w.ctx, parse_entry("jane@acme.com", "suppress"), ADMIN)
        assert (again.added, again.closed_leads) == (False, 0)
        rows = list(await w.conn.execute_fetchall("SELECT source FROM suppression"))
        assert [r[0] for r in rows] == [f"bot:{ADMIN}"]


async def test_suppress_a_domain_closes_every_open_lead_of_it(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        await w.add_leads("q4", ["a@acme.com", "B@acme.com", "c@notacme.com", "d@sub.acme.com"])
        result = await suppress(w.ctx, parse_entry("@acme.com", "suppress"), ADMIN)
        assert (result.added, result.closed_leads) == (True, 2)
        assert await w.lead_states("q4") == {
            "a@acme.com": "suppressed",
            "B@acme.com": "suppressed",
            "c@notacme.com": "queued",
            "d@sub.acme.com": "queued",
        }
        assert await w.stores.events.is_suppressed("x@acme.com")


async def test_unsuppress(tmp_path: Path) -> None:
    async with data_world(tmp_path) as w:
        await w.add_leads("q4", ["a@acme.com"])
        await suppress(w.ctx, parse_entry("a@acme.com", "suppress"), ADMIN)
        await suppress(w.ctx, parse_entry("@acme.com", "suppress"), ADMIN)

        result = await unsuppress(w.ctx, parse_entry("a@acme.com", "unsuppress"))
        assert (result.removed, result.domain_still_suppressed) == (True, True)
        assert await w.lead_states("q4") == {"a@acme.com": "suppressed"}  # stays closed

        result = await unsuppress(w.ctx, parse_entry("@acme.com", "unsuppress"))
        assert (result.removed, result.domain_still_suppressed) == (True, False)
        assert not await w.stores.events.is_suppressed("a@acme.com")
        result = await unsuppress(w.ctx, parse_entry("@acme.com", "unsuppress"))
        assert result.removed is False
