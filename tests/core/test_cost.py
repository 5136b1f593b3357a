"""core/cost.py: projection by the daily average, each line, the total."""

from __future__ import annotations

from datetime import date

import pytest

from core.cost import CostRates, estimate, projected_volume


def test_typical_install_1200_a_day_with_10_domains_is_about_20_dollars() -> None:
    # SPEC 1: 1,200 sends a day. Mid-November (30 days): 14 full days and half of today.
    est = estimate(
        CostRates(), date(2026, 11, 15), sent_before_today=14 * 1200, sent_today=600, domains=10
    )
    assert est.daily_average == 1200
    assert est.projected == 36_000  # 30 x 1,200
    assert est.esp == pytest.approx(3.60)  # 36,000 / 1,000 x $0.10
    assert est.domain_cost == pytest.approx(10.00)  # 10 x $12 / 12
    assert est.server == pytest.approx(7.00)
    # $20.60: the domains and the server dominate; the ESP share is under a fifth.
    assert est.total == pytest.approx(20.60)
    assert 15 <= est.total <= 21


def test_a_31_day_month_projects_31_days() -> None:
    est = estimate(
        CostRates(), date(2026, 12, 11), sent_before_today=10 * 1200, sent_today=0, domains=10
    )
    assert est.projected == 31 * 1200
    assert est.total == pytest.approx(31 * 1.2 * 0.10 + 10 + 7)


def test_first_of_the_month_uses_today_as_the_only_evidence() -> None:
    average, projected = projected_volume(date(2026, 2, 1), 0, 500)
    assert average == 500
    assert projected == 28 * 500


def test_a_busy_today_counts_what_it_really_sent() -> None:
    # Today already sent more than the average: the projection never counts less than that.
    _, projected = projected_volume(date(2026, 11, 3), 200, 900)  # average 100
    assert projected == 200 + 900 + 100 * 27


def test_no_sends_costs_domains_and_server_only() -> None:
    est = estimate(
        CostRates(esp_per_1000=0.5, domain_per_year=24, server_per_month=5),
        date(2026, 11, 20),
        sent_before_today=0,
        sent_today=0,
        domains=3,
    )
    assert (est.projected, est.esp) == (0, 0)
    assert est.total == pytest.approx(3 * 2 + 5)
