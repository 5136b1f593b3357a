"""kill -9 of the real service while it sends through the faulty SMTP server, then the books.

The long form beside tests/e2e/test_crash_safety.py (which kills it over a plain, slow fake):
`python main.py` (headless) sends one step to N leads in two campaigns over STARTTLS to a
FaultySmtpServer running in this process (on a thread of its own), and is killed -9 `kills`
times, each a random moment after the server has taken a share of the mails since its start.
After each kill `PRAGMA integrity_check` must be ok. A last, clean run sends what is due and
stops on SIGTERM; soft failures' retries (minutes away) are left waiting, their leads active.
Then fault_run.books() checks the server's record against the database, with the
reconciliation for kills: what a kill cut mid-send is 'unknown' (never sent again), and the
server may or may not have it. Real time runs here, so every day limit is one day's.
"""

from __future__ import annotations

import asyncio
import random
import signal
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import trustme

from config import load_config
from tests.e2e.procs import base_env, db_rows, integrity, run_main, spawn_main, wait_for
from tests.fakes.faulty_smtp import Fault, FaultySmtpServer
from tests.reliability.fault_run import CAMPAIGNS, DEFAULT_SHARES, Figures, books

USER, PASSWORD = "pool", "faulty-smtp-pass"


@dataclass(frozen=True, slots=True)
class KillRun:
    """The run's shape."""

    leads: int = 1000
    kills: int = 10
    mailbox_limit: int = 250  # 2 domains x 2 mailboxes
    domain_limit: int = 450
    campaign_limit: int = 400  # campaign qa; qb uncapped: the domains' limits bind
    # In real time a 421 rests its mailbox 15 minutes and a block its domain a day, and the
    # run would mostly wait: those two are left to the simulated days of fault_run.
    shares: dict[Fault, float] = field(
        default_factory=lambda: {
            fault: share
            for fault, share in DEFAULT_SHARES.items()
            if fault not in (Fault.TEMP_MAIL, Fault.SPAM_BLOCK)
        }
    )
    seed: int = 99

    def step(self) -> int:
        """Mails the server takes in a run before it is killed: the kills fit in what a day's
        limits and the soft failures (retried minutes later) leave, about half the leads."""
        return max(1, self.leads // (2 * self.kills + 2))


IDLE_SECONDS = 20  # well over a headless start and a few ticks


@dataclass(frozen=True, slots=True)
class KillFigures:
    """The books, and what the kills found."""

    figures: Figures
    kills: int
    in_flight: int  # unknown sends the server never got: cut by a kill before the data went
    integrity_ok: int  # kills after which integrity_check said ok


class _ServerThread:
    """The faulty server on an event loop of its own thread, so this one can block."""

    def __init__(self, server: FaultySmtpServer) -> None:
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> FaultySmtpServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(30)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()


def write_config(tmp: Path, run: KillRun, port: int) -> None:
    """outreach.toml for the service: STARTTLS to the faulty server, the run's limits."""
    mailboxes = "".join(
        f"""
[[mailboxes]]
address = "m{j}@d{i}.test"
daily_limit = {run.mailbox_limit}
smtp = {{ host = "127.0.0.1", port = {port}, security = "starttls", username = "{USER}", \
password = "env:SMTP_PW" }}
"""
        for i in range(2)
        for j in range(2)
    )
    campaigns = "".join(
        f"""
[[campaigns]]
name = "{name}"
hours = "00:00-24:00"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
{f"daily_limit = {run.campaign_limit}" if name == "qa" else ""}
[[campaigns.steps]]
subject = "Hello {{{{ first_name }}}} [{name}]"
body = "Hi {{{{ first_name }}}}"
"""
        for name in CAMPAIGNS
    )
    (tmp / "outreach.toml").write_text(
        f"""
[sending]
timezone = "Europe/Berlin"
tick_seconds = 1
min_gap_seconds = 0
jitter_seconds = 0
postal_address = "Brand Ltd, 1 Main St"

[health]
bounce_warn = 0.25
bounce_pause = 0.5
cooldown_days = 1

[[domains]]
name = "d0.test"
daily_limit = {run.domain_limit}
[[domains]]
name = "d1.test"
daily_limit = {run.domain_limit}
{mailboxes}{campaigns}"""
    )


def kill_run(tmp: Path, run: KillRun) -> KillFigures:
    """Import, send with kills, settle, check the books."""
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    server = FaultySmtpServer(
        username=USER, password=PASSWORD, security="starttls", shares=run.shares,
        seed=run.seed, every_kind=True, ssl_context=_server_context(server_cert),
    )  # fmt: skip
    ca_file = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    started = time.perf_counter()
    with _ServerThread(server):
        write_config(tmp, run, server.port)
        # The service trusts the test CA through OpenSSL's default verify paths.
        env = base_env(tmp, SMTP_PW=PASSWORD, SSL_CERT_FILE=str(ca_file), LOG_LEVEL="WARNING")
        for first, name in enumerate(CAMPAIGNS):  # lead n goes to campaign CAMPAIGNS[n % 2]
            part = tmp / f"{name}.csv"
            rows = (f"lead{n}@example.com,L{n}\n" for n in range(first, run.leads, 2))
            part.write_text("email,first_name\n" + "".join(rows))
            done = run_main(["import", str(part), "--campaign", name], env, timeout=120)
            if done.returncode != 0:
                raise RuntimeError(done.stdout + done.stderr)

        rng = random.Random(run.seed)
        log = tmp / "service.log"
        step = run.step()
        healthy = kills = 0
        idle = _Idle(tmp, server)
        while kills < run.kills and not idle.fired:
            seen = len(server.accepted)
            proc = spawn_main(env, log)
            try:
                if not wait_for(
                    lambda s=seen: len(server.accepted) >= s + step or idle(), 120, 0.01
                ):
                    raise RuntimeError("no progress: " + log.read_text()[-3000:])
                time.sleep(rng.uniform(0.0, 0.3))
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
            kills += 1
            healthy += integrity(tmp) == [("ok",)]

        # A clean run sends what is due now (soft retries wait minutes: they stay queued).
        proc = spawn_main(env, log)
        quiet = _wait_quiet(tmp, server)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        if not quiet or code != 0:
            raise RuntimeError(
                f"the last run did not settle (exit {code}): {log.read_text()[-3000:]}"
            )
        healthy += integrity(tmp) == [("ok",)]
    config = load_config(tmp / "outreach.toml", {"SMTP_PW": PASSWORD})
    figures = books(
        tmp / "data" / "outreach.db", leads=run.leads, steps=1, config=config, server=server,
        sim_days=0.0, seconds=time.perf_counter() - started, killed=True,
    )  # fmt: skip
    on_server = {a.message_id for a in server.accepted}
    unknown = {
        str(r[0]).strip("<>")
        for r in db_rows(tmp, "SELECT message_id FROM sends WHERE state = 'unknown'")
    }
    return KillFigures(figures, kills, len(unknown - on_server), healthy)


class _Idle:
    """Whether the service went idle: the server took nothing for `seconds` and no step is
    reserved or in flight. Then the day's limits, and the retries' waits (minutes) with the
    thread's own mailbox, leave it nothing it may send now.

    A fast machine sends more between the step and the kill (gap 0, a 1 s tick), so the day
    may be spent before the last kill: the kills stop there instead of waiting for mail the
    limits forbid. The books afterwards still check every lead and limit.
    """

    def __init__(self, tmp: Path, server: FaultySmtpServer, seconds: float = IDLE_SECONDS) -> None:
        self._tmp, self._server, self._seconds = tmp, server, seconds
        self._seen, self._since = -1, time.monotonic()
        self.fired = False

    def __call__(self) -> bool:
        taken = len(self._server.accepted)
        if taken != self._seen:
            self._seen, self._since = taken, time.monotonic()
            return False
        if time.monotonic() - self._since < self._seconds:
            return False
        busy = db_rows(
            self._tmp, "SELECT count(*) FROM sends WHERE state IN ('reserved', 'sending')"
        )
        self.fired = busy == [(0,)]
        return self.fired


def _server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def _wait_quiet(tmp: Path, server: FaultySmtpServer) -> bool:
    """Until no step is reserved or in flight and the server has taken nothing for 3 s."""
    return wait_for(_Idle(tmp, server, seconds=3.0), 180, 0.2)
