"""The composition root: the one module that builds the adapters and plugs them into services.

`storage/` and `mail/` implement the ports of `engine/ports.py`; everything that runs the
product (the service, the CLI commands, the demo, the benchmarks) gets its parts from here.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

import aiosqlite

from config import OutreachConfig, load_campaign
from core import limits
from core.connect import LoginCheck
from core.leads import ImportReport
from core.specs import CampaignSpec, EspSpec, Rules
from engine.alerts import AlertOutbox
from engine.answers import Answers
from engine.children import child_env
from engine.clock import Clock
from engine.connect_check import TIMEOUT, check_logins
from engine.context import AppContext
from engine.control import ControlService
from engine.daily import DailyReport
from engine.esp_events import EspService
from engine.events import InboxService
from engine.export import ExportFile, write_export
from engine.health import HealthService
from engine.import_process import report_to_json, run_import, write_line
from engine.importer import import_leads
from engine.lead_files import LeadImportError
from engine.ports import (
    DatabaseBackups,
    DnsHost,
    EspFeed,
    LeadStore,
    MailboxReader,
    MailSender,
    OpenDnsHost,
    WarmupMailbox,
)
from engine.preview import Previewer
from engine.sending import SendingEngine
from engine.trial_sends import TestSender
from engine.unsubscribe import UnsubscribeService
from engine.warmup_inbox import WarmupInbox
from engine.warmup_loop import WarmupLoop
from mail.cloudflare import open_cloudflare
from mail.esp.mailgun import MailgunFeed
from mail.esp.postmark import PostmarkFeed
from mail.esp.sendgrid import SendGridFeed
from mail.esp.ses import SesFeed
from mail.imap import ImapReader
from mail.oauth import OAuthTokens
from mail.smtp import SmtpSender
from storage.backup import SqliteBackups
from storage.db import open_db
from storage.lead_store import open_lead_store
from storage.stores import Stores

log = logging.getLogger("outreach")

ROOT = Path(__file__).resolve().parent  # where `python -m bootstrap` finds the project
IMPORT_CHILD = "import-child"

# The event-API client of each [[esp]] kind: kind -> a feed built from its spec. An ESP whose
# kind has none here is neither polled nor tried by `check --connect` ("not checked").
ESP_ADAPTERS: dict[str, Callable[[EspSpec], EspFeed]] = {
    "mailgun": MailgunFeed,
    "ses": SesFeed,
    "sendgrid": SendGridFeed,
    "postmark": PostmarkFeed,
}


@dataclass(frozen=True, slots=True)
class Service:
    """The running product's parts over one database, wired."""

    stores: Stores
    rules: Rules
    clock: Clock
    alerts: AlertOutbox
    health: HealthService
    engine: SendingEngine
    inbox: InboxService
    esp: EspService
    answers: Answers
    previews: Previewer
    test_sends: TestSender
    control: ControlService
    unsubscribe: UnsubscribeService
    daily: DailyReport  # the DNS check and digest at digest_hour
    warmup: WarmupLoop  # the warm-up loop's sending side (SPEC 7)
    warmup_inbox: WarmupInbox  # its receiving side: placement, spam rescue, answers
    secret: bytes | None  # signs one-click tokens; None without [unsubscribe]
    db_path: Path

    async def tick(self) -> None:
        """One sending tick: the warm-up loop's day and due mails first, then campaign mail.

        In this order so that the first tick of a day stores the loop's shares before the
        planner hands the rest of each cap to campaigns.
        """
        await self.warmup.tick()
        await self.engine.tick()

    def open_leads(self) -> AbstractAsyncContextManager[LeadStore]:
        """A lead store on a connection of its own (an import holds long transactions)."""
        return open_lead_store(self.db_path)

    async def import_in_child(
        self,
        path: Path,
        campaign: str,
        *,
        now: datetime,
        progress: Callable[[int], Awaitable[None]] | None = None,
    ) -> ImportReport:
        """Import a leads file in a child process (`python -m bootstrap import-child`)."""
        argv = import_child_argv(self.db_path, path, campaign, now)
        return await run_import(argv, progress, cwd=ROOT, env=child_env())

    def context(self) -> AppContext:
        """What the bot's handlers are given."""
        return AppContext(
            reports=self.stores.reports,
            control=self.stores.control,
            events=self.stores.events,
            clock=self.clock,
            rules=self.rules,
            alerts=self.alerts,
            import_file=self.import_in_child,
            load_campaign=campaign_from_text,
            answers=self.answers,
            backups=database_backups(self.db_path),
            dns_host=dns_host(self.rules),
            previews=self.previews,
            test_sends=self.test_sends,
        )


def dns_host(rules: Rules) -> OpenDnsHost | None:
    """Cloudflare's API for /dns fix, opened per use; None without [dns].cloudflare_token."""
    dns = rules.dns
    if not dns.cloudflare_token:
        return None

    def open_host() -> AbstractAsyncContextManager[DnsHost]:
        # A closure, not functools.partial: a partial's repr would show the token.
        return open_cloudflare(dns.cloudflare_api, dns.cloudflare_token)

    return open_host


