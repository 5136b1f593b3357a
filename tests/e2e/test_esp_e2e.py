"""Mailgun events end to end: the real `python main.py`, the fake SMTP server and the fake
Mailgun events API (SPEC 8, 9; issue 11's Must show).

Two mailboxes, one on each of two domains whose [[domains]] name the Mailgun ESP, send 20
mails each. The fake Mailgun then reports, in its documented item shapes, a delivery of
every mail, one permanent failure (5.1.1) for the first mailbox (1/20 = exactly 5 %: it
stays active), a second one (10 % over 5 % with `min_sends` met: paused, alert), and one
complaint for the second mailbox (paused, alert naming campaign and step). The service runs
headless: its alerts are log lines and rows of the alerts table. Every poll re-reads the
trailing half hour of each domain's log; each event is still counted once, also across a
restart that resumes from the stored cursor. A re-import skips the suppressed addresses.
"""

from __future__ import annotations

import asyncio
import copy
import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.procs import base_env, query, run_main, spawn_main, start_smtp
from tests.fakes.mailgun import FakeMailgun, Request
from tests.fakes.smtp_server import Received, read_log
from tests.waiting import eventually

KEY = "key-e2e-Zq9-UNIQUE-mailgun"  # never to appear in the service's log
ESP = "mg"
BOX_A = "a@d1.test"
BOX_B = "b@d2.test"
PER_BOX = 20  # each mailbox's daily_limit: exactly 20 sends each
LEADS = [f"lead{i:02d}@example.com" for i in range(2 * PER_BOX)]
TRAILING = 1800.0  # the adapter's default re-read window, seconds
STARTUP_SECONDS = 60
SAMPLES = json.loads(
    (Path(__file__).parents[1] / "fixtures/esp/mailgun/events.json").read_text(encoding="utf-8")
)


def write_config(tmp: Path, smtp_port: int, mailgun: str) -> None:
    server = (f'{{ host = "127.0.0.1", port = {smtp_port}, security = "starttls", username = "u", '
              'password = "env:SMTP_PW" }')  # fmt: skip
    (tmp / "outreach.toml").write_text(
        f"""
[sending]
timezone = "UTC"
tick_seconds = 1
min_gap_seconds = 0
jitter_seconds = 0
postal_address = "Test Ltd, 1 Main St"

[health]
min_sends = 20
bounce_pause = 0.05
complaints_pause = 1

[[esp]]
name = "{ESP}"
kind = "mailgun"
api_key = "env:MG_KEY"
base_url = "{mailgun}"
poll_seconds = 1

[[domains]]
name = "d1.test"
esp = "{ESP}"

[[domains]]
name = "d2.test"
esp = "{ESP}"

[[mailboxes]]
address = "{BOX_A}"
daily_limit = {PER_BOX}
smtp = {server}

[[mailboxes]]
address = "{BOX_B}"
daily_limit = {PER_BOX}
smtp = {server}

[[campaigns]]
name = "launch"
hours = "00:00-24:00"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
[[campaigns.steps]]
subject = "Hello {{{{ first_name }}}}"
body = "Hi {{{{ first_name }}}}, a short note."
[[campaigns.steps]]
wait_days = 3
body = "Just bumping this up."

[[campaigns]]
name = "later"
hours = "00:00-24:00"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
[[campaigns.steps]]
subject = "Another note for {{{{ first_name }}}}"
body = "Hi {{{{ first_name }}}}."
"""
    )


def sample(event: str, **match: Any) -> dict[str, Any]:
    """A copy of the documented sample of `event` (the first whose fields match)."""
    found = next(
        item
        for item in SAMPLES["items"]
        if item["event"] == event and all(item.get(k) == v for k, v in match.items())
    )
    return copy.deepcopy(found)


def about(item: dict[str, Any], mail: Received, event_id: str) -> dict[str, Any]:
    """The sample `item` made about one mail the SMTP server took: now, its recipient and id."""
    assert mail.message_id is not None
    item["id"] = event_id
    item["timestamp"] = time.time()
    item["recipient"] = mail.rcpt_tos[0]
    item["recipient-domain"] = mail.rcpt_tos[0].rpartition("@")[2]
    # Mailgun echoes our Message-ID header without its angle brackets, as in its samples.
    item["message"]["headers"]["message-id"] = mail.message_id.strip("<>")
    item["message"]["headers"]["to"] = mail.rcpt_tos[0]
    item["message"]["headers"]["from"] = mail.mail_from
    return item


