"""The daily digest end to end: the real `python main.py`, the fake Bot API, a local DNS server.

The config's digest_hour is the current UTC hour, so the service starts within it and catches
up the digest of yesterday at once (the cron job's own run is tomorrow's). Yesterday's activity
is written into the database before the start; the digest must say it exactly, and a restart in
the same hour must not send it again (issue 14).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from core.models import EventKind
from core.records import NewEvent
from storage.db import to_ms
from storage.stores import Stores
from tests.e2e.procs import base_env, query, run_main, spawn_main, start_smtp
from tests.engine.test_dns_check import GOOD
from tests.fakes.dns_server import FakeDnsServer
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.waiting import eventually

ADMIN = 111
ALERT_CHAT = 333  # ALERT_CHAT_IDS: not the admin's chat, so the digest must be routed there
STARTUP_SECONDS = 60
# A start this late in an hour might reach the scheduler in the next one: wait for that hour.
LAST_SAFE_MINUTE = 57
LEADS = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]


def write_config(tmp: Path, smtp_port: int, nameserver: str, digest_hour: int) -> None:
    """d0.test (every DNS record) and d1.test (none); 70 a day against a target of 150."""
    server = (f'{{ host = "127.0.0.1", port = {smtp_port}, security = "starttls", '
              'username = "u", password = "env:SMTP_PW" }')  # fmt: skip
    (tmp / "outreach.toml").write_text(f"""
[sending]
timezone = "UTC"
daily_target = 150
tick_seconds = 1
postal_address = "Test Ltd, 1 Main St"

[alerts]
digest_hour = {digest_hour}

[dns]
nameserver = "{nameserver}"
dkim_selectors = ["s1"]

# Yesterday's complaint and bounce stay below every threshold: the health job, which runs at
# start beside the catch-up, changes no state the digest reports.
[health]
complaints_pause = 100
bounce_warn = 0.5
bounce_pause = 0.9
domain_complaint_alert = 0.9

[[domains]]
name = "d0.test"

[[domains]]
name = "d1.test"

[[mailboxes]]
address = "m0@d0.test"
daily_limit = 40
smtp = {server}

[[mailboxes]]
address = "m1@d0.test"
daily_limit = 25
smtp = {server}

[[mailboxes]]
address = "m0@d1.test"
daily_limit = 30
smtp = {server}

