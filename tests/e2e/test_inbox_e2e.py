"""Reading what comes back, end to end: the real `python main.py`, an SMTP server, Dovecot
and the fake Bot API (SPEC 8, 9, 12).

Step 1 goes out to five leads; their answers land in the mailbox's Dovecot INBOX: a human
reply, an out-of-office, a "please remove me", nothing, and a bounce report. Within a poll
the service reads them; then the test lets three days pass for the leads still in the
sequence (their next step due now) and checks who gets step 2.
"""

from __future__ import annotations

import asyncio
import email
import signal
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from bot.views.replies import LabelButton
from core.models import ReplyLabel
from tests.e2e.procs import base_env, query, run_main, spawn_main, start_smtp
from tests.fakes.dovecot import Dovecot
from tests.fakes.smtp_server import Received, read_log
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.waiting import eventually

ADMIN = 111
BOX = "m0@d0.test"
IMAP_PW = "imap-secret-pw"
STARTUP_SECONDS = 60
POLL = 5  # [inbox] poll_seconds of the test config


def write_config(tmp: Path, smtp_port: int, imap_port: int, *, min_sends: int) -> None:
    (tmp / "outreach.toml").write_text(
        f"""
[sending]
timezone = "UTC"
tick_seconds = 1
min_gap_seconds = 0
jitter_seconds = 0
postal_address = "Test Ltd, 1 Main St"

[health]
min_sends = {min_sends}

[inbox]
poll_seconds = {POLL}

[[domains]]
name = "d0.test"

[[mailboxes]]
address = "{BOX}"
daily_limit = 1000
smtp = {{ host = "127.0.0.1", port = {smtp_port}, security = "starttls", username = "u", \
password = "env:SMTP_PW" }}
imap = {{ host = "127.0.0.1", port = {imap_port}, security = "none", username = "{BOX}", \
password = "env:IMAP_PW" }}

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
"""
    )


async def lead_state(tmp: Path, address: str) -> str:
    rows = await query(tmp, f"SELECT state FROM leads WHERE email = '{address}'")
    return str(rows[0][0])


async def inbox_read_up_to(tmp: Path, uid: int) -> bool:
    """Whether the service has committed its INBOX cursor at or past `uid`."""
    rows = await query(tmp, f"SELECT value FROM cursors WHERE source = 'imap:{BOX}:INBOX'")
    return bool(rows) and int(str(rows[0][0]).rpartition(":")[2]) >= uid


async def sent_at_least(run: Running, count: int) -> None:
    """Wait until the SMTP server has taken `count` mails."""

    async def enough() -> bool:
        return len(await asyncio.to_thread(run.mails)) >= count

    await eventually(enough, within=30)


@dataclass
class Running:
    """One service run with its peers."""

    tmp: Path
    fake: FakeTelegram
    dovecot: Dovecot
    log: Path

    def mails(self) -> list[Received]:
        return read_log(self.tmp / "smtp.jsonl")

    def step1_to(self, address: str) -> Message:
        """The first mail the SMTP server took for `address`, parsed."""
        sent = next(m for m in self.mails() if address in m.rcpt_tos)
        return email.message_from_bytes(sent.data)

    async def lands(self, raw: str) -> None:
        """A mail arrives in the mailbox's INBOX."""
        await self.dovecot.deliver(BOX, raw.replace("\n", "\r\n").encode())


@asynccontextmanager
async def service(tmp: Path, leads: list[str], *, min_sends: int = 20) -> AsyncIterator[Running]:
    """Dovecot, the SMTP server, the fake Bot API and `python main.py` (stopped by SIGTERM)."""
    smtp, smtp_port = await asyncio.to_thread(start_smtp, tmp, None)
    proc: subprocess.Popen[bytes] | None = None
    log = tmp / "service.log"
    try:
        async with FakeTelegram() as fake, Dovecot(tmp / "dovecot", {BOX: IMAP_PW}) as dovecot:
            write_config(tmp, smtp_port, dovecot.port, min_sends=min_sends)
            env = base_env(
                tmp, SMTP_PW="pw", IMAP_PW=IMAP_PW, BOT_TOKEN=TOKEN, ADMIN_IDS=str(ADMIN),
                TELEGRAM_API_URL=fake.url,
            )  # fmt: skip
            csv = tmp / "leads.csv"
            csv.write_text("email,first_name\n" + "".join(f"{e},{e[:3]}\n" for e in leads))
            done = await asyncio.to_thread(
                run_main, ["import", str(csv), "--campaign", "launch"], env
            )
            assert done.returncode == 0, done.stdout + done.stderr
            proc = spawn_main(env, log)
            await fake.wait_for(lambda: fake.attempts("getUpdates") > 0, within=STARTUP_SECONDS)
            try:
                yield Running(tmp, fake, dovecot, log)
            finally:
                proc.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(proc.wait, 20)
                assert code == 0, log.read_text()[-3000:]
    finally:
        smtp.send_signal(signal.SIGTERM)
        await asyncio.to_thread(smtp.wait, 10)
        if smtp.stdout is not None:
            smtp.stdout.close()
    text = log.read_text()
    assert IMAP_PW not in text and TOKEN.split(":")[1] not in text  # SPEC 3: no secret in logs
    assert " ERROR " not in text, text[-3000:]


