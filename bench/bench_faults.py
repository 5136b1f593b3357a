"""The fault suite's long form: 2,000 mails through a faulty SMTP server, then the books.

1,000 leads in two campaigns, two steps each, go out over simulated days through the real
SendingEngine (bootstrap.build_service) and the real SmtpSender over STARTTLS to
tests/fakes/faulty_smtp.py, which fails about one transaction in five on purpose: 421, 452 and
451 at MAIL, RCPT and the end of DATA; 550 5.1.1, 554 5.7.1 and 552; disconnects before and
after DATA; replies slower than the client's timeout and under it; broken STARTTLS handshakes.
tests/reliability/fault_run.py runs it and checks the books (its docstring says exactly what
is reconciled). The figures replace this bench's section of bench/RESULTS.md; the run fails
(exit 1) on any duplicate, limit breach, lost lead or reconciliation mismatch.

Then the kill -9 long form (tests/reliability/kill_run.py): the real `python main.py` sending
to 1,000 leads through the same faulty server, killed -9 ten times, then one clean run; after
every kill `PRAGMA integrity_check`, at the end the same books. The short kill -9 forms (import,
sending, IMAP ingestion) are tests/reliability/test_kill9.py and tests/e2e/test_crash_safety.py
in `make test`.

Run alone: .venv/bin/python bench/bench_faults.py [--leads 1000] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's packages

from bench.results import write_section  # noqa: E402
from tests.fakes.faulty_smtp import Fault, share_table  # noqa: E402
from tests.reliability.fault_run import DEFAULT_SHARES, FaultRun, Figures, fault_run  # noqa: E402
from tests.reliability.kill_run import KillFigures, KillRun, kill_run  # noqa: E402

SECTION = "## Fault suite: 2,000 mails through a faulty SMTP server, and kill -9"
LEADS = 1000  # two steps each: 2,000 lead steps
KILLS = 10


def bench_run(leads: int) -> FaultRun:
    """The long form: limits scaled so a day carries about 240 mails."""
    return FaultRun(
        leads=leads,
        steps=2,
        mailbox_limits=(60, 50, 40),
        domain_limit=120,
        campaign_limit=90,
        # Each block cools its domain down a day and restarts its mailboxes' warm-up: fewer
        # than the short form's share, so that the configured limits bind too, not only those.
        shares={**DEFAULT_SHARES, Fault.SPAM_BLOCK: 0.002},
        seed=2026,
        tick=timedelta(minutes=30),
        max_days=90,
    )


def kill_section(run: KillRun, result: KillFigures) -> str:
    """The kill -9 long form's part of the section."""
    f = result.figures
    faults = ", ".join(f"{kind} {n}" for kind, n in f.faults.items() if n)
    states = ", ".join(f"{state} {n}" for state, n in f.lead_states.items())
    verdict = "all checks pass" if not f.problems() else "PROBLEMS: " + "; ".join(f.problems()[:20])
    counts = (len(f.duplicates), len(f.limit_breaches), len(f.leads_lost), len(f.mismatches))
    problems = " / ".join(map(str, counts))
    spent = (
        "" if result.kills == run.kills
        else f" (of {run.kills}: the service went idle first, the day's limits spent)"
    )  # fmt: skip
    return f"""### kill -9 while sending through the faulty server

The real `python main.py` (headless, a 1 s tick) sends one step to {run.leads:,} leads in two
campaigns (daily limits {run.mailbox_limit} a mailbox x 4, {run.domain_limit} a domain x 2,
{run.campaign_limit} for qa) over STARTTLS to the faulty server (no 421 nor block here: in real
time they rest a mailbox 15 minutes and a domain a day), killed -9 {result.kills} times{spent} once
the server has taken {run.step()} more mails, then one clean run until nothing is
due (tests/reliability/kill_run.py). {f.seconds:.0f} s.

| figure | value |
|---|---:|
| kills / integrity_check ok (each kill, the last run) | {result.kills} / {result.integrity_ok} |
| mails attempted (SMTP transactions) | {f.transactions:,} |
| faults injected | {f.faults_total} ({faults}) |
| messages the server took | {f.accepted:,} |
| DB sent / unknown / failed | {f.db_sent:,} / {f.db_unknown} / {f.db_failed} |
| unknown: reply lost / cut by a kill, not on the server | {f.reply_lost} / {result.in_flight} |
| duplicates / limit breaches / leads lost / mismatches | {problems} |

Leads at the end: {states} ({f.waiting} of them waiting for a soft retry minutes away).
Reconciled: server {f.accepted:,} = DB sent {f.db_sent:,} + the unknown ones the server has;
every reply lost is unknown in the DB. Verdict: {verdict}."""


