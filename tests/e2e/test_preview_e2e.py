"""/preview, /test and `main.py preview` end to end: the real main.py, fake Bot API and SMTP.

The campaign may not send today, so its leads stay queued whatever the ticks do: /preview
shows the first of them, and the only mail the SMTP server gets is the test.
"""

from __future__ import annotations

import asyncio
import email
import signal
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path

from tests.e2e.procs import base_env, free_port, query, run_main, spawn_main, start_smtp
from tests.fakes.smtp_server import read_log
from tests.fakes.telegram import TOKEN, FakeTelegram

ADMIN = 111
STARTUP_SECONDS = 60
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def write_config(tmp: Path, smtp_port: int, web_port: int) -> None:
    """One mailbox with a display name; one campaign whose only day is days away.

    Three days on, not tomorrow: a run across midnight still finds the campaign idle.
    """
    idle_day = DAYS[(datetime.now(UTC).weekday() + 3) % 7]
    (tmp / "outreach.toml").write_text(
        f"""
[sending]
timezone = "UTC"
tick_seconds = 1
min_gap_seconds = 0
jitter_seconds = 0
postal_address = "Test Ltd, 1 Main St"

[unsubscribe]
base_url = "https://u.example.test"
listen = "127.0.0.1:{web_port}"

[[domains]]
name = "d0.test"

[[mailboxes]]
address = "m0@d0.test"
display_name = "Anna Smith"
smtp = {{ host = "127.0.0.1", port = {smtp_port}, security = "starttls", username = "u", \
password = "env:SMTP_PW" }}

[[campaigns]]
name = "launch"
hours = "00:00-24:00"
days = ["{idle_day}"]
[[campaigns.steps]]
subject = "Hello {{{{ first_name }}}}"
body = "Hi {{{{ first_name }}}},\\n{{{{ sender_first_name }}}} from {{{{ sender_domain }}}}"
"""
    )


def body_of(message: Message) -> str:
    """The text part, CRLFs as LFs."""
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode().replace("\r\n", "\n")


async def preview_and_test(fake: FakeTelegram) -> None:
    """The admin asks for a preview, then for a test send; each answer checked."""
    since = len(fake.calls)
    fake.push_message(ADMIN, "/preview launch")
    call = await fake.wait_for_message(ADMIN, "Preview of", within=20, since=since)
    lines = str(call["params"]["text"]).splitlines()
    assert lines[0] == (
        "Preview of launch step 1 of 1 for lead ann@example.com (queued), from m0@d0.test"
    )
    assert "From: Anna Smith <m0@d0.test>" in lines
    assert "Subject: Hello Ann" in lines
    unsubscribe = next(x for x in lines if x.startswith("List-Unsubscribe: "))
    assert unsubscribe.startswith(
        "List-Unsubscribe: <mailto:m0@d0.test?subject=unsubscribe>, <https://u.example.test/u/"
    )
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    body = lines[lines.index("List-Unsubscribe-Post: List-Unsubscribe=One-Click") + 2 :]
    assert body[:5] == ["Hi Ann,", "Anna from d0.test", "", "--", "Test Ltd, 1 Main St"]
    assert body[5].startswith('To opt out, reply "unsubscribe" or visit: https://u.')
    # "typing..." while it rendered.
    assert any(
        c["method"] == "sendChatAction" and c["params"].get("action") == "typing"
        for c in fake.calls[since:]
    )

    since = len(fake.calls)
    fake.push_message(ADMIN, "/test launch me@admin.test")
    call = await fake.wait_for_message(ADMIN, "Test of", within=30, since=since)
    assert call["params"]["text"] == (
        "Test of launch step 1 to me@admin.test: sent from m0@d0.test (counts against "
        "its cap; no lead changed)."
    )


async def test_preview_shows_the_step_and_test_delivers_one_mail(tmp_path: Path) -> None:
    smtp, smtp_port = await asyncio.to_thread(start_smtp, tmp_path, None)
    log = tmp_path / "service.log"
    try:
        write_config(tmp_path, smtp_port, free_port())
        async with FakeTelegram() as fake:
            env = base_env(
                tmp_path, SMTP_PW="pw", BOT_TOKEN=TOKEN, ADMIN_IDS=str(ADMIN),
                ALERT_CHAT_IDS="", TELEGRAM_API_URL=fake.url,
            )  # fmt: skip
            csv = tmp_path / "leads.csv"
            csv.write_text("email,first_name\nann@example.com,Ann\nbob@example.com,Bob\n")
            done = await asyncio.to_thread(
                run_main, ["import", str(csv), "--campaign", "launch"], env
            )
            assert done.returncode == 0, done.stdout + done.stderr
            proc = spawn_main(env, log)
            try:
                await fake.wait_for(lambda: fake.attempts("getUpdates") > 0, within=STARTUP_SECONDS)
                await preview_and_test(fake)
            finally:
                # Stopped while the fake Bot API still answers: no polling error in the log.
                proc.send_signal(signal.SIGTERM)
                code = await asyncio.to_thread(proc.wait, 20)
                assert code == 0, log.read_text()[-3000:]
    finally:
        smtp.send_signal(signal.SIGTERM)
        await asyncio.to_thread(smtp.wait, 10)
        if smtp.stdout is not None:
            smtp.stdout.close()

    (mail,) = read_log(tmp_path / "smtp.jsonl")
    assert (mail.mail_from, mail.rcpt_tos) == ("m0@d0.test", ("me@admin.test",))
    message = email.message_from_bytes(mail.data)
    assert message["Subject"] == "Hello Ann"
    assert body_of(message).startswith("Hi Ann,\nAnna from d0.test\n")
    # No lead moved and no send was recorded; the mailbox's day counts the test.
    assert await query(tmp_path, "SELECT email, state FROM leads ORDER BY id") == [
        ("ann@example.com", "queued"),
        ("bob@example.com", "queued"),
    ]
    assert await query(tmp_path, "SELECT count(*) FROM sends") == [(0,)]
    assert await query(tmp_path, "SELECT scope, sent FROM usage WHERE scope = 'mailbox'") == [
        ("mailbox", 1)
    ]
    # The CLI twin prints the same view, for any lead of the campaign.
    cli = await asyncio.to_thread(
        run_main,
        ["preview", "launch", "--email", "bob@example.com"],
        base_env(tmp_path, SMTP_PW="pw"),
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    printed = cli.stdout.splitlines()
    assert printed[0] == (
        "Preview of launch step 1 of 1 for lead bob@example.com (queued), from m0@d0.test"
    )
    assert "Subject: Hello Bob" in printed
    assert "Anna from d0.test" in printed
    missing = await asyncio.to_thread(
        run_main, ["preview", "nope"], base_env(tmp_path, SMTP_PW="pw")
    )
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: no campaign named 'nope'; known campaigns: launch")
    text = log.read_text()
    assert TOKEN.split(":")[1] not in text
    assert " ERROR " not in text, text[-3000:]  # no handler failed
