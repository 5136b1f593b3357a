"""The ESP benchmark's world: the events, the database they refer to, and the floor.

SPEC 1's typical install: 10 domains x 3 mailboxes, all sending through one Mailgun account
(or SES); N leads, each sent its step 1 by mailbox n % 30 a day ago (build() below), and one
provider event per send in the providers' documented shapes: Mailgun event
items shaped on tests/fixtures/esp/mailgun/events.json, SES notifications (SQS message bodies)
shaped on tests/fixtures/esp/ses/*.json, each carrying its send's recipient and Message-ID.
Also the floor the bench compares with (JSON parsing alone, and the adapters' own
normalisation of the parsed items). A fixture of bench/bench_esp.py: this module imports
storage and mail, no engine service; the bench reads the feeds through bootstrap.py.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.inbox_world import TIMEZONE, lead_email
from config import (
    CampaignConfig,
    DomainConfig,
    EspConfig,
    HealthConfig,
    MailboxConfig,
    OutreachConfig,
    SendingConfig,
    ServerConfig,
    StepConfig,
)
from core import limits
from core.specs import EspSpec
from mail.esp.mailgun import PAGE_SIZE
from mail.esp.mailgun import _event as mailgun_event
from mail.esp.ses import SesFeed
from mail.esp.ses_events import parse_body
from storage.db import run_sync, sync_transaction, to_ms
from storage.stores import Stores

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "esp"
DOMAINS = tuple(f"bench{d}-mail.test" for d in range(10))  # SPEC 1: 10 root domains
BOXES = tuple(f"{who}@{domain}" for domain in DOMAINS for who in ("ann", "bob", "eve"))
MAILGUN_KEY = "key-bench-mailgun"
SQS_KEY_ID = "AKIABENCHKEY"
SQS_SECRET = "bench-sqs-secret"
SQS_BATCH = 10  # SQS ReceiveMessage returns at most ten
SPREAD = 1000.0  # seconds the events' timestamps span, all inside Mailgun's re-read window


def sender(n: int) -> str:
    """The mailbox that sent lead n its step 1: the 30 take turns."""
    return BOXES[n % len(BOXES)]


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]


def message_id(n: int) -> str:
    """The Message-ID of the step 1 sent to lead n (its sender's domain on the right)."""
    return f"<{n:06x}.step1@{domain_of(sender(n))}>"


def bench_config(
    *, mailgun_url: str = "", sqs_url: str = "", queue_url: str = ""
) -> OutreachConfig:
    """SPEC 1's 10 domains x 3 mailboxes, a two-step campaign, the ESP their events come from."""
    if mailgun_url:
        esp = EspConfig(
            name="mg", kind="mailgun", base_url=mailgun_url, api_key=SecretStr(MAILGUN_KEY)
        )
    else:
        esp = EspConfig(
            name="ses",
            kind="ses",
            region="us-east-1",
            queue_url=queue_url,
            endpoint_url=sqs_url,
            access_key_id=SecretStr(SQS_KEY_ID),
            secret_access_key=SecretStr(SQS_SECRET),
        )
    unused = SecretStr("unused")
    return OutreachConfig(
        sending=SendingConfig(timezone=TIMEZONE),
        # No pause from the bounces and complaints: what is measured is reading and storing
        # (the verdicts are still decided on each page with new ones, as in service).
        health=HealthConfig(min_sends=10_000_000, complaints_pause=10_000_000),
        esp=[esp],
        domains=[DomainConfig(name=domain, esp=esp.name) for domain in DOMAINS],
        mailboxes=[
            MailboxConfig(
                address=box,
                daily_limit=40,
                smtp=ServerConfig(
                    host="127.0.0.1", port=2525, security="none", username=box, password=unused
                ),
            )  # fmt: skip
            for box in BOXES
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


def ses_feed(spec: EspSpec) -> SesFeed:
    """The SES adapter as bootstrap builds it, but short-polling: the end of the queue is an
    empty answer at once, not a 20-second long poll (the only difference)."""
    return SesFeed(spec, wait_seconds=0)


# --- Mailgun -----------------------------------------------------------------------------------

# What send n's event is, by n % 100: the documented samples it is made from.
_MAILGUN_MIX: tuple[tuple[int, str, dict[str, Any]], ...] = (
    (70, "delivered", {}),
    (85, "opened", {}),
    (90, "clicked", {}),
    (93, "failed", {"severity": "permanent", "reason": "generic"}),  # 5.1.1: hard bounce
    (95, "failed", {"severity": "temporary"}),  # soft bounce
    (96, "complained", {}),
    (97, "unsubscribed", {}),
    (100, "accepted", {}),  # no deliverability signal: read and left out
)


def _mailgun_samples() -> list[tuple[int, dict[str, Any]]]:
    items = json.loads((FIXTURES / "mailgun" / "events.json").read_text(encoding="utf-8"))["items"]
    out = []
    for upto, event, match in _MAILGUN_MIX:
        found = next(
            i for i in items if i["event"] == event and all(i.get(k) == v for k, v in match.items())
        )
        out.append((upto, found))
    return out


def mailgun_items(count: int, base: float) -> list[dict[str, Any]]:
    """One documented-shape item per send, ascending timestamps from `base` over SPREAD s."""
    samples = _mailgun_samples()
    out = []
    for n in range(count):
        shape = next(item for upto, item in samples if n % 100 < upto)
        item = copy.deepcopy(shape)
        item["id"] = f"bench{n:07d}ev"
        item["timestamp"] = base + SPREAD * n / count
        item["recipient"] = lead_email(n)
        item["recipient-domain"] = "example.com"
        headers = item["message"]["headers"]
        headers["message-id"] = message_id(n).strip("<>")  # Mailgun echoes it without <>
        headers["to"] = lead_email(n)
        headers["from"] = sender(n)
        out.append(item)
    return out


def item_domain(item: dict[str, Any]) -> str:
    """The Mailgun domain whose log holds `item`: its sender's."""
    return domain_of(item["message"]["headers"]["from"])


def mailgun_pages(items: list[dict[str, Any]]) -> list[bytes]:
    """The answers the events API gives for `items`, each domain's log PAGE_SIZE a page, as
    bytes on the wire."""
    pages = []
    for domain in DOMAINS:
        log = [item for item in items if item_domain(item) == domain]
        for start in range(0, len(log), PAGE_SIZE):
            body = {
                "items": log[start : start + PAGE_SIZE],
                "paging": {"next": f"http://127.0.0.1/v3/{domain}/events/t{start}",
                           "previous": ""},
            }  # fmt: skip
            pages.append(json.dumps(body).encode())
    return pages


def mailgun_normalise(pages: list[dict[str, Any]]) -> int:
    """The adapter's per-item normalisation alone over parsed pages; the events it makes."""
    made = 0
    for page in pages:
        for item in page["items"]:
            if mailgun_event("mg", item_domain(item), item)[1] is not None:
                made += 1
    return made


# --- SES ---------------------------------------------------------------------------------------


def _ses_samples() -> list[tuple[int, str, dict[str, Any]]]:
    """(upto, wrapping, notification) by n % 100: SNS-wrapped delivery and bounce, raw complaint."""

    def load(name: str) -> dict[str, Any]:
        raw: dict[str, Any] = json.loads((FIXTURES / "ses" / name).read_text(encoding="utf-8"))
        return raw

    delivery = load("delivery_sns.json")
    bounce = load("bounce_dsn_sns.json")
    complaint = load("complaint_raw.json")
    return [(90, "sns", delivery), (97, "sns", bounce), (100, "raw", complaint)]


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ses_bodies(count: int, base: float) -> list[str]:
    """One SQS message body per send, documented shapes, recipient and Message-ID of send n."""
    samples = _ses_samples()
    out = []
    for n in range(count):
        wrapping, shape = next((w, s) for upto, w, s in samples if n % 100 < upto)
        envelope = copy.deepcopy(shape)
        doc = json.loads(envelope["Message"]) if wrapping == "sns" else envelope
        stamp = _iso(base + SPREAD * n / count)
        mail = doc["mail"]
        mail["messageId"] = f"0100018bench{n:08d}-000000"
        mail["timestamp"] = stamp
        mail["destination"] = [lead_email(n)]
        mail["source"] = sender(n)
        mail.setdefault("commonHeaders", {})["messageId"] = message_id(n)
        kind = doc["notificationType"]
        if kind == "Delivery":
            doc["delivery"]["recipients"] = [lead_email(n)]
            doc["delivery"]["timestamp"] = stamp
        elif kind == "Bounce":
            recipient = doc["bounce"]["bouncedRecipients"][0]
            doc["bounce"]["bouncedRecipients"] = [{**recipient, "emailAddress": lead_email(n)}]
            doc["bounce"]["feedbackId"] = f"bounce-{n:08d}"
            doc["bounce"]["timestamp"] = stamp
        else:
            doc["complaint"]["complainedRecipients"] = [{"emailAddress": lead_email(n)}]
            doc["complaint"]["feedbackId"] = f"complaint-{n:08d}"
            doc["complaint"]["timestamp"] = stamp
        if wrapping == "sns":
            envelope["Message"] = json.dumps(doc)
            envelope["MessageId"] = f"sns-{n:08d}"
            out.append(json.dumps(envelope))
        else:
            out.append(json.dumps(doc))
    return out


def sqs_answers(bodies: list[str]) -> list[bytes]:
    """The ReceiveMessage answers (AWS JSON 1.0) that hand `bodies` over ten at a time."""
    out = []
    for start in range(0, len(bodies), SQS_BATCH):
        messages = [
            {"MessageId": f"m{start + i}", "ReceiptHandle": f"r{start + i}", "MD5OfBody": "0",
             "Body": body}
            for i, body in enumerate(bodies[start : start + SQS_BATCH])
        ]  # fmt: skip
        out.append(json.dumps({"Messages": messages}).encode())
    return out


def ses_json_floor(answers: list[bytes]) -> int:
    """JSON parsing alone: each answer, each body in it and an SNS envelope's Message."""
    parsed = 0
    for answer in answers:
        for message in json.loads(answer)["Messages"]:
            doc = json.loads(message["Body"])
            if "Message" in doc:
                json.loads(doc["Message"])
            parsed += 1
    return parsed


def ses_normalise(answers: list[bytes]) -> int:
    """The adapter's body parsing and normalisation (parse_body) of every message alone."""
    made = 0
    for answer in answers:
        for message in json.loads(answer)["Messages"]:
            made += len(parse_body("ses", message["Body"]).events)
    return made


# --- the database --------------------------------------------------------------------------


async def build(path: Path, config: OutreachConfig, leads: int) -> None:
    """Create the database at `path`: `leads` leads, each sent its step 1 a day ago by
    sender(n), through the product's storage (migrations, sync_config) and then bulk inserts
    in the shapes the engine writes."""
    now = datetime.now(UTC)
    stores = await Stores.open(path)
    try:
        await stores.config.sync_config(config.rules(), limits.local_day(now, TIMEZONE), now=now)
        ((campaign,),) = await stores.db.fetch("SELECT id FROM campaigns")
        boxes = {str(r[0]): int(r[1]) for r in await stores.db.fetch(
            "SELECT address, id FROM mailboxes")}  # fmt: skip
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
                            boxes[sender(n)],
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
                        (n + 1, campaign, boxes[sender(n)], day, message_id(n), sent, sent, sent)
                        for n in range(leads)
                    ],
                )
                per_box = [0] * len(BOXES)
                for n in range(leads):
                    per_box[n % len(BOXES)] += 1
                db.executemany(
                    "INSERT INTO usage (scope, ref, day, sent) VALUES ('mailbox', ?, ?, ?)",
                    [(boxes[box], day, count) for box, count in zip(BOXES, per_box, strict=True)],
                )
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        await run_sync(stores.db.conn, work)
    finally:
        await stores.close()


def forget_cursor(path: Path, source: str) -> int:
    """Delete a feed's stored cursor: its next read starts as on a first start."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        with conn:
            return conn.execute("DELETE FROM cursors WHERE source = ?", (source,)).rowcount
    finally:
        conn.close()


def table_counts(path: Path) -> dict[str, int]:
    """Events by kind, suppression entries, leads by state."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        out = {"suppression": conn.execute("SELECT count(*) FROM suppression").fetchone()[0]}
        for kind, count in conn.execute("SELECT kind, count(*) FROM events GROUP BY kind"):
            out[f"events {kind}"] = count
        for state, count in conn.execute("SELECT state, count(*) FROM leads GROUP BY state"):
            out[f"leads {state}"] = count
        return out
    finally:
        conn.close()
