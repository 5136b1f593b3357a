"""`python main.py demo --world small`, in-process for 15 simulated days: table, caps, PNG."""

from __future__ import annotations

import contextlib
import io
import json
import re
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.models import WarmupPolicy
from core.warmup import ramp
from demo.small import small_story
from demo.world import DEFAULT_START
from main import main
from tests.demo.loop_facts import loop_days

DAYS = 15
# SPEC 7 with the defaults, written out: the demo must show exactly these.
SPEC_RAMP = [5, 6, 7, 8, 8, 9, 10, 12, 14, 17, 20, 24, 29, 35, 40]
WARMING = "max@brand-hq.example"  # starts warm-up on day 1 in the demo's world
ROW = re.compile(r"^\s*(\d+)\s+(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\d\d-\d\d)\s+(\d+)")


@dataclass(frozen=True)
class Run:
    """One finished demo run: its exit code, what it printed, and its output folder."""

    code: int
    out: str
    folder: Path

    @property
    def summary(self) -> dict[str, Any]:
        """summary.json: the table's rows, each mailbox's days, every alert."""
        data: dict[str, Any] = json.loads((self.folder / "summary.json").read_text())
        return data

    def rows(self) -> list[str]:
        """The table's day lines (an event's continuation lines left out)."""
        return [line for line in self.out.splitlines() if ROW.match(line)]


def _run(folder: Path, days: int) -> Run:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(
            ["demo", "--world", "small", "--days", str(days), "--out", str(folder), "--seed", "7"]
        )
    return Run(code, buffer.getvalue(), folder)


# Built once per run of the suite: tests/conftest.py keeps this module on one xdist worker.
@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run(tmp_path_factory.mktemp("demo"), DAYS)


def test_exits_zero_with_one_row_per_day(run: Run) -> None:
    assert run.code == 0
    rows = [ROW.match(line) for line in run.rows()]
    assert [int(m.group(1)) for m in rows if m] == list(range(1, DAYS + 1))
    expected = [DEFAULT_START + timedelta(days=n) for n in range(DAYS)]
    assert [m.group(3) for m in rows if m] == [f"{d:%m-%d}" for d in expected]
    assert sum(int(m.group(4)) for m in rows if m) > 500  # it really sent
    assert str(run.folder / "report.png") in run.out


def test_warmup_caps_follow_spec_7(run: Run) -> None:
    assert ramp(WarmupPolicy(), 40) == SPEC_RAMP
    days = run.summary["mailboxes"][WARMING]
    warming = [d for d in days if d["state"] == "warming"]
    assert [d["cap"] for d in warming] == SPEC_RAMP[: len(warming)]
    assert len(warming) == len(SPEC_RAMP) - 1  # day 15 reaches 40: the mailbox is active
    assert days[len(warming)]["state"] == "active"
    # Week 1 on weekdays: warm-up mail and the hand-picked campaign fill the cap exactly,
    # but for the loop's answers planned too late for their day.
    with contextlib.closing(sqlite3.connect(run.folder / "demo.db")) as db:
        loop = loop_days(db)
    for d, cap in zip(days[:5], SPEC_RAMP, strict=False):
        assert cap - loop[(WARMING, d["day"])].late <= d["used"] <= cap, d
    week1 = [loop[(WARMING, d["day"])] for d in days[:5]]
    assert all(v.warmup > 0 for v in week1)


def test_pause_and_cooldown_happened_and_were_alerted(run: Run) -> None:
    alerts = run.summary["alerts"]
    paused = [a for a in alerts if a["key"].startswith("mailbox_paused:")]
    cooled = [a for a in alerts if a["key"].startswith("cooldown:")]
    assert paused and cooled
    assert all(a["delivered"] for a in paused + cooled)
    assert "PAUSE " in run.out and "COOL-DOWN brandmail.example" in run.out
    states = {d["state"] for days in run.summary["mailboxes"].values() for d in days}
    assert {"paused", "cooldown", "warming", "active"} <= states


