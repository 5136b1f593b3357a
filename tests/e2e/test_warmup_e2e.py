"""The warm-up loop end to end: the real `python main.py`, an SMTP server that files mail into
Dovecot, and the fake Bot API (SPEC 7, issue 12).

Four new mailboxes (day 1 of warm-up: 5 mails each) on two domains and
two seeds, all Dovecot users. The loop's hours are the three minutes from now (the
sending timezone is picked so that it is midday there, far from midnight and the digest hour):
the 20 warm-up mails go out in it, every 4th of each sender lands in Junk, and the service
reads them back, rescues them and /warmup shows day 1, cap 5, 5 sent and 80 % placement. A
campaign with leads sends nothing: week 1 is warm-up only.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.procs import CA_FILE, base_env, query, run_main, spawn_main
from tests.fakes.dovecot import Dovecot, dovecot_available
from tests.fakes.imap_bridge import BridgeSmtpServer, every_nth_of_a_sender, tls_pair
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.waiting import eventually

pytestmark = pytest.mark.skipif(not dovecot_available(), reason="needs dovecot-imapd")

ADMIN = 111
POOL = ["ann@alpha.test", "bob@alpha.test", "cat@beta.test", "dan@beta.test"]
SEEDS = ["one@seeds.test", "two@seeds.test"]
IMAP_PW = "imap-secret-pw"
SMTP_USER, SMTP_PW = "relay", "relay-secret-pw"
STARTUP_SECONDS = 60
WINDOW_MINUTES = 3


def midday_zone(now: datetime) -> tuple[str, datetime]:
    """A fixed-offset zone where it is 12:xx now, and the local time there."""
    offset = 12 - now.hour  # hours to add to UTC
    name = "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
    return name, now.astimezone(ZoneInfo(name))


def window_from(local: datetime) -> tuple[str, datetime]:
    """Loop hours from this minute for WINDOW_MINUTES, and their end in UTC: the service spreads
    the day's mails over what is left once it is up (its start takes seconds, or tens of
    seconds on a loaded machine)."""
    start = local.replace(second=0, microsecond=0)
    end = start + timedelta(minutes=WINDOW_MINUTES)
    return f"{start:%H:%M}-{end:%H:%M}", end.astimezone(UTC)


def write_config(tmp: Path, smtp_port: int, imap_port: int, zone: str, hours: str) -> None:
    def imap(user: str) -> str:
        return (
            f'{{ host = "127.0.0.1", port = {imap_port}, security = "none", username = "{user}", '
            'password = "env:IMAP_PW" }'
        )

    boxes = "".join(
        f"""
[[mailboxes]]
address = "{box}"
display_name = "{box.split("@")[0].title()} Example"
daily_limit = 40
warmup_start = {datetime.now(ZoneInfo(zone)).date().isoformat()}
smtp = {{ host = "127.0.0.1", port = {smtp_port}, security = "starttls", username = "{SMTP_USER}", \
password = "env:SMTP_PW" }}
imap = {imap(box)}
"""
        for box in POOL
    )
    seeds = "".join(f'\n[[seeds]]\naddress = "{seed}"\nimap = {imap(seed)}\n' for seed in SEEDS)
    (tmp / "outreach.toml").write_text(
        f"""
[sending]
timezone = "{zone}"
tick_seconds = 1
min_gap_seconds = 0
jitter_seconds = 0
postal_address = "Test Ltd, 1 Main St"

[warmup]
hours = "{hours}"

[inbox]
poll_seconds = 5