[[campaigns]]
name = "launch"
hours = "00:00-24:00"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
[[campaigns.steps]]
subject = "Hello {{{{ first_name }}}}"
body = "Hi {{{{ first_name }}}}, a short note."
""")


async def digest_hour_now() -> datetime:
    """Now, after waiting for the next hour when this one is nearly over."""
    now = datetime.now(UTC)
    if now.minute >= LAST_SAFE_MINUTE:
        next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        await asyncio.sleep((next_hour - now).total_seconds() + 1)
        now = datetime.now(UTC)
    return now


async def arrange_yesterday(db_path: Path, yesterday: date) -> None:
    """Sends, events, labels and a paused mailbox, as the service would have stored them."""
    start = datetime(yesterday.year, yesterday.month, yesterday.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    noon = start + timedelta(hours=12)
    stores = await Stores.open(db_path)
    conn = stores.db.conn
    try:
        rows = await conn.execute_fetchall("SELECT address, id FROM mailboxes")
        boxes = {str(r[0]): int(r[1]) for r in rows}
        rows = await conn.execute_fetchall("SELECT email, id, campaign_id FROM leads")
        leads = {str(r[0]).split("@")[0]: (int(r[1]), int(r[2])) for r in rows}

        async def send(mailbox: str, at: datetime, lead: str | None = None,
                       state: str = "sent") -> int:  # fmt: skip
            lead_id, campaign_id = leads[lead] if lead else (None, None)
            ms = to_ms(at)
            async with conn.execute(
                "INSERT INTO sends (kind, lead_id, campaign_id, step_no, mailbox_id, day, state, "
                "reserved_at, sent_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ("campaign" if lead else "warmup", lead_id, campaign_id, 1 if lead else None,
                 boxes[mailbox], at.date().isoformat(), state, ms,
                 ms if state == "sent" else None, ms),
            ) as cursor:  # fmt: skip
                assert cursor.lastrowid is not None
                return cursor.lastrowid

        async def event(send_id: int, kind: EventKind, at: datetime, copy: str = "") -> None:
            sql = "SELECT mailbox_id, campaign_id, step_no FROM sends WHERE id = ?"
            (row,) = await conn.execute_fetchall(sql, (send_id,))
            added = await stores.events.add_event(NewEvent(
                source="imap", source_id=f"e2e-{send_id}-{kind.value}{copy}", kind=kind,
                occurred_at=at, received_at=at, mailbox_id=row[0], send_id=send_id,
                campaign_id=row[1], step_no=row[2],
            ))  # fmt: skip
            assert added

        for _ in range(3):  # warm-up mail of yesterday
            await send("m0@d0.test", noon)
        sends = {lead: await send("m0@d1.test", noon, lead) for lead in "abcdeg"}
        await send("m0@d1.test", noon, "f", state="unknown")  # interrupted: never counted sent
        before = await send("m0@d0.test", start - timedelta(milliseconds=1), "h")  # the day before
        await send("m0@d0.test", end, "i")  # today's first millisecond: today's, not yesterday's
        later = noon + timedelta(hours=2)
        await event(sends["a"], EventKind.REPLY, later)
        await event(sends["a"], EventKind.REPLY, later, copy="-again")  # another copy: once
        await event(sends["b"], EventKind.REPLY, later)
        await event(sends["e"], EventKind.REPLY, later)
        await event(sends["c"], EventKind.COMPLAINT, later)
        await event(sends["d"], EventKind.BOUNCE_HARD, later)
        await event(before, EventKind.REPLY, start - timedelta(minutes=1))  # the day before
        await event(sends["g"], EventKind.BOUNCE_HARD, end)  # today
        # Where each lead stands now: nothing is left for the engine to send.
        states = {"a": "replied", "b": "replied", "e": "replied", "c": "complained",
                  "d": "bounced", "g": "finished", "h": "replied", "i": "finished"}  # fmt: skip
        for lead, state in states.items():
            await conn.execute("UPDATE leads SET state = ? WHERE id = ?", (state, leads[lead][0]))
        await conn.execute("UPDATE leads SET state = 'active' WHERE id = ?", (leads["f"][0],))
        for lead, label in (("a", "interested"), ("b", "not_interested")):
            await conn.execute("UPDATE leads SET label = ? WHERE id = ?", (label, leads[lead][0]))
        await conn.execute(
            "UPDATE mailboxes SET state = 'paused', reason = 'by admin' "
            "WHERE address = 'm1@d0.test'"
        )
        await conn.commit()
    finally:
        await stores.close()


async def deliveries_done(tmp: Path) -> bool:
    """Every alert raised so far has gone to its chat."""
    rows = await query(tmp, "SELECT count(*) FROM alert_deliveries WHERE state != 'sent'")
    return rows[0][0] == 0


@asynccontextmanager
async def running(env: dict[str, str], log: Path, fake: FakeTelegram) -> AsyncIterator[None]:
    """`python main.py` with the bot on until the block ends; then SIGTERM and a clean exit."""
    polls = fake.attempts("getUpdates")
    proc: subprocess.Popen[bytes] = spawn_main(env, log)
    try:
        await fake.wait_for(lambda: fake.attempts("getUpdates") > polls, within=STARTUP_SECONDS)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 20)
        text = await asyncio.to_thread(log.read_text)
        assert code == 0, text[-3000:]
    assert TOKEN not in text and TOKEN.split(":")[1] not in text
    assert " ERROR " not in text, text[-3000:]


@pytest.mark.timeout(480)  # two starts of the bot, and up to three minutes for the next hour
async def test_the_digest_comes_at_digest_hour_with_yesterdays_numbers_once(
    tmp_path: Path,
) -> None:
    now = await digest_hour_now()
    yesterday = now.date() - timedelta(days=1)
    smtp, smtp_port = await asyncio.to_thread(start_smtp, tmp_path)
    try:
        async with FakeDnsServer(GOOD) as dns, FakeTelegram() as fake:
            write_config(tmp_path, smtp_port, dns.address, now.hour)
            env = base_env(
                tmp_path, SMTP_PW="pw", BOT_TOKEN=TOKEN, ADMIN_IDS=str(ADMIN),
                ALERT_CHAT_IDS=str(ALERT_CHAT), TELEGRAM_API_URL=fake.url,
            )  # fmt: skip
            csv = tmp_path / "leads.csv"
            csv.write_text("email,first_name\n" + "".join(f"{x}@example.com,{x}\n" for x in LEADS))
            done = await asyncio.to_thread(
                run_main, ["import", str(csv), "--campaign", "launch"], env
            )
            assert done.returncode == 0, done.stdout + done.stderr
            await arrange_yesterday(tmp_path / "data" / "outreach.db", yesterday)

            first_log = tmp_path / "service-1.log"
            async with running(env, first_log, fake):
                call = await fake.wait_for_message(ALERT_CHAT, "Daily digest", within=60)
                await eventually(lambda: deliveries_done(tmp_path), within=30)
            assert str(call["params"]["text"]).splitlines() == [
                f"Daily digest for {yesterday.isoformat()} (UTC)",
                "Sent: 9",  # 3 warm-up + a, b, c, d, e, g; not f (unknown), h or i (other days)
                "Bounces: 1 (11.1%)",  # d's; g's came today
                "Complaints: 1 (11.1%)",
                "Replies: 3 (interested 1, not interested 1, unlabelled 1)",
                "Capacity today: 70 of target 150 (short by 80)",
                "Unknown sends: 1 (interrupted; outcome not known)",
                "Not sending:",
                "- mailbox m1@d0.test paused: by admin",
                "DNS problems (see /dns):",
                "- d1.test: SPF, DMARC, MX, DKIM (no key under selector s1)",
            ]
            assert (
                "started within digest_hour: the DNS check and the digest" in first_log.read_text()
            )
            assert ("d1.test", "MX") in dns.questions  # the check asked the local server
            first = fake.messages_to(ALERT_CHAT)
            assert sum("Daily digest" in text for text in first) == 1
            assert sum(text.startswith("Warning: DNS of d1.test") for text in first) == 4
            assert fake.messages_to(ADMIN) == []  # alerts go to ALERT_CHAT_IDS only
            raised = await query(tmp_path, "SELECT id, key FROM alerts ORDER BY id")
            assert f"digest:{yesterday.isoformat()}" in [key for _, key in raised]

            # A restart in the same hour: it finds the digest raised and sends nothing more.
            second_log = tmp_path / "service-2.log"
            asked = len(dns.questions)
            async with running(env, second_log, fake):
                # Either it has decided, or the hour ended first (then it has nothing to do).
                await eventually(
                    lambda: (
                        "was raised already" in second_log.read_text()
                        or datetime.now(UTC).hour != now.hour
                    ),
                    within=STARTUP_SECONDS,
                )
                await eventually(lambda: deliveries_done(tmp_path), within=30)
                assert await query(tmp_path, "SELECT id, key FROM alerts ORDER BY id") == raised
            assert fake.messages_to(ALERT_CHAT) == first
            assert len(dns.questions) == asked  # no second DNS check either
    finally:
        smtp.send_signal(signal.SIGTERM)
        await asyncio.to_thread(smtp.wait, 10)
        if smtp.stdout is not None:
            smtp.stdout.close()
