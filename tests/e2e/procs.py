"""Start the real processes an end-to-end test needs: main.py and the fake SMTP server."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import trustme

from tests.fakes.smtp_server import read_log

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "main.py"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SMTP_USER = "u"  # the login start_smtp's server takes (configs: username = "u")
SMTP_PASSWORD = "pw"  # ... and its password (SMTP_PW in the tests' environments)
CA_FILE = "smtp-ca.pem"


def base_env(tmp: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no bot token, the test's DB and config."""
    env = {k: v for k, v in os.environ.items() if k not in {"BOT_TOKEN", "ADMIN_IDS"}}
    env.update(
        {
            "OUTREACH_CONFIG": str(tmp / "outreach.toml"),
            "DATABASE_PATH": str(tmp / "data" / "outreach.db"),
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "text",  # the tests read text lines, whatever the caller's shell says
            "PYTHONUNBUFFERED": "1",
            # The test CA of start_smtp; OpenSSL's default verify paths read it.
            "SSL_CERT_FILE": str(tmp / CA_FILE),
        }
    )
    env.update(extra)
    return env


def start_smtp(
    tmp: Path, script: dict[str, object] | None = None
) -> tuple[subprocess.Popen[str], int]:
    """The standalone fake SMTP server, logging accepted mail to tmp/smtp.jsonl.

    As a real provider does, it takes AUTH (SMTP_USER, SMTP_PASSWORD) only after STARTTLS, with
    a certificate from a throwaway CA that `base_env` makes the service trust (SSL_CERT_FILE):
    configs name it `security = "starttls"`.
    """
    chain = tmp / "smtp-chain.pem"
    if not chain.exists():
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(tmp / CA_FILE))
        ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(
            str(chain)
        )
    args = [sys.executable, "-m", "tests.fakes.smtp_server", "--port", "0",
            "--log", str(tmp / "smtp.jsonl"), "--user", SMTP_USER, "--password", SMTP_PASSWORD,
            "--tls-chain", str(chain)]  # fmt: skip
    if script is not None:
        path = tmp / "script.json"
        path.write_text(json.dumps(script))
        args += ["--script", str(path)]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening"):
        proc.kill()
        raise RuntimeError(f"fake SMTP server did not start: {line!r}")
    return proc, int(line.split()[2])


def run_main(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a main.py subcommand to completion."""
    return subprocess.run(
        [sys.executable, str(MAIN), *args], cwd=env.get("CWD", ROOT), env=env, text=True,
        capture_output=True, timeout=timeout, check=False,
    )  # fmt: skip


def spawn_main(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start the service (`python main.py`) with its output in `log`."""
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, str(MAIN)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def wait_for(predicate: object, timeout: float, interval: float = 0.1) -> bool:
    """Poll a zero-argument callable until it returns true or `timeout` passes."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def db_rows(tmp: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows from the service's database in `tmp`, read-only (WAL lets us read while it writes)."""
    conn = sqlite3.connect(f"file:{tmp / 'data' / 'outreach.db'}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def all_sent(tmp: Path, count: int) -> bool:
    """The SMTP server took `count` mails and the service recorded `count` sends as sent.

    Wait for both before a SIGTERM that must leave no send 'unknown': the server logs a mail
    before the service has its 250 and records it, and a stop in between, which a loaded
    machine makes wide, interrupts that send.
    """
    if len(read_log(tmp / "smtp.jsonl")) < count:
        return False
    return db_rows(tmp, "SELECT count(*) FROM sends WHERE state = 'sent'")[0][0] == count


def integrity(tmp: Path) -> list[tuple[object, ...]]:
    """PRAGMA integrity_check on the service's database in `tmp`, opened as a restart opens it."""
    # Read-write: a killed writer's WAL or journal is recovered first, as the next start would.
    conn = sqlite3.connect(tmp / "data" / "outreach.db", timeout=30)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


async def query(tmp: Path, sql: str) -> list[tuple[object, ...]]:
    """db_rows off the event loop."""
    return await asyncio.to_thread(db_rows, tmp, sql)