def answer_to(original: Message, sender: str, body: str, **headers: str) -> str:
    """A mail from `sender` answering `original`, with extra headers."""
    mid = str(original["Message-ID"])
    extra = "".join(f"{name.replace('_', '-')}: {value}\n" for name, value in headers.items())
    return (
        f"From: {sender}\nTo: {BOX}\nSubject: Re: {original['Subject']}\n"
        f"Message-ID: <re-{sender}>\nIn-Reply-To: {mid}\nReferences: {mid}\n"
        f"Date: Mon, 7 Dec 2026 10:00:00 +0000\n{extra}"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}\n\n"
        f"On Mon, 7 Dec 2026 at 09:00, {BOX} wrote:\n> Hi there, a short note.\n"
    )


def bounce_for(original: Message, rcpt: str, mid: str | None = None) -> str:
    """An RFC 3464 report from the receiving server: `rcpt` does not exist."""
    mid = mid or str(original["Message-ID"])
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: {BOX}
Subject: Undelivered Mail Returned to Sender
Message-ID: <dsn-{rcpt}>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown

--B
Content-Type: text/rfc822-headers

From: {BOX}
To: {rcpt}
Subject: {original["Subject"]}
Message-ID: {mid}

--B--
"""


async def test_replies_stop_the_sequence_and_reach_the_chat(tmp_path: Path) -> None:
    leads = ["ann@example.com", "bob@example.com", "cara@example.com", "dan@example.com"]
    async with service(tmp_path, leads) as run:
        await sent_at_least(run, 4)
        await run.lands(answer_to(run.step1_to("ann@example.com"), "ann@example.com",
                                  "Sounds good, call me Tuesday."))  # fmt: skip
        await run.lands(answer_to(run.step1_to("cara@example.com"), "cara@example.com",
                                  "I am out of the office until Monday.",
                                  Auto_Submitted="auto-replied"))  # fmt: skip
        await run.lands(answer_to(run.step1_to("dan@example.com"), "dan@example.com",
                                  "Please remove me from your list."))  # fmt: skip

        async def read() -> bool:
            states = [await lead_state(tmp_path, a) for a in ("ann@example.com", "dan@example.com")]
            return states == ["replied", "unsubscribed"]

        await eventually(read, within=3 * POLL)
        assert await lead_state(tmp_path, "cara@example.com") == "active"  # an OOO goes on
        assert await query(tmp_path, "SELECT entry FROM suppression") == [("dan@example.com",)]
        kinds = await query(tmp_path, "SELECT email, kind FROM events ORDER BY email")
        assert kinds == [("ann@example.com", "reply"), ("cara@example.com", "auto_reply"),
                         ("dan@example.com", "reply")]  # fmt: skip

        # The admin chat gets each human reply, with its buttons; the OOO is not posted.
        note = await run.fake.wait_for_message(ADMIN, "Reply from ann@example.com", within=15)
        assert "Sounds good, call me Tuesday." in str(note["params"]["text"])
        assert "a short note" not in str(note["params"]["text"])  # the quoted history is cut
        assert "Interested" in str(note["params"]["reply_markup"])
        await run.fake.wait_for_message(ADMIN, "Reply from dan@example.com", within=15)
        assert not [t for t in run.fake.messages_to(ADMIN) if "cara@example.com" in t]

        # Interested labels the lead, and the message shows it.
        (ann_id,) = await query(tmp_path, "SELECT id FROM leads WHERE email = 'ann@example.com'")
        note_id = note["message_id"]
        assert note_id is not None
        data = LabelButton(lead_id=int(str(ann_id[0])), label=ReplyLabel.INTERESTED).pack()
        run.fake.push_callback(ADMIN, data, note_id)
        edited = await run.fake.wait_for(
            lambda: next((c for c in run.fake.sent if c["method"] == "editMessageText"), None)
        )
        assert "Label: Interested" in str(edited["params"]["text"])
        # The label was committed before the message was edited.
        assert await query(tmp_path, "SELECT label FROM leads WHERE email = 'ann@example.com'") == [
            ("interested",)
        ]

        # Answering the notification sends an in-thread answer from the same mailbox.
        before = len(run.mails())
        run.fake.push_message(ADMIN, "Tuesday 3pm works, talk then.", reply_to=note_id)
        await run.fake.wait_for_message(ADMIN, "Sent.", within=15)
        answer = next(m for m in run.mails()[before:] if "ann@example.com" in m.rcpt_tos)
        parsed = email.message_from_bytes(answer.data)
        assert answer.mail_from == BOX
        assert parsed["In-Reply-To"] == "<re-ann@example.com>"
        assert str(run.step1_to("ann@example.com")["Message-ID"]) in str(parsed["References"])
        assert str(parsed["Subject"]).startswith("Re: Hello")
        assert "Tuesday 3pm works" in answer.data.decode()
        assert "Test Ltd, 1 Main St" in answer.data.decode()  # the usual footer

        # Three days pass for the leads still in the sequence: step 2 goes to bob and cara
        # (an out-of-office is not a reply), never to ann (replied) or dan (removed).
        await asyncio.to_thread(_all_due_now, tmp_path)

        async def followed() -> bool:
            return {m.rcpt_tos[0] for m in run.mails() if "Just bumping" in m.data.decode()} == {
                "bob@example.com",
                "cara@example.com",
            }

        await eventually(followed, within=15)
        await asyncio.sleep(3)  # a few more ticks: still nothing for ann or dan
        bumped = [m.rcpt_tos[0] for m in run.mails() if "Just bumping" in m.data.decode()]
        assert sorted(bumped) == ["bob@example.com", "cara@example.com"]


def _all_due_now(tmp: Path) -> None:
    """Let the wait of step 2 pass: every lead still in the sequence is due at once."""
    conn = sqlite3.connect(tmp / "data" / "outreach.db", timeout=30)
    try:
        conn.execute("UPDATE leads SET next_due_at = 0 WHERE state = 'active'")
        conn.commit()
    finally:
        conn.close()


async def test_bounce_reports_bounce_the_lead_and_pause_the_mailbox(tmp_path: Path) -> None:
    leads = [f"lead{i}@example.com" for i in range(4)]
    async with service(tmp_path, leads, min_sends=4) as run:
        await sent_at_least(run, 4)
        for address in ("lead0@example.com", "lead1@example.com"):
            await run.lands(bounce_for(run.step1_to(address), address))

        async def bounced() -> bool:
            rows = await query(tmp_path, "SELECT email FROM leads WHERE state = 'bounced'")
            return sorted(str(r[0]) for r in rows) == ["lead0@example.com", "lead1@example.com"]

        await eventually(bounced, within=3 * POLL)
        listed = await query(tmp_path, "SELECT entry FROM suppression ORDER BY entry")
        assert listed == [("lead0@example.com",), ("lead1@example.com",)]
        # 2 hard bounces in 4 sends is over bounce_pause: the mailbox pauses, with an alert.
        state = await query(tmp_path, f"SELECT state FROM mailboxes WHERE address = '{BOX}'")
        assert state == [("paused",)]
        await run.fake.wait_for_message(ADMIN, f"Mailbox {BOX} paused", within=15)
        # A report about a mail never sent is ignored.
        stray = bounce_for(
            run.step1_to("lead2@example.com"), "stranger@example.com", "<never-sent@d0.test>"
        )
        await run.lands(stray)
        # Read and let go: the service's INBOX cursor has passed the stray report's UID.
        stray_uid = max(await run.dovecot.flags(BOX))
        await eventually(lambda: inbox_read_up_to(tmp_path, stray_uid), within=3 * POLL)
        assert await lead_state(tmp_path, "lead2@example.com") == "active"
        events = await query(tmp_path, "SELECT count(*) FROM events WHERE kind = 'bounce_hard'")
        assert events == [(2,)]