def test_no_mailbox_domain_or_campaign_ever_exceeded_its_cap(run: Run) -> None:
    caps = {
        (address, d["day"]): d["cap"]
        for address, days in run.summary["mailboxes"].items()
        for d in days
    }
    config = small_story().build_config(DEFAULT_START, 1, "x")
    with contextlib.closing(sqlite3.connect(run.folder / "demo.db")) as db:
        sends = db.execute(
            "SELECT m.address, s.day, count(*) FROM sends s "
            "JOIN mailboxes m ON m.id = s.mailbox_id GROUP BY 1, 2"
        ).fetchall()
        used = db.execute(
            "SELECT m.address, u.day, u.sent FROM usage u "
            "JOIN mailboxes m ON m.id = u.ref WHERE u.scope = 'mailbox'"
        ).fetchall()
        domains = dict(
            db.execute(
                "SELECT d.name, max(u.sent) FROM usage u JOIN domains d ON d.id = u.ref "
                "WHERE u.scope = 'domain' GROUP BY 1"
            ).fetchall()
        )
        campaigns = dict(
            db.execute(
                "SELECT c.name, max(u.sent) FROM usage u JOIN campaigns c ON c.id = u.ref "
                "WHERE u.scope = 'campaign' GROUP BY 1"
            ).fetchall()
        )
        loop = loop_days(db)
    assert sends and used
    for address, day, count in [*sends, *used]:
        assert count <= caps[(address, day)], (address, day, count)
    for (address, day), v in loop.items():
        # Campaigns fill only what the warm-up loop leaves of the cap (SPEC 7).
        assert v.campaign <= max(0, caps[(address, day)] - v.volume), (address, day, v)
    for domain in config.domains:
        assert domains.get(domain.name, 0) <= (domain.daily_limit or 10**9)
    for campaign in config.campaigns:
        assert campaigns.get(campaign.name, 0) <= (campaign.daily_limit or 10**9)


def test_low_placement_holds_campaign_mail_while_warm_up_goes_on(run: Run) -> None:
    holds = [a for a in run.summary["alerts"] if a["key"].startswith("placement_hold:")]
    assert holds and all(a["key"].endswith("@trybrand.example") for a in holds)
    assert f"HOLD {holds[0]['key'].partition(':')[2]}: inbox placement" in run.out
    released = {a["key"].partition(":")[2] for a in run.summary["alerts"]
                if a["key"].startswith("placement_release:")}  # fmt: skip
    with contextlib.closing(sqlite3.connect(run.folder / "demo.db")) as db:
        for alert in holds:
            address = alert["key"].partition(":")[2]
            if address in released:
                continue
            since = int(datetime.fromisoformat(alert["created_at"]).timestamp() * 1000)
            kinds = dict(
                db.execute(
                    "SELECT s.kind, count(*) FROM sends s JOIN mailboxes m ON m.id = s.mailbox_id "
                    "WHERE m.address = ? AND s.reserved_at > ? GROUP BY 1",
                    (address, since),
                ).fetchall()
            )
            assert kinds.get("campaign", 0) == 0 and kinds.get("warmup", 0) > 0, (address, kinds)
    days = run.summary["days"]
    assert all(d["warmup"] > 0 for d in days)
    assert sum(d["spam"] for d in days) > 0 and sum(d["inbox"] for d in days) > 0


def test_png_report_exists_and_decodes(run: Run) -> None:
    import matplotlib  # noqa: PLC0415 - loaded only where a test needs it

    matplotlib.use("Agg")
    import matplotlib.image  # noqa: PLC0415

    png = run.folder / "report.png"
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000
    pixels = matplotlib.image.imread(png)
    height, width = pixels.shape[:2]
    assert height > 500 and width > 500


def test_same_seed_same_story(run: Run, tmp_path: Path) -> None:
    short = _run(tmp_path / "short", 2)
    assert short.code == 0
    assert short.rows() == run.rows()[:2]


def test_days_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--days", "0"])
    assert "must be at least 1" in capsys.readouterr().err


def test_start_day_is_a_monday() -> None:
    # The week-1 assertions above count Monday to Friday from the first day.
    assert DEFAULT_START.weekday() == 0
    assert isinstance(DEFAULT_START, date)
