"""The config reconciled with stored rows: a pure plan of writes, and what it counts."""

from __future__ import annotations

from datetime import date, timedelta

from core.models import MailboxState, WarmupPolicy
from core.reconcile import (
    CampaignUpdate,
    DomainUpdate,
    MailboxInsert,
    MailboxUpdate,
    StepsPlan,
    StoredCampaign,
    StoredDomain,
    StoredMailbox,
    initial_state,
    plan_campaigns,
    plan_domains,
    plan_mailboxes,
    plan_steps,
    reconcile,
)
from core.records import KindCounts, StepRow
from core.specs import CampaignSpec, DomainSpec, MailboxSpec, MailServer, StepSpec

TODAY = date(2026, 3, 2)
POLICY = WarmupPolicy()  # ramp 5..10 over week 1, target 40
SERVER = MailServer("smtp.test", 587, "starttls", "u", "p")
STEP = StepSpec(body="Hi", subject="Hello")


def box(
    address: str, *, display_name: str = "", daily_limit: int = 40, warmup_start: date | None = None
) -> MailboxSpec:
    return MailboxSpec(address, SERVER, display_name, daily_limit, warmup_start)


def stored_box(
    id: int,
    address: str,
    *,
    state: MailboxState = MailboxState.ACTIVE,
    reason: str = "",
    start: date | None = None,
    cfg_start: date | None = None,
    daily_limit: int = 40,
    in_config: bool = True,
) -> StoredMailbox:
    return StoredMailbox(id, address, "", daily_limit, start, cfg_start, state, reason, in_config)


def stored_campaign(
    id: int, name: str, *, origin: str = "config", in_config: bool = True
) -> StoredCampaign:
    days = ("mon", "tue", "wed", "thu", "fri")
    return StoredCampaign(id, name, "UTC", days, "09:00-17:00", None, False, in_config, origin)


def test_initial_state_warms_until_the_ramp_reaches_the_ceiling() -> None:
    assert initial_state(None, 40, TODAY, POLICY) is MailboxState.ACTIVE
    assert initial_state(TODAY, 40, TODAY, POLICY) is MailboxState.WARMING
    assert initial_state(TODAY - timedelta(days=3), 8, TODAY, POLICY) is MailboxState.ACTIVE
    assert initial_state(TODAY - timedelta(days=60), 40, TODAY, POLICY) is MailboxState.ACTIVE


def test_domains_are_added_updated_restored_and_disabled() -> None:
    plan = plan_domains(
        [DomainSpec("a.test", 60, "mg"), DomainSpec("b.test", 10), DomainSpec("c.test")],
        [box("x@a.test"), box("y@new.test")],
        [
            StoredDomain(1, "b.test", 20, None, True),  # limit changed
            StoredDomain(2, "c.test", None, None, False),  # back after removal
            StoredDomain(3, "gone.test", None, None, True),
            StoredDomain(4, "long-gone.test", None, None, False),
        ],
    )
    assert plan.inserts == (DomainSpec("a.test", 60, "mg"), DomainSpec("new.test"))
    assert plan.updates == (DomainUpdate(1, 10, None), DomainUpdate(2, None, None))
    assert plan.disables == (3,)
    assert plan.tally == KindCounts(added=2, updated=1, restored=1, disabled=1)


def test_an_unchanged_domain_is_not_written() -> None:
    plan = plan_domains([DomainSpec("a.test", 5)], [], [StoredDomain(1, "a.test", 5, None, True)])
    assert (plan.inserts, plan.updates, plan.disables, plan.tally) == ((), (), (), KindCounts())


def test_new_mailboxes_start_warming_or_active() -> None:
    plan = plan_mailboxes(
        [box("new@a.test", warmup_start=TODAY, display_name="N"), box("old@a.test")],
        [],
        TODAY,
        POLICY,
    )
    assert plan.inserts == (
        MailboxInsert("new@a.test", "a.test", "N", 40, TODAY, MailboxState.WARMING),
        MailboxInsert("old@a.test", "a.test", "", 40, None, MailboxState.ACTIVE),
    )
    assert plan.tally == KindCounts(added=2)


def test_a_runtime_warmup_start_survives_until_the_config_changes_its_own() -> None:
    runtime = TODAY - timedelta(days=1)
    stored = [stored_box(1, "a@a.test", state=MailboxState.WARMING, start=runtime)]
    same = plan_mailboxes([box("a@a.test")], stored, TODAY, POLICY)
    assert (same.updates, same.tally) == ((), KindCounts())
    limit = plan_mailboxes([box("a@a.test", daily_limit=20)], stored, TODAY, POLICY)
    assert limit.updates == (MailboxUpdate(1, "", 20, runtime, None, MailboxState.WARMING, ""),)
    moved = plan_mailboxes([box("a@a.test", warmup_start=TODAY)], stored, TODAY, POLICY)
    assert moved.updates == (MailboxUpdate(1, "", 40, TODAY, TODAY, MailboxState.WARMING, ""),)
    assert moved.tally == KindCounts(updated=1)


