"""The real `python main.py` with a bot token, against the fake Bot API and the fake SMTP server.

The fake Telegram server runs in the test's own loop; the service and the SMTP server are
child processes. The service ticks every second.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.views.common import alert_text
from tests.e2e.procs import base_env, query, run_main, spawn_main, start_smtp
from tests.fakes.smtp_server import read_log
from tests.fakes.telegram import TOKEN, Call, FakeTelegram
from tests.waiting import eventually

ADMIN = 111
ADMIN_2 = 222
STRANGER = 999
TICK = 1.0  # tick_seconds of the test config
STARTUP_SECONDS = 60
BLOCK_REPLY = {
    "action": "reply",
    "code": 554,
    "text": "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
}


def write_config(tmp: Path, port: int, *, domains: int, per_domain: int, min_gap: int) -> None:
    """Domains d0.test.. with mailboxes m0@.. on the fake SMTP server; one campaign, all day."""
    server = (f'{{ host = "127.0.0.1", port = {port}, security = "starttls", username = "u", '
              'password = "env:SMTP_PW" }')  # fmt: skip
    tables = [
        f"""
[sending]
timezone = "UTC"
tick_seconds = {int(TICK)}
min_gap_seconds = {min_gap}
jitter_seconds = 0
postal_address = "Test Ltd, 1 Main St"
"""
    ]
    for i in range(domains):
        tables.append(f'[[domains]]\nname = "d{i}.test"\n')
        tables += [
            f'[[mailboxes]]\naddress = "m{j}@d{i}.test"\ndaily_limit = 1000\nsmtp = {server}\n'
            for j in range(per_domain)
        ]
    tables.append(
        """
[[campaigns]]
name = "launch"
hours = "00:00-24:00"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
[[campaigns.steps]]
subject = "Hello {{ first_name }}"
body = "Hi {{ first_name }}, a short note."
"""
    )
    (tmp / "outreach.toml").write_text("\n".join(tables))


async def nothing_in_flight(tmp: Path) -> bool:
    """No send is reserved or being sent: whatever the service had under way has landed."""
    rows = await query(tmp, "SELECT count(*) FROM sends WHERE state IN ('reserved', 'sending')")
    return rows[0][0] == 0


@dataclass
class Running:
    """One service run: its directory, log and the fake Telegram it talks to."""

    tmp: Path
    fake: FakeTelegram
    log: Path

    def mails(self) -> list[tuple[str, float]]:
        """(sender, arrival as epoch seconds) of every mail the SMTP server accepted."""
        return [(m.mail_from, m.received_at.timestamp()) for m in read_log(self.tmp / "smtp.jsonl")]

    def mails_from(self, sender: str, after: float = 0.0) -> int:
        """How many mails `sender` got accepted after epoch second `after`."""
        return sum(1 for who, at in self.mails() if who == sender and at > after)

    async def ask(self, text: str, expect: str, user: int = ADMIN) -> Call:
        """Send a command as `user`; the bot's reply containing `expect`."""
        since = len(self.fake.calls)
        self.fake.push_message(user, text)
        return await self.fake.wait_for_message(user, expect, within=10, since=since)


@asynccontextmanager
async def service(
    tmp: Path,
    fake: FakeTelegram,
    *,
    domains: int = 2,
    per_domain: int = 2,
    min_gap: int = 1,
    leads: list[str] | None = None,
    smtp_script: Mapping[str, object] | None = None,
    admins: str = str(ADMIN),
    extra_env: Mapping[str, str] | None = None,
) -> AsyncIterator[Running]:
    """The SMTP server and `python main.py` with the bot on; stopped with SIGTERM after."""
    script = dict(smtp_script) if smtp_script is not None else None
    smtp, port = await asyncio.to_thread(start_smtp, tmp, script)
    proc: subprocess.Popen[bytes] | None = None
    log = tmp / "service.log"
    try:
        write_config(tmp, port, domains=domains, per_domain=per_domain, min_gap=min_gap)
        env = base_env(
            tmp, SMTP_PW="pw", BOT_TOKEN=TOKEN, ADMIN_IDS=admins, ALERT_CHAT_IDS="",
            TELEGRAM_API_URL=fake.url, **(extra_env or {}),
        )  # fmt: skip
        if leads:
            csv = tmp / "leads.csv"
            csv.write_text("email,first_name\n" + "".join(f"{e},{e[:3]}\n" for e in leads))
            done = await asyncio.to_thread(
                run_main, ["import", str(csv), "--campaign", "launch"], env
            )
            assert done.returncode == 0, done.stdout + done.stderr
        proc = spawn_main(env, log)
        # Polling has started once the bot asks for updates. Importing aiogram takes most of
        # the start-up: a few seconds, many more on a busy 2-core test box.
        await fake.wait_for(lambda: fake.attempts("getUpdates") > 0, within=STARTUP_SECONDS)
        yield Running(tmp, fake, log)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(proc.wait, 20)
            assert code == 0, log.read_text()[-3000:]
        smtp.send_signal(signal.SIGTERM)
        await asyncio.to_thread(smtp.wait, 10)
        if smtp.stdout is not None:
            smtp.stdout.close()
    text = log.read_text()
    assert TOKEN not in text and TOKEN.split(":")[1] not in text  # SPEC 3: no secret in logs
    assert " ERROR outreach.bot" not in text, text[-3000:]  # no handler failed


