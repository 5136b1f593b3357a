"""The short fault run: ~300 mails through the faulty SMTP server, and the books balance."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.faulty_smtp import Fault
from tests.reliability.fault_run import FaultRun, fault_run


async def test_300_mails_through_a_faulty_server_balance(tmp_path: Path) -> None:
    run = FaultRun(leads=150, steps=2)
    figures = await fault_run(tmp_path, run)
    assert figures.problems() == []
    # Every kind of fault was injected, and about one transaction in five failed.
    assert all(figures.faults[str(fault)] >= 1 for fault in Fault), figures.faults
    assert figures.faults_total >= figures.transactions // 10
    assert figures.lead_steps >= 250  # 150 first mails and most follow-ups: ~300 mails
    # Reconciled: the server took what the DB calls sent, plus the replies it lost.
    assert figures.accepted == figures.db_sent + figures.db_unknown
    lost = figures.faults[str(Fault.DROP_AFTER_DATA)] + figures.faults[str(Fault.SLOW_OVER)]
    assert figures.db_unknown == figures.reply_lost == lost
    # Every lead ended somewhere final (none still queued: the run lasted long enough).
    assert sum(figures.lead_states.values()) == run.leads
    assert figures.lead_states["finished"] > run.leads // 2
    assert {"bounced", "failed"} <= set(figures.lead_states)
    assert figures.at_cap > 0  # the daily limits did bind