def test_held_mailboxes_keep_their_state_and_restored_ones_are_rejudged() -> None:
    stored = [
        stored_box(1, "p@a.test", state=MailboxState.PAUSED, reason="admin"),
        stored_box(2, "d@a.test", state=MailboxState.DISABLED, reason="removed", in_config=False),
        stored_box(3, "q@a.test", state=MailboxState.PAUSED, reason="admin", in_config=False),
        stored_box(4, "gone@a.test"),
    ]
    plan = plan_mailboxes(
        [box("p@a.test", daily_limit=30), box("d@a.test"), box("q@a.test")], stored, TODAY, POLICY
    )
    assert plan.updates == (
        MailboxUpdate(1, "", 30, None, None, MailboxState.PAUSED, "admin"),
        MailboxUpdate(2, "", 40, None, None, MailboxState.ACTIVE, ""),
        MailboxUpdate(3, "", 40, None, None, MailboxState.PAUSED, "admin"),
    )
    assert plan.disables == (4,)
    assert plan.tally == KindCounts(updated=1, restored=2, disabled=1)


def test_steps_are_upserted_where_they_differ_and_dropped_beyond_the_new_count() -> None:
    old = [
        StepRow(1, 1, "Hello", "Hi", None, 0),
        StepRow(1, 2, None, "Bump", None, 3),
        StepRow(1, 3, None, "Last", None, 5),
    ]
    bump = StepSpec(body="Bump again", wait_days=3)
    assert plan_steps(old, [STEP, bump]) == StepsPlan(((2, bump),), keep=2, dropped=1)
    assert not plan_steps(old[:1], [STEP]).changed
    assert plan_steps((), [STEP]) == StepsPlan(((1, STEP),), keep=1, dropped=0)


def test_campaigns_take_over_uploads_restore_and_disable_only_config_ones() -> None:
    steps = {1: [StepRow(1, 1, "Hello", "Hi", None, 0)], 2: [], 3: [], 4: []}
    plan = plan_campaigns(
        [
            CampaignSpec("same", (STEP,)),
            CampaignSpec("upload", (STEP,)),
            CampaignSpec("back", (STEP,), days=("mon",)),
            CampaignSpec("new", (STEP,)),
        ],
        [
            stored_campaign(1, "same"),
            stored_campaign(2, "upload", origin="upload", in_config=False),
            stored_campaign(3, "back", in_config=False),
            stored_campaign(4, "gone"),
            stored_campaign(5, "bot", origin="upload", in_config=False),
        ],
        steps,
    )
    assert plan.inserts == (CampaignSpec("new", (STEP,)),)
    assert plan.updates == (
        CampaignUpdate(2, CampaignSpec("upload", (STEP,)), restore=False),
        CampaignUpdate(3, CampaignSpec("back", (STEP,), days=("mon",)), restore=True),
    )
    one = StepsPlan(((1, STEP),), keep=1, dropped=0)
    assert plan.steps == (
        (1, StepsPlan((), keep=1, dropped=0)),
        (2, one),
        (3, one),
    )
    assert plan.disables == (4,)
    assert plan.tally == KindCounts(added=1, updated=1, restored=1, disabled=1)


def test_a_step_change_alone_counts_the_campaign_as_updated() -> None:
    plan = plan_campaigns(
        [CampaignSpec("c", (StepSpec(body="Changed", subject="Hello"),))],
        [stored_campaign(1, "c")],
        {1: [StepRow(1, 1, "Hello", "Hi", None, 0)]},
    )
    assert plan.updates == ()
    assert plan.tally == KindCounts(updated=1)


def test_reconcile_plans_every_kind_at_once() -> None:
    plan = reconcile(
        domains=[DomainSpec("a.test")],
        mailboxes=[box("x@a.test")],
        campaigns=[CampaignSpec("c", (STEP,))],
        stored_domains=[],
        stored_mailboxes=[],
        stored_campaigns=[],
        stored_steps={},
        today=TODAY,
        warmup=POLICY,
    )
    assert plan.domains.inserts == (DomainSpec("a.test"),)
    assert [m.address for m in plan.mailboxes.inserts] == ["x@a.test"]
    assert plan.campaigns.inserts == (CampaignSpec("c", (STEP,)),)
    tallies = (plan.domains.tally, plan.mailboxes.tally, plan.campaigns.tally)
    assert tallies == (KindCounts(added=1), KindCounts(added=1), KindCounts(added=1))