async def test_pause_stops_a_mailbox_within_a_tick_and_resume_restarts_it(
    tmp_path: Path,
) -> None:
    leads = [f"lead{i}@example.com" for i in range(3000)]
    async with FakeTelegram() as fake, service(tmp_path, fake, leads=leads) as run:
        box = "m0@d0.test"
        await eventually(lambda: run.mails_from(box) >= 2, within=15)

        paused = await run.ask(f"/pause {box} testing", "Paused")
        assert paused["params"]["text"] == f"Paused mailbox {box} (active -> paused)."
        others = ["m1@d0.test", "m0@d1.test", "m1@d1.test"]

        def others_since_pause() -> int:
            return sum(run.mails_from(o, after=paused["at"]) for o in others)

        # A send of `box` already under way at the pause may still land; once the engine has
        # sent two more rounds from the others it is over, and `box` sends nothing while they
        # send two more. Counting rounds, not seconds, holds on a loaded machine.
        await eventually(lambda: others_since_pause() >= 2 * len(others), within=30)
        settled = run.mails_from(box)
        await eventually(lambda: others_since_pause() >= 4 * len(others), within=30)
        assert run.mails_from(box) == settled
        state = await query(
            tmp_path, f"SELECT state, reason FROM mailboxes WHERE address = '{box}'"
        )
        assert state == [("paused", "paused by admin 111: testing")]

        resumed = await run.ask(f"/resume {box}", "Resumed")
        assert resumed["params"]["text"] == f"Resumed mailbox {box} (paused -> active)."
        await eventually(lambda: run.mails_from(box, after=resumed["at"]) > 0, within=5)

        everything = await run.ask("/pause all", "Paused everything")
        assert "1 campaign, 4 mailboxes" in str(everything["params"]["text"])
        await eventually(lambda: nothing_in_flight(tmp_path), within=30)
        settled = len(run.mails())
        await asyncio.sleep(3 * TICK)  # a wait can only hide a send, not fake one
        assert len(run.mails()) == settled
        assert await nothing_in_flight(tmp_path)


async def test_admin_gets_status_and_strangers_change_nothing(tmp_path: Path) -> None:
    leads = [f"lead{i}@example.com" for i in range(500)]
    async with FakeTelegram() as fake, service(tmp_path, fake, leads=leads) as run:
        # (a) The admin's /status is what `main.py status` prints (both read the same DB).
        await eventually(lambda: len(run.mails()) >= 4, within=10)
        await run.ask("/pause launch", "Paused campaign launch")  # a still picture to compare
        await eventually(lambda: nothing_in_flight(tmp_path), within=30)
        reply = str((await run.ask("/status", "Today"))["params"]["text"])
        cli = await asyncio.to_thread(run_main, ["status"], base_env(tmp_path, SMTP_PW="pw"))
        assert cli.returncode == 0, cli.stderr
        assert reply == cli.stdout.strip()
        assert "/ capacity 4000 / target 1200" in reply
        assert "Mailboxes: 4 active" in reply
        assert "launch: paused (paused by admin 111)" in reply
        await run.ask("/resume launch", "Resumed campaign launch")

        # (c) A stranger: told the bot is private, with their id; nothing changes.
        refused = await run.ask("/pause all", "private", user=STRANGER)
        assert refused["params"]["text"] == f"This bot is private. Your user id is {STRANGER}."
        # A forged button press (a callback of a message the stranger never got).
        since = len(fake.calls)
        fake.push_callback(STRANGER, "pause:all", message_id=1)
        answer = await fake.wait_for(
            lambda: next((c for c in fake.calls[since:] if c["method"] == "answerCallbackQuery"),
                         None), within=10)  # fmt: skip
        assert answer["params"]["text"] == f"This bot is private. Your user id is {STRANGER}."
        assert answer["params"]["show_alert"] == "true"
        # Sending goes on: nothing was paused.
        now = time.time()
        await eventually(lambda: len([m for m in run.mails() if m[1] > now]) >= 4, within=10)
        states = await query(
            tmp_path,
            "SELECT DISTINCT state FROM mailboxes UNION ALL SELECT DISTINCT state FROM campaigns",
        )
        assert states == [("active",), ("active",)]
    text = run.log.read_text()
    assert f"refused user {STRANGER}: '/pause all'" in text
    assert f"refused user {STRANGER}: button 'pause:all'" in text


