"""The default demo world (SPEC 1's job): the target on plan's day, the sends the rules allow.

The full default (30 mailboxes, 35 days, some 30,000 mails) is too long for a test; the same world
with 6 mailboxes (2 domains, target 240) runs on the same ramp, so plan predicts the same day 15,
and 18 days take it past the target into the complaint pause (day 16) and the cool-down (day 17).
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core import limits, ramp
from core.models import WarmupPolicy
from core.warmup import ramp as warmup_ramp
from demo.job import DOMAIN_LIMIT, MAILBOX_LIMIT, SEEDS, SPAMMY_DOMAIN, TARGET_DAY, job_story
from demo.world import DEFAULT_START, TIMEZONE
from main import main
from tests.demo.loop_facts import loop_days

MAILBOXES = 6
DAYS = 18
# SPEC 7 with the defaults, written out: days 1 to 15 of a new mailbox at 40 a day.
SPEC_RAMP = [5, 6, 7, 8, 8, 9, 10, 12, 14, 17, 20, 24, 29, 35, 40]
SENDING = {"active", "warming"}
STOPPED = {"paused", "cooldown"}
SECOND_WEEK = DEFAULT_START + timedelta(days=7)


@dataclass(frozen=True)
class Run:
    """One finished run: exit code, what it printed, its folder."""

    code: int
    out: str
    folder: Path

    @property
    def summary(self) -> dict[str, Any]:
        """summary.json."""
        data: dict[str, Any] = json.loads((self.folder / "summary.json").read_text())
        return data

    def db(self) -> sqlite3.Connection:
        """The run's database, read-only use."""
        return sqlite3.connect(self.folder / "demo.db")


# Built once per run of the suite: tests/conftest.py keeps this module on one xdist worker.
@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("job")
    buffer = io.StringIO()
    args = ["demo", "--mailboxes", str(MAILBOXES), "--days", str(DAYS), "--out", str(folder)]
    with contextlib.redirect_stdout(buffer):
        code = main([*args, "--seed", "7"])
    return Run(code, buffer.getvalue(), folder)


def test_the_default_pool_is_spec_1s_job_and_plan_puts_1200_on_day_15() -> None:
    story = job_story()
    config = story.build_config(DEFAULT_START, 1, "x")
    assert (len(config.domains), len(config.mailboxes)) == (10, 30)
    assert {d.daily_limit for d in config.domains} == {DOMAIN_LIMIT}
    assert all(m.warmup_start == DEFAULT_START for m in config.mailboxes)
    assert {m.daily_limit for m in config.mailboxes} == {MAILBOX_LIMIT}
    assert config.sending.daily_target == 1200
    # Week 1 is warm-up mail only: no campaign opts in (SPEC 7); two seeds take part.
    assert len(config.campaigns) >= 3 and not any(c.during_warmup for c in config.campaigns)
    assert [s.address for s in config.seeds] == list(SEEDS)
    assert all(m.imap is not None for m in config.mailboxes)  # the loop reads every inbox
    plan = ramp.plan_for(config.rules(), DEFAULT_START)
    assert plan.target_day is not None
    assert (plan.target_day.day, plan.target_day.capacity) == (TARGET_DAY, 1200) == (15, 1200)
    # The shortened run below predicts the same day: same ramp, target 40 a mailbox.
    small = job_story(MAILBOXES).build_config(DEFAULT_START, 1, "x")
    assert small.sending.daily_target == 40 * MAILBOXES
    short_plan = ramp.plan_for(small.rules(), DEFAULT_START).target_day
    assert short_plan is not None and short_plan.day == TARGET_DAY


def test_reaches_the_target_on_the_day_plan_predicts_and_says_so(run: Run) -> None:
    assert run.code == 0
    target = run.summary["target"]
    assert target == {
        "daily": 40 * MAILBOXES,
        "predicted_day": TARGET_DAY,
        "reached_day": TARGET_DAY,
        "matches": True,
    }
    days = run.summary["days"]
    with contextlib.closing(run.db()) as db:
        loop = loop_days(db)
    # Every cap filled, but for the loop's answers planned too late for their day (each
    # leaves its slot of the day unused and takes one of the next day's).
    for d, cap in zip(days, SPEC_RAMP[: TARGET_DAY - 1], strict=False):
        late = sum(v.late for (_, day), v in loop.items() if day == d["day"])
        assert MAILBOXES * cap - late <= d["used"] <= MAILBOXES * cap, (d, late)
    assert all(d["used"] < 40 * MAILBOXES for d in days[: TARGET_DAY - 1])
    assert days[TARGET_DAY - 1]["used"] == 40 * MAILBOXES
    assert f"plan predicts day {TARGET_DAY}" in run.out
    assert f"first sent {40 * MAILBOXES:,} on day {TARGET_DAY}" in run.out
    assert "they match" in run.out


