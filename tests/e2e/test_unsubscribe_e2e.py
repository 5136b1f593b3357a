"""One-click unsubscribe through the real service: the URL in a sent mail suppresses its lead."""

from __future__ import annotations

import email
import json
import re
import signal
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

from tests.e2e.procs import base_env, free_port, run_main, spawn_main, start_smtp, wait_for


def config(tmp: Path, smtp_port: int, web_port: int) -> None:
    (tmp / "outreach.toml").write_text(
        f"""
[sending]
timezone = "UTC"
tick_seconds = 1
min_gap_seconds = 0
jitter_seconds = 0
postal_address = "Test Ltd, 1 Test St"

[unsubscribe]
base_url = "https://u.example.test"
listen = "127.0.0.1:{web_port}"

[[domains]]
name = "d0.test"

[[mailboxes]]
address = "m0@d0.test"
smtp = {{ host = "127.0.0.1", port = {smtp_port}, security = "starttls", username = "u", \
password = "env:SMTP_PW" }}

[[campaigns]]
name = "c"
hours = "00:00-24:00"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
[[campaigns.steps]]
subject = "Hello"
body = "Hi"
[[campaigns.steps]]
wait_days = 0
body = "Bump"
"""
    )


def mails(tmp: Path) -> list[dict[str, object]]:
    path = tmp / "smtp.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def post(url: str) -> int:
    req = urllib.request.Request(url, data=b"List-Unsubscribe=One-Click", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - our own loopback
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_one_click_unsubscribe_suppresses_the_lead(tmp_path: Path) -> None:
    smtp, smtp_port = start_smtp(tmp_path)
    web_port = free_port()
    proc = None
    try:
        config(tmp_path, smtp_port, web_port)
        env = base_env(tmp_path, SMTP_PW="pw")
        (tmp_path / "leads.csv").write_text("email\nann@example.com\nbob@example.com\n")
        done = run_main(["import", str(tmp_path / "leads.csv"), "--campaign", "c"], env)
        assert done.returncode == 0, done.stdout + done.stderr
        proc = spawn_main(env, tmp_path / "service.log")
        assert wait_for(lambda: len(mails(tmp_path)) >= 2, 30)
        first = next(m for m in mails(tmp_path) if m["rcpt_tos"] == ["ann@example.com"])
        msg = email.message_from_string(str(first["data"]))
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        match = re.search(r"<https://u\.example\.test/u/([A-Za-z0-9_-]+)>", msg["List-Unsubscribe"])
        assert match, msg["List-Unsubscribe"]
        local = f"http://127.0.0.1:{web_port}/u/{match.group(1)}"

        with urllib.request.urlopen(local, timeout=5) as page:  # noqa: S310
            body = page.read().decode()
        assert "<form" in body and 'method="post"' in body.lower()
        forged = local[:-2] + ("AA" if not local.endswith("AA") else "BB")
        assert post(forged) == 404
        assert post(local) == 200
        assert post(local) == 200  # idempotent
        with urllib.request.urlopen(local, timeout=5) as page:  # noqa: S310
            again = page.read().decode()
        assert again.startswith("You are unsubscribed.") and "<form" not in again

        db = sqlite3.connect(tmp_path / "data" / "outreach.db")
        try:
            assert db.execute("SELECT count(*) FROM suppression WHERE entry = ?",
                              ("ann@example.com",)).fetchone() == (1,)  # fmt: skip
            state = db.execute("SELECT state FROM leads WHERE email = 'ann@example.com'")
            assert state.fetchone() == ("unsubscribed",)
            assert db.execute("SELECT count(*) FROM suppression").fetchone() == (1,)
        finally:
            db.close()
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        smtp.send_signal(signal.SIGTERM)
        smtp.wait(timeout=10)
        if smtp.stdout is not None:
            smtp.stdout.close()
