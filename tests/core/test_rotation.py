"""Rotation order of SPEC 6.6: bounce rate, then sends today, then idle time."""

from datetime import UTC, datetime, timedelta

from core.models import MailboxState, MailboxView
from core.rotation import choose

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def mb(id_: int, bounce: float = 0.0, sent: int = 0, idle_min: int | None = None) -> MailboxView:
    last = None if idle_min is None else NOW - timedelta(minutes=idle_min)
    return MailboxView(
        id=id_, address=f"m{id_}@x.com", domain="x.com", state=MailboxState.ACTIVE,
        daily_limit=40, sent_today=sent, last_sent_at=last, bounce_rate=bounce,
    )  # fmt: skip


def test_lowest_bounce_rate_wins_over_fewer_sends() -> None:
    assert choose([mb(1, bounce=0.02, sent=0), mb(2, bounce=0.01, sent=30)]) == mb(
        2, bounce=0.01, sent=30
    )


def test_then_fewest_sends_today() -> None:
    picked = choose([mb(1, sent=5, idle_min=600), mb(2, sent=4, idle_min=1)])
    assert picked is not None and picked.id == 2


def test_then_longest_idle() -> None:
    picked = choose([mb(1, sent=4, idle_min=10), mb(2, sent=4, idle_min=50), mb(3, sent=4)])
    assert picked is not None and picked.id == 3  # never sent is idlest
    picked = choose([mb(1, sent=4, idle_min=10), mb(2, sent=4, idle_min=50)])
    assert picked is not None and picked.id == 2


def test_ties_are_deterministic_and_empty_is_none() -> None:
    picked = choose([mb(7), mb(3), mb(5)])
    assert picked is not None and picked.id == 3
    assert choose([]) is None


def test_full_order() -> None:
    pool = [
        mb(1, bounce=0.04, sent=0),
        mb(2, bounce=0.0, sent=3, idle_min=5),
        mb(3, bounce=0.0, sent=3, idle_min=90),
        mb(4, bounce=0.0, sent=1, idle_min=1),
        mb(5, bounce=0.01, sent=0),
    ]
    order = []
    while pool:
        picked = choose(pool)
        assert picked is not None
        order.append(picked.id)
        pool.remove(picked)
    assert order == [4, 3, 2, 5, 1]