def section(run: FaultRun, figures: Figures, load: tuple[float, float], kills: str) -> str:
    """The RESULTS.md section for one run (and the kill -9 form's part, `kills`)."""
    faults = "\n".join(f"| {kind} | {n} |" for kind, n in figures.faults.items())
    states = ", ".join(f"{state} {n}" for state, n in figures.lead_states.items())
    verdict = (
        "all checks pass"
        if not figures.problems()
        else "PROBLEMS:\n" + "\n".join(f"- {p}" for p in figures.problems()[:20])
    )
    limits = "/".join(map(str, run.mailbox_limits))
    head = "\n".join(
        [
            f"- Date: {datetime.now(UTC).date().isoformat()}",
            f"- Machine: {os.cpu_count()} cores, Python {platform.python_version()}; 1-minute "
            f"load average {load[0]:.1f} before, {load[1]:.1f} after",
            "- Command: `.venv/bin/python bench/bench_faults.py` (tests/reliability/fault_run.py;"
            " the short form, 150 leads, is tests/reliability/test_fault_run.py in `make test`)",
            f"- World: {run.leads:,} leads x {run.steps} steps in two campaigns; {run.domains} "
            f"domains x {len(run.mailbox_limits)} mailboxes; daily limits {limits} a mailbox, "
            f"{run.domain_limit} a domain, {run.campaign_limit} for campaign qa; the real "
            f"SendingEngine and SmtpSender (timeout {run.timeout:g} s, STARTTLS) against "
            "tests/fakes/faulty_smtp.py; a manual clock ticking every "
            f"{run.tick.seconds // 60} simulated minutes; seed {run.seed}",
            "- Fault shares (STARTTLS per connection, the rest per transaction; each kind forced "
            f"once first): {share_table(run.shares)}",
        ]
    )
    tail = (
        f"Leads at the end: {states}. Reconciled: the server took {figures.accepted:,} = DB "
        f"sent {figures.db_sent:,} + DB unknown {figures.db_unknown}, and the unknown ones are "
        f"exactly the {figures.reply_lost} mails whose final reply the client never saw. "
        f"Verdict: {verdict}."
    )
    return f"""{SECTION}

{head}

| figure | value |
|---|---:|
| mails attempted (SMTP transactions: MAIL FROMs the server answered) | {figures.transactions:,} |
| lead steps taken on (sends rows) | {figures.lead_steps:,} |
| SMTP connections | {figures.connections:,} |
| faults injected | {figures.faults_total:,} |
| messages the server took | {figures.accepted:,} |
| of those, the reply lost (disconnect after DATA, reply over the timeout) | {figures.reply_lost} |
| DB sent / unknown / failed | {figures.db_sent:,} / {figures.db_unknown} / {figures.db_failed} |
| duplicates (a lead step taken twice, a Message-ID twice) | {len(figures.duplicates)} |
| limit breaches (a day's mailbox, domain, campaign; server, DB) | {len(figures.limit_breaches)} |
| leads lost (not final nor queued, missing, a step missing) | {len(figures.leads_lost)} |
| reconciliation mismatches | {len(figures.mismatches)} |
| (mailbox, domain or campaign, day)s that used their whole limit | {figures.at_cap} |
| simulated days / wall seconds | {figures.sim_days:.1f} / {figures.seconds:.0f} |

| fault injected | count |
|---|---:|
{faults}

{tail}

{kills}

kill -9 in `make test`: tests/reliability/test_kill9.py kills `main.py import` of a large CSV
(in staging, then in the SQL steps) and the service mid-ingestion of a 1,350-mail IMAP backlog
(twice); tests/e2e/test_crash_safety.py kills the service ten times while it sends; each
is followed by `PRAGMA integrity_check` and a check that nothing was lost or doubled.
"""


def main() -> None:
    """Run the long form, print and record its figures; exit 1 on any problem."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=LEADS)
    parser.add_argument("--kills", type=int, default=KILLS)
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # aiosmtpd's own chatter (a deprecation note per login) says nothing about our code.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    run = bench_run(args.leads)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        figures = asyncio.run(fault_run(Path(tmp), run))
    killing = KillRun(leads=args.leads, kills=args.kills)
    with tempfile.TemporaryDirectory(prefix="bench-kill9-") as tmp:
        killed = kill_run(Path(tmp), killing)
    text = section(run, figures, (load, os.getloadavg()[0]), kill_section(killing, killed))
    print(text)  # noqa: T201
    if not args.no_write:
        write_section(SECTION, text)
    if figures.problems() or killed.figures.problems() or killed.integrity_ok != killed.kills + 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
