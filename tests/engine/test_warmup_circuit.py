"""The warm-up loop's whole circuit over three simulated days (SPEC 7, issue 12).

The service as bootstrap.build_service composes it, on a manual clock, with its real SMTP
sender and IMAP reader: 4 pool mailboxes on 2 domains (new, warming from day 1) and 2 seeds,
all Dovecot users. The loop's mails go out over SMTP (STARTTLS + AUTH) to a server that files
them into Dovecot, every 4th mail of each sender into Junk (a spam filter the test scripts);
the receiving side reads them back over IMAP, rescues the junked ones, marks them read and
plans answers, which go out on later ticks. Ticks every 5 minutes from 07:00 to 19:00 (the
loop's hours are 08:00-18:00), the receiving side every 30 minutes.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from pydantic import SecretStr

import bootstrap
from config import (
    CampaignConfig,
    DomainConfig,
    MailboxConfig,
    OutreachConfig,
    SeedConfig,
    SendingConfig,
    ServerConfig,
    StepConfig,
    WarmupConfig,
)
from core import warmup
from core.warmup_loop import answers
from engine.clock import ManualClock
from mail.imap import ImapReader
from mail.smtp import SmtpSender
from storage.db import from_ms
from tests.engine.warmup_days import run_days
from tests.fakes.dovecot import Dovecot, dovecot_available
from tests.fakes.imap_bridge import BridgeSmtpServer, every_nth_of_a_sender, tls_pair, trusting

pytestmark = pytest.mark.skipif(not dovecot_available(), reason="needs dovecot-imapd")

POOL = ["ann@alpha.test", "bob@alpha.test", "cat@beta.test", "dan@beta.test"]
SEEDS = ["one@seeds.test", "two@seeds.test"]
IMAP_PW = "imap-pw"
SMTP_USER, SMTP_PW = "relay", "relay-pw"
DAY1 = date(2026, 11, 24)  # a Tuesday
DAYS = 3
REPLY_RATE = 0.5
CA = "bridge-ca.pem"


def config(smtp_port: int, imap_port: int) -> OutreachConfig:
    def server(port: int, user: str, password: str, security: str) -> ServerConfig:
        return ServerConfig(
            host="127.0.0.1", port=port, security=security,  # type: ignore[arg-type]
            username=user, password=SecretStr(password),
        )  # fmt: skip

    return OutreachConfig(
        sending=SendingConfig(
            timezone="UTC",
            tick_seconds=300,  # run_days ticks every 5 minutes
            min_gap_seconds=300,
            jitter_seconds=0,
            postal_address="Test Ltd, 1 Main St",
        ),
        warmup=WarmupConfig(reply_rate=REPLY_RATE),
        domains=[DomainConfig(name="alpha.test"), DomainConfig(name="beta.test")],
        mailboxes=[
            MailboxConfig(
                address=address,
                display_name=address.split("@")[0].title() + " Example",
                daily_limit=40,
                warmup_start=DAY1,
                smtp=server(smtp_port, SMTP_USER, SMTP_PW, "starttls"),
                imap=server(imap_port, address, IMAP_PW, "none"),
            )  # fmt: skip
            for address in POOL
        ],
        seeds=[
            SeedConfig(address=seed, imap=server(imap_port, seed, IMAP_PW, "none"))
            for seed in SEEDS
        ],
        campaigns=[
            CampaignConfig(
                name="launch",
                hours="00:00-24:00",
                days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                steps=[StepConfig(subject="Hello", body="Hi {{ first_name | default('') }}")],
            )  # fmt: skip
        ],
    )


@pytest.fixture
async def circuit(
    tmp_path: Path,
) -> AsyncIterator[tuple[bootstrap.Service, BridgeSmtpServer, Dovecot]]:
    users = {address: IMAP_PW for address in [*POOL, *SEEDS]}
    async with AsyncExitStack() as stack:
        dovecot = await stack.enter_async_context(Dovecot(tmp_path / "dovecot", users))
        smtp = BridgeSmtpServer(
            username=SMTP_USER, password=SMTP_PW, security="starttls",
            ssl_context=tls_pair(tmp_path, CA), dovecot=dovecot,
            to_junk=every_nth_of_a_sender(4),
        )  # fmt: skip
        await stack.enter_async_context(smtp)
        clock = ManualClock(datetime.combine(DAY1, datetime.min.time(), UTC) + timedelta(hours=7))
        sender = SmtpSender(timeout=10.0, tls_context=trusting(tmp_path, CA))
        stack.push_async_callback(sender.close)
        reader = ImapReader(timeout=10.0)
        stack.push_async_callback(reader.close)
        service = await bootstrap.build_service(
            stack, db_path=tmp_path / "outreach.db", config=config(smtp.port, dovecot.port),
            clock=clock, chats=[], sender=sender, reader=reader, warmup_reader=reader, feeds=[],
            rng=random.Random(2026),
        )  # fmt: skip
        yield service, smtp, dovecot


async def test_three_days_of_the_loop_over_smtp_and_dovecot(
    circuit: tuple[bootstrap.Service, BridgeSmtpServer, Dovecot],
) -> None:
    service, smtp, dovecot = circuit
    clock = service.clock
    assert isinstance(clock, ManualClock)
    stores = service.stores
    async with stores.db.reading() as conn:  # leads the week-1 rule keeps waiting
        campaign = list(await conn.execute_fetchall("SELECT id FROM campaigns"))[0][0]
        await conn.executemany(
            "INSERT INTO leads (campaign_id, email, vars, created_at) VALUES (?, ?, '{}', 0)",
            [(campaign, f"lead{i}@example.com") for i in range(20)],
        )
    await run_days(service, clock, DAY1, DAYS)

    sends = await stores.db.fetch(
        "SELECT s.kind, s.state, s.day, s.sent_at, s.message_id, m.address FROM sends s "
        "JOIN mailboxes m ON m.id = s.mailbox_id"
    )
    assert {row["kind"] for row in sends} == {"warmup"}  # week 1: no campaign mail at all
    assert {row["state"] for row in sends} == {"sent"}
    # Inside every cap (5, 6, 7 on days 1-3) and exactly at it, only in the loop's hours.
    per_day = Counter((row["address"], row["day"]) for row in sends)
    policy = service.rules.warmup
    for offset in range(DAYS):
        cap = warmup.warmup_cap(policy, offset + 1, 40)
        day = (DAY1 + timedelta(days=offset)).isoformat()
        assert [per_day[(box, day)] for box in POOL] == [cap] * 4
    assert all(8 <= from_ms(row["sent_at"]).hour < 18 for row in sends)

    # Every junked mail was rescued: Junk is empty, the inboxes hold every mail, read.
    for user in [*POOL, *SEEDS]:
        assert await dovecot.flags(user, "Junk") == {}
        flags = await dovecot.flags(user, "INBOX")
        assert flags and all("\\Seen" in f and "\\Flagged" in f for f in flags.values())
    junked = set(smtp.filed["Junk"])
    assert junked

    # Placement as the test's spam filter arranged it, mailbox by mailbox.
    placed = await stores.db.fetch(
        "SELECT m.address, p.folder, p.message_id FROM placements p "
        "JOIN mailboxes m ON m.id = p.mailbox_id"
    )
    assert {row["message_id"] for row in placed} == {row["message_id"] for row in sends}
    assert {row["message_id"] for row in placed if row["folder"] == "spam"} == junked
    for box in POOL:
        mine = [row for row in placed if row["address"] == box]
        spam = sum(1 for row in mine if row["folder"] == "spam")
        assert spam == len(mine) // 4  # every 4th of the sender's mails

    # Answers: in the thread, from the receiver, only to mail the stable draw picked.
    by_id = {m.message_id: m for m in smtp.messages}
    answered = []
    eligible = drawn = 0
    for mail in smtp.messages:
        parsed = message_from_bytes(mail.data)
        (rcpt,) = mail.rcpt_tos
        thread = str(parsed["References"] or "").split()
        # Answerable: a new mail or a first answer (a third mail ends a thread) to a pool
        # mailbox (seeds never answer).
        if rcpt in POOL and len(thread) < 2:
            eligible += 1
            drawn += answers(mail.message_id or "", REPLY_RATE)
        original = parsed["In-Reply-To"]
        if original is None:
            continue
        answered.append(original)
        first = by_id[original]
        assert mail.rcpt_tos == (first.mail_from,) and first.rcpt_tos == (mail.mail_from,)
        assert answers(original, REPLY_RATE)
    assert len(answered) == len(set(answered))
    # Planned answers: those read late on day 3 are due on day 4, after the run.
    planned = [
        row["answers"]
        for row in await stores.db.fetch(
            "SELECT answers FROM warmup_mails WHERE answers IS NOT NULL"
        )
    ]
    assert set(answered) <= set(planned) and all(answers(a, REPLY_RATE) for a in planned)
    # The draw picks reply_rate of them (within 0.2: a binomial of ~40), and nearly every
    # mail it picked got its answer planned (one goes unanswered when the receiver's day has
    # no new mail left to give way).
    assert abs(drawn / eligible - REPLY_RATE) <= 0.2, (drawn, eligible)
    assert drawn - 3 <= len(planned) <= drawn, (len(planned), drawn)
    counts = f"{len(smtp.messages)} mails, {len(junked)} junked, {len(answered)} answers sent"
    print(f"{counts}, {len(planned)} planned, {drawn} drawn of {eligible} answerable")  # noqa: T201
