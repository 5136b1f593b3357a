"""/export end to end: the real main.py sends a CSV document whose rows match the database."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.e2e.procs import query
from tests.e2e.test_bot_e2e import ADMIN, nothing_in_flight, service
from tests.fakes.telegram import FakeTelegram
from tests.waiting import eventually


async def test_export_sends_a_csv_whose_rows_match_the_database(tmp_path: Path) -> None:
    leads = [f"lead{i}@example.com" for i in range(12)]
    async with FakeTelegram() as fake, service(tmp_path, fake, leads=leads) as run:
        await eventually(lambda: len(run.mails()) >= 4, within=30)
        await run.ask("/pause launch", "Paused campaign launch")  # a still picture to compare
        await eventually(lambda: nothing_in_flight(tmp_path), within=30)
        since = len(fake.calls)
        fake.push_message(ADMIN, "/export launch")
        call = await fake.wait_for(
            lambda: next(
                (c for c in fake.calls[since:] if c["method"] == "sendDocument" and c["files"]),
                None,
            ),
            within=30,
        )
        rows = await query(
            tmp_path,
            """
            SELECT l.email, l.state,
                   (SELECT count(*) FROM sends s WHERE s.lead_id = l.id AND s.sent_at IS NOT NULL)
            FROM leads l JOIN campaigns c ON c.id = l.campaign_id
            WHERE c.name = 'launch' ORDER BY l.id
            """,
        )
    ((name, content),) = call["files"].values()
    assert name.endswith(".csv")
    exported = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert [(r["email"], r["state"], int(r["steps_sent"])) for r in exported] == [
        (str(e), str(s), int(str(n))) for e, s, n in rows
    ]
    assert len(exported) == len(leads)
    assert sum(int(r["steps_sent"]) for r in exported) == len(run.mails())
