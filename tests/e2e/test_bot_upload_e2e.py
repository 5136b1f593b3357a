"""Upload a CSV to the real service's bot, see the mails go out, then /status and /stats."""

from __future__ import annotations

import struct
from pathlib import Path

from tests.e2e.procs import query
from tests.e2e.test_bot_e2e import ADMIN, service
from tests.fakes.telegram import FakeTelegram
from tests.waiting import eventually

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


async def test_csv_upload_imports_sends_and_shows_in_status_and_stats(tmp_path: Path) -> None:
    rows = "".join(f"lead{i}@example.com,Lead{i}\n" for i in range(12))
    csv = ("email,first_name\n" + rows + "not-an-address,X\n").encode()
    async with FakeTelegram() as fake, service(tmp_path, fake) as run:
        fake.add_file("leads1", csv, "leads.csv", "text/csv")
        since = len(fake.calls)
        fake.push_message(ADMIN, document="leads1", caption="/upload launch")
        report = await fake.wait_for_message(ADMIN, "imported", within=20, since=since)
        text = str(report["params"]["text"])
        assert "rows read: 13" in text and "imported: 12" in text and "invalid: 1" in text

        # The leads go out through the SMTP server, and each is recorded sent: the record
        # follows the server's reply, so the count is awaited too, never read at once.
        await eventually(lambda: len(run.mails()) >= 12, within=30)

        async def recorded() -> bool:
            sent = await query(tmp_path, "SELECT count(*) FROM sends WHERE state = 'sent'")
            return sent == [(12,)]

        await eventually(recorded, within=30)
        assert len(run.mails()) == 12
        status = str((await run.ask("/status", "Today"))["params"]["text"])
        assert "sent 12 /" in status

        # /stats: a PNG that decodes, and today's numbers as text.
        since = len(fake.calls)
        fake.push_message(ADMIN, "/stats 3")
        photo = await fake.wait_for(
            lambda: next((c for c in fake.calls[since:] if c["method"] == "sendPhoto"), None),
            within=30,
        )
        # aiogram uploads the bytes as a multipart part named by an `attach://` reference.
        (_, data), *_ = photo["files"].values()
        width, height = png_size(data)
        assert width >= 500 and height >= 300
        assert "Last 3 day(s): 12 sent, 0 bounces, 0 complaints" in str(photo["params"]["caption"])
        # The table as text: today's row carries the 12 sends.
        table = await fake.wait_for_message(ADMIN, "sent", within=20, since=since)
        today = [line for line in str(table["params"]["text"]).splitlines() if " 12 " in line]
        assert today, table["params"]["text"]
