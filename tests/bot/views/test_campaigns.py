"""bot/views/campaigns.py: each campaign's leads, sent today and rates."""

from __future__ import annotations

from bot.views.campaigns import campaigns_lines
from bot.views.status import detail_lines
from core.models import RateCounts
from core.records import CampaignCounts
from engine.status import CampaignDetail


def test_campaign_lines_show_leads_sent_today_and_rates() -> None:
    counts = CampaignCounts(1, "q4", "active", "", 600, 12, {"queued": 80, "replied": 2})
    rates = RateCounts(sends=200, bounces=4, complaints=1, replies=10)
    lines = campaigns_lines([counts], {1: rates}, 7)
    assert lines[1] == "q4: active; sent today 12/600"
    assert lines[2] == "  leads: 80 queued, 2 replied"
    assert lines[3] == "  200 sent, bounces 2.0%, complaints 1 (0.50%), replies 5.0%"
    detail = CampaignDetail(counts, "UTC", ("mon",), "09:00-17:00", "config", 7, RateCounts())
    assert "Last 7 days: no sends" in detail_lines(detail)
    assert campaigns_lines([], {}, 7)[0].startswith("No campaigns")


def test_campaign_lines_count_the_reply_labels() -> None:
    counts = CampaignCounts(1, "q4", "active", "", None, 0, {"replied": 3})
    lines = campaigns_lines(
        [counts], {}, 7, {1: {"interested": 2, "unsubscribe": 1}, 9: {"interested": 5}}
    )
    assert lines[-1] == "  reply labels: interested 2, unsubscribe 1"
    assert not any("labels" in line for line in campaigns_lines([counts], {}, 7, {}))
