"""storage/placements.py: first sightings with the cursor, 7-day counts, and the hold."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import aiosqlite
import pytest

from core.placement import PlacementCount, WarmupOrigin
from core.records import FolderCursor, NewAlert, Placement, WarmupMail, WarmupShare
from storage.stores import Stores
from tests.storage.helpers import DAY, T0, sample, scalar


def mail(mailbox_id: int, n: int, *, answers: str | None = None) -> WarmupMail:
    return WarmupMail(
        mailbox_id=mailbox_id,
        recipient="seed@seed.test",
        due_at=T0,
        message_id=f"<w{n}@a.test>",
        answers=answers,
    )


def placed(message_id: str, mailbox_id: int, *, spam: bool, at: timedelta) -> Placement:
    return Placement(message_id, "seed@seed.test", mailbox_id, spam, T0 + at)


def alert(text: str) -> NewAlert:
    return NewAlert("placement_hold:a1@a.test", "critical", text, (0,), T0, T0)


async def test_origins_name_the_sending_mailbox_and_whether_it_is_answered(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, _ = await sample(stores, conn)
    a1, b1 = boxes["a1@a.test"], boxes["b1@b.test"]
    shares = [WarmupShare(a1, 2), WarmupShare(b1, 1)]
    await stores.warmup.plan_day(DAY, shares, [mail(a1, 1), mail(a1, 2), mail(b1, 4)])
    # b1's answer to w1 takes the place of its unsent new mail w4.
    assert await stores.warmup.plan_answers(DAY, [mail(b1, 3, answers="<w1@a.test>")]) == 1

    found = await stores.placements.origins(
        ["<w1@a.test>", "<w2@A.TEST>", "<w3@a.test>", "<other@a.test>", "<W2@a.test>"]
    )
    assert found == {
        "<w1@a.test>": WarmupOrigin("<w1@a.test>", a1, "a1@a.test", answered=True),
        # A server that re-cased the domain part still finds it; the left part is exact.
        "<w2@A.TEST>": WarmupOrigin("<w2@a.test>", a1, "a1@a.test", answered=False),
        "<w3@a.test>": WarmupOrigin("<w3@a.test>", b1, "b1@b.test", answered=False),
    }
    assert await stores.placements.origins(["<w4@a.test>"]) == {}  # replaced: never sent


async def test_first_sighting_wins_and_the_cursor_moves_with_it(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, _ = await sample(stores, conn)
    a1 = boxes["a1@a.test"]
    store = stores.placements
    source = "warmup:seed@seed.test:Junk"
    assert await store.folder_cursor(source) is None
    spam = [placed("<w1@a.test>", a1, spam=True, at=timedelta(0))]
    assert await store.record(spam, source, FolderCursor(7, 3), T0) == 1
    assert await store.folder_cursor(source) == FolderCursor(7, 3)

    # Rescued, it shows up in the inbox: it stays spam, and only the new one counts.
    inbox = [
        placed("<w1@a.test>", a1, spam=False, at=timedelta(minutes=1)),
        placed("<w2@a.test>", a1, spam=False, at=timedelta(minutes=1)),
    ]
    assert await store.record(inbox, "warmup:seed@seed.test:INBOX", None, T0) == 1
    assert await store.folder_cursor("warmup:seed@seed.test:INBOX") is None  # None: unmoved
    rows = await conn.execute_fetchall("SELECT message_id, folder FROM placements ORDER BY 1")
    assert [tuple(r) for r in rows] == [("<w1@a.test>", "spam"), ("<w2@a.test>", "inbox")]
    assert await store.record(spam, source, FolderCursor(7, 5), T0) == 0
    assert await store.folder_cursor(source) == FolderCursor(7, 5)


async def test_a_failed_record_stores_nothing_and_leaves_the_cursor(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    """Placements and cursor commit together: one refused row undoes the batch."""
    boxes, _ = await sample(stores, conn)
    a1 = boxes["a1@a.test"]
    store = stores.placements
    source = "warmup:seed@seed.test:INBOX"
    assert await store.record([], source, FolderCursor(7, 2), T0) == 0
    # A mailbox that does not exist fails the foreign key after a good row went in.
    batch = [
        placed("<w1@a.test>", a1, spam=False, at=timedelta(0)),
        placed("<w2@a.test>", 999_999, spam=False, at=timedelta(0)),
    ]
    with pytest.raises(sqlite3.IntegrityError):
        await store.record(batch, source, FolderCursor(7, 9), T0)
    assert await scalar(conn, "SELECT count(*) FROM placements") == 0
    assert await store.folder_cursor(source) == FolderCursor(7, 2)
    # The connection is out of the failed transaction: the next batch commits.
    assert await store.record(batch[:1], source, FolderCursor(7, 9), T0) == 1
    assert await store.folder_cursor(source) == FolderCursor(7, 9)


async def test_counts_per_sending_mailbox_over_the_window(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, _ = await sample(stores, conn)
    a1, b1 = boxes["a1@a.test"], boxes["b1@b.test"]
    store = stores.placements
    rows = [placed(f"<old{n}@a.test>", a1, spam=True, at=timedelta(days=-8)) for n in range(5)]
    rows += [placed(f"<i{n}@a.test>", a1, spam=False, at=timedelta(hours=n)) for n in range(3)]
    rows += [placed("<s1@a.test>", a1, spam=True, at=timedelta(hours=1))]
    rows += [placed("<b1@b.test>", b1, spam=True, at=timedelta(hours=2))]
    await store.record(rows, "warmup:x:INBOX", None, T0)

    now = T0 + timedelta(days=1)
    assert await store.counts(now - timedelta(days=7), now) == [
        PlacementCount(a1, "a1@a.test", inbox=3, spam=1),  # the 8-day-old ones left out
        PlacementCount(b1, "b1@b.test", inbox=0, spam=1),
    ]
    # A held mailbox is listed even when no placement is left in the window.
    assert await store.set_hold(boxes["a2@a.test"], True, alert("held"))
    later = now + timedelta(days=30)
    assert await store.counts(later - timedelta(days=7), later) == [
        PlacementCount(boxes["a2@a.test"], "a2@a.test", 0, 0, held=True)
    ]


async def test_hold_and_release_commit_with_their_alert_once(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    boxes, _ = await sample(stores, conn)
    a1 = boxes["a1@a.test"]
    store = stores.placements
    assert await store.set_hold(a1, True, alert("held"))
    assert not await store.set_hold(a1, True, alert("held again"))  # no change, no alert
    assert await scalar(conn, "SELECT placement_hold FROM mailboxes WHERE id = ?", (a1,)) == 1
    assert await store.set_hold(a1, False, alert("released"))
    assert await scalar(conn, "SELECT placement_hold FROM mailboxes WHERE id = ?", (a1,)) == 0
    texts = await conn.execute_fetchall("SELECT text FROM alerts ORDER BY id")
    assert [r[0] for r in texts] == ["held", "released"]
