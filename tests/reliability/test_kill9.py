"""kill -9 of the real main.py mid-import and mid-ingestion: the database intact, nothing lost.

- Import: `main.py import` of a CSV large enough for a staging process, killed while that
  process fills the scratch database, then in the SQL steps; each kill leaves all or nothing,
  no orphan process and no scratch file; a clean import then takes every lead once.
- Ingestion: replies, bounce reports and auto-replies for 150 of 200 sent leads among 1,200
  newsletters in a private Dovecot; the service is killed twice once it has committed a
  batch; a clean run then has exactly one event per mail that should give one, the leads
  in the right states. (tests/e2e/test_inbox_restart.py kills inside the events' transaction
  with a slow trigger and checks the cursor mail by mail; this one is about a big backlog.)
- ESP events: a Mailgun backlog of a few thousand events about sent leads (the fake in a
  process of its own, as the ESP bench runs it); the service is killed twice once it has
  stored some of them; a clean run then has each event stored once, the leads closed and
  suppressed by their bounces, complaints and unsubscribes and nothing else.
- Sending: tests/e2e/test_crash_safety.py (ten kills while mails are in flight).

After every kill `PRAGMA integrity_check` is ok.
"""

from __future__ import annotations

import asyncio
import email
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import esp_world
from bench.inbox_world import lead_email
from storage.leads import PROCESS_BYTES
from tests.e2e import test_inbox_restart as inbox
from tests.e2e.procs import (
    MAIN,
    ROOT,
    all_sent,
    base_env,
    db_rows,
    integrity,
    run_main,
    spawn_main,
    start_smtp,
    wait_for,
)
from tests.fakes.dovecot import NOBODY, Dovecot
from tests.fakes.smtp_server import read_log

ROWS = 60_000  # ~5 MB of CSV: over PROCESS_BYTES, so a staging process fills the scratch file


def stagers(folder: Path) -> list[int]:
    """Processes whose command line names a file in `folder` (an import's staging process)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if any(arg.startswith(os.fsencode(folder)) for arg in argv):
            found.append(int(entry.name))
    return found


def write_import_config(tmp: Path) -> None:
    """One mailbox and one campaign; nothing listens on the SMTP port (an import sends nothing)."""
    (tmp / "outreach.toml").write_text(
        """
[sending]
timezone = "UTC"
postal_address = "Test Ltd"

[[domains]]
name = "d0.test"

[[mailboxes]]
address = "m0@d0.test"
smtp = { host = "127.0.0.1", port = 9, security = "none", username = "u", password = "env:SMTP_PW" }