@dataclass
class Running:
    """One service run with its peers."""

    tmp: Path
    mailgun: FakeMailgun
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes]
    added: dict[str, dict[str, Any]] = field(default_factory=dict)  # event id -> item

    def report(self, domain: str, item: dict[str, Any]) -> None:
        """Mailgun logs `item` for `domain`."""
        self.added[item["id"]] = item
        self.mailgun.add(domain, item)

    def mails(self) -> list[Received]:
        return read_log(self.tmp / "smtp.jsonl")

    def walks(self, domain: str) -> list[Request]:
        """The answered requests that started a walk of `domain`'s log (not `paging.next`)."""
        return [
            r for r in self.mailgun.requests if r.path == f"/v3/{domain}/events" and r.status == 200
        ]

    async def polls_pass(self, count: int) -> None:
        """Wait until both domains' logs have been walked `count` more times from now."""
        start = {d: len(self.walks(d)) for d in ("d1.test", "d2.test")}
        await eventually(
            lambda: all(len(self.walks(d)) >= start[d] + count for d in start), within=60
        )

    async def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(self.proc.wait, 30)
        assert code == 0, self.log.read_text()[-3000:]

    def start(self) -> None:
        self.proc = spawn_main(self.env, self.log)


@asynccontextmanager
async def service(tmp: Path) -> AsyncIterator[Running]:
    """The fake Mailgun (in this loop), the SMTP server and `python main.py`, leads imported."""
    smtp, smtp_port = await asyncio.to_thread(start_smtp, tmp, None)
    log = tmp / "service.log"
    run: Running | None = None
    try:
        async with FakeMailgun(KEY) as mailgun:
            write_config(tmp, smtp_port, mailgun.url)
            env = base_env(tmp, SMTP_PW="pw", MG_KEY=KEY)
            csv = tmp / "leads.csv"
            csv.write_text("email,first_name\n" + "".join(f"{e},{e[:6]}\n" for e in LEADS))
            done = await asyncio.to_thread(
                run_main, ["import", str(csv), "--campaign", "launch"], env
            )
            assert done.returncode == 0, done.stdout + done.stderr
            run = Running(tmp, mailgun, env, log, spawn_main(env, log))
            try:
                yield run
            finally:
                if run.proc.poll() is None:
                    await run.stop()
    finally:
        smtp.send_signal(signal.SIGTERM)
        await asyncio.to_thread(smtp.wait, 10)
        if smtp.stdout is not None:
            smtp.stdout.close()
    text = log.read_text()
    assert KEY not in text  # SPEC 3: no secret in logs
    assert "Traceback" not in text, text[-3000:]


async def count(tmp: Path, sql: str) -> int:
    rows = await query(tmp, sql)
    return int(str(rows[0][0]))


async def state_of(tmp: Path, mailbox: str) -> str:
    rows = await query(tmp, f"SELECT state FROM mailboxes WHERE address = '{mailbox}'")
    return str(rows[0][0])


async def alerts(tmp: Path) -> list[tuple[str, str]]:
    rows = await query(tmp, "SELECT severity, text FROM alerts ORDER BY id")
    return [(str(r[0]), str(r[1])) for r in rows]


async def esp_events(tmp: Path) -> list[tuple[str, str, str]]:
    """(kind, email, source_id) of every stored event of the Mailgun feed."""
    rows = await query(
        tmp, f"SELECT kind, email, source_id FROM events WHERE source = 'esp:{ESP}' ORDER BY id"
    )
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


