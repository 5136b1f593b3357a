"""kill -9 while a hard bounce or an unsubscribe is applied: all of it is stored, or none.

A hard bounce stores the send's end, the bounce event, the suppression entry and the closed
lead; a one-click unsubscribe the event, the entry and the closed lead. Each is one commit
(SPEC 8: "commit together or not at all"). To make a kill land inside that commit, not just
near it, the test gives the database a slow trigger on the suppression list: every entry then
takes ~0.3 s to insert, in the middle of the use case's transaction, and the service spends
most of its time there. With the effects committed one by one, a kill in the trigger would
leave the event (and the send's end) without the entry and the closed lead.
"""

from __future__ import annotations

import datetime as dt
import random
import signal
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from pathlib import Path

from core.unsubscribe import make_token
from tests.e2e.procs import base_env, db_rows, free_port, run_main, spawn_main, start_smtp, wait_for

LEADS = 24
ROUNDS = 5
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# 150^3 rows joined per entry: ~0.3 s of work inside the inserting transaction.
SLOW_TRIGGER = """
CREATE TABLE slow (x INTEGER);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 150)
INSERT INTO slow SELECT x FROM n;
CREATE TRIGGER slow_suppression AFTER INSERT ON suppression BEGIN
    SELECT count(*) FROM slow a, slow b, slow c WHERE a.x + b.x + c.x >= 0;
END;
"""


def write_config(tmp: Path, smtp_port: int, *, days: tuple[str, ...], web_port: int = 0) -> None:
    unsubscribe = (
        f'[unsubscribe]\nbase_url = "https://u.example.test"\nlisten = "127.0.0.1:{web_port}"\n'
        if web_port
        else ""
    )
    mailboxes = "\n".join(
        f"""
[[mailboxes]]
address = "m{j}@d0.test"
daily_limit = 1000
smtp = {{ host = "127.0.0.1", port = {smtp_port}, security = "starttls", username = "u", \
password = "env:SMTP_PW" }}
"""
        for j in range(2)
    )
    (tmp / "outreach.toml").write_text(
        f"""
[sending]
timezone = "UTC"
tick_seconds = 1
min_gap_seconds = 0
jitter_seconds = 0
postal_address = "Test Ltd"

{unsubscribe}
[[domains]]
name = "d0.test"
{mailboxes}
[[campaigns]]
name = "c"
hours = "00:00-24:00"
days = {list(days)!r}
[[campaigns.steps]]
subject = "Hello {{{{ first_name }}}}"
body = "Hi {{{{ first_name }}}}"
""".replace("'", '"')
    )


def wait_until(predicate: Callable[[], bool]) -> None:
    """Block until `predicate` holds (or fail after 30 s)."""
    assert wait_for(predicate, 30, interval=0.02)


def db(tmp: Path) -> Path:
    return tmp / "data" / "outreach.db"


