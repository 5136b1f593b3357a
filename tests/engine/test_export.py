"""engine/export.py: a campaign's leads as CSV, page by page, matching the database."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.models import EventKind
from engine.admin import AdminError
from engine.export import export_for_chat, write_export
from tests.bot.data_world import DataWorld, data_world
from tests.engine.lead_history import campaign_send, send_event, set_label

SENT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
HEADER = ["email", "state", "steps_sent", "last_event", "last_event_at", "label"]


async def arrange(world: DataWorld) -> list[list[str]]:
    """Five leads of q4 with different histories, one lead of another campaign; the rows."""
    emails = [f"lead{i}@x.test" for i in range(5)]
    await world.add_leads("q4", emails[:4], state="active")
    await world.add_leads("q4", emails[4:])  # queued: nothing sent
    await world.add_leads("spring-founders", ["other@x.test"], state="active")
    await campaign_send(world, "spring-founders", "other@x.test", 1, SENT)
    first = await campaign_send(world, "q4", emails[0], 1, SENT)
    second = await campaign_send(world, "q4", emails[0], 2, SENT + timedelta(days=3))
    await send_event(world, first, EventKind.DELIVERED, SENT + timedelta(minutes=1))
    await send_event(world, second, EventKind.REPLY, SENT + timedelta(days=3, hours=2))
    await send_event(world, first, EventKind.OPEN, SENT + timedelta(days=1))  # older: not last
    await set_label(world, "q4", emails[0], "interested")
    bounced = await campaign_send(world, "q4", emails[1], 1, SENT)
    await send_event(world, bounced, EventKind.BOUNCE_HARD, SENT + timedelta(seconds=30))
    await world.conn.execute("UPDATE leads SET state = 'bounced' WHERE email = ?", (emails[1],))
    await campaign_send(world, "q4", emails[2], 1, SENT)  # sent, nothing heard
    await campaign_send(world, "q4", emails[3], 1, SENT, state="unknown")  # never confirmed
    return [
        ["lead0@x.test", "active", "2", "reply", "2026-11-23T11:00:00Z", "interested"],
        ["lead1@x.test", "bounced", "1", "bounce_hard", "2026-11-20T09:00:30Z", ""],
        ["lead2@x.test", "active", "1", "", "", ""],
        ["lead3@x.test", "active", "0", "", "", ""],
        ["lead4@x.test", "queued", "0", "", "", ""],
    ]


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.reader(stream))


@pytest.mark.parametrize("page", [2, 1000])  # pages that split the leads, and one that holds all
async def test_every_lead_once_with_its_history(tmp_path: Path, page: int) -> None:
    async with data_world(tmp_path) as world:
        expected = await arrange(world)
        done = await write_export(world.ctx.reports, "q4", tmp_path / "q4.csv", page=page)
    assert done.leads == 5
    assert read_csv(done.path) == [HEADER, *expected]


async def test_a_campaign_without_leads_is_a_header(tmp_path: Path) -> None:
    async with data_world(tmp_path) as world:
        done = await write_export(world.ctx.reports, "q4", tmp_path / "q4.csv")
    assert (done.leads, read_csv(done.path)) == (0, [HEADER])


async def test_an_unknown_campaign_is_named_and_no_file_is_left(tmp_path: Path) -> None:
    async with data_world(tmp_path) as world:
        with pytest.raises(AdminError, match="no campaign named 'q5'; did you mean q4"):
            async with export_for_chat(world.ctx.reports, world.clock, "q5"):
                pass
    assert not (tmp_path / "q5.csv").exists()


async def test_the_chat_copy_is_named_after_the_campaign_and_removed_after(
    tmp_path: Path,
) -> None:
    async with data_world(tmp_path) as world:
        await arrange(world)
        async with export_for_chat(world.ctx.reports, world.clock, "q4") as done:
            assert done.path.name == "q4-20261123-140000.csv"  # data_world's clock
            assert len(read_csv(done.path)) == 6
        assert not done.path.parent.exists()