async def test_mailgun_bounces_and_a_complaint_pause_and_suppress(tmp_path: Path) -> None:
    async with service(tmp_path) as run:
        # 20 sends from each mailbox (each one's daily_limit), all committed as sent.
        await eventually(lambda: len(run.mails()) >= len(LEADS), within=STARTUP_SECONDS + 60)
        sent = "SELECT count(*) FROM sends WHERE state = 'sent'"

        async def all_sent() -> bool:
            return await count(tmp_path, sent) == len(LEADS)

        await eventually(all_sent, within=30)
        mails = run.mails()
        by_box = {box: [m for m in mails if m.mail_from == box] for box in (BOX_A, BOX_B)}
        assert [len(by_box[BOX_A]), len(by_box[BOX_B])] == [PER_BOX, PER_BOX]
        assert sorted(m.rcpt_tos[0] for m in mails) == LEADS
        domain_of = {BOX_A: "d1.test", BOX_B: "d2.test"}

        # Mailgun reports every mail delivered.
        for number, mail in enumerate(mails):
            run.report(
                domain_of[mail.mail_from], about(sample("delivered"), mail, f"dlv-{number:02d}")
            )

        async def delivered() -> bool:
            return [k for k, _, _ in await esp_events(tmp_path)] == ["delivered"] * len(LEADS)

        await eventually(delivered, within=30)

        # 1 permanent failure in 20 sends: exactly 5 %, not over it; the mailbox stays active.
        first, second = by_box[BOX_A][3], by_box[BOX_A][11]
        failed = {"severity": "permanent", "reason": "generic"}
        run.report("d1.test", about(sample("failed", **failed), first, "bnc-1"))

        async def bounced(address: str) -> bool:
            rows = await query(tmp_path, f"SELECT state FROM leads WHERE email = '{address}'")
            return rows == [("bounced",)]

        await eventually(lambda: bounced(first.rcpt_tos[0]), within=30)
        await run.polls_pass(2)  # the verdicts of that commit are in; more polls change nothing
        assert await state_of(tmp_path, BOX_A) == "active"
        assert ("critical", f"Mailbox {BOX_A} paused") not in [
            (s, t.split(":")[0]) for s, t in await alerts(tmp_path)
        ]
        warning = f"Mailbox {BOX_A}: bounce rate 5.0% over 3.0% (1/20 in 7 days)."
        assert ("warning", warning) in await alerts(tmp_path)  # over bounce_warn: a warning

        # A second one: 10 % over 5 % with min_sends (20) met: paused, with an alert.
        run.report("d1.test", about(sample("failed", **failed), second, "bnc-2"))

        async def paused(mailbox: str) -> bool:
            return await state_of(tmp_path, mailbox) == "paused"

        await eventually(lambda: paused(BOX_A), within=30)
        pause_a = f"Mailbox {BOX_A} paused: bounce rate 10.0% over 5.0% (2/20 in 7 days)"
        assert any(s == "critical" and t.startswith(pause_a) for s, t in await alerts(tmp_path))
        assert await state_of(tmp_path, BOX_B) == "active"

        # One complaint about a mail of the other mailbox: paused, the alert names campaign
        # and step so the content can be reviewed.
        complainer = by_box[BOX_B][5]
        run.report("d2.test", about(sample("complained"), complainer, "cpl-1"))
        await eventually(lambda: paused(BOX_B), within=30)
        pause_b = (
            f"Mailbox {BOX_B} paused: 1 complaint(s) in 7 days (latest: campaign launch, step 1)"
        )
        assert any(s == "critical" and t.startswith(pause_b) for s, t in await alerts(tmp_path))
        leads = await query(
            tmp_path, f"SELECT state FROM leads WHERE email = '{complainer.rcpt_tos[0]}'"
        )
        assert leads == [("complained",)]
        listed = await query(tmp_path, "SELECT entry, reason, source FROM suppression ORDER BY 1")
        assert listed == sorted(
            [
                (first.rcpt_tos[0], "hard bounce", f"esp:{ESP}"),
                (second.rcpt_tos[0], "hard bounce", f"esp:{ESP}"),
                (complainer.rcpt_tos[0], "complaint", f"esp:{ESP}"),
            ]
        )

        # Headless, the alerts are log lines too.
        async def logged() -> bool:
            text = run.log.read_text()
            return all(f"ALERT [critical] {line}" in text for line in (pause_a, pause_b))

        await eventually(logged, within=30)

        # Every poll re-reads the trailing half hour (these events included); each is
        # stored once, and nothing more is raised.
        await run.polls_pass(3)
        stored = await esp_events(tmp_path)
        expected = ["delivered"] * len(LEADS) + ["bounce_hard", "bounce_hard", "complaint"]
        assert [kind for kind, _, _ in stored] == expected
        assert len({source_id for _, _, source_id in stored}) == len(stored)
        # (each of those walks began a half hour before the latest event: all were re-read)
        oldest = min(float(item["timestamp"]) for item in run.added.values())
        assert all(float(r.query["begin"]) < oldest for r in run.walks("d1.test")[-3:])
        raised = await alerts(tmp_path)

        # A restart: the stored cursor is where the new process resumes; nothing counts twice.
        await run.stop()
        (cursor,) = await query(tmp_path, f"SELECT value FROM cursors WHERE source = 'esp:{ESP}'")
        last = json.loads(str(cursor[0]))["domains"]["d1.test"]["last"]
        before = len(run.mailgun.requests)
        run.start()
        await run.polls_pass(2)
        resumed = [r for r in run.mailgun.requests[before:] if r.path == "/v3/d1.test/events"]
        assert resumed[0].query["begin"] == f"{last - TRAILING:.6f}"  # from the cursor, not now
        assert await esp_events(tmp_path) == stored
        assert await alerts(tmp_path) == raised
        assert [await state_of(tmp_path, b) for b in (BOX_A, BOX_B)] == ["paused", "paused"]
        # A new event after the restart is read once, like the others.
        run.report("d1.test", about(sample("opened"), by_box[BOX_A][0], "opn-1"))

        async def opened() -> bool:
            return [k for k, _, _ in await esp_events(tmp_path)] == [*expected, "open"]

        await eventually(opened, within=30)
        await run.polls_pass(2)
        assert [k for k, _, _ in await esp_events(tmp_path)] == [*expected, "open"]

        # Re-importing the complainer (and the bounced) skips them as suppressed.
        again = tmp_path / "again.csv"
        rows = [complainer.rcpt_tos[0], first.rcpt_tos[0], second.rcpt_tos[0], "new@example.com"]
        again.write_text("email,first_name\n" + "".join(f"{e},Someone\n" for e in rows))
        done = await asyncio.to_thread(
            run_main, ["import", str(again), "--campaign", "later"], run.env
        )
        assert done.returncode == 0, done.stdout + done.stderr
        report = done.stdout.splitlines()
        assert "rows read: 4" in report and "imported: 1" in report, done.stdout
        assert "suppressed (suppression list, or bounced/complained/unsubscribed): 3" in report
        later_leads = await query(
            tmp_path,
            "SELECT l.email FROM leads l JOIN campaigns c ON c.id = l.campaign_id "
            "WHERE c.name = 'later'",
        )
        assert later_leads == [("new@example.com",)]