def prepare(tmp: Path, env: dict[str, str]) -> None:
    """Create the database, import the leads, then slow the suppression list down."""
    csv = tmp / "leads.csv"
    csv.write_text("email,first_name\n" + "".join(f"l{i}@example.com,L{i}\n" for i in range(LEADS)))
    done = run_main(["import", str(csv), "--campaign", "c"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"imported: {LEADS}" in done.stdout, done.stdout
    conn = sqlite3.connect(db(tmp))
    try:
        conn.executescript(SLOW_TRIGGER)
    finally:
        conn.close()


def kill_while_busy(
    proc_log: Path, env: dict[str, str], rng: random.Random, act: Callable[[], None]
) -> None:
    """Start the service, let `act` start work and see it begin, then kill -9 at random."""
    started = proc_log.read_text().count("running headless") if proc_log.exists() else 0
    proc = spawn_main(env, proc_log)
    try:
        assert wait_for(lambda: proc_log.read_text().count("running headless") > started, 30)
        act()
        # Each entry takes ~0.3 s in the slow trigger: most moments fall inside a commit.
        time.sleep(rng.uniform(0.0, 0.9))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def test_a_hard_bounce_is_stored_whole_or_not_at_all(tmp_path: Path) -> None:
    # Every recipient is unknown: each send is a hard bounce (SPEC 8: 5.1.x).
    script: dict[str, object] = {
        "*": {"action": "reply", "code": 550, "text": "5.1.1 user unknown"}
    }
    smtp, port = start_smtp(tmp_path, script)
    try:
        write_config(tmp_path, port, days=DAYS)
        env = base_env(tmp_path, SMTP_PW="pw")
        prepare(tmp_path, env)
        log = tmp_path / "service.log"
        rng = random.Random(99)
        interrupted = 0

        def attempts() -> int:
            # Settled ones: the kill then falls among outcome commits, not in a TLS handshake.
            return len(db_rows(tmp_path, "SELECT id FROM sends WHERE state = 'failed'"))

        def more(than: int) -> bool:
            return attempts() > than

        for _ in range(ROUNDS):
            kill_while_busy(log, env, rng, partial(wait_until, partial(more, attempts())))
            assert_bounces_whole(tmp_path)
            # A step still 'sending' was cut between its mark and its outcome's commit.
            interrupted += len(db_rows(tmp_path, "SELECT id FROM sends WHERE state = 'sending'"))
    finally:
        smtp.send_signal(signal.SIGTERM)
        smtp.wait(timeout=10)
        if smtp.stdout is not None:
            smtp.stdout.close()
    bounced = db_rows(tmp_path, "SELECT count(*) FROM leads WHERE state = 'bounced'")[0][0]
    assert isinstance(bounced, int) and bounced > 0
    # The kills fell inside outcomes being committed, not only between them.
    assert interrupted > 0


def assert_bounces_whole(tmp: Path) -> None:
    """For every lead: ended send, bounce event, suppression entry, bounced lead, or none."""
    facts = db_rows(
        tmp,
        """
        SELECT l.email, l.state,
               EXISTS (SELECT 1 FROM sends s WHERE s.lead_id = l.id AND s.state = 'failed'),
               EXISTS (SELECT 1 FROM events e WHERE e.email = l.email AND e.kind = 'bounce_hard'),
               EXISTS (SELECT 1 FROM suppression p WHERE p.entry = l.email)
        FROM leads l
        """,
    )
    for email, state, failed, event, listed in facts:
        whole = (state == "bounced", bool(failed), bool(event), bool(listed))
        assert whole in {(True,) * 4, (False,) * 4}, (email, state, whole)


def test_an_unsubscribe_is_stored_whole_or_not_at_all(tmp_path: Path) -> None:
    smtp, port = start_smtp(tmp_path)
    web = free_port()
    try:
        # No sending today: the leads wait, and only the unsubscribes change them.
        today = dt.datetime.now(dt.UTC).date()
        other = DAYS[(today.weekday() + 3) % 7]
        write_config(tmp_path, port, days=(other,), web_port=web)
        env = base_env(tmp_path, SMTP_PW="pw")
        prepare(tmp_path, env)
        ((secret_hex,),) = db_rows(
            tmp_path, "SELECT value FROM meta WHERE key = 'secret:unsubscribe'"
        )
        secret = bytes.fromhex(str(secret_hex))
        lead_ids = [int(str(r[0])) for r in db_rows(tmp_path, "SELECT id FROM leads ORDER BY id")]
        log = tmp_path / "service.log"
        rng = random.Random(7)
        clicked: list[int] = []

        def click(lead_id: int) -> None:
            url = f"http://127.0.0.1:{web}/u/{make_token(secret, lead_id)}"
            request = urllib.request.Request(url, data=b"List-Unsubscribe=One-Click")
            with suppress(OSError):  # the kill cuts the connection
                urllib.request.urlopen(request, timeout=10).close()

        def stored() -> int:
            return len(db_rows(tmp_path, "SELECT id FROM events WHERE source = 'one-click'"))

        def clicks(batch: list[int]) -> None:
            before = stored()
            clicked.extend(batch)
            for lead_id in batch:
                threading.Thread(target=click, args=(lead_id,), daemon=True).start()
            # The kill comes after the first click of the batch is stored, at a random moment
            # among the rest (~0.3 s each): a loaded machine can't turn every round into a miss.
            wait_until(lambda: stored() > before)

        for number in range(ROUNDS):
            batch = lead_ids[number * 4 : number * 4 + 4]
            kill_while_busy(log, env, rng, partial(clicks, batch))
            assert_unsubscribes_whole(tmp_path)
    finally:
        smtp.send_signal(signal.SIGTERM)
        smtp.wait(timeout=10)
        if smtp.stdout is not None:
            smtp.stdout.close()
    done = {int(str(r[0])) for r in db_rows(tmp_path, "SELECT id FROM leads "
                                                  "WHERE state = 'unsubscribed'")}  # fmt: skip
    # Some clicks were stored and some were cut by a kill: both outcomes were exercised.
    assert done and done < set(clicked), (done, clicked)


def assert_unsubscribes_whole(tmp: Path) -> None:
    """For every lead: one-click event, suppression entry, unsubscribed lead, or none."""
    facts = db_rows(
        tmp,
        """
        SELECT l.email, l.state,
               EXISTS (SELECT 1 FROM events e WHERE e.source = 'one-click'
                       AND e.source_id = 'lead:' || l.id),
               EXISTS (SELECT 1 FROM suppression p WHERE p.entry = l.email)
        FROM leads l
        """,
    )
    for email, state, event, listed in facts:
        whole = (state == "unsubscribed", bool(event), bool(listed))
        assert whole in {(True,) * 3, (False,) * 3}, (email, state, whole)
