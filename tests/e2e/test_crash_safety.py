"""kill -9 of the real service while it sends, ten times: never a lead step twice (SPEC 6.10),
and after each kill and at the end `PRAGMA integrity_check` says ok."""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from pathlib import Path

from tests.e2e.procs import (
    base_env,
    db_rows,
    integrity,
    run_main,
    spawn_main,
    start_smtp,
    wait_for,
)

LEADS = 200
KILLS = 10


def write_config(tmp: Path, port: int) -> None:
    mailboxes = "\n".join(
        f"""
[[mailboxes]]
address = "m{j}@d{i}.test"
daily_limit = 1000
smtp = {{ host = "127.0.0.1", port = {port}, security = "starttls", username = "u", \
password = "env:SMTP_PW" }}
"""
        for i in range(2)
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

[[domains]]
name = "d0.test"
[[domains]]
name = "d1.test"
{mailboxes}
[[campaigns]]
name = "crash"
hours = "00:00-24:00"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
[[campaigns.steps]]
subject = "Hello {{{{ first_name }}}}"
body = "Hi {{{{ first_name }}}}"
"""
    )


def received(tmp: Path) -> list[dict[str, object]]:
    path = tmp / "smtp.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_kill_9_never_sends_a_lead_step_twice(tmp_path: Path) -> None:
    # Each message takes 0.5 s at the server, so 200 mails over 4 connections take 25 s of
    # sending, far longer than a run lives: every kill lands while mails are in flight.
    smtp, port = start_smtp(tmp_path, {"*": {"action": "delay", "seconds": 0.5}})
    try:
        write_config(tmp_path, port)
        env = base_env(tmp_path, SMTP_PW="pw")
        csv = tmp_path / "leads.csv"
        csv.write_text(
            "email,first_name\n" + "".join(f"lead{i}@example.com,L{i}\n" for i in range(LEADS))
        )
        done = run_main(["import", str(csv), "--campaign", "crash"], env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"imported: {LEADS}" in done.stdout

        rng = random.Random(1234)
        log = tmp_path / "service.log"
        for _ in range(KILLS):
            before = len(received(tmp_path))
            proc = spawn_main(env, log)
            # Kill it while it sends: once this run has delivered a mail, at a random moment
            # within the next half second (one message's time at the server).

            def sending(seen: int = before) -> bool:
                return len(received(tmp_path)) > seen

            assert wait_for(sending, 30), log.read_text()[-3000:]
            time.sleep(rng.uniform(0.0, 0.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            # The database a kill -9 leaves behind is sound, as the next start finds it.
            assert integrity(tmp_path) == [("ok",)]

        # A last, clean run resolves whatever the kills left and sends the rest.
        started = log.read_text().count("running headless")
        proc = spawn_main(env, log)
        assert wait_for(lambda: log.read_text().count("running headless") > started, 30)

        def settled() -> bool:
            rows = db_rows(
                tmp_path, "SELECT count(*) FROM leads WHERE state IN ('queued', 'active')"
            )
            return rows[0][0] == 0

        assert wait_for(settled, timeout=60), log.read_text()[-3000:]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        smtp.send_signal(signal.SIGTERM)
        smtp.wait(timeout=10)
        if smtp.stdout is not None:
            smtp.stdout.close()

    assert integrity(tmp_path) == [("ok",)]
    mails = received(tmp_path)
    per_lead = Counter(str(m["rcpt_tos"][0]) for m in mails)  # type: ignore[index]
    assert per_lead and max(per_lead.values()) == 1, per_lead.most_common(3)

    sends = db_rows(tmp_path, "SELECT l.email, s.state, s.message_id FROM sends s "
                              "JOIN leads l ON l.id = s.lead_id")  # fmt: skip
    states = Counter(str(row[1]) for row in sends)
    assert set(states) <= {"sent", "unknown"}, states
    # Every lead ended sent or unknown: none lost, none left queued after the last run.
    assert sum(states.values()) == LEADS
    lead_states = Counter(str(r[0]) for r in db_rows(tmp_path, "SELECT state FROM leads"))
    assert set(lead_states) <= {"finished", "failed"}, lead_states
    assert lead_states["finished"] == states["sent"]
    # What the DB calls sent, the server has; what the server has, the DB knows (sent or unknown).
    by_id = {str(m["message_id"]): m for m in mails}
    sent_ids = {str(r[2]) for r in sends if r[1] == "sent"}
    assert sent_ids <= set(by_id)
    known = {str(r[2]) for r in sends}
    assert set(by_id) <= known
    # The kills hit mails in flight (4 mailboxes, each busy nearly all the time): the
    # recovery path ran, not just a restart of an idle service.
    assert states["unknown"] >= KILLS // 2, states
    # Each unknown one is named in an alert.
    unknown = [str(r[0]) for r in sends if r[1] == "unknown"]
    alert_text = "\n".join(str(r[0]) for r in db_rows(tmp_path, "SELECT text FROM alerts"))
    for email in unknown:
        assert email in alert_text
    # Shown with -s / -rA: how this run's kills fell.
    summary = f"kills={KILLS} sent={states['sent']} unknown={states['unknown']} mails={len(mails)}"
    print(summary)  # noqa: T201
