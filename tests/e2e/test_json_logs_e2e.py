"""The real service with LOG_FORMAT=json: every line it writes, start to stop, is a JSON object."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.e2e.procs import base_env, free_port, spawn_main, wait_for

SECRET = "Zq9-UNIQUE-s3cr3t-VALUE"


def test_service_logs_json_lines_without_secrets(tmp_path: Path) -> None:
    web_port = free_port()
    (tmp_path / "outreach.toml").write_text(
        f"""
[sending]
timezone = "UTC"
postal_address = "Test Ltd, 1 Test St"

[unsubscribe]
base_url = "https://u.example.test"
listen = "127.0.0.1:{web_port}"

[[domains]]
name = "d0.test"

[[mailboxes]]
address = "m0@d0.test"
smtp = {{ host = "127.0.0.1", port = 9, username = "u", password = "env:SMTP_PW" }}
"""
    )
    log = tmp_path / "service.log"
    env = base_env(tmp_path, LOG_FORMAT="json", SMTP_PW=SECRET)
    proc = spawn_main(env, log)
    try:
        assert wait_for(lambda: "running headless" in log.read_text(), 60), log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    entries = [json.loads(line) for line in text.splitlines()]
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    messages = [(e["level"], e["logger"], e["message"]) for e in entries]
    assert ("INFO", "outreach", f"unsubscribe endpoint on 127.0.0.1:{web_port}") in messages
    assert ("INFO", "outreach", "stopping") in messages
    assert SECRET not in text
