"""kill -9 while the inbox is ingested, restart, again: no event counted twice, none lost.

The real `python main.py` (headless) sends step 1 to 30 leads through the fake SMTP server;
then 61 mails land in the mailbox's private Dovecot, INBOX and Junk, in waves: human replies,
"remove me", out-of-office, hard and soft bounce reports, unrelated mail, answers to mails
never sent, a reply without a Message-ID, and a few mails that sit in both folders with the
same Message-ID. After each wave the service starts, and is killed -9 while it ingests.

SPEC 8 wants a folder's events committed with its UID cursor, "together or not at all". To
make a kill land inside that transaction, not just near it, the database gets a slow trigger
on `events`: each insert takes ~0.3 s inside the batch's transaction, so an ingestion spends
most of its time holding the write lock, and the test waits to see that lock held before it
kills. After every kill: no mail behind a folder's cursor lacks its event. At the end a clean
run reads to the last UID, and every mail that should give an event gave exactly one.
With the cursor committed before its events, a kill inside the events' transaction leaves
the cursor past mails whose events never were stored: they are never read again.
"""

from __future__ import annotations

import asyncio
import email
import random
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

from tests.e2e.procs import all_sent, base_env, db_rows, run_main, spawn_main, start_smtp, wait_for
from tests.fakes.dovecot import Dovecot
from tests.fakes.smtp_server import read_log

BOX = "m0@d0.test"
IMAP_PW = "imap-secret-pw"
LEADS = 30
ROUNDS = 5
FOLDERS = ("INBOX", "Junk")
# 150^3 rows joined per event: ~0.3 s of work inside the ingesting transaction.
SLOW_TRIGGER = """
CREATE TABLE slow (x INTEGER);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 150)
INSERT INTO slow SELECT x FROM n;
CREATE TRIGGER slow_events AFTER INSERT ON events BEGIN
    SELECT count(*) FROM slow a, slow b, slow c WHERE a.x + b.x + c.x >= 0;
END;
"""


def lead(i: int) -> str:
    return f"l{i:02d}@example.com"


def write_config(tmp: Path, smtp_port: int, imap_port: int) -> None:
    (tmp / "outreach.toml").write_text(
        f"""
[sending]
timezone = "UTC"
tick_seconds = 1
min_gap_seconds = 0
jitter_seconds = 0
postal_address = "Test Ltd, 1 Main St"

[health]
min_sends = 1000  # no pause: the test is about what ingestion stores, not the verdicts

[inbox]
poll_seconds = 5

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


# --- the mails ------------------------------------------------------------------------------


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def reply(sender: str, to_mid: str, mid: str | None, body: str, extra: str = "") -> bytes:
    """A mail from `sender` answering our mail `to_mid` (no Message-ID when `mid` is None)."""
    own = f"Message-ID: {mid}\n" if mid else ""
    return _crlf(
        f"From: {sender}\nTo: {BOX}\nSubject: Re: Hello\n{own}In-Reply-To: {to_mid}\n"
        f"References: {to_mid}\nDate: Mon, 7 Dec 2026 10:00:00 +0000\n{extra}"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}\n\n"
        f"On Mon, 7 Dec 2026 at 09:00, {BOX} wrote:\n> Hi there, a short note.\n"
    )


def report(rcpt: str, to_mid: str, mid: str, *, hard: bool) -> bytes:
    """An RFC 3464 report: `rcpt` unknown (hard) or delivery delayed (soft)."""
    action, status = ("failed", "5.1.1") if hard else ("delayed", "4.4.1")
    return _crlf(f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.com>
To: {BOX}
Subject: {"Undelivered Mail Returned to Sender" if hard else "Delayed Mail (still being retried)"}
Message-ID: {mid}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

About your message to {rcpt}.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; {rcpt}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {"550 5.1.1 User unknown" if hard else "451 4.4.1 Try again later"}

--B
Content-Type: text/rfc822-headers

From: {BOX}
To: {rcpt}
Subject: Hello
Message-ID: {to_mid}

--B--
""")


def newsletter(n: int) -> bytes:
    return _crlf(
        f"From: news@shop.example\nTo: {BOX}\nSubject: Weekly deals {n}\n"
        f"Message-ID: <news-{n}@shop.example>\nList-Unsubscribe: <mailto:u@shop.example>\n"
        "Precedence: list\n\nThis week's deals.\n"
    )


@dataclass
class Mail:
    """One delivered mail and the event it must give (kind None: none)."""

    raw: bytes
    folders: tuple[str, ...]
    kind: str | None
    email: str | None = None
    message_id: str | None = None
    uids: dict[str, int] = field(default_factory=dict)  # folder -> UID, once delivered

    def source_id(self, uidvalidity: dict[str, int]) -> str:
        """The event's stable id (core/ingest.py): the Message-ID, else where it was read."""
        if self.message_id:
            return f"{BOX}:{self.message_id}"
        folder = self.folders[0]
        return f"{BOX}:{folder}:{uidvalidity[folder]}:{self.uids[folder]}"


