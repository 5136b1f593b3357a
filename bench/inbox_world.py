"""The inbox benchmark's database: one mailbox that sent step 1 to N leads, and its config.

Built through the product's storage code (migrations, ConfigStore.sync_config) and then
bulk-inserted in the shapes the engine writes: N active leads, each with its sent step 1
(Message-ID `message_id(n)`) waiting for step 2. A fixture of bench/bench_inbox.py, which
reads the mailbox through bootstrap.py: this module writes through storage only and imports
no engine service.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from config import (
    CampaignConfig,
    DomainConfig,
    HealthConfig,
    MailboxConfig,
    OutreachConfig,
    SendingConfig,
    ServerConfig,
    StepConfig,
)
from core import limits
from storage.db import run_sync, sync_transaction, to_ms
from storage.stores import Stores

BOX = "sales@bench-mail.test"
PASSWORD = "bench-imap-pw"
TIMEZONE = "UTC"


def message_id(n: int) -> str:
    """The Message-ID of the step 1 sent to lead `n`."""
    return f"<{n:06x}.step1@bench-mail.test>"


def lead_email(n: int) -> str:
    return f"lead{n:05d}@example.com"


def bench_config(imap_port: int) -> OutreachConfig:
    """One domain, one mailbox reading a loopback IMAP server, a two-step campaign."""
    return OutreachConfig(
        sending=SendingConfig(timezone=TIMEZONE),
        # No pause from the bounce reports: the verdict's own cost is not what is measured.
        health=HealthConfig(min_sends=10_000_000),
        domains=[DomainConfig(name="bench-mail.test")],
        mailboxes=[
            MailboxConfig(
                address=BOX,
                daily_limit=1000,
                smtp=ServerConfig(
                    host="127.0.0.1",
                    port=2525,
                    security="none",
                    username=BOX,
                    password=SecretStr("unused"),
                ),  # fmt: skip
                imap=ServerConfig(
                    host="127.0.0.1",
                    port=imap_port,
                    security="none",
                    username=BOX,
                    password=SecretStr(PASSWORD),
                ),  # fmt: skip
            )
        ],
        campaigns=[
            CampaignConfig(
                name="bench",
                steps=[
                    StepConfig(subject="A question", body="Hi {{ first_name }}"),
                    StepConfig(body="Just bumping this up.", wait_days=3),
                ],
            )
        ],
    )


async def build(path: Path, config: OutreachConfig, leads: int) -> None:
    """Create the database at `path` with `leads` leads, each sent its step 1 a day ago."""
    now = datetime.now(UTC)
    stores = await Stores.open(path)
    try:
        rules = config.rules()
        await stores.config.sync_config(rules, limits.local_day(now, TIMEZONE), now=now)
        ((campaign,),) = await stores.db.fetch("SELECT id FROM campaigns")
        ((mailbox,),) = await stores.db.fetch("SELECT id FROM mailboxes")
        sent = to_ms(now - timedelta(days=1))
        due = to_ms(now + timedelta(days=2))
        day = (now - timedelta(days=1)).date().isoformat()

        def work(db: sqlite3.Connection) -> None:
            with sync_transaction(db):
                db.executemany(
                    "INSERT INTO leads (id, campaign_id, email, vars, state, next_step, "
                    "next_due_at, mailbox_id, thread_message_id, created_at) "
                    "VALUES (?, ?, ?, ?, 'active', 2, ?, ?, ?, ?)",
                    [
                        (
                            n + 1,
                            campaign,
                            lead_email(n),
                            f'{{"first_name": "L{n}"}}',
                            due,
                            mailbox,
                            message_id(n),
                            sent,
                        )
                        for n in range(leads)
                    ],  # fmt: skip
                )
                db.executemany(
                    "INSERT INTO sends (kind, lead_id, campaign_id, step_no, mailbox_id, day, "
                    "state, message_id, attempts, smtp_code, smtp_reply, reserved_at, sent_at, "
                    "updated_at) VALUES ('campaign', ?, ?, 1, ?, ?, 'sent', ?, 1, 250, "
                    "'2.0.0 Ok: queued', ?, ?, ?)",
                    [
                        (n + 1, campaign, mailbox, day, message_id(n), sent, sent, sent)
                        for n in range(leads)
                    ],
                )
                db.execute(
                    "INSERT INTO usage (scope, ref, day, sent) VALUES ('mailbox', ?, ?, ?)",
                    (mailbox, day, leads),
                )
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        await run_sync(stores.db.conn, work)
    finally:
        await stores.close()


def rewind_cursors(path: Path) -> int:
    """Set every folder's cursor back to UID 0 (same UIDVALIDITY): all is read again."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        with conn:
            return conn.execute(
                "UPDATE cursors SET value = substr(value, 1, instr(value, ':')) || '0'"
            ).rowcount
    finally:
        conn.close()


def table_counts(path: Path) -> dict[str, int]:
    """Events, suppression entries and leads by state."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        out = {
            "events": conn.execute("SELECT count(*) FROM events").fetchone()[0],
            "suppression": conn.execute("SELECT count(*) FROM suppression").fetchone()[0],
        }
        for state, count in conn.execute("SELECT state, count(*) FROM leads GROUP BY state"):
            out[f"leads {state}"] = count
        return out
    finally:
        conn.close()