def test_sends_per_mailbox_and_day_equal_what_the_rules_allow(run: Run) -> None:
    assert warmup_ramp(WarmupPolicy(), MAILBOX_LIMIT) == SPEC_RAMP
    mailboxes: dict[str, list[dict[str, Any]]] = run.summary["mailboxes"]
    with contextlib.closing(run.db()) as db:
        counted = {
            (address, day): n
            for address, day, n in db.execute(
                "SELECT m.address, s.day, count(*) FROM sends s "
                "JOIN mailboxes m ON m.id = s.mailbox_id GROUP BY 1, 2"
            )
        }
        domain_used = db.execute(
            "SELECT d.name, u.day, u.sent FROM usage u JOIN domains d ON d.id = u.ref "
            "WHERE u.scope = 'domain'"
        ).fetchall()
        loop = loop_days(db)
    checked = {"full": 0, "stopped": 0, "changed": 0}
    per_domain: dict[tuple[str, str], int] = defaultdict(int)
    for address, days in mailboxes.items():
        assert len(days) == DAYS
        before = "warming"  # every mailbox starts warm-up on day 1
        for n, day in enumerate(days, start=1):
            used, cap, state = day["used"], day["cap"], day["state"]
            # The usage counter the limits enforce matches the sends recorded.
            assert counted.get((address, day["day"]), 0) == used, (address, day)
            per_domain[(address.rpartition("@")[2], day["day"])] += used
            if n < TARGET_DAY:
                assert (state, cap) == ("warming", SPEC_RAMP[n - 1]), (address, day)
            share = loop.get((address, day["day"]))
            if share is not None:
                # Campaign and warm-up mail share the cap; campaigns get what the loop leaves.
                assert share.warmup + share.campaign == used, (address, day, share)
                assert share.campaign <= max(0, cap - share.volume), (address, day, share)
            if before in SENDING and state in SENDING:
                # A sending state all day: its cap of the day (SPEC 7), every day, warm-up mail
                # in it; short only by the loop's answers planned too late for their day.
                assert share is not None and share.warmup > 0, (address, day)
                assert cap - share.late <= used <= cap, (address, day, share)
                checked["full"] += 1
            elif before in STOPPED and state in STOPPED:
                assert used == 0, (address, day)  # paused or cooling: not one mail
                checked["stopped"] += 1
            else:
                assert used <= cap, (address, day)  # stopped (or resumed) during the day
                checked["changed"] += 1
            before = state
    for key, total in per_domain.items():
        assert total <= DOMAIN_LIMIT, key
    assert {(name, day): sent for name, day, sent in domain_used} == {
        key: used for key, used in per_domain.items() if used
    }
    # The run did show each kind: full days, a pause or cool-down, the day it began.
    assert checked["full"] > MAILBOXES * (TARGET_DAY - 1)
    assert checked["stopped"] > 0 and checked["changed"] > 0


def test_day_1_of_a_new_mailbox_is_5_warm_up_mails_and_no_campaign_mail(run: Run) -> None:
    first = DEFAULT_START.isoformat()
    with contextlib.closing(run.db()) as db:
        loop = loop_days(db)
    day1 = {address: v for (address, day), v in loop.items() if day == first}
    assert len(day1) == MAILBOXES
    for address, v in day1.items():
        assert (v.volume, v.planned, v.campaign) == (5, 5, 0), (address, v)
        assert 5 - v.late <= v.warmup <= 5, (address, v)  # an answer due tomorrow: a slot less
    assert sum(v.warmup for v in day1.values()) >= 5 * MAILBOXES - 2
    # Day 8, phase 2: the cap is 12, the loop keeps 10 of it; campaigns fill the rest.
    day8 = [v for (_, day), v in loop.items() if day == SECOND_WEEK.isoformat()]
    assert all(v.warmup + v.campaign <= 12 and v.campaign <= 2 for v in day8)
    assert sum(v.campaign for v in day8) > 0


def test_warm_up_mail_lands_in_inbox_or_spam_and_the_spammy_domain_shows_it(run: Run) -> None:
    days = run.summary["days"]
    assert all(d["warmup"] > 0 and d["inbox"] + d["spam"] > 0 for d in days)
    with contextlib.closing(run.db()) as db:
        placed = {
            domain: (inbox, spam)
            for domain, inbox, spam in db.execute(
                "SELECT substr(m.address, instr(m.address, '@') + 1), "
                "sum(p.folder = 'inbox'), sum(p.folder = 'spam') "
                "FROM placements p JOIN mailboxes m ON m.id = p.mailbox_id GROUP BY 1"
            )
        }
        seeds = db.execute(
            "SELECT count(*) FROM sends s JOIN warmup_mails w ON w.message_id = s.message_id "
            "WHERE w.recipient IN (?, ?)",
            SEEDS,
        ).fetchone()[0]
        sent_at = [r[0] for r in db.execute("SELECT sent_at FROM sends WHERE kind = 'warmup'")]
    # Only inside the loop's hours (08:00-18:00, sending timezone), though the demo's clock
    # takes the mails due within half an hour together.
    zone = limits.zone(TIMEZONE)
    hours = {datetime.fromtimestamp(ms / 1000, zone).hour for ms in sent_at}
    assert sent_at and min(hours) >= 8 and max(hours) < 18
    assert seeds > 0
    rates = {domain: inbox / (inbox + spam) for domain, (inbox, spam) in placed.items()}
    assert rates[SPAMMY_DOMAIN] < 0.8 < min(r for d, r in rates.items() if d != SPAMMY_DOMAIN)
    assert "inbx" in run.out and "wup" in run.out


def test_after_the_target_a_complaint_pause_and_a_cool_down_follow(run: Run) -> None:
    alerts = run.summary["alerts"]
    assert any(a["key"].startswith("mailbox_paused:") for a in alerts)
    assert any(a["key"] == "cooldown:brandmail.example" for a in alerts)
    created = [date.fromisoformat(a["created_at"][:10]) for a in alerts]
    stops = [
        when
        for a, when in zip(alerts, created, strict=True)
        if a["key"].startswith(("mailbox_paused:", "cooldown:"))
    ]
    assert min(stops) > DEFAULT_START + timedelta(days=TARGET_DAY - 1)
    rows = run.summary["days"]
    assert sum(d["bounces"] for d in rows) > 0 and sum(d["replies"] for d in rows) > 0
    assert "COOL-DOWN brandmail.example" in run.out and "PAUSE " in run.out


def test_mailboxes_only_size_the_job_world(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--world", "small", "--mailboxes", "6"]) == 2
    assert "--mailboxes sizes the job world" in capsys.readouterr().out