def build_mails(sent: dict[str, str]) -> list[Mail]:
    """The 61 deliveries (56 mails, 5 of them in both folders) and what each must give."""
    mails: list[Mail] = []

    def add(raw: bytes, kind: str | None, who: str | None, mid: str | None,
            folders: tuple[str, ...] = ("INBOX",)) -> None:  # fmt: skip
        mails.append(Mail(raw, folders, kind, who, mid))

    for i in range(10):  # human replies; l00, l01 sit in INBOX and Junk, l05-l09 in Junk
        mid = f"<re-{i}@example.com>"
        where = ("INBOX", "Junk") if i < 2 else ("Junk",) if i >= 5 else ("INBOX",)
        add(reply(lead(i), sent[lead(i)], mid, "Sounds good, call me Tuesday."), "reply",
            lead(i), mid, where)  # fmt: skip
    for i in range(10, 13):  # "remove me": unsubscribed and suppressed
        mid = f"<re-{i}@example.com>"
        add(reply(lead(i), sent[lead(i)], mid, "Please remove me from your list."), "reply",
            lead(i), mid)  # fmt: skip
    for i in range(13, 18):  # out-of-office: an event, the sequence goes on
        mid = f"<ooo-{i}@example.com>"
        raw = reply(lead(i), sent[lead(i)], mid, "I am out of the office until Monday.",
                    "Auto-Submitted: auto-replied\n")  # fmt: skip
        add(raw, "auto_reply", lead(i), mid, ("INBOX", "Junk") if i == 13 else ("INBOX",))
    for i in range(18, 24):  # hard bounce reports: bounced and suppressed
        mid = f"<dsn-{i}@mx.example.com>"
        add(report(lead(i), sent[lead(i)], mid, hard=True), "bounce_hard", lead(i), mid,
            ("INBOX", "Junk") if i == 18 else ("INBOX",))  # fmt: skip
    for i in (24, 25):  # soft bounce reports: an event only
        mid = f"<delay-{i}@mx.example.com>"
        add(report(lead(i), sent[lead(i)], mid, hard=False), "bounce_soft", lead(i), mid,
            ("Junk",) if i == 25 else ("INBOX",))  # fmt: skip
    # l26: an out-of-office first, then a human reply: two events, the lead replied
    mid = "<ooo-26@example.com>"
    add(reply(lead(26), sent[lead(26)], mid, "Away until Friday.",
              "Auto-Submitted: auto-replied\n"), "auto_reply", lead(26), mid)  # fmt: skip
    mid = "<re-26@example.com>"
    add(reply(lead(26), sent[lead(26)], mid, "Back now: yes, interested."), "reply", lead(26),
        mid, ("Junk",))  # fmt: skip
    # l27: a reply without a Message-ID is known by its folder, UIDVALIDITY and UID
    add(reply(lead(27), sent[lead(27)], None, "Let's talk next week."), "reply", lead(27), None)
    # no event: newsletters (one in both folders), answers and reports about mail never sent
    for n in range(20):
        add(newsletter(n), None, None, None, ("INBOX", "Junk") if n == 0 else ("INBOX",))
    for n in range(5):
        raw = reply(f"x{n}@example.org", f"<never-{n}@d0.test>", f"<stray-{n}@example.org>", "Hi?")
        add(raw, None, None, None, ("Junk",) if n % 2 else ("INBOX",))
    for n in range(2):
        add(report(f"y{n}@example.org", f"<never-dsn-{n}@d0.test>", f"<dsn-x{n}@mx.example.com>",
                   hard=True), None, None, None)  # fmt: skip
    random.Random(5).shuffle(mails)  # the waves mix every kind
    return mails


EXPECTED_STATES = {
    **{lead(i): "replied" for i in (*range(10), 26, 27)},
    **{lead(i): "unsubscribed" for i in range(10, 13)},
    **{lead(i): "bounced" for i in range(18, 24)},
    **{lead(i): "active" for i in (*range(13, 18), 24, 25, 28, 29)},
}
EXPECTED_SUPPRESSED = sorted(lead(i) for i in (*range(10, 13), *range(18, 24)))


# --- the database, read from outside ----------------------------------------------------------


def db_file(tmp: Path) -> Path:
    return tmp / "data" / "outreach.db"