[[campaigns]]
name = "big"
[[campaigns.steps]]
subject = "Hello {{ first_name }}"
body = "Hi {{ first_name }}"
"""
    )


def start_import(csv: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`python main.py import <csv> --campaign big`, its output into `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, str(MAIN), "import", str(csv), "--campaign", "big"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def kill_when_attached(proc: subprocess.Popen[bytes], scratch: Path) -> bool:
    """kill -9 once the scratch file has come and gone (attached: the SQL steps run).

    Returns whether the kill found the import still running.
    """
    seen = False
    while proc.poll() is None:
        present = any(scratch.iterdir())
        seen = seen or present
        if seen and not present:
            break
        time.sleep(0.005)
    running = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    return running


def test_kill_9_mid_import_then_one_import_takes_every_lead_once(tmp_path: Path) -> None:
    write_import_config(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = base_env(tmp_path, SMTP_PW="pw", SQLITE_TMPDIR=str(scratch))
    emails = [f"lead{n:06d}@example.com" for n in range(ROWS)]
    csv = tmp_path / "big.csv"
    csv.write_text(
        "email,first_name,company,city,note\n"
        + "".join(
            f"{e},Name{n},Company {n % 97} Holdings Ltd,Berlin,met at the trade fair in spring\n"
            for n, e in enumerate(emails)
        )
    )
    assert csv.stat().st_size > PROCESS_BYTES
    log = tmp_path / "import.log"
    rng = random.Random(13)

    # 1: killed while the staging process fills the scratch database (nothing committed yet).
    proc = start_import(csv, env, log)
    assert wait_for(lambda: any(scratch.iterdir()) or proc.poll() is not None, 60)
    time.sleep(rng.uniform(0.0, 0.3))
    assert proc.poll() is None, log.read_text()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert integrity(tmp_path) == [("ok",)]
    assert db_rows(tmp_path, "SELECT count(*) FROM leads") == [(0,)]
    # The orphaned staging process sees its input end, deletes its file and exits.
    assert wait_for(lambda: not stagers(scratch), 30), stagers(scratch)

    # 2: killed in the SQL steps (sort, checks, the INSERT into leads): all or nothing.
    proc = start_import(csv, env, log)
    mid_import = kill_when_attached(proc, scratch)
    assert integrity(tmp_path) == [("ok",)]
    (after_kill,) = db_rows(tmp_path, "SELECT count(*) FROM leads")
    assert after_kill in {(0,), (ROWS,)}
    assert not mid_import or after_kill == (0,)

    # 3: a clean import finishes the job: every lead exactly once, no scratch file left.
    done = run_main(["import", str(csv), "--campaign", "big"], env, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"imported: {ROWS - after_kill[0]}" in done.stdout, done.stdout
    counts = db_rows(tmp_path, "SELECT count(*), count(DISTINCT lower(email)) FROM leads")
    assert counts == [(ROWS, ROWS)]
    stored = [str(r[0]) for r in db_rows(tmp_path, "SELECT email FROM leads ORDER BY email")]
    assert stored == emails
    states = db_rows(tmp_path, "SELECT state, count(*) FROM leads GROUP BY state")
    assert states == [("queued", ROWS)]
    assert integrity(tmp_path) == [("ok",)]
    assert wait_for(lambda: not stagers(scratch), 30), stagers(scratch)
    assert sorted(p.name for p in scratch.iterdir()) == []
    print(f"second kill mid-import: {mid_import}")  # noqa: T201


# --- kill -9 while a big IMAP backlog is ingested -------------------------------------------

LEADS = 200
NOISE = 1200  # newsletters: read and classified, no event


def backlog(sent: dict[str, str]) -> tuple[list[bytes], dict[str, tuple[str, str]]]:
    """The mails (shuffled) and the events they must give: source_id -> (kind, email)."""
    mails: list[bytes] = []
    expected: dict[str, tuple[str, str]] = {}
    for i in range(LEADS):
        who = inbox.lead(i)
        mid = f"<back-{i}@example.com>"
        match i % 4:
            case 0:
                raw, kind = inbox.reply(who, sent[who], mid, "Sounds good, call me."), "reply"
            case 1:
                raw, kind = inbox.report(who, sent[who], mid, hard=True), "bounce_hard"
            case 2:
                ooo = "Auto-Submitted: auto-replied\n"
                raw, kind = inbox.reply(who, sent[who], mid, "Out of office.", ooo), "auto_reply"
            case _:
                continue  # no answer at all
        mails.append(raw)
        expected[f"{inbox.BOX}:{mid}"] = (kind, who)
    mails += [inbox.newsletter(n) for n in range(1, NOISE)]
    random.Random(21).shuffle(mails)
    return mails, expected


def write_maildir(dovecot: Dovecot, mails: list[bytes]) -> None:
    """Straight into the INBOX Maildir's cur/, unread (much faster than APPEND)."""
    cur = dovecot.root / "mail" / inbox.BOX / "cur"
    assert cur.is_dir(), f"{cur}: Dovecot did not create the Maildir"
    stamp = int(time.time())
    for n, raw in enumerate(mails):
        path = cur / f"{stamp}.M{n:06d}P{os.getpid()}.kill9,S={len(raw)}:2,"
        path.write_bytes(raw)
        if os.getuid() == 0:
            os.chown(path, NOBODY, NOBODY)  # as root, the fake Dovecot serves mail as nobody


