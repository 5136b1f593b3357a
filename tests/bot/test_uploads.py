"""bot/uploads.py: what documents are accepted, the pending campaign, throttled progress."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.uploads import MAX_BYTES, FileKind, PendingUploads, Throttle, check_document
from engine.admin import AdminError
from tests.bot.data_world import T0


@pytest.mark.parametrize(
    ("name", "kind"),
    [("leads.csv", FileKind.LEADS), ("Leads.XLSX", FileKind.LEADS), ("c.toml", FileKind.CAMPAIGN)],
)
def test_accepted_files(name: str, kind: FileKind) -> None:
    assert check_document(name, 1000) is kind
    assert check_document(name, MAX_BYTES) is kind
    assert check_document(name, None) is kind


def test_above_20_mb_is_refused_with_the_reason() -> None:
    with pytest.raises(AdminError, match=r"25\.0 MB; files above 20\.0 MB are refused"):
        check_document("leads.csv", 25 * 1024 * 1024)


@pytest.mark.parametrize("name", ["leads.xls", "leads.txt", "leads", None, "csv"])
def test_other_files_are_refused_saying_what_is_accepted(name: str | None) -> None:
    with pytest.raises(AdminError, match=r"send leads as \.csv or \.xlsx, or a campaign as \.toml"):
        check_document(name, 10)


def test_pending_campaign_expires() -> None:
    pending = PendingUploads(ttl=timedelta(minutes=5))
    pending.expect(1, "q4", T0)
    pending.expect(2, None, T0)
    item = pending.get(1, T0 + timedelta(minutes=4))
    assert item is not None and item.campaign == "q4"
    assert pending.get(1, T0 + timedelta(minutes=5)) is None
    pending.clear(2)
    assert pending.get(2, T0) is None


async def test_throttle_passes_at_most_one_update_per_interval() -> None:
    seen: list[int] = []
    now = [0.0]

    async def target(rows: int) -> None:
        seen.append(rows)

    throttle = Throttle(target, interval=2.0, monotonic=lambda: now[0])
    for step, rows in ((0.5, 10), (2.1, 20), (2.5, 30), (4.2, 40), (9.0, 50)):
        now[0] = step
        await throttle(rows)
    assert seen == [20, 40, 50]