async def export_campaign(db_path: Path, campaign: str, target: Path) -> ExportFile:
    """`main.py export`: a campaign's leads as CSV from the database alone (no config read)."""
    stores = await Stores.open(db_path)
    try:
        return await write_export(stores.reports, campaign, target)
    finally:
        await stores.close()


def database_backups(db_path: Path) -> DatabaseBackups:
    """Consistent copies of the database at `db_path` (SQLite's online backup API)."""
    return SqliteBackups(db_path)


def campaign_from_text(text: str, source: str) -> CampaignSpec:
    """An uploaded .toml campaign, validated like the config (raises core.errors.SpecError)."""
    return load_campaign(text, source).spec()


async def open_stores_as_is(
    stack: AsyncExitStack, db_path: Path, *, verify: bool = False, durable: bool = True
) -> Stores:
    """The stores over the database at `db_path`, migrated but with no config sync.

    For a reader that must find the file as it was left: bench/bench_status.py times /status's
    first call on a fresh connection, whose page cache a sync would have filled. The connection
    closes when `stack` unwinds. `verify` runs SQLite's quick_check first; `durable=False`
    (a throwaway database) does not wait for the disk at each commit (storage.db.open_db).
    """
    stores = await Stores.open(db_path, verify=verify, durable=durable)
    stack.push_async_callback(stores.close)
    return stores


async def open_stores(
    stack: AsyncExitStack,
    db_path: Path,
    rules: Rules,
    clock: Clock,
    *,
    verify: bool = True,
    durable: bool = True,
) -> Stores:
    """Open and check the database, and mirror the config into it (runtime state kept)."""
    stores = await open_stores_as_is(stack, db_path, verify=verify, durable=durable)
    now = clock.now()
    report = await stores.config.sync_config(rules, limits.local_day(now, rules.timezone), now=now)
    log.info("config synced: %s", report)
    return stores


async def build_service(
    stack: AsyncExitStack,
    *,
    db_path: Path,
    config: OutreachConfig,
    clock: Clock,
    chats: list[int],
    sender: MailSender | None = None,
    reader: MailboxReader | None = None,
    warmup_reader: WarmupMailbox | None = None,
    feeds: Sequence[EspFeed] | None = None,
    rng: random.Random | None = None,
    verify: bool = True,
    durable: bool = True,
) -> Service:
    """Every service over one database; connections close when `stack` unwinds.

    `sender`, `reader`, `warmup_reader` and `feeds` stand in for the real adapters (tests,
    the demo); the ones built here are closed here.
    `verify` runs SQLite's quick_check first, as the service does; a bench that starts on a
    copy it has just made of a checked file may skip it (minutes at millions of rows).
    `durable=False` is for a throwaway database (the demo's): commits are not waited onto the
    disk, so a power loss may lose the last ones; the service never passes it.
    """
    rules = config.rules()
    stores = await open_stores(stack, db_path, rules, clock, verify=verify, durable=durable)
    # One token cache for both protocols: a mailbox's SMTP and IMAP logins share one refresh.
    tokens = OAuthTokens()
    stack.push_async_callback(tokens.close)
    if sender is None:
        smtp = SmtpSender(tokens=tokens)
        stack.push_async_callback(smtp.close)
        sender = smtp
    if reader is None or warmup_reader is None:
        # One IMAP client for both sides: a mailbox's replies and its warm-up mail share
        # its pooled connection.
        imap = ImapReader(tokens=tokens)
        stack.push_async_callback(imap.close)
        reader = reader or imap
        warmup_reader = warmup_reader or imap
    if feeds is None:
        feeds = esp_feeds(rules.esps)
        for feed in feeds:
            stack.push_async_callback(feed.close)
    alerts = AlertOutbox(stores.alerts, clock, chats, rules.alert_quiet)
    health = HealthService(stores.health, stores.events, clock, rules, alerts)
    secret = await stores.config.secret("unsubscribe") if rules.unsubscribe_url else None
    engine = SendingEngine(
        store=stores.sending,
        sender=sender,
        clock=clock,
        rules=rules,
        alerts=alerts,
        domains=health,
        rng=rng,
        unsubscribe_secret=secret,
    )
    previews = Previewer(
        store=stores.sending, rows=stores.control, clock=clock, rules=rules,
        unsubscribe_secret=secret,
    )  # fmt: skip
    warmup_secret = await stores.config.secret("warmup")
    test_sends = TestSender(
        previewer=previews, store=stores.sending, rows=stores.control, sender=sender,
        engine=engine, clock=clock, rules=rules, rng=rng,
    )  # fmt: skip
    return Service(
        stores=stores,
        rules=rules,
        clock=clock,
        alerts=alerts,
        health=health,
        engine=engine,
        inbox=InboxService(
            reader=reader,
            store=stores.inbox,
            clock=clock,
            rules=rules,
            alerts=alerts,
            health=health,
        ),  # fmt: skip
        esp=EspService(
            feeds=feeds,
            store=stores.esp,
            clock=clock,
            rules=rules,
            alerts=alerts,
            health=health,
        ),  # fmt: skip
        answers=Answers(
            store=stores.sending,
            sender=sender,
            engine=engine,
            clock=clock,
            rules=rules,
            alerts=alerts,
            health=health,
            unsubscribe_secret=secret,
            rng=rng,
        ),  # fmt: skip
        previews=previews,
        test_sends=test_sends,
        warmup=WarmupLoop(
            store=stores.warmup,
            sending=stores.sending,
            sender=sender,
            engine=engine,
            clock=clock,
            rules=rules,
            alerts=alerts,
            health=health,
            secret=warmup_secret,
            rng=rng,
        ),  # fmt: skip
        warmup_inbox=WarmupInbox(
            reader=warmup_reader,
            store=stores.placements,
            warmup=stores.warmup,
            clock=clock,
            rules=rules,
            alerts=alerts,
            secret=warmup_secret,
            rng=rng,
        ),  # fmt: skip
        control=ControlService(stores.control, clock, rules),
        unsubscribe=UnsubscribeService(stores.events, clock),
        daily=DailyReport(stores.reports, alerts, clock, rules),
        secret=secret,
        db_path=db_path,
    )