def cursors(tmp: Path) -> dict[str, tuple[int, int]]:
    """folder -> (UIDVALIDITY, last UID) as the service committed them."""
    out = {}
    for source, value in db_rows(tmp, "SELECT source, value FROM cursors"):
        prefix = f"imap:{BOX}:"
        if str(source).startswith(prefix):
            validity, _, last = str(value).partition(":")
            out[str(source)[len(prefix) :]] = (int(validity), int(last))
    return out


def events(tmp: Path) -> dict[str, tuple[str, str]]:
    """source_id -> (kind, email) of every event read from a mailbox."""
    found = db_rows(tmp, "SELECT source_id, kind, email FROM events WHERE source = 'imap'")
    return {str(s): (str(k), str(e)) for s, k, e in found}


def write_locked(tmp: Path) -> bool:
    """Whether another connection holds the write lock (an open write transaction) now."""
    conn = sqlite3.connect(db_file(tmp), timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc) or "busy" in str(exc), exc
        return True
    finally:
        conn.close()


def assert_nothing_behind_cursor_lost(
    tmp: Path, delivered: list[Mail], uidvalidity: dict[str, int]
) -> None:
    """Every mail at or before a folder's committed cursor has its event stored."""
    stored = events(tmp)
    for folder, (validity, last) in cursors(tmp).items():
        assert validity == uidvalidity[folder]
        for mail in delivered:
            uid = mail.uids.get(folder)
            if mail.kind is not None and uid is not None and uid <= last:
                assert mail.source_id(uidvalidity) in stored, (folder, uid, mail.email, mail.kind)


