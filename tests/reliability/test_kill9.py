"""kill -9 of the real main.py mid-import and mid-ingestion: the database intact, nothing lost.

The sending side's kill -9 is tests/e2e/test_crash_safety.py (ten kills while mails are in
flight, then `PRAGMA integrity_check`).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from storage.leads import PROCESS_BYTES
from tests.e2e.procs import MAIN, ROOT, base_env, db_rows, integrity, run_main, wait_for

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