async def test_a_spam_block_alert_names_the_domain_and_the_cool_down_end(tmp_path: Path) -> None:
    leads = ["blocked@example.com", *(f"lead{i}@example.com" for i in range(20))]
    script = {"blocked@example.com": BLOCK_REPLY}
    async with (
        FakeTelegram() as fake,
        service(tmp_path, fake, per_domain=1, min_gap=5, leads=leads, smtp_script=script),
    ):
        call = await fake.wait_for_message(ADMIN, "cooling down until", within=20)
        cooled = await query(tmp_path, "SELECT name, cooldown_until FROM domains "
                                       "WHERE state = 'cooldown'")  # fmt: skip
    assert len(cooled) == 1
    domain, until_ms = cooled[0]
    until = datetime.fromtimestamp(int(str(until_ms)) / 1000, UTC)
    text = str(call["params"]["text"])
    assert text.startswith("CRITICAL: Domain ")
    assert f"Domain {domain} is cooling down until {until:%Y-%m-%d}" in text
    assert "spamhaus" in text


@pytest.mark.timeout(240)  # start-up, the outage and the retries after it, on a busy box
async def test_alerts_survive_429s_and_an_outage_exactly_once_in_order(tmp_path: Path) -> None:
    # Every mail is spam-blocked: each of the three domains cools down, three alerts, each
    # owed to two chats.
    async with FakeTelegram() as fake:
        fake.fail_next("sendMessage", 2, error_code=429, retry_after=1)
        async with service(
            tmp_path, fake, domains=3, per_domain=1, min_gap=60,
            leads=[f"lead{i}@example.com" for i in range(3)],
            smtp_script={"*": BLOCK_REPLY}, admins=f"{ADMIN},{ADMIN_2}",
        ) as run:  # fmt: skip
            await fake.wait_for(lambda: fake.attempts("sendMessage") >= 2, within=20)
            # Telegram away: connections refused, the outbox backs off and retries. 20 s
            # spans three failed rounds per chat (back-off 5, then 10, then 20 s): the
            # back-off grows and delivery goes on after it; a longer outage only waits more.
            outage = 20
            await fake.down_for(outage)
            down_at = time.monotonic()

            async def all_delivered() -> bool:
                rows = await query(tmp_path, "SELECT count(*) FROM alert_deliveries "
                                             "WHERE state != 'sent'")  # fmt: skip
                return rows[0][0] == 0

            # The retry after the outage comes 20 s after the third failure, ~15 s after its end.
            deadline = down_at + outage + 60
            while not await all_delivered():
                assert time.monotonic() < deadline, "alerts were not all delivered"
                await asyncio.sleep(0.2)
            alerts = await query(tmp_path, "SELECT severity, text FROM alerts ORDER BY id")
            await asyncio.sleep(2 * TICK)  # nothing more may come
    assert len([a for a in alerts if "cooling down" in str(a[1])]) == 3
    expected = [alert_text(str(severity), str(text)) for severity, text in alerts]
    for chat in (ADMIN, ADMIN_2):
        assert fake.messages_to(chat) == expected, chat
    assert [c["status"] for c in fake.calls if c["method"] == "sendMessage"][:2] == [429, 429]
    log_text = run.log.read_text()
    assert "alert delivery to chat" in log_text  # the outage was hit, then recovered
    # Retried all through the outage, not given up: several back-offs were logged.
    assert log_text.count("alert delivery to chat") >= 4