# --- the run ---------------------------------------------------------------------------------


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start the service and wait until it runs (its jobs, the first inbox poll among them)."""
    before = log.read_text().count("running headless") if log.exists() else 0
    proc = spawn_main(env, log)
    if not wait_for(lambda: log.read_text().count("running headless") > before, 60):
        proc.kill()
        proc.wait(10)
        raise AssertionError(log.read_text()[-3000:])
    return proc


@dataclass
class Kill:
    """What one kill -9 found."""

    between: bool  # this round waited for INBOX's batch to commit before it killed
    locked: bool  # the write lock was held at the kill
    behind: frozenset[str]  # folders whose delivered mail lay past their cursor after it
    events: int


def kill_while_ingesting(
    tmp: Path, env: dict[str, str], log: Path, rng: random.Random, last: dict[str, int],
    *, between: bool,
) -> Kill:  # fmt: skip
    """Start the service, wait until it holds the write lock, kill -9 at a random moment.

    `between`: first wait until the INBOX batch is committed (its cursor at the last UID),
    then kill inside the Junk batch's transaction.
    """
    proc = start(env, log)
    try:
        if between:
            inbox_done = lambda: cursors(tmp).get("INBOX", (0, 0))[1] >= last["INBOX"]  # noqa: E731
            assert wait_for(inbox_done, 60, interval=0.02), log.read_text()[-3000:]
            wait_for(lambda: write_locked(tmp), 5, interval=0.01)
            time.sleep(rng.uniform(0.0, 0.3))
        else:
            # The first poll runs at start: its transaction (0.3 s an event) holds the lock.
            assert wait_for(lambda: write_locked(tmp), 30, interval=0.02), log.read_text()[-3000:]
            time.sleep(rng.uniform(0.0, 2.0))
        locked = write_locked(tmp)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    at = cursors(tmp)
    behind = frozenset(f for f, uid in last.items() if at.get(f, (0, 0))[1] < uid)
    return Kill(between, locked, behind, len(events(tmp)))


@pytest.mark.timeout(420)
async def test_kill_9_during_ingestion_loses_and_doubles_nothing(tmp_path: Path) -> None:
    smtp, smtp_port = await asyncio.to_thread(start_smtp, tmp_path, None)
    try:
        async with Dovecot(tmp_path / "dovecot", {BOX: IMAP_PW}) as dovecot:
            await run(tmp_path, smtp_port, dovecot)
    finally:
        smtp.send_signal(signal.SIGTERM)
        await asyncio.to_thread(smtp.wait, 10)
        if smtp.stdout is not None:
            smtp.stdout.close()


async def run(tmp: Path, smtp_port: int, dovecot: Dovecot) -> None:
    write_config(tmp, smtp_port, dovecot.port)
    env = base_env(tmp, SMTP_PW="pw", IMAP_PW=IMAP_PW)  # headless: no BOT_TOKEN
    csv = tmp / "leads.csv"
    csv.write_text("email,first_name\n" + "".join(f"{lead(i)},L{i}\n" for i in range(LEADS)))
    done = await asyncio.to_thread(run_main, ["import", str(csv), "--campaign", "launch"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    log = tmp / "service.log"

    # Step 1 goes out to every lead (the inbox is read, and empty, meanwhile).
    proc = await asyncio.to_thread(start, env, log)
    sent_all = await asyncio.to_thread(wait_for, lambda: all_sent(tmp, LEADS), 60)
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 20) == 0, log.read_text()[-3000:]
    assert sent_all
    sent = {}
    for received in read_log(tmp / "smtp.jsonl"):
        sent[received.rcpt_tos[0]] = str(email.message_from_bytes(received.data)["Message-ID"])
    assert sorted(sent) == [lead(i) for i in range(LEADS)]
    conn = sqlite3.connect(db_file(tmp))
    try:
        conn.executescript(SLOW_TRIGGER)
    finally:
        conn.close()

    mails = build_mails(sent)
    assert sum(len(m.folders) for m in mails) == 61
    uidvalidity = {f: await dovecot.uidvalidity(BOX, f) for f in FOLDERS}
    next_uid = dict.fromkeys(FOLDERS, 1)  # a fresh folder numbers its mails from 1
    delivered: list[Mail] = []
    kills: list[Kill] = []
    rng = random.Random(10)
    for number in range(ROUNDS):
        for mail in mails[number::ROUNDS]:
            for folder in mail.folders:
                await dovecot.deliver(BOX, mail.raw, folder)
                mail.uids[folder] = next_uid[folder]
                next_uid[folder] += 1
            delivered.append(mail)
        last = {f: next_uid[f] - 1 for f in FOLDERS}
        kill = await asyncio.to_thread(
            partial(kill_while_ingesting, tmp, env, log, rng, last, between=number % 2 == 1)
        )
        kills.append(kill)
        await asyncio.to_thread(assert_nothing_behind_cursor_lost, tmp, delivered, uidvalidity)
        assert (await asyncio.to_thread(db_rows, tmp, "PRAGMA integrity_check")) == [("ok",)]
    assert len(delivered) == len(mails)
    for folder in FOLDERS:  # the UIDs the test counted are Dovecot's
        assert max(await dovecot.flags(BOX, folder)) == next_uid[folder] - 1

    # The kills landed inside ingestions: the write lock held, and after the kill mail not
    # yet committed, in INBOX (its batch cut) and in Junk alone (INBOX's batch committed in
    # that run, Junk's cut: between two batches). Events were stored between kills, too.
    assert any(k.locked and "INBOX" in k.behind for k in kills), kills
    assert any(k.between and k.locked and k.behind == {"Junk"} for k in kills), kills
    assert 0 < kills[-1].events < 29, kills

    # A clean run reads on to the last UID of both folders and stops on SIGTERM.
    expected = {
        m.source_id(uidvalidity): (str(m.kind), str(m.email)) for m in mails if m.kind is not None
    }
    final_log = tmp / "final.log"
    proc = await asyncio.to_thread(start, env, final_log)

    def caught_up() -> bool:
        at = cursors(tmp)
        return all(at.get(f, (0, 0))[1] == next_uid[f] - 1 for f in FOLDERS)

    try:
        assert await asyncio.to_thread(wait_for, caught_up, 90), final_log.read_text()[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    assert code == 0, final_log.read_text()[-3000:]
    # Nothing failed, the stop included: a poll running at SIGTERM finishes its batch.
    assert " ERROR " not in final_log.read_text(), final_log.read_text()[-3000:]

    # Exactly one event for every mail that should give one (the mails in both folders and
    # the ones re-read after each kill included), of the right kind, and no other.
    stored = await asyncio.to_thread(events, tmp)
    assert stored == expected
    counted = await asyncio.to_thread(
        db_rows, tmp, "SELECT count(*), count(DISTINCT source_id) FROM events WHERE source = 'imap'"
    )
    assert counted == [(29, 29)]
    states = await asyncio.to_thread(db_rows, tmp, "SELECT email, state FROM leads")
    assert {str(e): str(s) for e, s in states} == EXPECTED_STATES
    listed = await asyncio.to_thread(db_rows, tmp, "SELECT entry FROM suppression ORDER BY entry")
    assert [str(r[0]) for r in listed] == EXPECTED_SUPPRESSED
    # One chat notification drafted per human reply, never two (a reply's own key).
    notes = await asyncio.to_thread(
        db_rows, tmp, "SELECT count(*), count(DISTINCT key) FROM alerts WHERE key LIKE 'reply:%'"
    )
    replies = sum(1 for kind, _ in expected.values() if kind == "reply")
    assert notes == [(replies, replies)]
    assert await asyncio.to_thread(cursors, tmp) == {
        f: (uidvalidity[f], next_uid[f] - 1) for f in FOLDERS
    }
    assert await asyncio.to_thread(db_rows, tmp, "PRAGMA integrity_check") == [("ok",)]
    # Nothing more went out: step 2 is three days away, and no lead got step 1 twice.
    assert len(await asyncio.to_thread(read_log, tmp / "smtp.jsonl")) == LEADS
