"""/status's counts: lead_counts kept by triggers, today's sends from the usage_day index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite
from hypothesis import given, settings
from hypothesis import strategies as st

from core.models import LeadState, MailboxState
from core.records import Effects, Reserved
from engine.importer import import_leads
from storage.db import open_db, user_version
from storage.lead_store import LeadStore
from storage.migrations import MIGRATIONS
from storage.status import campaign_counts, sent_on
from storage.stores import Stores
from tests.storage.helpers import (
    DAY,
    T0,
    TODAY,
    add_lead,
    campaign,
    campaign_req,
    config,
    deliver,
    ids,
    mailbox,
    warmup_req,
)

STATES = [s.value for s in LeadState]


async def truth(conn: aiosqlite.Connection) -> dict[tuple[int, str], int]:
    """Leads per (campaign, state), counted the slow way."""
    rows = await conn.execute_fetchall(
        "SELECT campaign_id, state, count(*) FROM leads NOT INDEXED GROUP BY campaign_id, state"
    )
    return {(int(r[0]), str(r[1])): int(r[2]) for r in rows}


async def kept(conn: aiosqlite.Connection) -> dict[tuple[int, str], int]:
    """What campaign_counts reports, flattened."""
    return {
        (c.id, state): n for c in await campaign_counts(conn, DAY) for state, n in c.leads.items()
    }


async def setup(stores: Stores, conn: aiosqlite.Connection) -> dict[str, int]:
    await stores.config.sync_config(
        config(
            [mailbox("a@x.test"), mailbox("b@y.test")], [campaign("one"), campaign("two")]
        ).rules(),
        TODAY,
    )
    return await ids(conn, "campaigns", "name")


async def test_counts_follow_inserts_and_every_state_change(
    stores: Stores, conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    camps = await setup(stores, conn)
    boxes = await ids(conn, "mailboxes", "address")
    one, two = camps["one"], camps["two"]
    leads = [await add_lead(conn, one, f"p{i}@lead.test") for i in range(6)]
    await add_lead(conn, two, "q@lead.test")
    assert await kept(conn) == await truth(conn) == {(one, "queued"): 6, (two, "queued"): 1}

    # The importer's bulk INSERT ... SELECT (check constraints off meanwhile) is counted too.
    csv = tmp_path / "leads.csv"
    csv.write_text("email\n" + "".join(f"r{i}@importer.com\n" for i in range(40)))
    report = await import_leads(LeadStore(conn), csv, "two", now=T0)
    assert report.imported == 40
    assert (await kept(conn))[(two, "queued")] == 41
    # The importer counts its bulk INSERT itself and puts the insert trigger back after it.
    await add_lead(conn, two, "after-import@lead.test")
    assert (await kept(conn))[(two, "queued")] == 42
    await conn.execute("DELETE FROM leads WHERE email = 'after-import@lead.test'")

    # Reserving step 1 makes the lead active; a delivered last step finishes it.
    assert isinstance(
        await stores.sending.reserve(campaign_req(boxes["a@x.test"], leads[0], one)), Reserved
    )
    second = await stores.sending.reserve(campaign_req(boxes["b@y.test"], leads[1], one))
    assert isinstance(second, Reserved)
    await deliver(stores.sending, second.send_id, leads[1], T0, None)  # its last step: finished
    await stores.sending.apply(Effects(close_lead=(leads[2], LeadState.BOUNCED)))
    # closed already: no change
    await stores.sending.apply(Effects(close_lead=(leads[2], LeadState.REPLIED)))
    unsubscribe = Effects(close_address=("P3@lead.test", LeadState.UNSUBSCRIBED))
    assert (await stores.events.apply(unsubscribe)).closed_leads == 1
    # The same state written again, a column other than state, a move between campaigns.
    await conn.execute("UPDATE leads SET state = state, next_step = 2 WHERE id = ?", (leads[4],))
    await conn.execute("UPDATE leads SET campaign_id = ? WHERE id = ?", (two, leads[5]))
    await conn.execute("DELETE FROM leads WHERE email LIKE 'r1%@importer.com'")
    counts = await kept(conn)
    assert counts == await truth(conn)
    assert counts[(one, "active")] == 1
    assert counts[(one, "finished")] == 1
    assert counts[(one, "bounced")] == 1
    assert counts[(one, "unsubscribed")] == 1
    assert counts[(two, "queued")] == 41 - 11 + 1
    assert (one, "replied") not in counts


async def test_a_state_that_emptied_is_left_out(stores: Stores, conn: aiosqlite.Connection) -> None:
    camps = await setup(stores, conn)
    lead = await add_lead(conn, camps["one"], "p@lead.test")
    await stores.sending.apply(Effects(close_lead=(lead, LeadState.FAILED)))
    [one, two] = sorted(await campaign_counts(conn, DAY), key=lambda c: c.name)
    assert one.leads == {"failed": 1}  # no "queued": 0
    assert two.leads == {}


async def test_migration_counts_the_leads_already_there(db_path: Path) -> None:
    # A database of the schema before lead_counts, with leads in it, then opened by this version.
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as db:
        for number, script in enumerate(MIGRATIONS[:2], 1):
            db.executescript(script)
            db.execute(f"PRAGMA user_version = {number}")
        db.execute(
            "INSERT INTO campaigns (id, name, timezone, days, hours, created_at) "
            "VALUES (1, 'old', 'UTC', '[\"mon\"]', '09:00-17:00', 0)"
        )
        db.executemany(
            "INSERT INTO leads (campaign_id, email, state, created_at) VALUES (1, ?, ?, 0)",
            [(f"p{i}@lead.test", STATES[i % 3]) for i in range(10)],
        )
    conn = await open_db(db_path)
    try:
        assert await user_version(conn) == len(MIGRATIONS)
        assert await kept(conn) == await truth(conn) == {(1, "queued"): 4, (1, "active"): 3,
                                                         (1, "finished"): 3}  # fmt: skip
        await conn.execute("UPDATE leads SET state = 'replied' WHERE email = 'p0@lead.test'")
        assert await kept(conn) == await truth(conn)
    finally:
        await conn.close()


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.integers(1, 3), st.sampled_from(STATES)),
        st.tuples(st.just("state"), st.integers(1, 30), st.sampled_from(STATES)),
        st.tuples(st.just("move"), st.integers(1, 30), st.integers(1, 3)),
        st.tuples(st.just("delete"), st.integers(1, 30), st.just(0)),
        st.tuples(st.just("close"), st.sampled_from(STATES), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(_OPS)
def test_counts_match_a_full_count_after_any_writes(ops: list[tuple[object, ...]]) -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    for script in MIGRATIONS:
        db.executescript(script)  # foreign keys are off here: campaigns 1..3 need no rows
    for n, (op, a, b) in enumerate(ops):
        if op == "insert":
            db.execute(
                "INSERT INTO leads (campaign_id, email, state, created_at) VALUES (?, ?, ?, 0)",
                (a, f"p{n}@lead.test", b),
            )
        elif op == "state":
            db.execute("UPDATE leads SET state = ? WHERE id = ?", (b, a))
        elif op == "move":
            db.execute("UPDATE leads SET campaign_id = ? WHERE id = ?", (b, a))
        elif op == "delete":
            db.execute("DELETE FROM leads WHERE id = ?", (a,))
        else:  # many rows at once, as close_open_leads does
            db.execute("UPDATE leads SET state = ? WHERE state IN ('queued', 'active')", (a,))
    full = db.execute(
        "SELECT campaign_id, state, count(*) FROM leads GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    summary = db.execute(
        "SELECT campaign_id, state, n FROM lead_counts WHERE n > 0 ORDER BY 1, 2"
    ).fetchall()
    assert summary == full
    assert db.execute("SELECT count(*) FROM lead_counts WHERE n < 0").fetchone()[0] == 0


async def test_sent_on_sums_every_mailbox_of_that_day_from_the_index(
    stores: Stores, conn: aiosqlite.Connection
) -> None:
    await stores.config.sync_config(
        config([mailbox("a@x.test"), mailbox("b@x.test"), mailbox("c@y.test")]).rules(), TODAY
    )
    boxes = await ids(conn, "mailboxes", "address")
    for address, n in (("a@x.test", 3), ("b@x.test", 2), ("c@y.test", 1)):
        for i in range(n):
            await stores.sending.reserve(warmup_req(boxes[address], T0.replace(hour=9 + i)))
    # A mailbox removed from the config later still counts for the day it sent on.
    await stores.control.set_mailbox_state(boxes["c@y.test"], MailboxState.DISABLED, "removed")
    await conn.execute(
        "INSERT INTO usage (scope, ref, day, sent) VALUES ('mailbox', ?, '2026-03-01', 7)",
        (boxes["a@x.test"],),
    )
    assert await sent_on(conn, DAY) == 6
    assert await sent_on(conn, "2026-03-01") == 7
    assert await sent_on(conn, "2026-03-03") == 0
    plan = await conn.execute_fetchall(
        "EXPLAIN QUERY PLAN SELECT coalesce(sum(sent), 0) FROM usage "
        "WHERE scope = 'mailbox' AND day = ?",
        (DAY,),
    )
    assert "COVERING INDEX usage_day" in " ".join(str(row[3]) for row in plan)