[[domains]]
name = "alpha.test"
[[domains]]
name = "beta.test"
{boxes}{seeds}
[[campaigns]]
name = "launch"
hours = "00:00-24:00"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
[[campaigns.steps]]
subject = "Hello {{{{ first_name }}}}"
body = "Hi {{{{ first_name }}}}, a short note."
"""
    )


@dataclass
class Running:
    """One service run with its peers."""

    tmp: Path
    fake: FakeTelegram
    dovecot: Dovecot
    smtp: BridgeSmtpServer
    window_end: datetime
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes]

    async def kill_and_restart(self) -> None:
        """kill -9 the service, then start it again on the same database."""
        self.proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.proc.wait, 10)
        polls = self.fake.attempts("getUpdates")
        self.proc = spawn_main(self.env, self.log)
        await self.fake.wait_for(
            lambda: self.fake.attempts("getUpdates") > polls, within=STARTUP_SECONDS
        )


@asynccontextmanager
async def service(tmp: Path) -> AsyncIterator[Running]:
    """Dovecot, the bridge SMTP server, the fake Bot API and `python main.py` (SIGTERM-ed)."""
    users = {address: IMAP_PW for address in [*POOL, *SEEDS]}
    log = tmp / "service.log"
    zone, local = midday_zone(datetime.now(UTC))
    hours, window_end = window_from(local)
    async with (
        FakeTelegram() as fake,
        Dovecot(tmp / "dovecot", users) as dovecot,
        BridgeSmtpServer(
            username=SMTP_USER, password=SMTP_PW, security="starttls",
            ssl_context=tls_pair(tmp, CA_FILE), dovecot=dovecot,
            to_junk=every_nth_of_a_sender(4),
        ) as smtp,
    ):  # fmt: skip
        write_config(tmp, smtp.port, dovecot.port, zone, hours)
        env = base_env(
            tmp, SMTP_PW=SMTP_PW, IMAP_PW=IMAP_PW, BOT_TOKEN=TOKEN, ADMIN_IDS=str(ADMIN),
            TELEGRAM_API_URL=fake.url,
        )  # fmt: skip
        csv = tmp / "leads.csv"
        csv.write_text("email,first_name\n" + "".join(f"l{i}@example.com,L{i}\n" for i in range(9)))
        done = await asyncio.to_thread(run_main, ["import", str(csv), "--campaign", "launch"], env)
        assert done.returncode == 0, done.stdout + done.stderr
        run = Running(tmp, fake, dovecot, smtp, window_end, env, log, spawn_main(env, log))
        try:
            await fake.wait_for(lambda: fake.attempts("getUpdates") > 0, within=STARTUP_SECONDS)
            yield run
        finally:
            run.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(run.proc.wait, 20)
            assert code == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert IMAP_PW not in text and SMTP_PW not in text and TOKEN.split(":")[1] not in text
    assert " ERROR " not in text, text[-3000:]


@pytest.mark.timeout(420)  # three minutes of loop hours, the start, and the reads
async def test_day_1_warmup_circuit_with_the_real_service(tmp_path: Path) -> None:
    async with service(tmp_path) as run:
        # 4 mailboxes x 5 (day 1), spread over what is left of the window.
        await eventually(lambda: len(run.smtp.messages) >= 20, within=60 * WINDOW_MINUTES + 30)
        mails = run.smtp.messages
        assert Counter(m.mail_from for m in mails) == dict.fromkeys(POOL, 5)
        assert all(r in POOL or r in SEEDS for m in mails for r in m.rcpt_tos)  # no campaign
        ends = datetime.now(UTC)
        assert ends <= run.window_end + timedelta(seconds=5)  # within the loop's hours

        async def placed() -> bool:
            rows = await query(run.tmp, "SELECT count(*) FROM placements")
            return rows[0][0] == 20

        await eventually(placed, within=30)
        # Every 4th mail of each sender went to Junk: 4 of 5 in the inbox, each rescued.
        rows = await query(
            run.tmp,
            "SELECT m.address, sum(p.folder = 'inbox'), count(*) FROM placements p "
            "JOIN mailboxes m ON m.id = p.mailbox_id GROUP BY m.address",
        )
        assert sorted(rows) == [(box, 4, 5) for box in POOL]
        for user in [*POOL, *SEEDS]:

            async def rescued(user: str = user) -> bool:
                return await run.dovecot.flags(user, "Junk") == {}

            await eventually(rescued, within=30)
        sends = await query(run.tmp, "SELECT kind, state FROM sends")
        assert Counter(sends) == {("warmup", "sent"): 20}
        leads = await query(run.tmp, "SELECT state, count(*) FROM leads GROUP BY state")
        assert leads == [("queued", 9)]  # week 1: the campaign waits

        # /warmup: day 1, phase 1, cap 5, 5 sent, none answered yet (answers fall on a later
        # day: the loop's hours are over), 80 % of 5 in the inbox.
        since = len(run.fake.calls)
        run.fake.push_message(ADMIN, "/warmup")
        call = await run.fake.wait_for_message(ADMIN, "80%", within=30, since=since)
        lines = str(call["params"]["text"]).splitlines()
        for box in POOL:
            row = lines[lines.index(box) + 1].split()
            assert row[:4] == ["1", "1", "5", "5"] and row[5:] == ["0", "80%", "5"], lines


@pytest.mark.timeout(420)
async def test_kill_9_in_the_middle_of_the_loop_sends_no_warmup_mail_twice(tmp_path: Path) -> None:
    async with service(tmp_path) as run:
        await eventually(lambda: len(run.smtp.messages) >= 6, within=60 * WINDOW_MINUTES)
        await run.kill_and_restart()
        before = len(run.smtp.messages)  # all the killed process sent

        async def settled() -> bool:
            # Today's new mails all have a send, and none is in flight: a row is 'reserved', then
            # 'sending' from before its data leaves until the reply is recorded (a row stuck in
            # either fails below).
            rows = await query(
                run.tmp,
                "SELECT (SELECT count(*) FROM warmup_mails w WHERE w.answers IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM sends s WHERE s.message_id = w.message_id)) "
                "+ (SELECT count(*) FROM sends WHERE state IN ('reserved', 'sending'))",
            )
            return rows[0][0] == 0 or datetime.now(UTC) > run.window_end + timedelta(seconds=30)

        await eventually(settled, within=60 * WINDOW_MINUTES + 60)
        ids = [m.message_id for m in run.smtp.messages]
        assert len(ids) == len(set(ids))  # no warm-up mail twice
        per_box = Counter(m.mail_from for m in run.smtp.messages)
        assert all(n <= 5 for n in per_box.values()), per_box  # never over the day-1 cap
        sends = await query(run.tmp, "SELECT message_id, state FROM sends")
        states = Counter(str(state) for _, state in sends)
        assert set(states) <= {"sent", "unknown"}, states
        # What the server took, the database knows; what it calls sent, the server has.
        assert set(ids) <= {str(mid) for mid, _ in sends}
        assert {str(mid) for mid, state in sends if state == "sent"} <= set(ids)
        integrity = await query(run.tmp, "PRAGMA integrity_check")
        assert integrity == [("ok",)]
        # The restarted service went on with the day's plan: mail after the kill.
        assert len(ids) > before