def inbox_cursor(tmp: Path) -> int:
    """The last INBOX UID the service committed (0 before any)."""
    return inbox.cursors(tmp).get("INBOX", (0, 0))[1]


@pytest.mark.timeout(300)
async def test_kill_9_mid_backlog_ingestion_then_every_event_once(tmp_path: Path) -> None:
    smtp, smtp_port = await asyncio.to_thread(start_smtp, tmp_path, None)
    try:
        async with Dovecot(tmp_path / "dovecot", {inbox.BOX: inbox.IMAP_PW}) as dovecot:
            await ingest_with_kills(tmp_path, smtp_port, dovecot)
    finally:
        smtp.send_signal(signal.SIGTERM)
        await asyncio.to_thread(smtp.wait, 10)
        if smtp.stdout is not None:
            smtp.stdout.close()


async def ingest_with_kills(tmp: Path, smtp_port: int, dovecot: Dovecot) -> None:
    inbox.write_config(tmp, smtp_port, dovecot.port)
    env = base_env(tmp, SMTP_PW="pw", IMAP_PW=inbox.IMAP_PW)
    csv = tmp / "leads.csv"
    csv.write_text("email,first_name\n" + "".join(f"{inbox.lead(i)},L{i}\n" for i in range(LEADS)))
    done = await asyncio.to_thread(run_main, ["import", str(csv), "--campaign", "launch"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    log = tmp / "service.log"

    # Step 1 to every lead; the inbox is read meanwhile, and empty.
    proc = await asyncio.to_thread(inbox.start, env, log)
    sent_all = await asyncio.to_thread(wait_for, lambda: all_sent(tmp, LEADS), 90)
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 30) == 0, log.read_text()[-3000:]
    assert sent_all
    sent = {}
    for received in read_log(tmp / "smtp.jsonl"):
        sent[received.rcpt_tos[0]] = str(email.message_from_bytes(received.data)["Message-ID"])

    # The backlog: one mail by APPEND (Dovecot makes the Maildir), the rest written into it.
    mails, expected = backlog(sent)
    await dovecot.deliver(inbox.BOX, inbox.newsletter(0))
    await asyncio.to_thread(write_maildir, dovecot, mails)
    last_uid = len(mails) + 1

    rng = random.Random(8)
    cut: list[int] = []  # the committed cursor after each kill
    for _ in range(2):
        before = await asyncio.to_thread(inbox_cursor, tmp)
        proc = await asyncio.to_thread(inbox.start, env, log)
        try:
            # Kill once this run has committed a batch of its own, a moment later.
            moved = await asyncio.to_thread(
                wait_for,
                lambda seen=before: inbox_cursor(tmp) > seen,
                60,
                0.01,
            )
            assert moved, log.read_text()[-3000:]
            await asyncio.sleep(rng.uniform(0.0, 0.2))
        finally:
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)
        cut.append(await asyncio.to_thread(inbox_cursor, tmp))
        assert await asyncio.to_thread(integrity, tmp) == [("ok",)]
        stored = await asyncio.to_thread(inbox.events, tmp)
        assert stored.items() <= expected.items()  # nothing stored that should not be
    # The kills cut ingestions short: the backlog was not yet read to its end.
    assert cut[0] < last_uid, cut

    # A clean run reads on to the last UID and stops on SIGTERM.
    final_log = tmp / "final.log"
    proc = await asyncio.to_thread(inbox.start, env, final_log)
    try:
        caught_up = await asyncio.to_thread(wait_for, lambda: inbox_cursor(tmp) == last_uid, 120)
        assert caught_up, final_log.read_text()[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    assert code == 0, final_log.read_text()[-3000:]

    # Every reply, bounce and auto-reply gave exactly one event; the leads moved accordingly.
    assert await asyncio.to_thread(inbox.events, tmp) == expected
    counted = await asyncio.to_thread(
        db_rows, tmp, "SELECT count(*), count(DISTINCT source_id) FROM events WHERE source = 'imap'"
    )
    assert counted == [(len(expected), len(expected))]
    want = {inbox.lead(i): ("replied", "bounced", "active", "active")[i % 4] for i in range(LEADS)}
    states = await asyncio.to_thread(db_rows, tmp, "SELECT email, state FROM leads")
    assert {str(e): str(s) for e, s in states} == want
    listed = await asyncio.to_thread(db_rows, tmp, "SELECT entry FROM suppression ORDER BY entry")
    assert [str(r[0]) for r in listed] == sorted(e for e, s in want.items() if s == "bounced")
    assert await asyncio.to_thread(integrity, tmp) == [("ok",)]
    # No lead got step 1 twice, and step 2 is days away.
    assert len(await asyncio.to_thread(read_log, tmp / "smtp.jsonl")) == LEADS
    print(f"cursor after each kill: {cut} of {last_uid}")  # noqa: T201


# --- kill -9 while a Mailgun backlog is ingested --------------------------------------------

ESP_EVENTS = 4000
# What item n of bench/esp_world.py's Mailgun backlog is, by n % 100 (its _MAILGUN_MIX):
# the event kind stored (None: `accepted`, no signal) and the lead's state after it.
ESP_MIX = (
    (70, "delivered", "active"),
    (85, "open", "active"),
    (90, "click", "active"),
    (93, "bounce_hard", "bounced"),
    (95, "bounce_soft", "active"),
    (96, "complaint", "complained"),
    (97, "unsubscribe", "unsubscribed"),
    (100, None, "active"),
)


def esp_expected() -> tuple[dict[str, str], dict[str, str]]:
    """The events the backlog must give (Mailgun id -> kind) and each lead's state after."""
    events: dict[str, str] = {}
    states: dict[str, str] = {}
    for n in range(ESP_EVENTS):
        kind, state = next((kind, state) for upto, kind, state in ESP_MIX if n % 100 < upto)
        if kind is not None:
            events[f"bench{n:07d}ev"] = kind  # the fake's item ids (esp_world.mailgun_items)
        states[lead_email(n)] = state
    return events, states


def write_esp_config(tmp: Path, smtp_port: int, mailgun: str) -> None:
    """bench/esp_world.py's world as a config file: SPEC 1's Mailgun domains, polled each second."""
    smtp = (f'{{ host = "127.0.0.1", port = {smtp_port}, security = "starttls", username = "u", '
            'password = "env:SMTP_PW" }')  # fmt: skip
    domains = "\n".join(f'[[domains]]\nname = "{d}"\nesp = "mg"\n' for d in esp_world.DOMAINS)
    mailboxes = "\n".join(
        f'[[mailboxes]]\naddress = "{box}"\ndaily_limit = 1000\nsmtp = {smtp}\n'
        for box in esp_world.BOXES
    )
    (tmp / "outreach.toml").write_text(
        f"""
[sending]
timezone = "UTC"
postal_address = "Test Ltd, 1 Main St"

[health]
min_sends = 10000000
complaints_pause = 10000000

[[esp]]
name = "mg"
kind = "mailgun"
api_key = "env:MG_KEY"
base_url = "{mailgun}"
poll_seconds = 1

{domains}
{mailboxes}

[[campaigns]]
name = "bench"
[[campaigns.steps]]
subject = "A question"
body = "Hi {{{{ first_name }}}}"
[[campaigns.steps]]
wait_days = 3
body = "Just bumping this up."
"""
    )


def start_esp_fake(base: float) -> tuple[subprocess.Popen[str], str]:
    """bench/esp_fakes.py serving the backlog; its URL."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "esp_fakes.py"), "mailgun", str(ESP_EVENTS),
         repr(base)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening"):
        proc.kill()
        raise RuntimeError(f"fake Mailgun did not start: {line!r}")
    return proc, line.split()[1]


def esp_stored(tmp: Path) -> list[tuple[object, ...]]:
    return db_rows(tmp, "SELECT source_id, kind FROM events WHERE source = 'esp:mg'")


@pytest.mark.timeout(120)
async def test_kill_9_mid_esp_ingestion_then_every_event_once(tmp_path: Path) -> None:
    # Inside Mailgun's re-read window (30 min): a first poll reaches every event.
    base = time.time() - 1200
    fake, url = await asyncio.to_thread(start_esp_fake, base)
    smtp, smtp_port = await asyncio.to_thread(start_smtp, tmp_path, None)
    try:
        (tmp_path / "data").mkdir()
        config = esp_world.bench_config(mailgun_url=url)
        await esp_world.build(tmp_path / "data" / "outreach.db", config, ESP_EVENTS)
        write_esp_config(tmp_path, smtp_port, url)
        env = base_env(tmp_path, SMTP_PW="pw", MG_KEY=esp_world.MAILGUN_KEY)
        await ingest_esp_with_kills(tmp_path, env)
    finally:
        for proc in (fake, smtp):
            if proc.stdin is not None:
                proc.stdin.close()  # the fake ESP serves until its stdin closes
            proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait, 10)
            if proc.stdout is not None:
                proc.stdout.close()


async def ingest_esp_with_kills(tmp: Path, env: dict[str, str]) -> None:
    expected, states = esp_expected()
    log = tmp / "service.log"
    rng = random.Random(13)
    cut: list[int] = []  # events stored after each kill
    for _ in range(2):
        before = len(await asyncio.to_thread(esp_stored, tmp))
        proc = await asyncio.to_thread(spawn_main, env, log)
        try:
            # Kill once this run has stored events of its own, a moment later.
            moved = await asyncio.to_thread(
                wait_for, lambda seen=before: len(esp_stored(tmp)) > seen, 60, 0.01
            )
            assert moved, log.read_text()[-3000:]
            await asyncio.sleep(rng.uniform(0.0, 0.05))
        finally:
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait, 10)
        assert await asyncio.to_thread(integrity, tmp) == [("ok",)]
        stored = await asyncio.to_thread(esp_stored, tmp)
        cut.append(len(stored))
        # Never an event twice, nor one the backlog does not have.
        ids = [str(source_id).partition("/")[0] for source_id, _ in stored]
        assert len(ids) == len(set(ids)) and set(ids) <= expected.keys()
    # The kills cut ingestion short: not everything was in yet.
    assert cut[0] < len(expected), cut

    final_log = tmp / "final.log"
    proc = await asyncio.to_thread(spawn_main, env, final_log)
    try:
        done = await asyncio.to_thread(wait_for, lambda: len(esp_stored(tmp)) >= len(expected), 60)
        assert done, final_log.read_text()[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
    assert code == 0, final_log.read_text()[-3000:]

    # Each of the fake's distinct events stored exactly once, as its kind.
    stored = await asyncio.to_thread(esp_stored, tmp)
    got = {str(source_id).partition("/")[0]: str(kind) for source_id, kind in stored}
    assert len(stored) == len(got) and got == expected
    rows = await asyncio.to_thread(db_rows, tmp, "SELECT email, state FROM leads")
    assert {str(e): str(s) for e, s in rows} == states
    listed = await asyncio.to_thread(db_rows, tmp, "SELECT entry FROM suppression ORDER BY entry")
    closed = sorted(e for e, s in states.items() if s != "active")
    assert [str(r[0]) for r in listed] == closed
    assert await asyncio.to_thread(integrity, tmp) == [("ok",)]
    # Nothing was sent: step 2 is days away for every lead.
    assert await asyncio.to_thread(read_log, tmp / "smtp.jsonl") == []
    print(f"events stored after each kill: {cut} of {len(expected)}")  # noqa: T201
