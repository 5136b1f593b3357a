"""/pause and /resume over a real SQLite file: what changes, what is left, and why."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from core.models import CampaignState, MailboxState
from core.records import RefusalReason, Refused, Reservation, SendKind
from engine.control import ALL_PREFIX, ControlResult, Target, Unknown, resolve_name
from tests.bot.conftest import T0, TODAY, BotWorld, bot_config, open_world

COOL_UNTIL = T0 + timedelta(days=14)


def result(value: ControlResult | Unknown) -> ControlResult:
    assert isinstance(value, ControlResult), value
    return value


async def reserve_warmup(world: BotWorld, address: str) -> object:
    """Ask the database for one warm-up slot of a mailbox: the guard the engine goes through."""
    row = await world.stores.control.mailbox_by_address(address)
    assert row is not None
    return await world.stores.sending.reserve(
        Reservation(
            kind=SendKind.WARMUP,
            mailbox_id=row.id,
            day=TODAY.isoformat(),
            now=T0,
            next_send_at=T0,
            mailbox_cap=40,
        )  # fmt: skip
    )


def test_resolve_exact_names_any_case_and_all() -> None:
    def resolve(name: str, allow_all: bool = True) -> Target | Unknown:
        return resolve_name(
            name, mailboxes=["Alex@d0.test"], domains=["d0.test"], campaigns=["Q4", "q4"],
            allow_all=allow_all,
        )  # fmt: skip

    assert resolve("alex@D0.TEST") == Target("mailbox", "Alex@d0.test")
    assert resolve(" D0.test ") == Target("domain", "d0.test")
    assert resolve("q4") == Target("campaign", "q4")  # exact beats case-folded
    assert resolve("Q4") == Target("campaign", "Q4")
    assert resolve("ALL") == Target("all", "all")
    assert isinstance(resolve("all", allow_all=False), Unknown)


def test_resolve_unknown_suggests_the_closest_names() -> None:
    found = resolve_name(
        "m0@d0.tst",
        mailboxes=["m0@d0.test", "m1@d0.test", "m0@d1.test", "zz@other.org"],
        domains=["d0.test"],
        campaigns=["q4"],
    )
    assert isinstance(found, Unknown)
    assert found.suggestions[0] == "m0@d0.test"
    assert "zz@other.org" not in found.suggestions
    assert len(found.suggestions) <= 3


async def test_pause_mailbox_stops_its_reservations_and_resume_restarts_them(
    world: BotWorld,
) -> None:
    paused = result(await world.control.pause("m0@d0.test", "checking DNS", actor="admin 111"))
    assert [(c.subject, c.before, c.after) for c in paused.changed] == [
        ("mailbox m0@d0.test", "active", "paused")
    ]
    assert await world.mailbox_state("m0@d0.test") == (
        "paused",
        "paused by admin 111: checking DNS",
    )
    refused = await reserve_warmup(world, "m0@d0.test")
    assert refused == Refused(RefusalReason.MAILBOX_STATE)
    assert await world.mailbox_state("m1@d0.test") == ("active", "")

    again = result(await world.control.pause("m0@d0.test"))
    assert not again.changed
    assert "already paused" in again.left[0].why

    resumed = result(await world.control.resume("M0@d0.test"))
    assert [(c.before, c.after) for c in resumed.changed] == [("paused", "active")]
    assert await world.mailbox_state("m0@d0.test") == ("active", "")
    assert not isinstance(await reserve_warmup(world, "m0@d0.test"), Refused)


async def test_resume_of_a_mailbox_that_is_not_paused_changes_nothing(world: BotWorld) -> None:
    outcome = result(await world.control.resume("m1@d1.test"))
    assert not outcome.changed
    assert outcome.left[0].why == "not paused (active)"


async def test_a_warming_mailbox_goes_back_to_warming(tmp_path: Path) -> None:
    async with open_world(tmp_path, bot_config(warming="m1@d1.test")) as world:
        assert (await world.mailbox_state("m1@d1.test"))[0] == "warming"
        result(await world.control.pause("m1@d1.test"))
        resumed = result(await world.control.resume("m1@d1.test"))
        assert resumed.changed[0].after == "warming"
        row = await world.stores.control.mailbox_by_address("m1@d1.test")
        assert row is not None and row.warmup_start == TODAY  # the ramp is kept


async def test_pause_domain_keeps_mailbox_states_and_resume_names_paused_ones(
    world: BotWorld,
) -> None:
    result(await world.control.pause("m1@d0.test", "own reason"))
    paused = result(await world.control.pause("d0.test"))
    assert [(c.subject, c.after) for c in paused.changed] == [("domain d0.test", "paused")]
    assert await world.domain_state("d0.test") == "paused"
    assert (await world.mailbox_state("m0@d0.test"))[0] == "active"
    assert await reserve_warmup(world, "m0@d0.test") == Refused(RefusalReason.DOMAIN_STATE)

    resumed = result(await world.control.resume("d0.test"))
    assert await world.domain_state("d0.test") == "active"
    assert [item.subject for item in resumed.left] == ["mailbox m1@d0.test"]
    assert "/resume m1@d0.test" in resumed.left[0].why
    assert (await world.mailbox_state("m1@d0.test"))[0] == "paused"


async def test_a_cool_down_ends_early_only_with_force(world: BotWorld) -> None:
    await world.stores.health.cool_down_domain("d0.test", "spam block", COOL_UNTIL)
    kept = result(await world.control.resume("d0.test"))
    assert not kept.changed
    assert f"until {COOL_UNTIL:%Y-%m-%d}" in kept.left[0].why
    assert "force" in kept.left[0].why
    assert await world.domain_state("d0.test") == "cooldown"

    forced = result(await world.control.resume("d0.test", force=True))
    assert forced.changed[0].after == "active"
    assert "2 mailbox(es) restart warm-up at phase 2" in forced.changed[0].note
    for address in ("m0@d0.test", "m1@d0.test"):
        row = await world.stores.control.mailbox_by_address(address)
        assert row is not None
        assert row.state is MailboxState.WARMING
        assert row.warmup_start == TODAY - timedelta(days=world.config.warmup.phase1_days)


async def test_force_on_a_cooling_mailbox_ends_its_domains_cool_down(world: BotWorld) -> None:
    await world.stores.health.cool_down_domain("d0.test", "spam block", COOL_UNTIL)
    kept = result(await world.control.resume("m0@d0.test"))
    assert not kept.changed and "cooling down with d0.test" in kept.left[0].why

    forced = result(await world.control.resume("m0@d0.test", force=True))
    assert [c.subject for c in forced.changed] == ["domain d0.test", "mailbox m0@d0.test"]
    assert await world.domain_state("d0.test") == "active"
    assert (await world.mailbox_state("m0@d0.test"))[0] == "warming"
    assert (await world.mailbox_state("m1@d0.test"))[0] == "warming"


async def test_a_mailbox_paused_in_a_cool_down_returns_to_it_then_to_phase_2(
    world: BotWorld,
) -> None:
    await world.stores.health.cool_down_domain("d0.test", "spam block", COOL_UNTIL)
    paused = result(await world.control.pause("m0@d0.test"))
    assert paused.changed[0].before == "cooldown"
    assert "stays paused" in paused.changed[0].note
    row = await world.stores.control.mailbox_by_address("m0@d0.test")
    assert row is not None
    # The restart the cool-down's end would have given it: phase 2 from that day.
    assert row.warmup_start == date(2026, 12, 7) - timedelta(days=7)

    back = result(await world.control.resume("m0@d0.test"))
    assert back.changed[0].after == "cooldown"
    assert (await world.mailbox_state("m0@d0.test")) == ("cooldown", "spam block")


async def test_campaign_pause_resume_and_a_system_stop_needs_force(world: BotWorld) -> None:
    result(await world.control.pause("q4-cto", "copy review"))
    assert await world.campaign_state("q4-cto") == "paused"
    assert await world.campaign_state("q4-founders") == "active"
    result(await world.control.resume("q4-cto"))
    assert await world.campaign_state("q4-cto") == "active"

    camp = next(c for c in await world.stores.control.campaigns() if c.name == "q4-founders")
    await world.stores.control.set_campaign_state(camp.id, CampaignState.STOPPED, "template error")
    kept = result(await world.control.resume("q4-founders"))
    assert not kept.changed and "template error" in kept.left[0].why
    forced = result(await world.control.resume("q4-founders", force=True))
    assert forced.changed[0].after == "active"
    assert "stops again" in forced.changed[0].note


async def test_pause_all_and_resume_all_undo_each_other_only(world: BotWorld) -> None:
    health_paused = await world.stores.control.mailbox_by_address("m1@d1.test")
    assert health_paused is not None
    await world.stores.control.set_mailbox_state(
        health_paused.id, MailboxState.PAUSED, "bounce rate 9%"
    )

    paused = result(await world.control.pause("all", "holiday", actor="admin 111"))
    subjects = {c.subject for c in paused.changed}
    assert subjects == {
        "campaign q4-founders",
        "campaign q4-cto",
        "mailbox m0@d0.test",
        "mailbox m1@d0.test",
        "mailbox m0@d1.test",
    }
    assert [item.subject for item in paused.left] == ["mailbox m1@d1.test"]
    assert paused.notes
    state, reason = await world.mailbox_state("m0@d1.test")
    assert state == "paused" and reason.startswith(ALL_PREFIX) and reason.endswith("holiday")
    for address in ("m0@d0.test", "m1@d0.test", "m0@d1.test"):
        assert await reserve_warmup(world, address) == Refused(RefusalReason.MAILBOX_STATE)

    resumed = result(await world.control.resume("all"))
    assert {c.subject for c in resumed.changed} == subjects
    assert await world.mailbox_state("m1@d1.test") == ("paused", "bounce rate 9%")
    assert "/resume m1@d1.test" in resumed.left[0].why
    assert resumed.notes  # says how to resume the rest

    forced = result(await world.control.resume("all", force=True))
    assert [c.subject for c in forced.changed] == ["mailbox m1@d1.test"]
    assert await world.mailbox_state("m1@d1.test") == ("active", "")


async def test_pause_all_also_holds_cooling_mailboxes(world: BotWorld) -> None:
    await world.stores.health.cool_down_domain("d1.test", "spam block", COOL_UNTIL)
    result(await world.control.pause("all"))
    assert (await world.mailbox_state("m0@d1.test"))[0] == "paused"
    resumed = result(await world.control.resume("all"))
    # Still inside the domain's cool-down: back to it, not to sending.
    assert (await world.mailbox_state("m0@d1.test"))[0] == "cooldown"
    assert (await world.mailbox_state("m0@d0.test"))[0] == "active"
    assert any(c.subject == "mailbox m0@d1.test" and c.after == "cooldown" for c in resumed.changed)


async def test_unknown_names_change_nothing(world: BotWorld) -> None:
    found = await world.control.pause("q4-founder")
    assert isinstance(found, Unknown)
    assert found.suggestions[0] == "q4-founders"
    assert {c.state.value for c in await world.stores.control.campaigns()} == {"active"}