def esp_feeds(specs: Sequence[EspSpec]) -> list[EspFeed]:
    """A feed for each ESP whose kind has an adapter (ESP_ADAPTERS); the others are logged."""
    feeds: list[EspFeed] = []
    for spec in specs:
        make = ESP_ADAPTERS.get(spec.kind)
        if make is None:
            log.warning("ESP %s: no %s client yet; its events are not read", spec.name, spec.kind)
            continue
        feeds.append(make(spec))
    return feeds


def esp_secrets(specs: Sequence[EspSpec]) -> list[str]:
    """Every ESP secret of the config, masked wherever a provider's reply is shown."""
    return [secret for spec in specs for secret in spec.secrets]


async def check_connections(
    config: OutreachConfig, *, seconds: float = TIMEOUT
) -> list[LoginCheck]:
    """`check --connect`: log in to every mailbox's SMTP and IMAP and make one authenticated
    call to each ESP with a client (sending nothing), in parallel."""
    rules = config.rules()
    tokens = OAuthTokens(timeout=seconds)
    smtp = SmtpSender(timeout=seconds, tokens=tokens)
    imap = ImapReader(timeout=seconds, tokens=tokens)
    feeds = esp_feeds(rules.esps)
    try:
        return await check_logins(
            rules.mailboxes,
            [esp.name for esp in rules.esps],
            smtp=smtp,
            imap=imap,
            seconds=seconds,
            feeds={feed.name: feed for feed in feeds},
            esp_secrets=esp_secrets(rules.esps),
        )
    finally:
        # probe() pools nothing today; closing keeps a check from leaving a session open
        # should it ever do so.
        await smtp.close()
        await imap.close()
        await tokens.close()
        for feed in feeds:
            await feed.close()


def smtp_sender(
    *, timeout: float, local_hostname: str, tls_context: ssl.SSLContext | None = None
) -> SmtpSender:
    """An SMTP sender with a fixed EHLO name and timeout (the demo's and the benchmarks').

    `tls_context`: whom STARTTLS and TLS trust (None: the system's store), e.g. a test CA.
    """
    return SmtpSender(timeout=timeout, local_hostname=local_hostname, tls_context=tls_context)


@asynccontextmanager
async def side_connection(db_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    """A connection of its own for read-only reports beside a running service (the demo)."""
    conn = await open_db(db_path)
    try:
        yield conn
    finally:
        await conn.close()


def import_child_argv(db_path: Path, path: Path, campaign: str, now: datetime) -> list[str]:
    """The command line of a child that imports `path` into `campaign` (see _child_main)."""
    return [sys.executable, "-m", "bootstrap", IMPORT_CHILD, str(db_path), str(path), campaign,
            now.isoformat()]  # fmt: skip


async def import_here(db_path: Path, path: Path, campaign: str, now: datetime, out: TextIO) -> int:
    """The import child's work: import_leads on a connection of its own, told as JSON lines."""
    async with open_lead_store(db_path) as store:

        async def progress(rows: int) -> None:
            write_line(out, progress=rows)

        try:
            report = await import_leads(store, path, campaign, now=now, progress=progress)
        except LeadImportError as exc:
            write_line(out, error=str(exc))
            return 1
    write_line(out, report=report_to_json(report))
    return 0


def _child_main(argv: list[str]) -> int:
    """`python -m bootstrap import-child DB FILE CAMPAIGN NOW`: one import, then exit."""
    if len(argv) != 5 or argv[0] != IMPORT_CHILD:
        sys.stderr.write(f"usage: python -m bootstrap {IMPORT_CHILD} DB FILE CAMPAIGN NOW\n")
        return 2
    _, db_path, path, campaign, now = argv
    return asyncio.run(
        import_here(Path(db_path), Path(path), campaign, datetime.fromisoformat(now), sys.stdout)
    )


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
