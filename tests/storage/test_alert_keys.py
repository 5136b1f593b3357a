"""storage/alerts.py and reports: an alert's key comes back with its delivery and by its id."""

from __future__ import annotations

from datetime import timedelta

from core.records import NewAlert
from storage.stores import Stores
from tests.storage.helpers import T0


def alert(key: str) -> NewAlert:
    """An alert for chat 111, raised at T0."""
    return NewAlert(key, "critical", f"about {key}", (111,), T0, T0 - timedelta(hours=1))


async def test_due_deliveries_carry_the_key_and_a_key_is_read_by_id(stores: Stores) -> None:
    first = await stores.alerts.add_alert(alert("cooldown:d0.test"))
    second = await stores.alerts.add_alert(alert("unknown_sends:x#1"))
    assert first is not None and second is not None
    due = await stores.alerts.due_alerts(T0)
    assert [(d.alert_id, d.key) for d in due] == [
        (first, "cooldown:d0.test"),
        (second, "unknown_sends:x#1"),
    ]
    assert await stores.reports.alert_key(first) == "cooldown:d0.test"
    assert await stores.reports.alert_key(second + 1) is None
