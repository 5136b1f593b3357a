"""`main.py backup` while the real service sends: a copy that opens, checks ok, misses nothing."""

from __future__ import annotations

import signal
import sqlite3
import stat
from pathlib import Path

from storage.migrations import MIGRATIONS
from tests.e2e.procs import base_env, db_rows, run_main, spawn_main, start_smtp, wait_for
from tests.e2e.test_crash_safety import received, write_config

LEADS = 300
BACKUPS = 3


def sent_ids(db: Path) -> set[int]:
    """Ids of the sends `db` holds as sent (read-only, beside any writer)."""
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        return {int(r[0]) for r in conn.execute("SELECT id FROM sends WHERE state = 'sent'")}
    finally:
        conn.close()


def integrity(db: Path) -> list[str]:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        return [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


def test_backups_taken_while_the_service_sends_hold_every_committed_send(tmp_path: Path) -> None:
    # 0.3 s per message at the server over 4 mailboxes: ~20 s of steady sending and committing,
    # so each backup runs while sends are being recorded.
    smtp, port = start_smtp(tmp_path, {"*": {"action": "delay", "seconds": 0.3}})
    live = tmp_path / "data" / "outreach.db"
    try:
        write_config(tmp_path, port)
        env = base_env(tmp_path, SMTP_PW="pw")
        csv = tmp_path / "leads.csv"
        csv.write_text(
            "email,first_name\n" + "".join(f"lead{i}@example.com,L{i}\n" for i in range(LEADS))
        )
        done = run_main(["import", str(csv), "--campaign", "crash"], env)
        assert done.returncode == 0, done.stdout + done.stderr

        log = tmp_path / "service.log"
        proc = spawn_main(env, log)
        try:
            copies: list[tuple[Path, set[int]]] = []
            for n in range(BACKUPS):
                seen = len(received(tmp_path))
                assert wait_for(lambda s=seen: len(received(tmp_path)) > s + 5, 30), (
                    log.read_text()[-3000:]
                )
                before = sent_ids(live)  # committed before this backup begins
                target = tmp_path / f"copy{n}.db"
                done = run_main(["backup", str(target)], env)
                assert done.returncode == 0, done.stdout + done.stderr
                assert f"Wrote {target}: " in done.stdout
                assert f"schema version {len(MIGRATIONS)}." in done.stdout
                assert "Consistent as of " in done.stdout
                copies.append((target, before))
            # The service was still at work: more was sent after the last backup.
            assert wait_for(lambda: len(sent_ids(live)) > len(copies[-1][1]) + 5, 30)

            # An existing file is left alone unless --force.
            first = copies[0][0]
            kept = first.read_bytes()
            refused = run_main(["backup", str(first)], env)
            assert refused.returncode == 1
            assert "exists; choose another name or pass --force" in refused.stderr
            assert first.read_bytes() == kept
        finally:
            proc.send_signal(signal.SIGKILL)  # as a crash leaves it: the WAL not checkpointed
            proc.wait(timeout=10)
        after_crash = tmp_path / "after-crash.db"
        done = run_main(["backup", str(after_crash)], env)
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        smtp.send_signal(signal.SIGTERM)
        smtp.wait(timeout=10)
        if smtp.stdout is not None:
            smtp.stdout.close()

    final = sent_ids(live)
    for target, before in copies:
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        assert integrity(target) == ["ok"]
        in_copy = sent_ids(target)
        assert before <= in_copy, sorted(before - in_copy)[:5]  # nothing committed is missing
        assert in_copy <= final  # and nothing the database never held
    # Later copies hold more: each is a snapshot of its own moment, not a stale file.
    counts = [len(sent_ids(target)) for target, _ in copies]
    assert counts == sorted(counts) and counts[0] < counts[-1] < len(final) + 1
    # After kill -9 the WAL is left as the crash left it: the copy holds what it holds too.
    assert integrity(after_crash) == ["ok"]
    assert sent_ids(after_crash) == final
    assert db_rows(tmp_path, "SELECT count(*) FROM leads")[0][0] == LEADS
